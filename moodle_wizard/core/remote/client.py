"""A database login as an application makes it (Moodle's user through ProxySQL or the VIP).

The wizard opens the connection through a local port forwarded over SSH from a lab or site host
(a proxy node, or Moodle's app host), so the login is made from where the application really
connects, and nothing needs to be reachable from the jump host.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from typing import Any

import aiomysql
import pymysql

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.remote.mysql import driver_password
from moodle_wizard.core.sql.quoting import quote_identifier

__all__ = ["ClientLoginFailed", "ServerIdentity", "client_check"]


class ClientLoginFailed(OperatorError):
    """The login or a statement failed; str() is the server's or the driver's words."""

    def __init__(self, text: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(text)


@dataclass(frozen=True)
class ServerIdentity:
    """Which backend answered."""

    server_id: int
    read_only: bool
    hostname: str
    version: str
    # Whether a write statement was accepted (None: not tried).
    wrote: bool | None = None


async def client_check(local: tuple[str, int], *, user: str, password: str,
                       database: str | None = None, write_table: str | None = None,
                       timeout: float = 5) -> ServerIdentity:
    """Log in at `local` (a forwarded port), ask the server who it is, and optionally prove
    that it takes writes.

    The write is `DELETE FROM <write_table> WHERE 1 = 0`: a write statement that changes no
    row (nothing reaches the binary log), which a read_only server refuses before running it.
    """
    try:
        conn = await asyncio.wait_for(aiomysql.connect(
            host=local[0], port=local[1], user=user, password=driver_password(password),
            db=database,
            autocommit=True, connect_timeout=timeout, charset="utf8mb4",
            cursorclass=aiomysql.DictCursor), timeout + 2)
    except TimeoutError:
        raise ClientLoginFailed(f"no answer within {timeout:g} s") from None
    except pymysql.err.MySQLError as exc:
        raise _failed(exc) from None
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT @@server_id AS id, @@read_only AS ro, "
                              "@@hostname AS h, VERSION() AS v")
            row: dict[str, Any] = await cur.fetchone()
            wrote = None
            if write_table is not None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", pymysql.Warning)
                        await cur.execute(f"DELETE FROM {quote_identifier(write_table)} "
                                          "WHERE 1 = 0")
                    wrote = True
                except pymysql.err.MySQLError as exc:
                    if exc.args and exc.args[0] == 1290:  # read-only server
                        wrote = False
                    else:
                        raise
    except pymysql.err.MySQLError as exc:
        raise _failed(exc) from None
    finally:
        conn.close()
    return ServerIdentity(server_id=int(row["id"]), read_only=bool(int(row["ro"])),
                          hostname=str(row["h"]), version=str(row["v"]), wrote=wrote)


def _failed(exc: pymysql.err.MySQLError) -> ClientLoginFailed:
    code, text = (*exc.args, "", "")[:2]
    return ClientLoginFailed(f"{text} (error {code})", code if isinstance(code, int) else None)
