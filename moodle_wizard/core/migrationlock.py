"""The lock that keeps a second wizard from driving the same migration: a flock on the
journal's `<state file>.lock`, and the host-wide lock of the migration id (core/hostlock.py)."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

import platformdirs

from moodle_wizard.core.hostlock import (
    HostLock,
    HostLockError,
    HostLockHeld,
    host_lock_dir,
    read_pid,
)
from moodle_wizard.core.state import StateError

__all__ = ["LockHeldError", "MigrationLock"]


class LockHeldError(StateError):
    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class MigrationLock:
    """Exclusive, non-blocking lock on `<state file>.lock`, holding the owner's pid, and on
    the host-wide lock of the migration id (core/hostlock.py), which every user's wizard on
    this jump host shares. Take it before reading the state: a journal read before the lock
    may be one another wizard is about to change.

    flock locks die with the process, so a crashed wizard never leaves a stale lock; the pid
    in the file is only there to tell the next wizard who holds it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None
        # A journal outside the user's own state directory (MOODLE_WIZARD_STATE_DIR: tests,
        # sandboxes) keeps its host-wide lock next to it, so sandboxes never contend.
        default = path.parent == platformdirs.user_state_path("moodle-wizard")
        self.host = HostLock(path.stem, host_lock_dir(None if default else path.parent))

    def acquire(self) -> None:
        self._acquire_journal()
        try:
            self.host.acquire()
        except HostLockHeld as exc:
            self.release()
            who = f"pid {exc.pid}" if exc.pid is not None else "another process"
            raise LockHeldError(
                f"another moodle-wizard ({who}, maybe another user's) is driving migration "
                f"{self.host.path.stem} on this host ({exc.path}); wait for it to finish or "
                "stop it before continuing here",
                exc.pid,
            ) from None
        except HostLockError as exc:
            self.release()
            raise StateError(str(exc)) from None
        except BaseException:
            self.release()
            raise

    def _acquire_journal(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            who = f"pid {holder}" if holder is not None else "another process"
            raise LockHeldError(
                f"another moodle-wizard ({who}) is driving this migration ({self.path}); "
                f"wait for it to finish or stop it before continuing here",
                holder,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        self.host.release()
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> MigrationLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
