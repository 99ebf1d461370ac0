"""The client interface (port 6033): authenticate, pick a backend, relay.

After mysql-mimic has authenticated the frontend user, the session waits for
the client's first command, like ProxySQL, which connects to a backend lazily:
a missing backend is reported on the first query (error 9001), not at login.
From then on the bytes flow unchanged between client and backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from moodle_wizard.lab.proxysql_standin import CLIENT_VERSION_COMMENT, LOG_NAME
from moodle_wizard.lab.proxysql_standin.backend import BackendError, BackendLink, open_backend
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.topology import Endpoint
from moodle_wizard.lab.proxysql_standin.wire import (
    Commands,
    Connection,
    ConnectionClosed,
    MysqlStream,
    parse_com_query,
    session_variables,
    text_result,
)

log = logging.getLogger(__name__)

_RELAY_CHUNK = 1 << 16

#: The query the mysql/mariadb command-line client sends right after login.
#: ProxySQL answers it itself, without a backend.
_VERSION_COMMENT_PROBE = "select @@version_comment limit 1"


class ClientSession:
    """The mysql-mimic session of one client connection (duck-typed BaseSession)."""

    def __init__(self, runtime: RuntimeConfig, peer: str) -> None:
        self.runtime = runtime
        self.peer = peer
        self.variables = session_variables(
            runtime.variable("mysql-server_version"), CLIENT_VERSION_COMMENT
        )
        self.username: str | None = None
        self.database: str | None = None

    async def init(self, connection: Any) -> None:
        pass

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def use(self, database: str) -> None:
        self.database = database

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        raise AssertionError("client sessions relay their commands; mysql-mimic never runs them")


class ClientConnection(Connection):  # type: ignore[misc]
    """mysql-mimic's connection whose command phase is a relay to a backend."""

    async def command_phase(self) -> None:
        session: ClientSession = self.session
        stream = self.stream
        while True:
            try:
                payload: bytes = await stream.read()
            except ConnectionClosed:
                return
            command = payload[0] if payload else None
            if command == Commands.COM_QUIT:
                return
            if command == Commands.COM_PING:
                await self._reply(self.ok())
                continue
            if command == Commands.COM_QUERY and self._is_version_comment_probe(payload[1:]):
                await self.write_text_resultset(
                    text_result(["@@version_comment"], [(CLIENT_VERSION_COMMENT,)])
                )
                stream.reset_seq()
                continue
            try:
                backend = await self._open_backend(session)
            except BackendError as error:
                log.info("%s: %s@%s: %s", LOG_NAME, session.username, session.peer,
                         error.message)
                await self._reply(self.error(msg=error.message, code=error.code))
                continue
            log.debug("%s: %s@%s -> backend %s:%s", LOG_NAME, session.username, session.peer,
                     backend.hostname, backend.port)
            # The first command goes out framed as the client sent it (sequence 0).
            try:
                await MysqlStream(backend.reader, backend.writer).write(payload)
                await relay(stream.reader, stream.writer, backend)
            finally:
                session.runtime.server_table.release(
                    backend.hostgroup, Endpoint(backend.hostname, backend.port), backend.token)
            return

    async def _reply(self, packet: bytes) -> None:
        await self.stream.write(packet)
        self.stream.reset_seq()

    def _is_version_comment_probe(self, data: bytes) -> bool:
        query = parse_com_query(
            capabilities=self.capabilities, client_charset=self.client_charset, data=data
        )
        return " ".join(str(query.sql).split()).lower().rstrip(";") == _VERSION_COMMENT_PROBE

    async def _open_backend(self, session: ClientSession) -> BackendLink:
        username = str(session.username)
        user = session.runtime.frontend_user(username)
        if user is None:
            # The user was removed from RUNTIME after logging in.
            raise BackendError(1045, f"ProxySQL Error: user {username} is no longer active")
        database = session.database or user.get("default_schema") or None
        return await open_backend(
            session.runtime,
            username=username,
            hostgroup=int(user["default_hostgroup"]),
            database=database,
            charset=str(session.variables.get("character_set_client")),
            client_capabilities=int(self.capabilities),
        )


async def relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    backend: BackendLink,
) -> None:
    """Copy bytes both ways until either side closes, then close both."""
    upstream = asyncio.create_task(_pump(client_reader, backend.writer))
    downstream = asyncio.create_task(_pump(backend.reader, client_writer))
    try:
        await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (upstream, downstream):
            task.cancel()
        await asyncio.gather(upstream, downstream, return_exceptions=True)
        backend.writer.close()
        client_writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(_RELAY_CHUNK):
            writer.write(chunk)
            await writer.drain()
