"""SSH access to one host: every command quoted, run under the host's own `timeout`, audited.

A host reached as a user other than root runs every command as root through `sudo -n`
(non-interactive: passwordless sudo is required, and checked when the connection opens, see
`pool.SshPool`); stdin, which carries every secret, passes through sudo untouched.

The connection itself (host keys, jump hosts, ~/.ssh/config) is opened by `pool.SshPool`;
the host key policy and known_hosts are `known_hosts`.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncssh

from moodle_wizard.core.remote.errors import (
    CommandFailed,
    CommandTimeout,
    RemoteError,
    Unreachable,
    one_line,
)

__all__ = [
    "SUDO",
    "Audit",
    "RemoteHost",
    "Result",
    "SshTarget",
    "wrap",
]

Audit = Callable[[str, str], None]

# read_file tells "no such file" from other failures by this exit status.
_NO_SUCH_FILE = 66
# `timeout`'s exit statuses (TERM worked / KILL was needed), and how much longer the wizard
# waits for a command that the host itself times out.
_TIMED_OUT, _TIMED_OUT_KILLED = 124, 137
_NETWORK_GRACE = 15.0
# How a command runs as root for a host reached as another user.
SUDO = "sudo -n"


@dataclass(frozen=True)
class SshTarget:
    name: str
    address: str
    port: int = 22
    user: str = "root"
    jump: SshTarget | None = None
    client_keys: tuple[str, ...] | None = None
    # The inventory's address when ~/.ssh/config's HostName replaced it: `Host` blocks for it
    # still apply to the connection (sshconfig.for_connection).
    config_address: str | None = None

    @property
    def sudo(self) -> bool:
        """Reached as another user than root: every command runs through `sudo -n`."""
        return self.user != "root"

    @property
    def endpoint(self) -> str:
        """`user@address[:port]`, for messages."""
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.address}{port}"


@dataclass
class Result:
    exit_status: int
    stdout: str
    stderr: str


# --- one host -------------------------------------------------------------------------------

class RemoteHost:
    """Commands on one host. The connection is (re)opened on demand through the pool, so a
    dropped connection costs the command that was running, not the host object."""

    def __init__(self, target: SshTarget,
                 opener: Callable[[SshTarget], Awaitable[asyncssh.SSHClientConnection]],
                 audit: Audit | None) -> None:
        self.target = target
        self._opener = opener
        self._audit = audit
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[asyncssh.SSHListener] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """Closed by `close()` (a lost connection is not closed: it is opened again)."""
        return self._closed

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The live connection, opened again if it was lost."""
        if self._closed:
            raise RemoteError(self.target.name, "its SSH connection was closed by the wizard; "
                                                "connect again through the pool")
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._listeners.clear()
                self._conn = await self._opener(self.target)
            return self._conn

    def _log(self, text: str) -> None:
        if self._audit is not None:
            self._audit(self.target.name, text)

    async def run(self, argv: Sequence[str], *, input: str | bytes | None = None,
                  check: bool = True, timeout: float | None = 600,
                  on_line: Callable[[str], None] | None = None,
                  display: str | None = None) -> Result:
        """Run argv (every element quoted). Secrets go only through `input` (stdin).

        `on_line` gets each stdout line as it arrives (for a live log). `display` is what the
        audit shows instead of the quoted argv (a readable summary of a long internal script);
        the default is the quoted argv itself."""
        if display is None:
            display = shlex.join(argv) + (" < (stdin)" if input is not None else "")
        status, out, err = await self._exec(argv, input, check=check, timeout=timeout,
                                            display=display, on_line=on_line)
        return Result(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    async def script(self, script: str, *, check: bool = True,
                     timeout: float | None = 600) -> Result:
        """Run a shell script with `sh -eu`, the script on stdin (so it can't read stdin)."""
        display = f"sh -eu <<'SCRIPT'\n{script.rstrip()}\nSCRIPT"
        status, out, err = await self._exec(["sh", "-eu"], script, check=check,
                                            timeout=timeout, display=display)
        return Result(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    async def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        argv = ["sh", "-c", f'test -e "$1" || exit {_NO_SUCH_FILE}; exec cat -- "$1"', "sh",
                path]
        status, out, err = await self._exec(argv, None, check=False, timeout=600,
                                            display=shlex.join(["cat", "--", path]))
        if status == _NO_SUCH_FILE:
            return None
        if status != 0:
            raise CommandFailed(self.target.name, shlex.join(["cat", "--", path]), status,
                                err.decode("utf-8", "replace"))
        return out

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o644,
                         atomic: bool = True) -> None:
        """Write `data` (sent on stdin) to `path` with `mode`.

        Atomic: a temp file next to it (mktemp: 0600 from the start), fsync, chmod, rename over
        the target. The owner and group of a file being replaced are kept (a config.php owned
        by root:www-data must stay readable by PHP); a symlink is followed, not replaced."""
        octal = f"{mode:04o}"
        if atomic:
            body = (
                'umask 077; p=$(readlink -f -- "$1"); tmp=$(mktemp -- "$p.mw-XXXXXX"); '
                # The temp file may hold a password (config.php): gone on every exit, also
                # when the connection drops (HUP) or `timeout` stops the command (TERM).
                'trap \'rm -f -- "$tmp"\' EXIT; trap \'exit 129\' HUP; trap \'exit 130\' INT; '
                'trap \'exit 143\' TERM; '
                'cat > "$tmp"; '
                # A dropped connection ends stdin early: never install half a file.
                f'[ "$(wc -c < "$tmp")" -eq {len(data)} ] || '
                '{ echo "the data did not all arrive; nothing was replaced" >&2; exit 3; }; '
                'if [ -e "$p" ]; then chown --reference="$p" -- "$tmp"; fi; '
                f'chmod {octal} -- "$tmp"; sync -- "$tmp"; '
                'mv -f -- "$tmp" "$p"; trap - EXIT'
            )
        else:
            body = f'umask 077; cat > "$1"; chmod {octal} -- "$1"'
        display = (f"write {shlex.quote(path)} ({len(data)} bytes from stdin, mode {octal}"
                   f"{', atomic' if atomic else ''})")
        await self._exec(["sh", "-eu", "-c", body, "sh", path], data, check=True, timeout=600,
                         display=display)

    async def forward_local_to_path(self, remote_path: str) -> tuple[str, int]:
        """Listen on 127.0.0.1:(free port) here, forwarded to a unix socket there."""
        self._log(f"forward 127.0.0.1:(free port) -> {remote_path}")
        conn = await self.connection()
        try:
            listener = await conn.forward_local_port_to_path("127.0.0.1", 0, remote_path)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(self.target.name, f"cannot forward a local port to {remote_path}: "
                                                f"{exc}; check AllowStreamLocalForwarding in "
                                                f"its sshd_config") from exc
        self._listeners.append(listener)
        return "127.0.0.1", listener.get_port()

    def stop_forward(self, local_port: int) -> None:
        """Close the forward listening on `local_port` (its connections stay until they end)."""
        for listener in [x for x in self._listeners if x.get_port() == local_port]:
            listener.close()
            self._listeners.remove(listener)

    async def forward_local_to_port(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """Listen on 127.0.0.1:(free port) here, forwarded to remote_host:remote_port as seen
        from this host."""
        self._log(f"forward 127.0.0.1:(free port) -> {remote_host}:{remote_port}")
        conn = await self.connection()
        try:
            listener = await conn.forward_local_port("127.0.0.1", 0, remote_host, remote_port)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(self.target.name, f"cannot forward a local port to {remote_host}:"
                                                f"{remote_port}: {exc}; check AllowTcpForwarding "
                                                f"in its sshd_config") from exc
        self._listeners.append(listener)
        return "127.0.0.1", listener.get_port()

    async def close(self) -> None:
        self._closed = True
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()
            self._conn = None

    async def _exec(self, argv: Sequence[str], input: str | bytes | None, *, check: bool,
                    timeout: float | None, display: str,
                    on_line: Callable[[str], None] | None = None) -> tuple[int, bytes, bytes]:
        if not argv:
            raise ValueError("empty argv")
        data = input.encode() if isinstance(input, str) else input
        self._log(f"{SUDO} {display}" if self.target.sudo else display)
        conn = await self.connection()
        short = display.splitlines()[0]
        command = wrap(argv, timeout, sudo=self.target.sudo)
        local_timeout = None if timeout is None else timeout + _NETWORK_GRACE
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            proc: asyncssh.SSHClientProcess[bytes] = await conn.create_process(
                command, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise Unreachable(self.target.name, f"cannot start `{one_line(short, 120)}`: "
                                                f"{exc}") from exc
        try:
            status, out, err = await asyncio.wait_for(_communicate(proc, data, on_line),
                                                      local_timeout)
        except TimeoutError:
            raise CommandTimeout(self.target.name, short, timeout or 0) from None
        except (asyncssh.Error, OSError) as exc:
            raise Unreachable(self.target.name, f"connection lost while running "
                                                f"`{one_line(short, 120)}` ({exc}); it may or "
                                                f"may not have finished") from exc
        finally:
            proc.close()
        if (timeout is not None and status in (_TIMED_OUT, _TIMED_OUT_KILLED)
                and loop.time() - started >= timeout):
            raise CommandTimeout(self.target.name, short, timeout)
        if check and status != 0:
            raise CommandFailed(self.target.name, short, status, err.decode("utf-8", "replace"))
        return status, out, err


def wrap(argv: Sequence[str], timeout: float | None, *, sudo: bool) -> str:
    """The command line sent to the host for argv.

    sshd ignores SSH signal requests here, and closing the channel does not stop a command:
    the host's own `timeout` kills the command's whole process group. (`sh -c '"$@"'` so that
    argv[0] may still be a builtin such as `command`.) Through sudo, `timeout` runs as root
    too, so it can still kill what it started; `-n`: never a password prompt, a refusal."""
    command = shlex.join(argv)
    if timeout is not None:
        command = f"timeout -k 5 {timeout:.3f} sh -c '\"$@\"' sh {command}"
    elif sudo:
        command = f"sh -c '\"$@\"' sh {command}"
    return f"{SUDO} -- {command}" if sudo else command


async def _communicate(proc: asyncssh.SSHClientProcess[bytes], data: bytes | None,
                       on_line: Callable[[str], None] | None) -> tuple[int, bytes, bytes]:
    async def feed() -> None:
        try:
            if data:
                proc.stdin.write(data)
                await proc.stdin.drain()
            proc.stdin.write_eof()
        except BrokenPipeError:
            pass  # the command exited without reading all of stdin; its status tells

    async def lines(stream: asyncssh.SSHReader[bytes], emit: Callable[[str], None]) -> bytes:
        chunks: list[bytes] = []
        async for line in stream:
            if line:  # the stream can end with an empty line
                chunks.append(line)
                emit(line.decode("utf-8", "replace").rstrip("\n"))
        return b"".join(chunks)

    out_task = lines(proc.stdout, on_line) if on_line else proc.stdout.read()
    # Both streams are read to the end before waiting for the exit status.
    _, out, err = await asyncio.gather(feed(), out_task, proc.stderr.read())
    completed = await proc.wait()
    status = completed.returncode
    return (255 if status is None else status), out, err
