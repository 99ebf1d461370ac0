"""The host-wide lock: one per migration id on this jump host, whoever runs the wizard.

The journal lives in the user's state directory, so root (~root/.local/state) and an operator
running `sudo moodle-wizard` with their own HOME have two journals and two journal locks for
the same migration. This lock is keyed by the migration id alone and lives in one directory
of the host, `/run/lock/moodle-wizard/<id>.lock` (tmpfs: it needs no cleanup after a reboot,
and flock locks die with their process, so a crashed wizard leaves nothing held).

`/run/lock` is world-writable (1777): a local user may create `moodle-wizard` there first,
or plant a symlink. So the directory and the file are used only when they are what the
wizard would have made: not a symlink, owned by root (or by the user running the wizard),
not writable by group or others. Anything else is refused with the path and the fix; it is
never removed (it is not provably ours).

Who can create it: root (the wizard normally runs as root). A wizard run by an ordinary user
cannot create a root-owned directory; it shares the lock when a root run created it (a
read-only descriptor is enough for flock) and otherwise runs with its journal lock only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from moodle_wizard.core.errors import OperatorError

__all__ = ["HOST_LOCK_DIR", "LOCK_DIR_ENV", "HostLock", "HostLockError", "HostLockHeld",
           "host_lock_dir", "read_pid"]

HOST_LOCK_DIR = Path("/run/lock/moodle-wizard")
LOCK_DIR_ENV = "MOODLE_WIZARD_LOCK_DIR"


class HostLockError(OperatorError):
    """The host-wide lock's directory or file cannot be trusted or used."""


class HostLockHeld(OperatorError):
    """Another process holds the host-wide lock of this migration."""

    def __init__(self, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is held by {f'pid {pid}' if pid else 'another process'}")
        self.path = path
        self.pid = pid


def host_lock_dir(sandbox: Path | None) -> Path:
    """MOODLE_WIZARD_LOCK_DIR if set; else, for a sandboxed state directory
    (MOODLE_WIZARD_STATE_DIR, as tests use), that directory itself (`<id>.lock` next to the
    journal), so that sandboxes do not contend; else the host's /run/lock/moodle-wizard."""
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override)
    if sandbox is not None:
        return sandbox
    return HOST_LOCK_DIR


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _check(path: Path, st: os.stat_result, kind: str) -> None:
    what = "directory" if kind == "dir" else "file"
    if stat.S_ISLNK(st.st_mode):
        raise HostLockError(f"the lock {what} {path} is a symbolic link; someone else made it. "
                            f"Remove it (as root) and run the wizard again")
    if (kind == "dir" and not stat.S_ISDIR(st.st_mode)) or (
            kind == "file" and not stat.S_ISREG(st.st_mode)):
        raise HostLockError(f"{path} is not a {what}; remove it (as root) and run the wizard "
                            "again")
    if _trusted_owner(st.st_uid) and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        # Root's (or this user's) own, only too open, as a permissive umask leaves it: the fix
        # is its mode, never removing it (a state directory holds the journals).
        raise HostLockError(
            f"the lock {what} {path} has mode {stat.S_IMODE(st.st_mode):04o}: others could "
            f"write to it, so the wizard does not use it. Run `chmod go-w {path}` and run "
            "the wizard again")
    if not _trusted_owner(st.st_uid):
        raise HostLockError(
            f"the lock {what} {path} belongs to uid {st.st_uid} with mode "
            f"{stat.S_IMODE(st.st_mode):04o}; the wizard uses it only when it is root's and "
            f"not writable by others. Remove it (as root) and run the wizard again")


class HostLock:
    """Exclusive, non-blocking flock on `<lock dir>/<migration id>.lock`."""

    def __init__(self, migration_id: str, directory: Path) -> None:
        if not migration_id or "/" in migration_id or migration_id.startswith("."):
            raise ValueError(f"invalid migration id {migration_id!r}")
        self.directory = directory
        self.path = directory / f"{migration_id}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _directory(self) -> bool:
        """True when the directory is there and trusted; False when this user cannot make it."""
        try:
            self.directory.mkdir(mode=0o755, parents=True)
            os.chmod(self.directory, 0o755)  # whatever the umask: other users share the lock
        except FileExistsError:
            pass
        except PermissionError:
            return False
        _check(self.directory, os.lstat(self.directory), "dir")
        return True

    def acquire(self) -> None:
        """Take the lock, or raise HostLockHeld (another process has it) or HostLockError
        (a directory or file the wizard cannot trust)."""
        if not self._directory():
            return  # an ordinary user and no root-made directory: the journal lock only
        flags = os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                fd = os.open(self.path, flags | os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:
                # Root's lock file and an ordinary user: a read-only descriptor locks it too.
                fd = os.open(self.path, flags | os.O_RDONLY)
        except FileNotFoundError:
            return  # this user cannot create it: the journal lock only
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink: say so
                _check(self.path, os.lstat(self.path), "file")
            raise
        try:
            _check(self.path, os.fstat(fd), "file")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_pid(fd)
            os.close(fd)
            raise HostLockHeld(self.path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        if os.fstat(fd).st_uid == os.geteuid():
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def read_pid(fd: int) -> int | None:
    """The pid a lock file's holder wrote into it (None if it wrote none)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
