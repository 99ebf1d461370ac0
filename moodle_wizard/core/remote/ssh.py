"""SSH access to the hosts: one verified connection per host, every command quoted and audited.

Host keys follow OpenSSH's rules with the wizard's own acceptance step in front:
- a host with an entry in the policy's known_hosts file (matched by the inventory name OR the
  address, `[x]:port` for a port other than 22) is verified against it by asyncssh itself;
  a different key is refused hard (`ChangedHostKey`), never asked about;
- a host with no entry is asked about once (the operator's `--accept-host-key HOST=SHA256:...`
  or the TUI's `ask`); an accepted key is appended to known_hosts before connecting, and the
  connection is then verified against the file like any other.

`~/.ssh/config` is read by asyncssh (when readable) for the *address* (as `ssh ADDRESS` would):
IdentityFile, IdentitiesOnly, ciphers, ProxyJump ... apply; the inventory's user, port and
jump, and this pool's timeouts and known_hosts, win over it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncssh

from moodle_wizard.core.remote.errors import (
    AuthFailed,
    ChangedHostKey,
    CommandFailed,
    CommandTimeout,
    RemoteError,
    UnknownHostKey,
    Unreachable,
    one_line,
)

__all__ = [
    "HostKeyPolicy",
    "RemoteHost",
    "Result",
    "SshPool",
    "SshTarget",
    "fingerprint",
]

Audit = Callable[[str, str], None]

# read_file tells "no such file" from other failures by this exit status.
_NO_SUCH_FILE = 66
# `timeout`'s exit statuses (TERM worked / KILL was needed), and how much longer the wizard
# waits for a command that the host itself times out.
_TIMED_OUT, _TIMED_OUT_KILLED = 124, 137
_NETWORK_GRACE = 15.0


@dataclass(frozen=True)
class SshTarget:
    name: str
    address: str
    port: int = 22
    user: str = "root"
    jump: SshTarget | None = None
    client_keys: tuple[str, ...] | None = None

    @property
    def endpoint(self) -> str:
        """`user@address[:port]`, for messages."""
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.address}{port}"


def _default_known_hosts() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


@dataclass
class HostKeyPolicy:
    known_hosts: Path = field(default_factory=_default_known_hosts)
    accepted: dict[str, str] = field(default_factory=dict)
    ask: Callable[[str, str], Awaitable[bool]] | None = None


def fingerprint(key: asyncssh.SSHKey) -> str:
    """`SHA256:base64-without-padding`, as `ssh-keygen -lf` prints it."""
    return key.get_fingerprint("sha256")


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
        self._log(display)
        conn = await self.connection()
        short = display.splitlines()[0]
        command = shlex.join(argv)
        local_timeout = None
        if timeout is not None:
            # sshd ignores SSH signal requests here, and closing the channel does not stop a
            # command: the host's own `timeout` kills the command's whole process group.
            # (`sh -c '"$@"'` so that argv[0] may still be a builtin such as `command`.)
            command = f"timeout -k 5 {timeout:.3f} sh -c '\"$@\"' sh {command}"
            local_timeout = timeout + _NETWORK_GRACE
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


# --- the pool -------------------------------------------------------------------------------

# What asyncssh accepts as known_hosts: trusted keys, CA keys, revoked keys, then X.509
# trusted/revoked certificates and subject patterns.
_Trusted = tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey],
                 list[object], list[object], list[object], list[object]]


def _host_patterns(target: SshTarget) -> str:
    names = dict.fromkeys([target.name, target.address])
    if target.port != 22:
        return ",".join(f"[{n}]:{target.port}" for n in names)
    return ",".join(names)


def _key_line(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {base64.b64encode(key.public_data).decode()}"


class SshPool:
    """One connection per target, reused; closes them all on exit."""

    def __init__(self, policy: HostKeyPolicy, *, audit: Audit | None = None,
                 connect_timeout: float = 10, keepalive_interval: float = 15,
                 keepalive_count_max: int = 3) -> None:
        self.policy = policy
        self._audit = audit
        self._connect_timeout = connect_timeout
        self._keepalive_interval = keepalive_interval
        self._keepalive_count_max = keepalive_count_max
        self._hosts: dict[SshTarget, RemoteHost] = {}
        # One host-key question at a time, and no two appends to known_hosts racing.
        self._host_key_lock = asyncio.Lock()

    async def __aenter__(self) -> SshPool:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self, target: SshTarget) -> RemoteHost:
        host = self._hosts.get(target)
        if host is None or host.closed:
            host = self._hosts[target] = RemoteHost(target, self._open, self._audit)
        await host.connection()
        return host

    async def close(self) -> None:
        # Newest first: a host reached through a jump closes before the jump does.
        hosts = list(self._hosts.values())
        self._hosts.clear()
        for host in reversed(hosts):
            await host.close()

    # -- opening a connection --

    async def _open(self, target: SshTarget) -> asyncssh.SSHClientConnection:
        tunnel: asyncssh.SSHClientConnection | None = None
        if target.jump is not None:
            tunnel = await (await self.connect(target.jump)).connection()
        keys: list[asyncssh.SSHKeyPair] | None = None
        if target.client_keys is not None:
            try:
                keys = list(asyncssh.load_keypairs(list(target.client_keys)))
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, OSError) as exc:
                raise AuthFailed(target.name, f"cannot load the SSH key for {target.endpoint} "
                                              f"({exc}); check the key file, or load it into "
                                              f"ssh-agent if it has a passphrase") from exc
        known = await self._trusted_keys(target, tunnel)
        try:
            return await asyncssh.connect(
                target.address, target.port, username=target.user,
                # a connection object, never a "user@host" string: a string tunnel would
                # ignore these keys and this known_hosts policy
                tunnel=() if tunnel is None else tunnel,
                client_keys=() if keys is None else keys,  # (): config, ~/.ssh keys, agent
                known_hosts=known,
                connect_timeout=self._connect_timeout,
                keepalive_interval=self._keepalive_interval,
                keepalive_count_max=self._keepalive_count_max,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            try:
                presented = await self._fetch_key(target, tunnel)
            except RemoteError:
                presented = None
            raise ChangedHostKey(target.name, target.address,
                                 fingerprint(presented) if presented else "an unknown key",
                                 self.policy.known_hosts) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(target.name, f"{target.endpoint} refused our SSH keys ({exc.reason})"
                                          f"; check the user in the inventory, that your public "
                                          f"key is in ~{target.user}/.ssh/authorized_keys there, "
                                          f"and that your key file or ssh-agent is available"
                             ) from exc
        except (asyncssh.Error, OSError) as exc:
            raise self._unreachable(target, exc) from exc

    def _unreachable(self, target: SshTarget, exc: Exception) -> RemoteError:
        """Translate a failure to open a connection (TimeoutError is an OSError)."""
        where = f"{target.address}:{target.port}"
        via = f" via {target.jump.name}" if target.jump else ""
        if isinstance(exc, TimeoutError):
            return Unreachable(target.name, f"no SSH answer from {where}{via} within "
                                            f"{self._connect_timeout:g} s; check the address, "
                                            f"that sshd runs there and that no firewall drops "
                                            f"port {target.port}")
        if isinstance(exc, asyncssh.ChannelOpenError):
            return Unreachable(target.name, f"{target.jump.name if target.jump else 'the jump'}"
                                            f" could not reach {where}: {exc.reason}; check the "
                                            f"address and that sshd runs there")
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = str(exc)
        return Unreachable(target.name, f"cannot connect to {where}{via}: {reason}; check "
                                        f"the address, the port and that sshd runs there")

    async def _fetch_key(self, target: SshTarget,
                         tunnel: asyncssh.SSHClientConnection | None) -> asyncssh.SSHKey | None:
        try:
            return await asyncio.wait_for(
                asyncssh.get_server_host_key(target.address, target.port,
                                             tunnel=() if tunnel is None else tunnel),
                self._connect_timeout)
        except (asyncssh.Error, OSError) as exc:
            raise self._unreachable(target, exc) from exc

    def _read_known_hosts(self, target: SshTarget) -> asyncssh.SSHKnownHosts | None:
        path = self.policy.known_hosts
        if not path.exists():
            return None
        try:
            return asyncssh.read_known_hosts(str(path))
        except (OSError, ValueError) as exc:
            raise RemoteError(target.name, f"cannot read {path}: {exc}; fix or move the "
                                           f"file") from exc

    async def _trusted_keys(self, target: SshTarget,
                            tunnel: asyncssh.SSHClientConnection | None) -> _Trusted:
        """The keys asyncssh must verify this host against: known_hosts entries for its name
        OR its address. (asyncssh alone would match the address only, and only the host part
        through a tunnel; OpenSSH records `ssh NAME` under the name alone.) A host with none is
        put to the operator first."""
        async with self._host_key_lock:
            known = self._lookup(target)
            if not (known[0] or known[1]):
                await self._accept_new_key(target, tunnel)
                known = self._lookup(target)
        return known

    def _lookup(self, target: SshTarget) -> _Trusted:
        kh = self._read_known_hosts(target)
        if kh is None:
            return [], [], [], [], [], [], []
        port = None if target.port == 22 else target.port
        keys, cas, revoked, certs, revoked_certs, _, _ = kh.match(target.name, target.address,
                                                                  port)
        # X.509 subject patterns are left out: asyncssh would re-parse them from text.
        return list(keys), list(cas), list(revoked), list(certs), list(revoked_certs), [], []

    async def _accept_new_key(self, target: SshTarget,
                              tunnel: asyncssh.SSHClientConnection | None) -> None:
        key = await self._fetch_key(target, tunnel)
        if key is None:
            raise Unreachable(target.name, f"{target.address} presented no host key; "
                                           f"it cannot be verified")
        fp = fingerprint(key)
        key_type = key.get_algorithm()
        accepted = self.policy.accepted.get(target.name) or self.policy.accepted.get(
            target.address)
        if accepted is not None:
            wanted = accepted if accepted.startswith("SHA256:") else f"SHA256:{accepted}"
            if wanted != fp:
                raise UnknownHostKey(target.name, target.address, fp, key_type, accepted=wanted)
        elif self.policy.ask is None or not await self.policy.ask(target.name, fp):
            raise UnknownHostKey(target.name, target.address, fp, key_type)
        self._append_known_host(target, key)

    def _append_known_host(self, target: SshTarget, key: asyncssh.SSHKey) -> None:
        path = self.policy.known_hosts
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_APPEND keeps an existing file's mode; a new one is private like OpenSSH's.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(fd, "ab") as f:
            old = path.read_bytes()
            line = f"{_host_patterns(target)} {_key_line(key)}\n".encode()
            f.write(line if not old or old.endswith(b"\n") else b"\n" + line)
            f.flush()
            os.fsync(f.fileno())
