"""The SSH connections: one verified connection per host, reused, closed together.

Host keys are checked by `known_hosts` (the policy, the file) before and by asyncssh during
the handshake. `~/.ssh/config` is read as `ssh NAME` reads it (`sshconfig`: the target's
address, port, user and jump were resolved from it, the inventory's settings winning); the
same parsed config goes to asyncssh with those pinned, so IdentityFile, IdentitiesOnly,
ciphers ... apply, and this pool's timeouts and known_hosts win over it. A target reached as
a user other than root must have passwordless sudo there: checked once per connection.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import asyncssh

from moodle_wizard.core.remote import sshconfig
from moodle_wizard.core.remote.errors import (
    AuthFailed,
    ChangedHostKey,
    NoSudo,
    RemoteError,
    Unreachable,
    one_line,
)
from moodle_wizard.core.remote.known_hosts import (
    HostKeyPolicy,
    Trusted,
    accept_new_key,
    fingerprint,
    lookup,
)
from moodle_wizard.core.remote.ssh import SUDO, Audit, RemoteHost, SshTarget

__all__ = ["SshPool"]


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
        options = sshconfig.connection_options(target)
        known = await self._trusted_keys(target, tunnel, options)
        try:
            conn = await asyncssh.connect(
                target.address, target.port, username=target.user,
                options=options,  # the config as sshconfig read it; no file read again
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
                presented = await self._fetch_key(target, tunnel, options)
            except RemoteError:
                presented = None
            raise ChangedHostKey(target.name, target.address,
                                 fingerprint(presented) if presented else "an unknown key",
                                 self.policy.known_hosts) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(target.name, f"{target.endpoint} refused our SSH keys ({exc.reason})"
                                          f"; check the user (the inventory's ssh_user, else "
                                          f"User in ~/.ssh/config), that your public "
                                          f"key is in ~{target.user}/.ssh/authorized_keys there, "
                                          f"and that your key file or ssh-agent is available"
                             ) from exc
        except (asyncssh.Error, OSError) as exc:
            raise self._unreachable(target, exc) from exc
        if target.sudo:
            await self._check_sudo(target, conn)
        return conn

    async def _check_sudo(self, target: SshTarget,
                          conn: asyncssh.SSHClientConnection) -> None:
        """Every command on a non-root target runs through `sudo -n`: refuse the host now,
        in one line, rather than at its first command."""
        if self._audit is not None:
            self._audit(target.name, f"{SUDO} true   # as {target.user}: passwordless sudo?")
        try:
            done = await asyncio.wait_for(conn.run(f"{SUDO} true", check=False),
                                          self._connect_timeout)
        except (asyncssh.Error, OSError) as exc:
            conn.close()
            raise self._unreachable(target, exc) from exc
        if done.exit_status != 0:
            conn.close()
            said = one_line(str(done.stderr or "").strip(), 160) or f"exit {done.exit_status}"
            raise NoSudo(target.name, f"{target.user} cannot run `{SUDO} true` there ({said}); "
                                      f"give {target.user} passwordless sudo on {target.name}, "
                                      f"or set ssh_user = \"root\" for {target.name} in the "
                                      f"inventory")

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

    async def _fetch_key(self, target: SshTarget, tunnel: asyncssh.SSHClientConnection | None,
                         options: asyncssh.SSHClientConnectionOptions) -> asyncssh.SSHKey | None:
        try:
            # The same config as the connection (a ProxyCommand there applies here too).
            return await asyncio.wait_for(
                asyncssh.get_server_host_key(target.address, target.port,
                                             tunnel=() if tunnel is None else tunnel,
                                             options=options),
                self._connect_timeout)
        except (asyncssh.Error, OSError) as exc:
            raise self._unreachable(target, exc) from exc

    async def _trusted_keys(self, target: SshTarget,
                            tunnel: asyncssh.SSHClientConnection | None,
                            options: asyncssh.SSHClientConnectionOptions) -> Trusted:
        """The keys asyncssh must verify this host against (`known_hosts.lookup`: its name
        OR its address). A host with none is put to the operator first."""
        async with self._host_key_lock:
            known = lookup(self.policy.known_hosts, target)
            if not (known[0] or known[1]):
                key = await self._fetch_key(target, tunnel, options)
                if key is None:
                    raise Unreachable(target.name, f"{target.address} presented no host key; "
                                                   f"it cannot be verified")
                await accept_new_key(self.policy, target, key)
                known = lookup(self.policy.known_hosts, target)
        return known
