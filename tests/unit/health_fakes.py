"""A faked migrated cluster for core/health.py: the lab's inventory and a journal, and host,
database and ProxySQL admin objects that answer the health checks' own queries with canned
rows. Each test changes one thing (a stopped SQL thread, a SHUNNED server ...) and runs the
real `check_health` on it. Shared by the unit tests and the dashboard's snapshot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.facts import Discovered
from moodle_wizard.core.health import HealthItem, check_health
from moodle_wizard.core.inventory import Inventory, load_inventory
from moodle_wizard.core.remote.client import ServerIdentity
from moodle_wizard.core.remote.proxysql import AdminUnreachable, ProxySqlError
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.render.proxysql import server_rows
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import parse_version
from moodle_wizard.core.state import MigrationState, StepName, StepStatus, load

FIXTURES = Path(__file__).parents[1] / "tui" / "fixtures"
VIP = "10.77.0.100"


def slave_status(io: str = "Yes", sql: str = "Yes", lag: int | None = 0,
                 sql_error: str = "") -> list[dict[str, Any]]:
    return [{"Slave_IO_State": "Waiting for master to send event", "Master_Host": "10.77.0.11",
             "Master_Port": 3306, "Slave_IO_Running": io, "Slave_SQL_Running": sql,
             "Seconds_Behind_Master": lag, "Last_IO_Error": "", "Last_SQL_Error": sql_error,
             "Using_Gtid": "Slave_Pos", "Gtid_IO_Pos": "0-1-42"}]


def servers(db2: str = "ONLINE", primary: str = "10.77.0.11",
            fenced: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """runtime_mysql_servers as the wizard lays them out (the primary the writer and the
    readers' fallback, the others readers), db2's reader row in status `db2`."""
    readers = tuple(a for a in ("10.77.0.11", "10.77.0.12", "10.77.0.13")
                    if a != primary and a not in fenced)
    return [{"hostgroup_id": r.hostgroup, "hostname": r.hostname, "port": r.port,
             "status": db2 if (r.hostname, r.hostgroup) == ("10.77.0.12", 20)
             and r.hostname != primary else r.status,
             "weight": r.weight, "max_replication_lag": r.max_replication_lag}
            for r in server_rows(10, 20, 3306, primary, readers, 30, fenced)]


# The proxy nodes' clock when the health checks read their monitor logs (µs since the epoch).
NOW_US = 1_764_600_000_000_000
MONITOR_TABLES = {"connect": "mysql_server_connect_log", "ping": "mysql_server_ping_log",
                  "read_only": "mysql_server_read_only_log"}
SERVERS = ("10.77.0.11", "10.77.0.12", "10.77.0.13")


def monitor_row(addr: str, ago_s: float, error: str | None = None) -> dict[str, Any]:
    """A monitor log row as the health check's query returns it (the error column as
    `error`, the node's clock as `now_us`)."""
    return {"hostname": addr, "port": 3306, "time_start_us": NOW_US - int(ago_s * 1e6),
            "error": error, "now_us": NOW_US}


def monitor_logs() -> dict[str, list[dict[str, Any]]]:
    """Each check of each server done 2 s ago, all successful."""
    return {table: [monitor_row(addr, 2) for addr in SERVERS]
            for table in MONITOR_TABLES.values()}


def server_vars(read_only: int = 1, slave_pos: str = "0-1-42",
                binlog_pos: str = "") -> list[dict[str, Any]]:
    return [{"read_only": read_only, "slave_pos": slave_pos, "binlog_pos": binlog_pos}]


def checksums(users: str = "0x5A1C0FFEE0000001") -> list[dict[str, Any]]:
    return [{"name": "admin_variables", "version": 3, "epoch": 1, "checksum": "0x1111"},
            {"name": "mysql_servers", "version": 5, "epoch": 1, "checksum": "0x2222"},
            {"name": "mysql_users", "version": 2, "epoch": 1, "checksum": users},
            {"name": "mysql_variables", "version": 2, "epoch": 1, "checksum": "0x3333"}]


@dataclass
class Cluster:
    """What every host answers: healthy unless a test changes it."""

    replicas: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"db2": slave_status(), "db3": slave_status()})
    servers: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"px1": servers(), "px2": servers()})
    checksums: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"px1": checksums(), "px2": checksums()})
    # SELECT @@read_only, @@gtid_slave_pos, @@gtid_binlog_pos on each database server.
    variables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {
        "db1": server_vars(0, "", "0-1-42"), "db2": server_vars(), "db3": server_vars()})
    # Each node's monitor logs by table (a table left out: the node does not have it).
    monitor: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: {"px1": monitor_logs(), "px2": monitor_logs()})
    proxysql_down: set[str] = field(default_factory=set)
    vip_on: set[str] = field(default_factory=lambda: {"px1"})
    reached: ServerIdentity = field(
        default_factory=lambda: ServerIdentity(1, False, "db1", "10.11.19-MariaDB"))
    config: dict[str, Any] = field(default_factory=lambda: {
        "dbhost": VIP, "dbpass": "moodle-Secret-9",
        "connect": {"ok": True, "server": {"host": "db1", "server_id": "1",
                                           "read_only": "0"}}})


class FakeDb:
    dialect = Dialect(parse_version("10.11.19-MariaDB-0+deb12u1"))

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster, self.name = cluster, name

    async def run(self, stmt: Statement) -> list[dict[str, Any]]:
        if stmt.sql == "SHOW SLAVE STATUS":
            return self.cluster.replicas.get(self.name, [])  # the primary: not a replica
        assert stmt.sql.startswith("SELECT @@read_only AS read_only"), stmt.sql
        return self.cluster.variables[self.name]


class FakeAdmin:
    def __init__(self, cluster: Cluster, px: str) -> None:
        self.cluster, self.px = cluster, px

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = self.cluster.servers[self.px]
        if "FROM runtime_mysql_servers" in sql:
            # As ProxySQL shows them there: a lag-shunned server as SHUNNED.
            return [dict(r, status="SHUNNED") if r["status"] == "SHUNNED_REPLICATION_LAG"
                    else r for r in rows]
        if "FROM stats_mysql_connection_pool WHERE status = 'SHUNNED_REPLICATION_LAG'" in sql:
            return [{"hostgroup": r["hostgroup_id"], "srv_host": r["hostname"],
                     "srv_port": r["port"]} for r in rows
                    if r["status"] == "SHUNNED_REPLICATION_LAG"]
        if "FROM runtime_checksums_values" in sql:
            return self.cluster.checksums[self.px]
        for table in MONITOR_TABLES.values():
            if f"FROM monitor.{table} " in sql:
                logs = self.cluster.monitor[self.px]
                if table not in logs:
                    raise ProxySqlError(self.px, f"ProxySQL admin statement failed: {sql}: "
                                        f"no such table: monitor.{table} (error 1045)")
                return logs[table]
        raise AssertionError(f"unexpected admin query {sql}")


class FakeHost:
    def __init__(self, cluster: Cluster, name: str, address: str) -> None:
        self.cluster, self.name, self.address = cluster, name, address

    async def run(self, argv: Sequence[str], **_: Any) -> Result:
        if list(argv[:6]) != ["ip", "-o", "-4", "addr", "show", "dev"]:
            return Result(127, "", f"sh: {argv[0]}: not found")  # nothing else is installed
        out = f"2: eth0    inet {self.address}/24 brd 10.77.0.255 scope global eth0\n"
        if self.name in self.cluster.vip_on:
            out += f"2: eth0    inet {VIP}/24 scope global secondary eth0\n"
        return Result(0, out, "")


class FakeContext:
    """The parts of Context the health checks use."""

    def __init__(self, cluster: Cluster, inventory: Inventory, state: MigrationState) -> None:
        self.cluster, self.inventory, self.state = cluster, inventory, state
        self.secrets = SecretStore(None, inventory.secrets.env_prefix, prompt=None)

    @property
    def discovered(self) -> Discovered:
        return self.state.steps.discover.facts.require()

    async def db(self, name: str) -> FakeDb:
        return FakeDb(self.cluster, name)

    async def host(self, name: str) -> FakeHost:
        return FakeHost(self.cluster, name, self.inventory.hosts[name].address)

    async def proxysql_admin(self, px: str, user: str, password: str) -> FakeAdmin:
        if px in self.cluster.proxysql_down:
            raise AdminUnreachable(px, "ProxySQL's admin interface does not answer on "
                                   "127.0.0.1:6032 (Connection refused)")
        return FakeAdmin(self.cluster, px)

    async def forward(self, name: str, address: str, port: int) -> tuple[str, int]:
        assert (name, address) == ("app", VIP)
        return ("127.0.0.1", 1)

    async def moodle_password(self) -> str:
        return "moodle-Secret-9"


def state_with(statuses: dict[StepName, StepStatus], tmp: Path) -> MigrationState:
    """The lab's real discovery, with these steps' statuses."""
    data = json.loads((FIXTURES / "discovered-state.json").read_text())
    path = tmp / "mwlab.json"
    path.write_text(json.dumps(data))
    state = load(path)
    for name, status in statuses.items():
        state.step(name).status = status
    return state


def lab_inventory(tmp: Path) -> Inventory:
    path = tmp / "inventory.toml"
    path.write_text((FIXTURES / "lab-inventory.toml").read_text()
                    .replace('file = "/srv/mwlab/secrets.json"', ""))
    return load_inventory(path)


ALL_DONE = {n: StepStatus.DONE for n in StepName}


def fake_context(cluster: Cluster, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                 statuses: dict[StepName, StepStatus] | None = None) -> Context:
    """A Context answering from `cluster`. The login through the VIP and config.php's
    evaluation are the two checks that need a MySQL server and PHP: they answer from the
    cluster too (everything around them is the real code)."""

    async def client_check(local: tuple[str, int], **_: Any) -> ServerIdentity:
        return cluster.reached

    async def read_moodle_config(host: FakeHost, path: str) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(cluster.config))
        return copy

    monkeypatch.setattr("moodle_wizard.core.steps.vip_login.client_check", client_check)
    monkeypatch.setattr("moodle_wizard.core.health.read_moodle_config", read_moodle_config)
    ctx = FakeContext(cluster, lab_inventory(tmp), state_with(statuses or ALL_DONE, tmp))
    return cast(Context, ctx)


def health_items(cluster: Cluster, tmp: Path,
                 statuses: dict[StepName, StepStatus] | None = None) -> list[HealthItem]:
    """The real check_health on `cluster`, outside any event loop (for the snapshots)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        report = asyncio.run(check_health(fake_context(cluster, tmp, mp, statuses)))
    return list(report.items)
