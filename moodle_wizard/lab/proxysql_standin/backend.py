"""Opening the backend connection of a client session.

aiomysql performs the backend handshake with the frontend user's credentials
and the client's own command-phase capability flags; after that the client
and the backend talk through a plain byte relay, so both must have agreed on
the same flags. The frontend (mysql-mimic) therefore offers only flags that a
MariaDB >= 10.2 / MySQL >= 5.7 backend understands the same way.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomysql
from pymysql.charset import charset_by_name

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.mysql_errors import (
    CLIENT_ERROR_MIN,
    error_code,
    error_text,
)
from moodle_wizard.lab.proxysql_standin.passwords import driver_password
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.topology import Endpoint, weighted_order
from moodle_wizard.lab.proxysql_standin.wire import Capabilities

#: "User has exceeded the 'max_user_connections' resource": a failed connect not retried.
ER_USER_LIMIT_REACHED = 1226

log = logging.getLogger(__name__)

#: Flags that change how the server talks during the command phase; the
#: backend must get exactly the client's choice of these.
COMMAND_PHASE_FLAGS = (
    Capabilities.CLIENT_FOUND_ROWS
    | Capabilities.CLIENT_IGNORE_SPACE
    | Capabilities.CLIENT_INTERACTIVE
    | Capabilities.CLIENT_MULTI_STATEMENTS
    | Capabilities.CLIENT_MULTI_RESULTS
    | Capabilities.CLIENT_PS_MULTI_RESULTS
    | Capabilities.CLIENT_DEPRECATE_EOF
)

#: What the client port offers: the handshake essentials plus the flags above.
#: No SSL, compression, session tracking or query attributes: a relay cannot
#: translate them between a client and a backend that disagree.
FRONTEND_CAPABILITIES = (
    Capabilities.CLIENT_PROTOCOL_41
    | Capabilities.CLIENT_SECURE_CONNECTION
    | Capabilities.CLIENT_PLUGIN_AUTH
    | Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | Capabilities.CLIENT_CONNECT_WITH_DB
    | Capabilities.CLIENT_CONNECT_ATTRS
    | Capabilities.CLIENT_LONG_PASSWORD
    | Capabilities.CLIENT_LONG_FLAG
    | Capabilities.CLIENT_TRANSACTIONS
    | COMMAND_PHASE_FLAGS
)


@dataclass
class BackendLink:
    """A logged-in backend connection, ready for the byte relay."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    hostname: str
    port: int
    hostgroup: int = 0
    #: The connection pool's token for this connection (ConnUsed), see ServerTable.acquire.
    token: int = 0


class BackendError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def backend_charset(name: str | None) -> str:
    """A charset name aiomysql knows, from the client's handshake charset."""
    if name and charset_by_name(name) is not None:
        return name
    return "utf8mb4"


async def open_backend(
    runtime: RuntimeConfig,
    *,
    username: str,
    hostgroup: int,
    database: str | None,
    charset: str | None,
    client_capabilities: int,
) -> BackendLink:
    """Log in to an ONLINE server of ``hostgroup`` as ``username``.

    As MySQL_Session::handler_again___status_CONNECTING_SERVER: one weighted pick per
    attempt; with no server to pick, or after a failed connect, it tries again after
    ``mysql-connect_retries_delay`` ms (the candidates change as servers are unshunned);
    the client gets the backend's error once ``mysql-connect_retries_on_failure`` retries
    have failed, ProxySQL's 9001 once ``mysql-connect_timeout_server_max`` has passed.
    """
    timeout_ms = runtime.int_variable("mysql-connect_timeout_server_max")
    deadline = time.monotonic() + timeout_ms / 1000
    retries = runtime.int_variable("mysql-connect_retries_on_failure")
    # ProxySQL pauses the session 1 ms by default; at 0 it goes on at once, which an
    # event loop cannot do without spinning, so never less than 1 ms here.
    delay = max(runtime.int_variable("mysql-connect_retries_delay"), 1) / 1000
    password = runtime.backend_password(username)
    flags = int(client_capabilities) & int(COMMAND_PHASE_FLAGS)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackendError(
                9001,
                f"Max connect timeout reached while reaching hostgroup {hostgroup} "
                f"after {timeout_ms}ms",
            )
        picked = weighted_order(runtime.online_servers(hostgroup))[:1]
        if not picked:
            # Wait for an unshun, the monitor or an admin LOAD to bring a server ONLINE.
            await asyncio.sleep(min(delay, remaining))
            continue
        server = picked[0]
        per_try = min(runtime.int_variable("mysql-connect_timeout_server") / 1000, remaining)
        endpoint = Endpoint(str(server["hostname"]), int(server["port"]))
        # Counted as used from the start, as ProxySQL does with a connection it is
        # creating: a switchover waiting for ConnUsed=0 must not miss it.
        writers: list[asyncio.StreamWriter] = []
        token = runtime.server_table.acquire(hostgroup, endpoint, _closer(writers))
        try:
            link = await _connect(
                endpoint.hostname, endpoint.port, username, password,
                database, backend_charset(charset), flags, per_try, backend_ssl(server),
            )
        except BaseException as error:
            runtime.server_table.release(hostgroup, endpoint, token)
            if not isinstance(error, BackendError):
                raise
            _count_error(runtime, hostgroup, endpoint, error.code)
            if error.code == ER_USER_LIMIT_REACHED:
                # The one error handler_again___status_CONNECTING_SERVER does not retry;
                # any other (access denied, shutdown in progress ...) is tried again.
                raise
            log.info("%s: backend %s:%s of hostgroup %s failed: %s", LOG_NAME,
                     server["hostname"], server["port"], hostgroup, error.message)
            if retries <= 0:
                raise
            retries -= 1
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            continue
        writers.append(link.writer)
        runtime.server_table.connected(hostgroup, endpoint)
        link.hostgroup, link.token = hostgroup, token
        return link


def backend_ssl(row: Any) -> ssl.SSLContext | None:
    """TLS for a server whose mysql_servers row says use_ssl=1, as ProxySQL (its backend and
    monitor connections): encrypted, the certificate not checked (ProxySQL checks it only when
    mysql-ssl_p2s_ca is set, which the wizard does not set)."""
    if not int(row.get("use_ssl") or 0):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _closer(writers: list[asyncio.StreamWriter]) -> Callable[[], None]:
    def close() -> None:
        for writer in writers:
            writer.close()
    return close


def _count_error(runtime: RuntimeConfig, hostgroup: int, endpoint: Endpoint, code: int) -> None:
    """MySrvC::connect_error: enough failures in one second shun the server."""
    max_failures = min(runtime.int_variable("mysql-shun_on_failures"),
                       runtime.int_variable("mysql-connect_retries_on_failure") + 1)
    if runtime.server_table.connect_error(hostgroup, endpoint, code, int(time.time()),
                                          max_failures):
        log.error("%s: shunning server %s with %d errors/sec", LOG_NAME, endpoint,
                  max_failures)


async def _connect(
    hostname: str,
    port: int,
    username: str,
    password: str,
    database: str | None,
    charset: str,
    flags: int,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> BackendLink:
    try:
        async with asyncio.timeout(timeout):
            connection: Any = await aiomysql.connect(
                host=hostname, port=port, user=username,
                password=driver_password(password), db=database,
                charset=charset, client_flag=flags, autocommit=None,
                program_name=LOG_NAME, ssl=tls,
            )
    except TimeoutError as error:
        raise BackendError(2013, f"timeout connecting to {hostname}:{port}") from error
    except OSError as error:
        raise BackendError(2003, f"cannot connect to {hostname}:{port}: {error}") from error
    except Exception as error:  # pymysql.err.* carries (errno, message)
        raise BackendError(error_code(error) or CLIENT_ERROR_MIN, error_text(error)) from error
    missing = flags & ~int(connection.server_capabilities) & int(COMMAND_PHASE_FLAGS)
    if missing:
        connection.close()
        raise BackendError(
            2000, f"backend {hostname}:{port} lacks capability flags {missing:#x} the client uses"
        )
    # Take over aiomysql's streams for the relay, and detach them so that its
    # destructor does not close the socket under us.
    reader, writer = connection._reader, connection._writer
    connection._reader = connection._writer = None
    return BackendLink(reader, writer, hostname, port)
