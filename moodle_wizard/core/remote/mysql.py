"""SQL on a database host, through the SSH connection to that host.

The wizard never needs the database port open to the jump host: it forwards a local port over
SSH to the server's own socket. Authenticated as the SSH user by MariaDB's unix_socket plugin
(root, as on a stock Debian install) or as a named admin user with a password.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import aiomysql
import pymysql

from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.ssh import RemoteHost
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import ServerVersion, UnsupportedServerError, parse_version

CONNECT_TIMEOUT = 10


def driver_password(password: str) -> str:
    """The password as aiomysql/PyMySQL must be given it.

    They send a str password's latin-1 bytes, but servers hash the UTF-8 bytes of what was set
    (and the mysql/mariadb clients and PHP send UTF-8): a non-ASCII password would never match.
    This is the str whose latin-1 bytes are the password's UTF-8 bytes."""
    return password.encode("utf-8").decode("latin-1")


class DatabaseError(RemoteError):
    """A statement or login failed; the message names the host and the server's error."""


Row = dict[str, Any]


class Database:
    def __init__(
        self,
        host_name: str,
        conn: aiomysql.Connection,
        version: ServerVersion,
        audit: Callable[[str, str], None],
    ) -> None:
        self.host_name = host_name
        self._conn = conn
        self.version = version
        self.dialect = Dialect(version)
        self._audit = audit
        self._lock = asyncio.Lock()
        # Closes the SSH forward this connection came through (one per connection: a caller
        # that connects again and again, as a watcher does, must not leave them behind).
        self._release: Callable[[], None] = lambda: None

    @classmethod
    async def connect(
        cls,
        host: RemoteHost,
        *,
        socket: str,
        user: str,
        password: str | None = None,
        audit: Callable[[str, str], None] = lambda h, t: None,
    ) -> Database:
        local_host, local_port = await host.forward_local_to_path(socket)
        try:
            conn = await aiomysql.connect(
                host=local_host,
                port=local_port,
                user=user,
                password=driver_password(password or ""),
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                charset="utf8mb4",
                cursorclass=aiomysql.DictCursor,
            )
        except pymysql.err.OperationalError as exc:
            host.stop_forward(local_port)
            code, text = (*exc.args, "")[:2]
            how = f"as {user!r}" + (
                " with the given password"
                if password
                else " (unix socket authentication as the SSH user)"
            )
            fix = (
                "check the secret db_admin_password"
                if password
                else "SSH in as root, or set migration.db_admin_user and its password"
            )
            raise DatabaseError(
                host.target.name,
                f"cannot log in to the database {how}: "
                f"{text} (error {code}); {fix}"
            ) from None
        async with conn.cursor() as cur:
            await cur.execute("SELECT VERSION() AS v, @@version_comment AS c")
            row = await cur.fetchone()
        try:
            db = cls(host.target.name, conn, parse_version(str(row["v"]), str(row["c"])), audit)
        except UnsupportedServerError as exc:
            conn.close()
            host.stop_forward(local_port)
            raise UnsupportedServerError(f"{host.target.name}: {exc}") from None
        db._release = partial(host.stop_forward, local_port)
        return db

    async def _execute(self, sql: str, args: Sequence[Any] | None, display: str) -> list[Row]:
        self._audit(self.host_name, display)
        async with self._lock:
            try:
                async with self._conn.cursor() as cur:
                    with warnings.catch_warnings():
                        # Server notes ("Slave already has been stopped") are not failures.
                        warnings.simplefilter("ignore", pymysql.Warning)
                        await cur.execute(sql, args)
                    rows: list[Row] = list(await cur.fetchall()) if cur.description else []
                    return rows
            except pymysql.err.MySQLError as exc:
                code, text = (*exc.args, "")[:2]
                raise DatabaseError(
                    self.host_name, f"SQL failed: {display}: {text} (error {code})"
                ) from None

    async def run(self, stmt: Statement) -> list[Row]:
        return await self._execute(stmt.sql, stmt.args, stmt.display())

    async def query(self, sql: str, args: Sequence[Any] | None = None) -> list[Row]:
        """A statement without secrets: shown in the audit as it is."""
        display = (
            sql if not args else sql % tuple(repr(a) if isinstance(a, str) else a for a in args)
        )
        return await self._execute(sql, args or None, display)

    async def one(self, sql: str, args: Sequence[Any] | None = None) -> Row:
        rows = await self.query(sql, args)
        if not rows:
            raise DatabaseError(self.host_name, f"{sql} returned no row")
        return rows[0]

    async def variable(self, name: str) -> Any:
        row = await self.one(f"SELECT @@GLOBAL.{name} AS v")
        return row["v"]

    async def close(self) -> None:
        self._conn.close()
        self._release()
