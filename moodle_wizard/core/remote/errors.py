"""The remote errors: what failed on which host, as one line the operator can act on.

They are OperatorErrors (core/errors.py): an unreachable host, a refused host key or a command
that failed is the operator's to fix, and is shown as its message, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

from moodle_wizard.core.errors import OperatorError

__all__ = [
    "AuthFailed",
    "ChangedHostKey",
    "CommandFailed",
    "CommandTimeout",
    "RemoteError",
    "UnknownHostKey",
    "Unreachable",
    "one_line",
]

_STDERR_TAIL = 2000


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RemoteError(OperatorError):
    """Base of every remote failure; str() is one line: host, problem, what to do."""

    def __init__(self, host: str, problem: str) -> None:
        self.host = host
        super().__init__(one_line(f"{host}: {problem}", 600))


class UnknownHostKey(RemoteError):
    def __init__(self, host: str, address: str, fingerprint: str, key_type: str,
                 accepted: str | None = None) -> None:
        self.fingerprint = fingerprint
        if accepted is None:
            problem = (f"unknown SSH host key for {address} ({key_type} {fingerprint}); refused. "
                       f"Verify the fingerprint with the host's administrator, then accept it "
                       f"with --accept-host-key {host}={fingerprint}")
        else:
            problem = (f"{address} presented host key {fingerprint}, not the {accepted} that was "
                       f"accepted for it; refused. Verify the fingerprint with the host's "
                       f"administrator")
        super().__init__(host, problem)


class ChangedHostKey(RemoteError):
    def __init__(self, host: str, address: str, presented_fingerprint: str,
                 known_hosts: Path) -> None:
        self.presented_fingerprint = presented_fingerprint
        super().__init__(
            host,
            f"SSH host key of {address} has CHANGED (it now presents {presented_fingerprint}, "
            f"which {known_hosts} does not trust); refused - this can be an attack. Verify the "
            f"new key with the host's administrator before removing the old entry with "
            f"`ssh-keygen -R {host} -f {known_hosts}` (and `-R {address}`)",
        )


class AuthFailed(RemoteError):
    pass


class Unreachable(RemoteError):
    pass


class NoSudo(RemoteError):
    """A host reached as a user other than root, who has no passwordless sudo there."""


class CommandFailed(RemoteError):
    def __init__(self, host: str, command: str, exit_status: int, stderr: str) -> None:
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr[-_STDERR_TAIL:]
        last = [line for line in stderr.splitlines() if line.strip()][-3:]
        detail = f": {' | '.join(last)}" if last else " (no error output)"
        super().__init__(host, f"`{one_line(command, 160)}` failed with exit status "
                               f"{exit_status}{detail}")


class CommandTimeout(RemoteError):
    def __init__(self, host: str, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(host, f"`{one_line(command, 160)}` did not finish within {timeout:g} s; "
                               f"it was stopped. Run long work as a detached job")
