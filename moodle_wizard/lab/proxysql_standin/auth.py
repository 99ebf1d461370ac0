"""Who may log in: admin credentials on 6032, frontend mysql_users on 6033.

mysql-mimic drives the handshake and asks an identity provider (one per
connection here, so it knows the peer address) for the account and a plugin
for the check. Only mysql_native_password is offered, as the lab needs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moodle_wizard.lab.proxysql_standin.passwords import scramble_matches, stage2
from moodle_wizard.lab.proxysql_standin.wire import Forbidden, Success, new_nonce

NATIVE_PASSWORD = "mysql_native_password"

#: Peers that count as "localhost" for the built-in admin user, as in ProxySQL.
LOCAL_PEERS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"})

#: The built-in admin user, which ProxySQL accepts from localhost only.
BUILTIN_ADMIN = "admin"


def peer_host(peername: object) -> str:
    """The client address from ``get_extra_info('peername')``; a unix socket is localhost."""
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return "localhost"


def access_denied(username: str, host: str, used_password: bool) -> str:
    """ProxySQL's wording for a refused login (both ports)."""
    using = "YES" if used_password else "NO"
    return f"ProxySQL Error: Access denied for user '{username}'@'{host}' (using password: {using})"


@dataclass(frozen=True)
class Account:
    """What mysql-mimic calls a user: a name, a plugin, and what to check against."""

    name: str
    #: SHA1(SHA1(password)); None for an empty password.
    stage2: bytes | None
    #: False for unknown users (and refused admins): every attempt fails.
    known: bool = True
    auth_plugin: str = NATIVE_PASSWORD


class NativePasswordPlugin:
    """Server side of mysql_native_password, answering refusals in ProxySQL's words."""

    name = NATIVE_PASSWORD
    client_plugin_name = NATIVE_PASSWORD

    def __init__(self, denial: Callable[[str, bool], str]) -> None:
        self._denial = denial

    async def start(self, auth_info: Any = None) -> tuple[Any, AsyncGenerator[Any, Any]]:
        state = self.auth(auth_info)
        decision = await state.__anext__()
        return decision, state

    async def auth(self, auth_info: Any = None) -> AsyncGenerator[Any, Any]:
        if (
            auth_info is not None
            and auth_info.handshake_plugin_name == self.name
            and auth_info.handshake_auth_data
        ):
            # The nonce of the initial handshake is reused: no extra round trip.
            nonce = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            nonce = new_nonce()
            auth_info = yield nonce + b"\x00"
        account: Account = auth_info.user
        scramble: bytes = auth_info.data
        if _password_ok(account, scramble, nonce):
            yield Success(account.name)
        else:
            yield Forbidden(self._denial(auth_info.username, bool(scramble)))


def _password_ok(account: Account, scramble: bytes, nonce: bytes) -> bool:
    if not account.known:
        return False
    if account.stage2 is None:
        return not scramble
    return scramble_matches(account.stage2, scramble, nonce)


def _account(name: str, password: str | None) -> Account:
    return Account(name, stage2(password) if password else None)


class _IdentityProvider:
    """The parts of mysql-mimic's IdentityProvider interface a Connection calls."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self._plugin = NativePasswordPlugin(self._denial)

    def _denial(self, username: str, used_password: bool) -> str:
        return access_denied(username, self.peer, used_password)

    def get_plugins(self) -> list[NativePasswordPlugin]:
        return [self._plugin]

    def get_default_plugin(self) -> NativePasswordPlugin:
        return self._plugin

    def get_plugin(self, name: str) -> NativePasswordPlugin | None:
        return self._plugin if name == self._plugin.name else None


class AdminIdentity(_IdentityProvider):
    """Accounts of ``admin-admin_credentials``; the built-in admin from localhost only."""

    def __init__(self, peer: str, credentials: Callable[[], Mapping[str, str]]) -> None:
        super().__init__(peer)
        self._credentials = credentials

    async def get_user(self, username: str) -> Account:
        password = self._credentials().get(username)
        if password is None:
            return Account(username, None, known=False)
        if username == BUILTIN_ADMIN and self.peer not in LOCAL_PEERS:
            return Account(username, None, known=False)
        return _account(username, password)


class FrontendIdentity(_IdentityProvider):
    """Accounts of RUNTIME mysql_users with active=1 and frontend=1."""

    def __init__(self, peer: str, lookup: Callable[[str], Mapping[str, Any] | None]) -> None:
        super().__init__(peer)
        self._lookup = lookup

    async def get_user(self, username: str) -> Account:
        row = self._lookup(username)
        if row is None:
            return Account(username, None, known=False)
        password = row.get("password")
        return _account(username, str(password) if password else None)
