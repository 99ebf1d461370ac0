"""One running stand-in: admin store, RUNTIME, listeners and monitor, in ProxySQL's order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME, STANDIN_VERSION
from moodle_wizard.lab.proxysql_standin.admin import (
    AdminConnection,
    AdminError,
    AdminInterface,
    AdminSession,
)
from moodle_wizard.lab.proxysql_standin.auth import AdminIdentity, FrontendIdentity
from moodle_wizard.lab.proxysql_standin.backend import FRONTEND_CAPABILITIES
from moodle_wizard.lab.proxysql_standin.checksums import config_checksum
from moodle_wizard.lab.proxysql_standin.client import ClientConnection, ClientSession
from moodle_wizard.lab.proxysql_standin.cluster import Cluster, unimitated_syncs
from moodle_wizard.lab.proxysql_standin.commands import Direction, LayerCopy
from moodle_wizard.lab.proxysql_standin.initial_config import ConfigError, InitialConfig
from moodle_wizard.lab.proxysql_standin.listeners import Listener
from moodle_wizard.lab.proxysql_standin.modules import STARTUP_ORDER, Module
from moodle_wizard.lab.proxysql_standin.monitor import Monitor
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.store import AdminStore
from moodle_wizard.lab.proxysql_standin.topology import Row
from moodle_wizard.lab.proxysql_standin.variables import KNOWN_VARIABLES, parse_interfaces
from moodle_wizard.lab.proxysql_standin.wire import (
    DEFAULT_SERVER_CAPABILITIES,
    LocalControl,
    ServerStatus,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    datadir: Path
    #: The parsed initial config file (applied on a first start only).
    initial_config: InitialConfig
    #: ``--initial``: ignore the disk database, start again from the config file.
    initial: bool = False


class StandIn:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.datadir.mkdir(parents=True, exist_ok=True)
        self.store = AdminStore(settings.datadir)
        self.runtime = RuntimeConfig()
        self.admin = AdminInterface(self.store, self.runtime, self._on_loaded)
        self.monitor = Monitor(self.runtime, self.store)
        self.cluster = Cluster(self.runtime, self._pulled_users)
        self.admin.stats_sources["stats_proxysql_servers_checksums"] = self.cluster.checksum_rows
        self.store.add_function(
            "GLOBAL_CHECKSUM", lambda: config_checksum(self.runtime.checksums.rows()))
        self._control = LocalControl()
        self.admin_listener = Listener("admin", self._admin_connection)
        self.client_listener = Listener("mysql", self._client_connection)
        self._started = False

    async def start(self) -> None:
        """Build MEMORY (from disk, or defaults + config file), load it to RUNTIME, listen."""
        log.info("%s: starting ProxySQL stand-in %s (moodle-wizard lab, not ProxySQL), "
                 "datadir %s", LOG_NAME, STANDIN_VERSION, self.settings.datadir)
        self._build_memory()
        for module in STARTUP_ORDER:
            await self.admin.copy(LayerCopy(module, Direction.MEMORY_TO_RUNTIME))
        try:
            await self.admin_listener.bind(
                parse_interfaces(self.runtime.variable("admin-mysql_ifaces")))
            await self.client_listener.bind(
                parse_interfaces(self.runtime.variable("mysql-interfaces")))
        except BaseException:
            await self.stop()
            raise
        self.monitor.start()
        self.cluster.reload(self.runtime.rows("proxysql_servers"))
        self.admin.load_guard = self._refuse_unimitated_sync
        self._started = True

    async def stop(self) -> None:
        log.info("%s: stopping", LOG_NAME)
        await self.monitor.stop()
        await self.cluster.stop()
        await self.admin_listener.close()
        await self.client_listener.close()
        self.store.close()

    def _build_memory(self) -> None:
        self.store.seed_variables(
            {name: spec.default for name, spec in KNOWN_VARIABLES.items()}, replace=True
        )
        if self.store.fresh or self.settings.initial:
            log.info("%s: no usable %s: initial configuration (defaults%s)", LOG_NAME,
                     self.store.disk_path, " + config file" if self._has_config() else "")
            self._apply_initial_config()
            for module in Module:
                self.store.copy_module(module, "main", "disk")
        else:
            log.info("%s: configuration from %s", LOG_NAME, self.store.disk_path)
            for module in Module:
                self.store.copy_module(module, "disk", "main")

    def _has_config(self) -> bool:
        config = self.settings.initial_config
        return bool(config.variables or config.tables)

    def _apply_initial_config(self) -> None:
        config = self.settings.initial_config
        unknown = sorted(set(config.variables) - set(KNOWN_VARIABLES))
        if unknown:
            log.warning("%s: config file variables not known to the stand-in, ignored: %s",
                        LOG_NAME, ", ".join(unknown))
        self.store.seed_variables(
            {n: v for n, v in config.variables.items() if n in KNOWN_VARIABLES}, replace=True
        )
        for table, rows in config.tables.items():
            try:
                self.store.insert_rows(table, rows)
            except Exception as error:
                raise ConfigError(f"config file, {table}: {error}") from error

    async def _on_loaded(self, module: Module) -> None:
        """Apply what a LOAD ... TO RUNTIME changed, once the stand-in runs."""
        if not self._started:
            return
        if module is Module.ADMIN_VARIABLES:
            try:
                await self.admin_listener.bind(
                    parse_interfaces(self.runtime.variable("admin-mysql_ifaces")))
            except (OSError, ValueError) as error:
                log.error("%s: cannot listen on admin-mysql_ifaces=%s: %s", LOG_NAME,
                          self.runtime.variable("admin-mysql_ifaces"), error)
        if module is Module.MYSQL_VARIABLES:
            wanted = self.runtime.variable("mysql-interfaces")
            if parse_interfaces(wanted) != self.client_listener.interfaces:
                log.warning("%s: mysql-interfaces=%s takes effect after a restart", LOG_NAME,
                            wanted)
        if module is Module.PROXYSQL_SERVERS:
            self.cluster.reload(self.runtime.rows("proxysql_servers"))
        if module is Module.MYSQL_VARIABLES:
            # A new global version makes every monitor loop start over (next_loop_at=0 in
            # MySQL_Monitor::monitor_ping/read_only/connect). LOAD MYSQL SERVERS does not:
            # a server loaded ONLINE stays so until the next ping round has seen
            # monitor_ping_max_failures missed pings, or traffic shun_on_failures errors.
            self.monitor.poke()

    def _refuse_unimitated_sync(self, module: Module, memory: dict[str, list[Row]]) -> None:
        """A Cluster that would pull a module the stand-in cannot: refused, not pretended.
        Without cluster credentials no node is polled, so the rows alone are accepted (a
        later LOAD ADMIN VARIABLES adding them is caught by the pull: an error is logged)."""
        if (module is not Module.PROXYSQL_SERVERS or not memory["proxysql_servers"]
                or not self.runtime.variable("admin-cluster_username")):
            return
        variables = {r["variable_name"]: r["variable_value"] for r in self.runtime.variable_rows()}
        unimitated = unimitated_syncs(variables)
        if unimitated:
            raise AdminError(
                "stand-in (moodle-wizard lab): cluster sync is imitated for mysql_users "
                f"only; set {', '.join(f'{name}=0' for name in unimitated)} first")

    async def _pulled_users(self, rows: list[Row], epoch: int) -> None:
        """update_mysql_users + init_users + flush to disk, for a Cluster pull."""
        self.store.write_module(Module.MYSQL_USERS, {"mysql_users": rows})
        self.runtime.load_tables(
            Module.MYSQL_USERS, self.store.read_module(Module.MYSQL_USERS), epoch=epoch)
        if self.runtime.bool_variable("admin-cluster_mysql_users_save_to_disk"):
            log.info("%s: Cluster: Saving to disk MySQL Users from peer", LOG_NAME)
            self.store.copy_module(Module.MYSQL_USERS, "main", "disk")

    def _admin_connection(self, stream: Any, peer: str) -> Any:
        connection = AdminConnection(
            stream=stream,
            session=AdminSession(
                self.admin, self.runtime.variable("mysql-server_version"), peer
            ),
            control=self._control,
            identity_provider=AdminIdentity(peer, self.runtime.admin_credentials),
            server_capabilities=DEFAULT_SERVER_CAPABILITIES,
        )
        connection.status_flags = ServerStatus.SERVER_STATUS_AUTOCOMMIT
        return connection

    def _client_connection(self, stream: Any, peer: str) -> Any:
        connection = ClientConnection(
            stream=stream,
            session=ClientSession(self.runtime, peer),
            control=self._control,
            identity_provider=FrontendIdentity(peer, self.runtime.frontend_user),
            server_capabilities=FRONTEND_CAPABILITIES,
        )
        # What a fresh MySQL session is in; the client library reads it from the OK packet.
        connection.status_flags = ServerStatus.SERVER_STATUS_AUTOCOMMIT
        return connection
