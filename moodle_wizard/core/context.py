"""What a step can reach: hosts, databases, facts, secrets, the operator, the journal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.events import Event, EventSink
from moodle_wizard.core.facts import Discovered
from moodle_wizard.core.inventory import Inventory, Role
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.remote import sshconfig
from moodle_wizard.core.remote.mysql import Database
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.proxysql import ProxySqlAdmin
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import MigrationState, SecretRegistry, save

# (question, risky) -> the operator's yes
Confirm = Callable[[str, bool], Awaitable[bool]]


class Context:
    def __init__(
        self,
        inventory: Inventory,
        state: MigrationState,
        state_path: Path | None,
        secrets: SecretStore,
        pool: SshPool,
        audit: AuditLog,
        emit: EventSink,
        confirm: Confirm,
    ) -> None:
        self.inventory = inventory
        self.state = state
        self.state_path = state_path
        self.secrets = secrets
        self.pool = pool
        self.audit = audit
        self._emit = emit
        self.confirm = confirm
        self._dbs: dict[str, Database] = {}
        self._admins: dict[tuple[str, str, str], ProxySqlAdmin] = {}
        self._forwards: dict[tuple[str, str, int], tuple[object, tuple[str, int]]] = {}
        self.current_step = ""
        # `rollback --force-config`: the cutover's rollback may overwrite a config.php that
        # someone changed after the cutover (it refuses otherwise).
        self.force_config = False

    def emit(self, event: Event) -> None:
        self._emit(event)

    def save(self) -> None:
        if self.state_path is not None:
            save(self.state, self.state_path, secrets=SecretRegistry(self.secrets.values()))

    @property
    def discovered(self) -> Discovered:
        """What discovery learned (a clear error if it has not run)."""
        return self.state.steps.discover.facts.require()

    def target(self, name: str) -> SshTarget:
        """Where `ssh NAME` goes (~/.ssh/config), the inventory's ssh_* settings winning."""
        host = self.inventory.hosts[name]
        jump = self.target(host.ssh_jump) if host.ssh_jump else None
        return sshconfig.resolve(
            name, host.address, user=host.ssh_user, port=host.ssh_port, jump=jump,
            known=lambda n: self.target(n) if n in self.inventory.hosts else None)

    async def host(self, name: str) -> RemoteHost:
        target = self.target(name)
        plays = self.inventory.hosts[name].plays
        sshconfig.refuse_non_root_database(target, Role.SOURCE in plays or Role.REPLICA in plays)
        return await self.pool.connect(target)

    async def db(self, name: str) -> Database:
        """An admin connection to the database server on host `name`."""
        if name not in self._dbs:
            self._dbs[name] = await self.connect_db(name)
        return self._dbs[name]

    async def connect_db(self, name: str) -> Database:
        """A new admin connection to `name`, not shared: the caller closes it (a watcher
        that runs beside a command using `db(name)`)."""
        mig = self.inventory.migration
        admin = mig.db_admin_user if name == self.inventory.source else None
        password = self.secrets.get("db_admin_password") if admin else None
        host = await self.host(name)
        return await Database.connect(host, socket=mig.db_socket, user=admin or host.target.user,
                                      password=password, audit=self.audit.sql)

    async def moodle_password(self) -> str:
        """Moodle's DB password, from config.php on the first app host (read again after a
        resume: it is never saved)."""
        known = self.secrets.known("moodle_db_password")
        if known is not None:
            return known
        host = await self.host(self.inventory.apps[0])
        cfg = await read_moodle_config(host, self.inventory.migration.moodle_config)
        # Every password in config.php is masked from now on, not only this one.
        return register_config_secrets(cfg, self.secrets, self.inventory.apps[0])

    async def forward(self, name: str, address: str, port: int) -> tuple[str, int]:
        """A local port forwarded to address:port as seen from host `name` (one per target,
        reused while that SSH connection lives)."""
        host = await self.host(name)
        conn = await host.connection()
        cached = self._forwards.get((name, address, port))
        if cached is not None and cached[0] is conn:
            return cached[1]
        local = await host.forward_local_to_port(address, port)
        self._forwards[(name, address, port)] = (conn, local)
        return local

    async def proxysql_admin(self, name: str, user: str, password: str) -> ProxySqlAdmin:
        """An admin connection to ProxySQL on proxy host `name` (127.0.0.1 there, via SSH)."""
        key = (name, user, password)
        if key not in self._admins:
            self._admins[key] = await ProxySqlAdmin.connect(
                await self.host(name), port=self.inventory.proxysql.admin_port, user=user,
                password=password, audit=self.audit.sql)
        return self._admins[key]

    async def forget_proxysql_admin(self, name: str) -> None:
        """Drop the cached admin connections to `name` (ProxySQL restarted, or its
        credentials changed)."""
        for key in [k for k in self._admins if k[0] == name]:
            await self._admins.pop(key).close()

    async def forget_db(self, name: str) -> None:
        """Drop a cached connection (the server was restarted or stopped)."""
        db = self._dbs.pop(name, None)
        if db is not None:
            await db.close()

    async def close(self) -> None:
        for name in list(self._dbs):
            await self.forget_db(name)
        for name in {k[0] for k in self._admins}:
            await self.forget_proxysql_admin(name)
