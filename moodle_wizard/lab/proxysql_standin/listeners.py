"""Listening sockets: one mysql-mimic connection per accepted client.

A listener can be re-bound at runtime, because ProxySQL applies a changed
``admin-mysql_ifaces`` at ``LOAD ADMIN VARIABLES TO RUNTIME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.auth import peer_host
from moodle_wizard.lab.proxysql_standin.variables import Interface
from moodle_wizard.lab.proxysql_standin.wire import MysqlStream

log = logging.getLogger(__name__)

#: Builds the mysql-mimic connection for an accepted socket: (stream, peer address).
ConnectionFactory = Callable[[Any, str], Any]


class Listener:
    def __init__(self, name: str, factory: ConnectionFactory) -> None:
        self.name = name
        self._factory = factory
        self._servers: list[asyncio.Server] = []
        self._sessions: set[asyncio.Task[Any]] = set()
        self._connection_ids = itertools.count(1)
        self.interfaces: list[Interface] = []

    async def bind(self, interfaces: Sequence[Interface]) -> None:
        """Listen on exactly ``interfaces``; on failure the old sockets stay (or come back)."""
        if list(interfaces) == self.interfaces:
            return
        old_interfaces = self.interfaces
        # Close first: the new set may reuse a port of the old one.
        self._close_servers()
        try:
            self._servers = await self._open(interfaces)
            self.interfaces = list(interfaces)
        except OSError:
            if old_interfaces:
                self._servers = await self._open(old_interfaces)
            raise
        log.info("%s: %s interface listening on %s", LOG_NAME, self.name,
                 ";".join(str(i) for i in self.interfaces))

    async def close(self) -> None:
        """Stop listening and end every open session."""
        self._close_servers()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    async def _open(self, interfaces: Sequence[Interface]) -> list[asyncio.Server]:
        servers: list[asyncio.Server] = []
        try:
            for interface in interfaces:
                if interface.unix_path:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(interface.unix_path)
                    servers.append(
                        await asyncio.start_unix_server(self._accept, path=interface.unix_path)
                    )
                else:
                    servers.append(
                        await asyncio.start_server(
                            self._accept, host=interface.host, port=interface.port,
                            reuse_address=True,
                        )
                    )
        except OSError:
            for server in servers:
                server.close()
            raise
        return servers

    def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        peer = peer_host(writer.get_extra_info("peername"))
        try:
            connection = self._factory(MysqlStream(reader, writer), peer)
            connection.connection_id = next(self._connection_ids)
            await connection.start()
        except asyncio.CancelledError:
            pass
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            log.debug("%s: %s connection from %s ended: %s", LOG_NAME, self.name, peer, error)
        except Exception as error:
            # Clients that hang up mid-handshake (port probes, health checks) end up here.
            log.debug("%s: %s connection from %s failed: %r", LOG_NAME, self.name, peer, error)
        finally:
            self._sessions.discard(task)
            writer.close()
