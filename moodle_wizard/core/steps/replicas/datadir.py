"""A replica host's datadir: what is there now, and whether the wizard can prove it is its own.

The wizard deletes files in a datadir only when the datadir carries its marker: a file it
writes into a directory it created (or found empty), holding the migration's owner token
(migration id and the state's creation time). A datadir without that exact token is the
operator's, whatever the state file says; it is moved aside whole (`mv`, same filesystem,
never copied, never deleted) and only when the inventory allows it. The aside's name carries
the migration id, so a move interrupted by a crash is found again from the host itself
rather than from a journal entry written before the move.

Every decision reads the host as it is now (one command): a fact gathered by discovery last
week says nothing about what someone put on the host since.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Protocol

from moodle_wizard.core.remote.ssh import Result

DATADIR = "/var/lib/mysql"
MARKER_NAME = ".moodle-wizard-datadir"
# Files that make a datadir a replica of some other server.
REPLICATION_FILES = ("master.info", "relay-log.info", "multi-master.info",
                     "mysql-relay-bin.index")
_ENTRY_LIMIT = 50
# What a server's own initialisation leaves in a datadir (Debian's postinst runs
# mariadb-install-db; a first start adds the temporary tablespace, the DDL log, an empty
# multi-master.info): anything else, or any other directory, is someone's data.
SYSTEM_SCHEMAS = frozenset({"mysql", "performance_schema", "sys"})
_SYSTEM_FILE = re.compile(
    r"ibdata\d+|ib_logfile\d+|ib_buffer_pool|ibtmp\d+|undo\d{3}|aria_log_control"
    r"|aria_log\.\d{8}|debian-\d+\.\d+\.flag|(mysql|mariadb)_upgrade_info"
    r"|ddl_recovery(-backup)?\.log|tc\.log")


class Shell(Protocol):
    async def run(self, argv: list[str], *, input: str | bytes | None = None,
                  check: bool = True, timeout: float | None = 600,
                  display: str | None = None) -> Result: ...


def aside_path(migration_id: str, datadir: str = DATADIR) -> str:
    """Where this migration moves an operator's datadir: found again after a crash by name."""
    return f"{datadir}.moodle-wizard-{migration_id}"


@dataclass(frozen=True)
class Datadir:
    path: str
    exists: bool
    symlink: bool
    mountpoint: bool
    # Up to 50 names in it, the wizard's marker left out.
    entries: tuple[str, ...]
    marker: str | None
    aside: str
    aside_exists: bool
    server_pids: tuple[int, ...]
    # name -> (find's type letter, size) for every entry, when the listing was complete
    # (more than 50 entries: empty, and the datadir is not fresh).
    kinds: dict[str, tuple[str, int]] = field(default_factory=dict)

    def ours(self, owner: str) -> bool:
        return self.marker == owner

    @property
    def empty(self) -> bool:
        return not self.entries

    @property
    def replicating(self) -> bool:
        # The server makes an empty multi-master.info on its first start: that is no replica.
        return any(e in REPLICATION_FILES and self.kinds.get(e, ("f", 1))[1] != 0
                   for e in self.entries)

    @property
    def fresh(self) -> bool:
        """A freshly installed server's datadir (as `apt-get install mariadb-server` leaves
        it, maybe started once): the system schemas and the server's own files, no user
        schema, no binary or relay log, no replication. Strict: an entry not known to be
        the server's own (a directory above all: a schema) makes it someone's data."""
        if not self.entries or not self.kinds or set(self.kinds) != set(self.entries):
            return False
        if "mysql" not in self.kinds:
            return False
        for name, (kind, size) in self.kinds.items():
            if kind == "d":
                if name not in SYSTEM_SCHEMAS:
                    return False
            elif kind != "f":
                return False
            elif name == "multi-master.info":
                if size:
                    return False
            elif not _SYSTEM_FILE.fullmatch(name):
                return False
        return True

    def describe(self) -> str:
        """'mysql, ibdata1, ...; a server is running on it; it is a replica of another
        server'."""
        parts = [", ".join(self.entries[:5]) + (", ..." if len(self.entries) > 5 else "")]
        if self.server_pids:
            parts.append("a server is running on it")
        if self.replicating:
            parts.append("it is a replica of another server")
        return "; ".join(parts)

    def movable_problem(self, host: str) -> str | None:
        """Why the operator's datadir cannot be moved aside whole, if it cannot."""
        if self.symlink:
            return (f"{host}: {self.path} is a symbolic link to a directory with data in it; "
                    "the wizard moves a replaced datadir aside whole and will not follow the "
                    f"link. Move the data elsewhere and remove the link (or empty {self.path}),"
                    " then run again")
        if self.mountpoint:
            return (f"{host}: {self.path} is a mount point with data in it; `mv` cannot move a "
                    "mount point aside, and the wizard deletes nothing it did not create. Move "
                    f"its contents elsewhere (or unmount it), so that {self.path} is empty, "
                    "then run again")
        if self.aside_exists:
            return (f"{host}: {self.aside} exists (an earlier attempt of this migration moved "
                    f"a datadir there) and {self.path} has data again; the wizard keeps both. "
                    "Decide which one to keep, move the other away, then run again")
        return None


def _inspect_script(datadir: str, aside: str) -> str:
    d, a, m = shlex.quote(datadir), shlex.quote(aside), shlex.quote(MARKER_NAME)
    return "\n".join([
        f"d={d}; a={a}; m={m}",
        '[ -L "$d" ] && echo symlink=1',
        '[ -d "$d" ] && echo exists=1',
        'mountpoint -q "$d" 2>/dev/null && echo mountpoint=1',
        '{ [ -e "$a" ] || [ -L "$a" ]; } && echo aside=1',
        # A marker that is a link or not a plain file proves nothing.
        '[ -f "$d/$m" ] && [ ! -L "$d/$m" ] && printf "marker=%s\\n" '
        '"$(head -c 200 "$d/$m" | tr -d "\\n")"',
        'echo "pids=$(pidof mariadbd mysqld 2>/dev/null || true)"',
        f'[ -d "$d" ] && ls -A "$d" | grep -vxF "$m" | head -{_ENTRY_LIMIT} | sed "s/^/entry=/"',
        # Each entry's type and size, to tell a fresh server's datadir (one more than the
        # limit: an incomplete listing proves nothing).
        f'[ -d "$d" ] && find "$d/" -mindepth 1 -maxdepth 1 ! -name "$m" '
        f'-printf "kind=%y:%s:%f\\n" | head -{_ENTRY_LIMIT + 1}',
        "true",
    ])


def parse_inspection(datadir: str, aside: str, text: str) -> Datadir:
    flags: set[str] = set()
    entries: list[str] = []
    marker: str | None = None
    pids: tuple[int, ...] = ()
    kinds: dict[str, tuple[str, int]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "entry" and value:
            entries.append(value)
        elif key == "marker":
            marker = value
        elif key == "kind":
            kind, _, rest = value.partition(":")
            size, _, name = rest.partition(":")
            if name and size.isdigit():
                kinds[name] = (kind, int(size))
        elif key == "pids":
            pids = tuple(int(p) for p in value.split() if p.isdigit())
        elif value == "1":
            flags.add(key)
    return Datadir(path=datadir, exists="exists" in flags, symlink="symlink" in flags,
                   mountpoint="mountpoint" in flags, entries=tuple(entries), marker=marker,
                   aside=aside, aside_exists="aside" in flags, server_pids=pids,
                   kinds=kinds if len(kinds) <= _ENTRY_LIMIT else {})


async def inspect(host: Shell, migration_id: str, datadir: str = DATADIR) -> Datadir:
    """The datadir as it is now, in one command."""
    aside = aside_path(migration_id, datadir)
    out = await host.run(["sh", "-c", _inspect_script(datadir, aside)],
                         display=f"inspect {datadir} (entries, marker, mount point, server)")
    return parse_inspection(datadir, aside, out.stdout)


def claim_script(owner: str, datadir: str = DATADIR) -> str:
    d, m, o = shlex.quote(datadir), shlex.quote(MARKER_NAME), shlex.quote(owner)
    return (f"install -d -o mysql -g mysql -m 0750 {d} && "
            f"printf '%s\\n' {o} > {d}/{m}.tmp && mv -f {d}/{m}.tmp {d}/{m}")


async def claim(host: Shell, owner: str, datadir: str = DATADIR) -> None:
    """Create the datadir if it is missing (an existing one keeps its contents) and put the
    marker in it: from here on the directory is provably the wizard's."""
    await host.run(["sh", "-c", claim_script(owner, datadir)],
                   display=f"install -d -o mysql -g mysql -m 0750 {datadir}; "
                           f"write {datadir}/{MARKER_NAME} (this migration's marker)")


def empty_ours_script(owner: str, datadir: str = DATADIR, *, keep_marker: bool = True) -> str:
    d, m, o = shlex.quote(datadir), shlex.quote(MARKER_NAME), shlex.quote(owner)
    keep = f"! -name {m} " if keep_marker else ""
    return (f'[ -f {d}/{m} ] && [ ! -L {d}/{m} ] && '
            f'[ "$(head -c 200 {d}/{m} | tr -d "\\n")" = {o} ] || '
            f'{{ echo "{datadir} does not carry this migration\'s marker; not deleting" >&2; '
            "exit 3; }; "
            f"find {d} -mindepth 1 -maxdepth 1 {keep}-exec rm -rf -- {{}} +")


async def empty_ours(host: Shell, owner: str, datadir: str = DATADIR, *,
                     keep_marker: bool = True) -> None:
    """Delete the datadir's contents, on the host's own proof that the directory is ours: the
    check and the deletion are one command, so nothing can change in between."""
    script = empty_ours_script(owner, datadir, keep_marker=keep_marker)
    await host.run(["sh", "-c", script],
                   display=f"empty {datadir} (only if it carries this migration's marker)")
