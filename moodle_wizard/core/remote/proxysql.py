"""ProxySQL's admin interface, reached through the SSH connection to each proxy host.

What this client relies on (../shared/reference/proxysql-admin.md, and ProxySQL's own source):
- The built-in `admin` user may log in from localhost only: the wizard forwards a local port
  over SSH to 127.0.0.1:<admin port> on the node, so ProxySQL sees sshd connecting from
  127.0.0.1 there. The admin port never needs to be reachable from the jump host.
- Every admin error is MySQL error 1045 with "ProxySQL Admin Error: ...": only a refused
  *login* ("ProxySQL Error: Access denied ...") means wrong credentials.
- Any `SET x=...` is an admin-variable update, so the driver sends no sql_mode/init_command.
- Statements go to SQLite as they are. A string literal is SQLite's: a backslash is an ordinary
  character and a quote is doubled, so MySQL-style backslash escapes would corrupt a value (or
  break the statement). The driver's own quoting for servers in NO_BACKSLASH_ESCAPES mode is
  exactly SQLite's; ProxySQL does not announce that mode, so this client turns it on for every
  statement it renders. Values are still only ever escaped by the driver.
- Variables are written with `UPDATE global_variables`, never `SET`: ProxySQL's SET handler
  collapses runs of whitespace in the statement and pastes the value into an UPDATE unquoted,
  which a password with spaces or quotes would not survive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiomysql
import pymysql
from pymysql.constants import SERVER_STATUS

from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.mysql import driver_password
from moodle_wizard.core.remote.ssh import RemoteHost
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.sql.statement import Statement

__all__ = [
    "MODULES",
    "AdminLoginRefused",
    "AdminUnreachable",
    "NotProxySqlAdmin",
    "ProxySqlAdmin",
    "ProxySqlError",
    "admin_sql",
]

CONNECT_TIMEOUT = 5
# The LOAD/SAVE modules the wizard uses.
MODULES = ("MYSQL SERVERS", "MYSQL USERS", "MYSQL VARIABLES", "ADMIN VARIABLES")
# Client-side error codes that mean "nothing answered" (refused, lost during the handshake:
# through an SSH forward, a closed port shows up as a connection closed at once).
_UNREACHABLE = {2003, 2006, 2013, 2055}

Row = dict[str, Any]


class ProxySqlError(RemoteError):
    """An admin statement or login failed; the message names the node and ProxySQL's text."""


class AdminLoginRefused(ProxySqlError):
    """ProxySQL answered and refused the user/password (a real credentials problem)."""


class AdminUnreachable(ProxySqlError):
    """Nothing answered on the admin port (ProxySQL not running, or listening elsewhere)."""


class NotProxySqlAdmin(ProxySqlError):
    """Something answered the MySQL protocol there, but it is not ProxySQL's admin."""


def admin_sql(conn: Any, stmt: Statement, *, masked: bool = False) -> str:
    """The statement's text with its values quoted by the driver as SQLite needs them.

    `conn` is an aiomysql/PyMySQL connection (its `escape` is the driver's quoting);
    `masked` replaces the secret parameters with ******** (for the audit and the runbook).
    """
    if not stmt.params:
        return stmt.sql
    values: list[str | int] = []
    for i, value in enumerate(stmt.params):
        if masked and i in stmt.secret:
            value = MASK
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a ProxySQL admin value cannot contain a NUL character")
        values.append(value)
    # The driver's NO_BACKSLASH_ESCAPES quoting ('' for ', nothing else): SQLite's literals.
    conn.server_status |= SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES
    return stmt.sql % tuple(conn.escape(v) for v in values)


class ProxySqlAdmin:
    def __init__(self, host_name: str, conn: Any, version: str,
                 audit: Callable[[str, str], None]) -> None:
        self.host_name = host_name
        self._conn = conn
        self.version = version
        self._audit = audit
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: RemoteHost, *, port: int, user: str, password: str,
                      audit: Callable[[str, str], None] = lambda h, t: None,
                      timeout: float = CONNECT_TIMEOUT) -> ProxySqlAdmin:
        """Log in to the admin interface at 127.0.0.1:`port` on `host`, through SSH."""
        where = f"ProxySQL admin at 127.0.0.1:{port}"
        local_host, local_port = await host.forward_local_to_port("127.0.0.1", port)
        try:
            conn = await asyncio.wait_for(aiomysql.connect(
                host=local_host, port=local_port, user=user,
                password=driver_password(password),
                # No sql_mode, no init_command: on the admin port any SET is a variable update.
                sql_mode=None, init_command=None, autocommit=True,
                connect_timeout=timeout, charset="utf8mb4", cursorclass=aiomysql.DictCursor,
            ), timeout + 2)
        except TimeoutError:
            raise AdminUnreachable(host.target.name, f"{where} did not answer within "
                                                     f"{timeout:g} s") from None
        except pymysql.err.MySQLError as exc:
            code, text = (*exc.args, "", "")[:2]
            if code == 1045 and "Access denied" in str(text):
                raise AdminLoginRefused(host.target.name, f"{where} refused {user!r} with the "
                                                          f"given password ({text})") from None
            if code in _UNREACHABLE:
                raise AdminUnreachable(host.target.name, f"nothing answers as {where} "
                                                         f"({text})") from None
            raise ProxySqlError(host.target.name, f"cannot log in to {where} as {user!r}: "
                                                  f"{text} (error {code})") from None
        try:
            async with conn.cursor() as cur:
                # Only ProxySQL's admin has this table and variable (a MariaDB on the port
                # would fail here).
                await cur.execute("SELECT variable_value AS v FROM global_variables "
                                  "WHERE variable_name = 'admin-version'")
                row = await cur.fetchone()
        except pymysql.err.MySQLError as exc:
            conn.close()
            raise NotProxySqlAdmin(host.target.name, f"what answers on 127.0.0.1:{port} is not "
                                                     f"ProxySQL's admin interface ({exc.args[-1]})"
                                                     f"; check proxysql.admin_port") from None
        if not row:
            conn.close()
            raise NotProxySqlAdmin(host.target.name, f"127.0.0.1:{port} has no admin-version: "
                                                     "not ProxySQL's admin interface")
        return cls(host.target.name, conn, str(row["v"]), audit)

    def render(self, stmt: Statement, *, masked: bool = False) -> str:
        return admin_sql(self._conn, stmt, masked=masked)

    async def run(self, stmt: Statement) -> list[Row]:
        async with self._lock:
            sql = self.render(stmt)
            display = self.render(stmt, masked=True)
            self._audit(self.host_name, f"(proxysql admin) {display}")
            try:
                async with self._conn.cursor() as cur:
                    await cur.execute(sql)  # no args: the text is final, no %-formatting
                    rows: list[Row] = list(await cur.fetchall()) if cur.description else []
                    return rows
            except pymysql.err.MySQLError as exc:
                code, text = (*exc.args, "", "")[:2]
                raise ProxySqlError(self.host_name, f"ProxySQL admin statement failed: "
                                                    f"{display}: {text} (error {code})") from None

    async def query(self, sql: str, params: Iterable[str | int] = ()) -> list[Row]:
        """A statement without secrets."""
        return await self.run(Statement(sql, tuple(params)))

    async def variables(self, names: Iterable[str]) -> dict[str, str]:
        names = list(names)
        marks = ", ".join(["%s"] * len(names))
        rows = await self.query("SELECT variable_name AS n, variable_value AS v FROM "
                                f"global_variables WHERE variable_name IN ({marks})", names)
        return {str(r["n"]): str(r["v"]) for r in rows}

    async def set_variables(self, values: Mapping[str, str], secret: Iterable[str] = ()) -> None:
        """Write variables in MEMORY, then read them back: an unknown name changes nothing
        and raises no error in ProxySQL, so a typo is only caught this way."""
        hidden = set(secret)
        for name, value in values.items():
            await self.run(Statement(
                "UPDATE global_variables SET variable_value = %s WHERE variable_name = %s",
                (value, name), frozenset({0}) if name in hidden else frozenset()))
        got = await self.variables(values)
        wrong = [n for n, v in values.items() if got.get(n) != v]
        if wrong:
            raise ProxySqlError(self.host_name, f"ProxySQL did not take the variable(s) "
                                                f"{', '.join(wrong)} (unknown to this ProxySQL "
                                                "version?)")

    async def load_to_runtime(self, module: str) -> None:
        await self.query(f"LOAD {module} TO RUNTIME")

    async def save_to_disk(self, module: str) -> None:
        await self.query(f"SAVE {module} TO DISK")

    async def close(self) -> None:
        self._conn.close()
