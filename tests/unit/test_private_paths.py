"""Paths root uses on a host must be root's own; the seed key is fresh, one line, and removed
exactly. The real remote scripts run here, on a faked RemoteHost that executes locally."""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from moodle_wizard.core.facts import ReplicasFacts
from moodle_wizard.core.remote import privatedir
from moodle_wizard.core.remote.errors import CommandFailed
from moodle_wizard.core.remote.jobs import (
    DEFAULT_BASE_DIR,
    ForeignJobDirectory,
    JobRef,
    JobState,
    cancel_job,
    job_dir,
    job_status,
    remove_job,
    start_job,
    wait_job,
)
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import seed, seed_key

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the paths must be root's own")
ED25519 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFmq+yDH0Cuj9iTWq0opc/hxJy1ZnWrL7APdRtKrXTQY")


class LocalHost:
    """A RemoteHost whose commands run on this machine."""

    def __init__(self, name: str = "db9") -> None:
        self.target = SimpleNamespace(name=name)
        self.commands: list[str] = []

    async def run(self, argv: Sequence[str], *, input: str | bytes | None = None,
                  check: bool = True, timeout: float | None = 600, on_line: object = None,
                  display: str | None = None) -> Result:
        self.commands.append(display or shlex.join(argv))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        data = input.encode() if isinstance(input, str) else input
        out, err = await asyncio.wait_for(proc.communicate(data), timeout)
        assert proc.returncode is not None
        if check and proc.returncode != 0:
            raise CommandFailed(self.target.name, shlex.join(argv), proc.returncode,
                                err.decode())
        return Result(proc.returncode, out.decode(), err.decode())

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o644,
                         atomic: bool = True) -> None:
        await self.run(["sh", "-c", 'umask 077; cat > "$1"; chmod "$2" "$1"', "sh", path,
                        f"{mode:o}"], input=data)


@pytest.fixture
async def host() -> AsyncIterator[LocalHost]:
    yield LocalHost()


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# -- jobs --------------------------------------------------------------------------------------

def test_jobs_live_under_the_root_owned_base() -> None:
    assert DEFAULT_BASE_DIR == "/var/lib/moodle-wizard/jobs"
    assert job_dir("seed-1") == "/var/lib/moodle-wizard/jobs/seed-1"
    for bad in ("/var/lib/../tmp", "var/lib", "/var//lib", "/var/lib/", "/"):
        with pytest.raises(ValueError):
            job_dir("x", bad)


async def test_a_job_base_under_tmp_is_refused_and_nothing_runs(host: LocalHost,
                                                                tmp_path: Path) -> None:
    base = tmp_path / "jobs"
    with pytest.raises(privatedir.UnsafeDirectory, match=r"unsafe directory /tmp: it has mode "
                       r"01777.*remove it or fix its owner/mode.*cannot prove is root's own"):
        await start_job(host, "t-1", f"touch {tmp_path}/ran\n", base_dir=str(base))
    assert not base.exists() and not (tmp_path / "ran").exists()
    assert len(host.commands) == 1, "refused in the first command, before anything was written"


@needs_root
@pytest.mark.parametrize("how", ["owner", "mode", "sticky", "symlink", "planted job"])
async def test_a_job_base_someone_else_prepared_is_refused(host: LocalHost, root_scratch: Path,
                                                           tmp_path: Path, how: str) -> None:
    """A local user who made the jobs directory (or a job's directory) first could swap a
    stage and have root run their runner: refused, and their files are neither run nor
    removed."""
    base = root_scratch / "jobs"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    ran = tmp_path / "ran"
    if how == "symlink":
        base.symlink_to(theirs)
        planted = theirs
    else:
        base.mkdir(mode=0o700)
        planted = base
    if how == "planted job":
        planted = base / "t-1"
        planted.mkdir(mode=0o700)
        os.chown(planted, 65534, 65534)
        (planted / "exit_code").write_text("0\n")
    (planted / "runner").write_text(f"#!/bin/sh\ntouch {ran}\n")
    if how == "owner":
        os.chown(base, 65534, 65534)
    elif how == "mode":
        base.chmod(0o777)
    elif how == "sticky":
        base.chmod(0o1777)
    before = tree(root_scratch), tree(theirs)
    reason = {"owner": f"{base}: it is owned by uid 65534", "mode": f"{base}: it has mode 0777",
              "sticky": f"{base}: it has mode 01777", "symlink": f"{base}: it is a symbolic link",
              "planted job": f"{planted}: it is owned by uid 65534"}[how]
    with pytest.raises(privatedir.UnsafeDirectory, match="unsafe directory " + reason):
        await start_job(host, "t-1", f"touch {ran}\n", base_dir=str(base))
    ref = JobRef(host.target.name, "t-1", f"{base}/t-1")
    # Status, cancel and remove (which would `rm -rf` there) refuse the same path.
    for use in (job_status(host, ref, base_dir=str(base)),
                cancel_job(host, ref, base_dir=str(base)),
                remove_job(host, ref, base_dir=str(base))):
        with pytest.raises(privatedir.UnsafeDirectory, match="unsafe directory " + reason):
            await use
    assert (tree(root_scratch), tree(theirs)) == before, "nothing created, nothing removed"
    assert not ran.exists()


@needs_root
async def test_a_job_runs_in_a_base_only_root_can_have_made(host: LocalHost,
                                                            root_scratch: Path) -> None:
    base = f"{root_scratch}/lib/jobs"
    ref = await start_job(host, "t-2", "echo hi\n", base_dir=base)
    final = await wait_job(host, ref, poll=0.05, timeout=20, base_dir=base)
    assert final.state is JobState.SUCCEEDED and final.output_tail == "hi\n"
    modes = subprocess.run(["stat", "-c", "%a %u", f"{root_scratch}/lib", base, ref.directory],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    assert modes[:3] == ["700 0", "700 0", "700 0"]
    # Loosened afterwards (by an operator, a package): no longer trusted, not removed.
    os.chmod(base, 0o755)
    with pytest.raises(privatedir.UnsafeDirectory, match="has mode 0755, not 0700"):
        await remove_job(host, ref, base_dir=base)
    assert Path(ref.directory).is_dir()
    os.chmod(base, 0o700)
    await remove_job(host, ref, base_dir=base)
    assert not Path(ref.directory).exists()


async def test_a_ref_from_an_older_state_file_is_refused_clearly(host: LocalHost) -> None:
    old = {"host": "db9", "job_id": "seed-1", "directory": "/var/tmp/moodle-wizard/jobs/seed-1"}
    with pytest.raises(ForeignJobDirectory, match=r"not under /var/lib/moodle-wizard/jobs.*"
                       "remove it by hand"):
        JobRef.from_dict(old)
    ref = JobRef("db9", "seed-1", old["directory"])
    for use in (job_status(host, ref), cancel_job(host, ref), remove_job(host, ref)):
        with pytest.raises(ForeignJobDirectory):
            await use
    assert host.commands == [], "nothing was run on the host"
    assert JobRef.from_dict({**old, "directory": job_dir("seed-1")}).directory == job_dir(
        "seed-1")


# -- the seed key --------------------------------------------------------------------------

def test_exactly_one_public_key_line_of_a_known_type_is_accepted() -> None:
    assert seed_key.parse_public_key(ED25519 + " moodle-wizard-seed-x\n") == ED25519
    assert seed_key.parse_public_key(ED25519) == ED25519
    other = ED25519[:-4] + "AAAA"
    for bad in (f"{ED25519} a\n{other} planted\n",      # a second line: someone else's key
                f"{ED25519}\n\n",
                f'command="sh" {ED25519}',               # options are the wizard's to write
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq",  # truncated key
                "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQCx",  # an RSA blob, relabelled
                ""):
        with pytest.raises(StepError, match="will not authorize it"):
            seed_key.parse_public_key(bad)


def test_the_marker_carries_the_migration_id() -> None:
    assert seed_key.marker("mwlab") == "moodle-wizard-seed-mwlab"
    for bad in ("", "a b", "x\n", "../x"):
        with pytest.raises(StepError):
            seed_key.marker(bad)


@needs_root
async def test_a_planted_or_leftover_key_is_never_reused(host: LocalHost,
                                                         root_scratch: Path) -> None:
    stage = root_scratch / "seed"
    stage.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stage / "seed_key")],
                   check=True)
    planted = (stage / "seed_key.pub").read_text().split()[1]
    (stage / "seed_key.pub").write_text((stage / "seed_key.pub").read_text() + ED25519 + "\n")
    pub = await seed_key.generate(host, "moodle-wizard-seed-t", str(stage))
    assert pub.split()[1] != planted and pub != ED25519
    assert (stage / "seed_key.pub").read_text().split()[:2] == pub.split()
    private = subprocess.run(["ssh-keygen", "-y", "-f", str(stage / "seed_key")],
                             capture_output=True, text=True, check=True).stdout
    assert private.split()[:2] == pub.split(), "the private half is the new one too"
    assert seed_key.fingerprint(pub) in subprocess.run(
        ["ssh-keygen", "-l", "-f", str(stage / "seed_key.pub")], capture_output=True,
        text=True, check=True).stdout


@needs_root
async def test_the_key_is_not_made_in_a_stage_someone_else_owns(host: LocalHost,
                                                                root_scratch: Path) -> None:
    stage = root_scratch / "seed"
    stage.mkdir(mode=0o700)
    os.chown(stage, 65534, 65534)
    with pytest.raises(privatedir.UnsafeDirectory, match=f"{stage}: it is owned by uid 65534"):
        await seed_key.generate(host, "moodle-wizard-seed-t", str(stage))
    assert list(stage.iterdir()) == []


OPERATOR = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGbA6BfIJofAA3CvMEtrolLcifUS+yzuOFBDfWsBWGwp "
    "alice@laptop (not the moodle-wizard-seed key)\n"
    'restrict,from="10.0.0.5",command="backup" ' + ED25519 + " moodle-wizard-seed-other\n"
    "# moodle-wizard-seed-t: a note of the operator's own\n"
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoFFlOqVxdjJgsQdd6s1YgkJh3VBPXOUu6upzn4nW9Z "
    "moodle-wizard-seed\n"
)


def our_line(mark: str) -> str:
    return seed.authorized_key_line(f"{ED25519} {mark}", "10.0.0.11", "mbstream -x -C /d")


@needs_root
async def test_removal_takes_out_exactly_the_line_added(host: LocalHost, tmp_path: Path) -> None:
    """Today's `grep -v moodle-wizard-seed` also deleted the operator's lines that merely
    mention it (a comment, another migration's key, an old key of their own)."""
    ssh = tmp_path / ".ssh"
    ssh.mkdir(mode=0o700)
    ak = ssh / "authorized_keys"
    ak.write_text(OPERATOR)
    os.chown(ak, 0, 65534)
    ak.chmod(0o640)
    mark = seed_key.marker("t")
    await seed_key.authorize(host, our_line(mark), mark, str(ak))
    await seed_key.authorize(host, our_line(mark), mark, str(ak))  # a retry: still one line
    assert ak.read_text() == OPERATOR + our_line(mark) + "\n"
    assert (ak.stat().st_mode & 0o777, ak.stat().st_uid, ak.stat().st_gid) == (0o640, 0, 65534)
    await seed_key.unauthorize(host, [mark], str(ak))
    assert ak.read_text() == OPERATOR
    assert (ak.stat().st_mode & 0o777, ak.stat().st_uid, ak.stat().st_gid) == (0o640, 0, 65534)
    inode = ak.stat().st_ino
    await seed_key.unauthorize(host, [mark], str(ak))  # idempotent, file not even rewritten
    assert ak.read_text() == OPERATOR and ak.stat().st_ino == inode
    assert [p.name for p in ssh.iterdir()] == ["authorized_keys"], "no temp file left"


@needs_root
async def test_an_earlier_wizards_line_goes_only_when_it_added_one(host: LocalHost,
                                                                   tmp_path: Path) -> None:
    ssh = tmp_path / ".ssh"
    ssh.mkdir(mode=0o700)
    ak = ssh / "authorized_keys"
    legacy = our_line(seed_key.LEGACY_MARKER)
    ak.write_text(OPERATOR + legacy + "\n")
    await seed_key.unauthorize(host, [seed_key.marker("t"), seed_key.LEGACY_MARKER], str(ak))
    assert ak.read_text() == OPERATOR


@needs_root
@pytest.mark.parametrize("how", ["symlink", "owner", "ssh symlink", "ssh mode"])
async def test_an_authorized_keys_root_does_not_own_is_refused(host: LocalHost, tmp_path: Path,
                                                               how: str) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (real / "authorized_keys").write_text(OPERATOR)
    ssh = tmp_path / ".ssh"
    if how == "ssh symlink":
        ssh.symlink_to(real)
    else:
        ssh.mkdir(mode=0o700)
        ak = ssh / "authorized_keys"
        if how == "symlink":
            ak.symlink_to(real / "authorized_keys")
        else:
            ak.write_text(OPERATOR)
        if how == "owner":
            os.chown(ak, 65534, 65534)
        if how == "ssh mode":
            ssh.chmod(0o777)
    mark = seed_key.marker("t")
    with pytest.raises(StepError, match="fix it by hand"):
        await seed_key.authorize(host, our_line(mark), mark, str(ssh / "authorized_keys"))
    with pytest.raises(StepError, match="fix it by hand"):
        await seed_key.unauthorize(host, [mark], str(ssh / "authorized_keys"))
    assert (real / "authorized_keys").read_text() == OPERATOR
    if how in ("owner", "ssh mode"):
        assert (ssh / "authorized_keys").read_text() == OPERATOR


def test_the_key_line_is_built_by_the_wizard() -> None:
    mark = seed_key.marker("t")
    line = our_line(mark)
    assert line.endswith(f" {ED25519} {mark}") and "\n" not in line
    assert base64.b64decode(ED25519.split()[1])[4:15] == b"ssh-ed25519"


async def test_cleanup_skips_an_older_wizards_job_that_is_gone_and_refuses_one_that_is_not(
        host: LocalHost, tmp_path: Path) -> None:
    """A state file from before the base moved: its job directory is not the wizard's to
    remove; gone already is fine, still there is handed to the operator."""
    async def connect(name: str) -> LocalHost:
        return host

    ctx = SimpleNamespace(inventory=SimpleNamespace(replicas=[], source="db9"), host=connect,
                          state=SimpleNamespace(migration_id="t"))
    old = tmp_path / "jobs" / "seed-1"
    ref = JobRef("db9", "seed-1", str(old))
    old.mkdir(parents=True)
    with pytest.raises(ForeignJobDirectory, match="remove it by hand"):
        await seed_key.cleanup(ctx, ReplicasFacts(), [ref])  # type: ignore[arg-type]
    assert old.is_dir(), "not removed"
    old.rmdir()
    await seed_key.cleanup(ctx, ReplicasFacts(), [ref])  # type: ignore[arg-type]
