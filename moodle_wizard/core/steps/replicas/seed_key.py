"""The temporary seed key: lets the seed job reach each replica for one command.

The job runs on the sender: the source, or the existing backup's host (`backup_method =
"existing"`); "the source" below means whichever it is.

A fresh ed25519 key pair is made for every migration in the seed stage (SEED_DIR, proved
root's own first); a key already there is removed, never reused, so a key someone planted
cannot end up authorized. Its public half must be exactly one line of a known type, or it is
refused. The wizard builds the authorized_keys line itself (type and key data only, never
the file's own comment) ending in a marker with the migration's id:

    restrict,from="SOURCE",command="RECEIVE" ssh-ed25519 AAAA... moodle-wizard-seed-MIGRATION

Removal takes out exactly such lines: starting with `restrict,from="` and whose last word is
the marker (an earlier wizard's lines ended in plain `moodle-wizard-seed`; those go too when
the migration's facts say that wizard added them). Every other line stays byte for byte, and
the file keeps its mode and owner; an authorized_keys (or .ssh) that is a symlink, not a plain
file, or not root's is refused before anything changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moodle_wizard.core.command import NOTE_MARK, Command, Shell, WriteFile, placeholder, render_all
from moodle_wizard.core.facts import ReplicasFacts, SeedKeyFacts
from moodle_wizard.core.remote import privatedir
from moodle_wizard.core.remote.job_command import CancelJob, RemoveJob
from moodle_wizard.core.remote.jobs import DEFAULT_BASE_DIR, ForeignJobDirectory, JobRef
from moodle_wizard.core.remote.ssh import RemoteHost
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import seed

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = [
    "AUTHORIZED_KEYS",
    "KEY_TYPES",
    "LEGACY_MARKER",
    "Authorize",
    "GenerateKey",
    "Unauthorize",
    "authorize",
    "authorize_command",
    "cleanup",
    "cleanup_commands",
    "cleanup_runbook",
    "fingerprint",
    "generate",
    "install",
    "install_runbook",
    "marker",
    "migration_markers",
    "parse_public_key",
    "unauthorize",
]

AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
KEY_TYPES = ("ssh-ed25519",)
LEGACY_MARKER = seed.KEY_COMMENT
_MIGRATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_PUBKEY = re.compile(r"(?P<type>\S+) (?P<data>AAAA[A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?\n?")
_REFUSED = 97

# Generates the key pair in the stage, after proving it root's own; prints the public key.
_GENERATE = privatedir.SHELL_FUNCTION + """
umask 077
mw_private_dir make "$1"
cd -- "$1"
rm -f -- seed_key seed_key.pub known_hosts
ssh-keygen -q -t ed25519 -N '' -C "$2" -f seed_key < /dev/null > /dev/null
cat seed_key.pub
"""

# `$1` authorized_keys, `$2` markers (space-separated), `$3` add|remove; the line to add on
# stdin. Lines the wizard added earlier for these markers are taken out first, so a retry
# leaves one line.
_EDIT = """
umask 077
ak=$1 markers=$2 how=$3 dir=${1%/*}
refuse() {
    printf '%s: %s; %s\\n' "$1" "$2" "fix it by hand (the wizard edits only a plain file or \\
directory owned by root that only root can write to)" >&2
    exit 97
}
owned() {
    set -- "$1" $(stat -c '%u %a' -- "$1")
    [ "$2" = 0 ] || refuse "$1" "is owned by uid $2, not root"
    [ $((0$3 & 022)) = 0 ] || refuse "$1" "has mode 0$3: group or others can write to it"
}
[ ! -L "$dir" ] || refuse "$dir" "is a symbolic link"
if [ ! -e "$dir" ]; then
    [ "$how" = add ] || exit 0
    mkdir -m 0700 -- "$dir"
fi
[ -d "$dir" ] || refuse "$dir" "is not a directory"
owned "$dir"
[ ! -L "$ak" ] || refuse "$ak" "is a symbolic link"
if [ -e "$ak" ]; then
    [ -f "$ak" ] || refuse "$ak" "is not a regular file"
    owned "$ak"
elif [ "$how" != add ]; then
    exit 0
fi
tmp=$(mktemp -- "$dir/.authorized_keys.mw-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
found=0
if [ -e "$ak" ]; then
    awk -v markers="$markers" '
        BEGIN { n = split(markers, m, " "); for (i = 1; i <= n; i++) ours[m[i]] = 1 }
        index($0, "restrict,from=\\"") == 1 && NF > 2 && ($NF in ours) { found++; next }
        { print }
        END { exit found ? 0 : 3 }' "$ak" > "$tmp" || found=$?
    case $found in 0) found=yes ;; 3) found= ;; *) exit 1 ;; esac
    chown --reference="$ak" -- "$tmp"
    chmod --reference="$ak" -- "$tmp"
else
    chmod 0600 -- "$tmp"
fi
if [ "$how" = add ]; then
    cat >> "$tmp"
elif [ -z "$found" ]; then
    exit 0
fi
sync -- "$tmp"
mv -f -- "$tmp" "$ak"
trap - EXIT
"""


def marker(migration_id: str) -> str:
    """The comment that ends this migration's authorized_keys lines."""
    if not _MIGRATION_ID.fullmatch(migration_id):
        raise StepError(f"migration id {migration_id!r} cannot be used in an authorized_keys "
                        "marker; use letters, digits, '-' and '_'")
    return f"{seed.KEY_COMMENT}-{migration_id}"


def parse_public_key(text: str) -> str:
    """`type keydata` of the one public key in `text`; StepError for anything else (more than
    one line, an unknown type, key data that does not decode to a key of that type)."""
    match = _PUBKEY.fullmatch(text)
    if match is None or match["type"] not in KEY_TYPES:
        raise StepError(f"the seed key's public half is not one line 'ssh-ed25519 AAAA... "
                        f"[comment]' ({len(text.splitlines())} lines: {text[:120]!r}); the "
                        "wizard will not authorize it: roll back this step and run it again")
    try:
        blob = base64.b64decode(match["data"], validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        name = blob[4:4 + size].decode("ascii")
        (key_size,) = struct.unpack(">I", blob[4 + size:8 + size])
        ok = name == match["type"] and key_size == 32 and len(blob) == 8 + size + key_size
    except (binascii.Error, struct.error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise StepError(f"the seed key's public half does not hold an {match['type']} key; "
                        "the wizard will not authorize it: roll back this step and run it again")
    return f"{match['type']} {match['data']}"


def fingerprint(key: str) -> str:
    """OpenSSH's SHA256 fingerprint of `type keydata`."""
    digest = hashlib.sha256(base64.b64decode(key.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


async def generate(source: RemoteHost, comment: str, seed_dir: str = seed.SEED_DIR) -> str:
    """A new key pair in `seed_dir` (any older one there removed); its `type keydata`."""
    result = await source.run(["sh", "-eu", "-c", _GENERATE, "sh", privatedir.check_path(seed_dir),
                               comment], check=False,
                              display=f"install -d -m 0700 {seed_dir}; rm -f {seed_dir}/seed_key"
                                      f"*; ssh-keygen -t ed25519 -N '' -C {comment} -f "
                                      f"{seed_dir}/seed_key; cat {seed_dir}/seed_key.pub")
    privatedir.raise_for(source, result, f"ssh-keygen in {seed_dir}")
    return parse_public_key(result.stdout)


async def _edit(host: RemoteHost, markers: Sequence[str], how: str, line: str | None,
                path: str) -> None:
    shown = " or ".join(markers)
    display = (f"append to {path}: {line}" if line is not None else
               f"remove the lines ending in {shown} from {path}")
    result = await host.run(["sh", "-eu", "-c", _EDIT, "sh", path, " ".join(markers), how],
                            input=(line + "\n") if line is not None else None, check=False,
                            display=display)
    if result.exit_status == _REFUSED:
        raise StepError(f"{host.target.name}: {result.stderr.strip()}")
    if result.exit_status != 0:
        raise StepError(f"{host.target.name}: cannot edit {path}: "
                        f"{result.stderr.strip() or 'exit ' + str(result.exit_status)}")


async def authorize(host: RemoteHost, line: str, mark: str,
                    path: str = AUTHORIZED_KEYS) -> None:
    """Add `line` (which must end in `mark`) to `path`, replacing an earlier line of ours."""
    if "\n" in line or line.split()[-1] != mark or not line.startswith('restrict,from="'):
        raise ValueError(f"not a seed key line ending in {mark}: {line!r}")
    await _edit(host, [mark], "add", line, path)


async def unauthorize(host: RemoteHost, markers: Sequence[str],
                      path: str = AUTHORIZED_KEYS) -> None:
    """Remove exactly the seed key lines ending in one of `markers`; idempotent."""
    await _edit(host, markers, "remove", None, path)


# -- as commands (core/command.py): what the runbook shows is what runs ----------------------

_FRESH = ("every directory from / must be root's own; a fresh key, any older one removed; "
          "exactly one public key line accepted")


@dataclass(frozen=True)
class GenerateKey:
    """A new key pair in the stage on `host`; returns its `type keydata`."""

    host: str
    comment: str
    seed_dir: str = seed.SEED_DIR

    def render(self) -> str:
        d = self.seed_dir
        return (f"on {self.host}: install -d -m 0700 {d}; rm -f {d}/seed_key*; ssh-keygen -q "
                f"-t ed25519 -N '' -C {self.comment} -f {d}/seed_key; cat {d}/seed_key.pub"
                f"{NOTE_MARK}{_FRESH}")

    async def run(self, ctx: Context) -> str:
        return await generate(await ctx.host(self.host), self.comment, self.seed_dir)


@dataclass(frozen=True)
class Authorize:
    """`line` added to authorized_keys on `host`, a line of ours (ending in `mark`) replaced."""

    host: str
    line: str
    mark: str
    path: str = AUTHORIZED_KEYS

    def render(self) -> str:
        return (f"on {self.host}: append to {self.path}: {self.line}{NOTE_MARK}a line already "
                f"ending in {self.mark} is replaced; every other line, the file's mode and "
                "owner stay")

    async def run(self, ctx: Context) -> None:
        await authorize(await ctx.host(self.host), self.line, self.mark, self.path)


@dataclass(frozen=True)
class Unauthorize:
    """The lines ending in one of `markers` taken out of authorized_keys on `host`."""

    host: str
    markers: tuple[str, ...]
    path: str = AUTHORIZED_KEYS

    def render(self) -> str:
        return (f"on {self.host}: remove the lines ending in {' or '.join(self.markers)} from "
                f"{self.path}{NOTE_MARK}every other line, its mode and owner stay")

    async def run(self, ctx: Context) -> None:
        await unauthorize(await ctx.host(self.host), self.markers, self.path)


# -- the replicas step's actions ---------------------------------------------------------------

# What the plan shows for what only apply learns.
PLANNED_KEY = f"ssh-ed25519 {placeholder('seed key')}"
PLANNED_HOST_KEYS = placeholder("each replica host key line as read there")


def _sender(ctx: Context, sender: str | None) -> str:
    return sender or ctx.inventory.source


def authorize_command(ctx: Context, r: str, command: str, pubkey: str = PLANNED_KEY,
                      sender: str | None = None) -> Authorize:
    mark = marker(ctx.state.migration_id)
    address = ctx.inventory.hosts[_sender(ctx, sender)].address
    line = seed.authorized_key_line(f"{pubkey} {mark}", address, command)
    return Authorize(r, line, mark)


def known_hosts_command(ctx: Context, content: str = PLANNED_HOST_KEYS,
                        sender: str | None = None) -> WriteFile:
    # The stage was proved root's own by GenerateKey, and nothing but root can change it since.
    return WriteFile(_sender(ctx, sender), f"{seed.SEED_DIR}/known_hosts", content, 0o600,
                     note="the replicas' ed25519 host keys, as read on each")


def install_runbook(ctx: Context, command: str, sender: str | None = None) -> list[str]:
    return render_all([GenerateKey(_sender(ctx, sender), marker(ctx.state.migration_id)),
                       *[authorize_command(ctx, r, command, sender=sender)
                         for r in ctx.inventory.replicas],
                       known_hosts_command(ctx, sender=sender)])


async def install(ctx: Context, facts: ReplicasFacts, command: str,
                  sender: str | None = None) -> None:
    """Make this migration's key on the sender and authorize it on each replica for
    `command`, from the sender's address only."""
    inv = ctx.inventory
    mark = marker(ctx.state.migration_id)
    pubkey = await GenerateKey(_sender(ctx, sender), mark).run(ctx)
    # Recorded before any replica accepts it: a rollback after a crash removes what it finds.
    facts.seed_key = SeedKeyFacts(marker=mark, fingerprint=fingerprint(pubkey))
    ctx.save()
    known = []
    for r in inv.replicas:
        host = await ctx.host(r)
        hostkey = (await host.run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])).stdout
        keytype, keydata = hostkey.split()[:2]
        address, port = inv.hosts[r].address, host.target.port
        known.append(f"{address if port == 22 else f'[{address}]:{port}'} {keytype} {keydata}")
        await authorize_command(ctx, r, command, pubkey, sender).run(ctx)
    await known_hosts_command(ctx, "\n".join(known) + "\n", sender).run(ctx)


def migration_markers(ctx: Context, facts: ReplicasFacts) -> list[str]:
    """The markers of the lines this migration may have added."""
    found = [marker(ctx.state.migration_id)]
    if facts.seed_key is True:  # added by a wizard from before the per-migration mark
        found.append(LEGACY_MARKER)
    return found


def remove_stage(source: str) -> Shell:
    return Shell(source, ("rm", "-rf", "--", seed.SEED_DIR),
                 note="only if it is there, once proved root's own")


# The plan's seed job before the id is drawn (the rollback plan's are from the state file).
PLANNED_JOB = JobRef("", f"seed-{placeholder('job id')}",
                     f"{DEFAULT_BASE_DIR}/seed-{placeholder('job id')}")


def cleanup_commands(ctx: Context, facts: ReplicasFacts, jobs: Sequence[JobRef],
                     sender: str | None = None) -> list[Command]:
    """The key off every replica, then the seed jobs and the stage on the sender."""
    inv = ctx.inventory
    markers = tuple(migration_markers(ctx, facts))
    out: list[Command] = [Unauthorize(r, markers) for r in inv.replicas]
    for ref in jobs:
        # A job runs where it was started (the state file says): a plan's, on the sender.
        host = ref.host or _sender(ctx, sender)
        out += [CancelJob(host, ref.job_id, ref.directory,
                          note="a stream still running, when rolled back mid-stream"),
                RemoveJob(host, ref.job_id, ref.directory)]
    return [*out, remove_stage(_sender(ctx, sender))]


def cleanup_runbook(ctx: Context, facts: ReplicasFacts, jobs: Sequence[JobRef],
                    sender: str | None = None) -> list[str]:
    return render_all(cleanup_commands(ctx, facts, jobs, sender))


async def cleanup(ctx: Context, facts: ReplicasFacts, jobs: Sequence[JobRef],
                  sender: str | None = None) -> None:
    """Remove the key from every replica, then the seed jobs and the stage on the sender."""
    source = await ctx.host(_sender(ctx, sender))
    for command in cleanup_commands(ctx, facts, jobs, sender):
        if isinstance(command, Shell):  # the stage
            if await privatedir.private_dir_exists(source, seed.SEED_DIR):
                await command.run(ctx)
            continue
        try:
            await command.run(ctx)
        except ForeignJobDirectory as e:
            # An older wizard's job under /var/tmp: gone already is fine; else hand it over.
            gone = await source.run(["sh", "-c", 'test ! -e "$1" && test ! -L "$1"', "sh",
                                     e.ref.directory], check=False)
            if gone.exit_status != 0:
                raise
