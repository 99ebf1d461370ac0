"""Step 4's verification, from the outside: each node has the wizard's admin user (and no
longer admin:admin), its admin interface refuses connections from the other hosts, every node
runs the same config with the servers where they belong, and through each node's client port
Moodle's user reaches the source and writes while the read-only user reaches a replica."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.client import ClientLoginFailed, ServerIdentity, client_check
from moodle_wizard.core.remote.proxysql import AdminLoginRefused, ProxySqlAdmin, ProxySqlError
from moodle_wizard.core.render.proxysql_cluster import admin_ifaces
from moodle_wizard.core.secrets import generate_password
from moodle_wizard.core.steps.base import StepError

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.facts import MoodleFacts, ProxySQLFacts
    from moodle_wizard.core.inventory_parts import ProxySQL
    from moodle_wizard.core.render.proxysql import ProxySqlConfig

SETTLE_TIMEOUT_S = 30.0
READ_TRIES = 3


class ProxyStep(Protocol):
    """What verification needs of the proxysql step (declared here rather than imported, so
    steps/proxysql.py, which calls verify, and this module do not import each other)."""

    ctx: Context

    @property
    def cfg(self) -> ProxySQL: ...

    @property
    def facts(self) -> ProxySQLFacts: ...

    def moodle(self) -> MoodleFacts: ...

    def initial_password(self) -> str: ...

    async def admin(self, px: str) -> ProxySqlAdmin: ...

    async def config(self, replicas: list[str] | None = None) -> ProxySqlConfig: ...

    def serving_replicas(self) -> list[str]: ...


# -- what a node runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeServer:
    """A row of runtime_mysql_servers: where the monitor has put a backend, and its state."""

    hostgroup: int
    hostname: str
    port: int
    status: str  # ONLINE, SHUNNED, OFFLINE_SOFT, OFFLINE_HARD
    weight: int
    max_replication_lag: int


@dataclass(frozen=True)
class RuntimeConfig:
    """What a node runs, in a form two nodes can be compared by (rows as tuples of values in
    a fixed order; passwords as ProxySQL shows them at runtime)."""

    mysql_servers: tuple[RuntimeServer, ...]
    mysql_replication_hostgroups: tuple[tuple[str, ...], ...]
    mysql_users: tuple[tuple[str, ...], ...]
    variables: tuple[tuple[str, str], ...]

    def differ(self, other: RuntimeConfig) -> list[str]:
        """The tables whose runtime rows are not the same on both nodes."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def _rows(rows: list[dict[str, Any]], *columns: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(row[c]) for c in columns) for row in rows)


async def runtime_servers(admin: ProxySqlAdmin) -> tuple[RuntimeServer, ...]:
    rows = await admin.query(
        "SELECT hostgroup_id, hostname, port, status, weight, max_replication_lag "
        "FROM runtime_mysql_servers ORDER BY hostgroup_id, hostname, port")
    return tuple(RuntimeServer(int(r["hostgroup_id"]), str(r["hostname"]), int(r["port"]),
                               str(r["status"]), int(r["weight"]),
                               int(r["max_replication_lag"])) for r in rows)


async def runtime_checksums(admin: ProxySqlAdmin) -> dict[str, str]:
    """runtime_checksums_values: one checksum per module of the running config (what a
    ProxySQL Cluster compares): equal checksums, equal config."""
    rows = await admin.query("SELECT name, checksum FROM runtime_checksums_values "
                             "ORDER BY name")
    return {str(r["name"]): str(r["checksum"]) for r in rows}


async def runtime_config(admin: ProxySqlAdmin, variables: list[str]) -> RuntimeConfig:
    """What a node runs: its servers, replication hostgroups, users and these variables."""
    marks = ", ".join(["%s"] * len(variables))
    return RuntimeConfig(
        mysql_servers=await runtime_servers(admin),
        mysql_replication_hostgroups=_rows(await admin.query(
            "SELECT writer_hostgroup, reader_hostgroup, check_type FROM "
            "runtime_mysql_replication_hostgroups ORDER BY writer_hostgroup"),
            "writer_hostgroup", "reader_hostgroup", "check_type"),
        mysql_users=_rows(await admin.query(
            "SELECT username, password, active, default_hostgroup, default_schema, "
            "transaction_persistent, frontend, backend FROM runtime_mysql_users "
            "ORDER BY username, frontend, backend"),
            "username", "password", "active", "default_hostgroup", "default_schema",
            "transaction_persistent", "frontend", "backend"),
        variables=tuple((str(r["variable_name"]), str(r["variable_value"]))
                        for r in await admin.query(
            "SELECT variable_name, variable_value FROM runtime_global_variables WHERE "
            f"variable_name IN ({marks}) ORDER BY variable_name", variables)),
    )


async def verify(step: ProxyStep) -> None:
    inv = step.ctx.inventory
    for px in inv.proxies:
        await verify_credentials(step, px)
        await verify_admin_local(step, px)
    await verify_identical(step)
    ids = await server_ids(step)
    for px in inv.proxies:
        await verify_routes(step, px, ids)


async def verify_credentials(step: ProxyStep, px: str) -> None:
    password = step.ctx.secrets.generated("proxysql_admin_password", generate_password)
    await step.ctx.forget_proxysql_admin(px)
    try:
        await step.ctx.proxysql_admin(px, step.cfg.admin_user, password)
    except ProxySqlError as exc:
        raise StepError(f"{exc}; the wizard's admin user does not work on {px}") from None
    try:
        await step.ctx.proxysql_admin(px, step.cfg.initial_admin_user,
                                      step.initial_password())
    except AdminLoginRefused:
        return
    raise StepError(f"{px}: ProxySQL still accepts the initial admin credentials; they "
                    "should have been replaced")


# One TCP connect from a host to ADDR:PORT, as that host's network sees it. bash's /dev/tcp
# (no client tool needed); `timeout` tells a filtered port from a refused one.
_TCP_PROBE = r"""
out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1)
rc=$?
case $rc in
    0) echo open ;;
    124) echo timeout ;;
    *) case $out in *"Connection refused"*) echo refused ;; *) echo "error: $out" ;; esac ;;
esac
"""


async def tcp_probe(step: ProxyStep, source: str, address: str, port: int) -> str:
    """open, refused, timeout or "error: ..." for a TCP connect from host `source`."""
    host = await step.ctx.host(source)
    out = await host.run(["bash", "-c", _TCP_PROBE, "bash", address, str(port)], check=False,
                         timeout=30, display=f"from {source}: TCP connect to {address}:{port}")
    return out.stdout.strip() or f"error: {out.stderr.strip()}"


def probe_sources(step: ProxyStep, px: str) -> list[str]:
    """Where the admin port is tried from: the other proxy hosts and the first app host (the
    web application is the likeliest attacker's seat)."""
    inv = step.ctx.inventory
    return [p for p in inv.proxies if p != px] + inv.apps[:1]


async def verify_admin_local(step: ProxyStep, px: str) -> None:
    """The admin interface listens on 127.0.0.1 only: ProxySQL says so, and from the other
    hosts its port refuses (a filtered port counts only when the same host reaches the
    client port, so an unreachable node is never taken for a closed port)."""
    inv = step.ctx.inventory
    # With ProxySQL Cluster, on the node's own address too: proxysql_cluster.verify then
    # proves it open to the other proxies (its firewall), refused to the app host.
    cluster = inv.hosts[px].address if step.cfg.cluster else None
    want = admin_ifaces(step.cfg.admin_port, cluster)
    admin = await step.admin(px)
    rows = await admin.query("SELECT variable_value AS v FROM runtime_global_variables "
                             "WHERE variable_name = 'admin-mysql_ifaces'")
    running = str(rows[0]["v"]) if rows else "(none)"
    if running != want:
        raise StepError(f"{px}: ProxySQL's admin interface listens on {running}, not {want}")
    address = inv.hosts[px].address
    for source in probe_sources(step, px):
        if cluster is not None and source in inv.proxies:
            continue
        seen = await tcp_probe(step, source, address, step.cfg.admin_port)
        if seen == "refused":
            continue
        if seen == "timeout" and await tcp_probe(
                step, source, address, step.cfg.client_port) == "open":
            continue  # filtered by a firewall, while the node itself is reachable
        raise StepError(
            f"{px}: its admin port {address}:{step.cfg.admin_port} is not closed to {source} "
            f"(a connect from there: {seen}); ProxySQL's admin interface must answer on "
            f"{want} only: check admin-mysql_ifaces on {px}")


async def verify_identical(step: ProxyStep) -> None:
    """Every node runs the same config, and the monitor has placed the servers where
    they belong (source: writer only; replicas: readers). Waits for the monitors."""
    inv = step.ctx.inventory
    w, r = step.cfg.writer_hostgroup, step.cfg.reader_hostgroup
    started = time.monotonic()
    config = await step.config()
    names = [*config.variables, "admin-admin_credentials"]
    # The source in the writer hostgroup and (as the readers' fallback) in the reader's, the
    # replicas in the reader's (as the config put them), each on the port its server listens
    # on.
    want = {(row.hostgroup, row.hostname, row.port) for row in config.rows}
    source = inv.hosts[inv.source].address
    assert {(hg, host) for hg, host, _ in want} == {
        (w, source), (r, source),
        *((r, inv.hosts[x].address) for x in step.serving_replicas())}
    seen: list[tuple[list[str], set[tuple[int, str, int]]]] = []

    async def settled() -> set[tuple[int, str, int]] | None:
        configs = {px: await runtime_config(await step.admin(px), names) for px in inv.proxies}
        first = inv.proxies[0]
        differ = sorted({table for px in inv.proxies
                         for table in configs[px].differ(configs[first])})
        placed = {(s.hostgroup, s.hostname, s.port)
                  for s in configs[first].mysql_servers if s.status == "ONLINE"}
        seen.append((differ, placed))
        return placed if not differ and placed == want else None

    def late() -> str:
        differ, placed = seen[-1]
        if differ:
            return (f"the proxy hosts run different ProxySQL config "
                    f"({', '.join(differ)} differ between {' and '.join(inv.proxies)})")
        return (f"ProxySQL's monitor placed the servers as {sorted(placed)} (hostgroup, "
                f"host, port; ONLINE only), expected {sorted(want)}: check that the monitor user "
                f"{inv.migration.monitor_user} can log in from the proxy hosts and that "
                "only the source has read_only=0")

    placed = await poll_until(settled, timeout_s=SETTLE_TIMEOUT_S - (time.monotonic() - started),
                              interval_s=0.5, what=late)
    step.facts.runtime_servers = sorted((hg, host) for hg, host, _ in placed)
    step.ctx.save()


async def server_ids(step: ProxyStep) -> dict[str, int]:
    inv = step.ctx.inventory
    ids = {}
    for name in (inv.source, *step.serving_replicas()):
        db = await step.ctx.db(name)
        ids[name] = int((await db.one("SELECT @@server_id AS s"))["s"])
    return ids


async def verify_routes(step: ProxyStep, px: str, ids: dict[str, int]) -> None:
    """Through the node's client port: Moodle's user reaches the source and can write;
    the read-only user reaches a replica."""
    inv, moodle = step.ctx.inventory, step.moodle()
    local = await step.ctx.forward(px, "127.0.0.1", step.cfg.client_port)
    dbname = moodle.dbname or ""
    who = await login(step, px, local, moodle.dbuser or "", await step.ctx.moodle_password(),
                      dbname, write_table=f"{moodle.prefix}config")
    if who.server_id != ids[inv.source] or who.read_only or not who.wrote:
        raise StepError(f"{px}: Moodle's user reached server_id {who.server_id} "
                        f"({who.hostname}, read_only={int(who.read_only)}, write "
                        f"{'accepted' if who.wrote else 'refused'}) through ProxySQL, not the "
                        f"source {inv.source} (server_id {ids[inv.source]})")
    if step.cfg.readonly_user:
        ro = await login(step, px, local, step.cfg.readonly_user,
                         step.ctx.secrets.generated("proxysql_readonly_password",
                                                    generate_password), dbname)
        serving = step.serving_replicas()
        if not serving:
            # No replica yet (proxy-first): Moodle's safe reads go to the source.
            if ro.server_id != ids[inv.source]:
                raise StepError(f"{px}: the read-only user reached server_id {ro.server_id} "
                                f"({ro.hostname}) through ProxySQL, not the source (there is "
                                "no replica yet)")
            return
        replicas = {ids[x] for x in serving}
        # The source is a reader too, of weight 1 against each replica's 1000: a login may
        # land on it (about 1 in 2001 with two replicas), never on anything else. Another
        # login then reaches a replica; READ_TRIES logins on the source mean the replicas
        # do not serve.
        for _ in range(READ_TRIES - 1):
            if ro.server_id != ids[inv.source]:
                break
            ro = await login(step, px, local, step.cfg.readonly_user,
                             step.ctx.secrets.generated("proxysql_readonly_password",
                                                        generate_password), dbname)
        if ro.server_id not in replicas or not ro.read_only:
            raise StepError(f"{px}: the read-only user reached server_id {ro.server_id} "
                            f"({ro.hostname}) through ProxySQL, not a replica")


async def login(step: ProxyStep, px: str, local: tuple[str, int], user: str, password: str,
                dbname: str, write_table: str | None = None) -> ServerIdentity:
    failures: list[ClientLoginFailed] = []

    async def works() -> ServerIdentity | None:
        try:
            return await client_check(local, user=user, password=password,
                                      database=dbname, write_table=write_table)
        except ClientLoginFailed as exc:
            failures.append(exc)
            return None

    return await poll_until(
        works, timeout_s=SETTLE_TIMEOUT_S, interval_s=0.5,
        what=lambda: f"{px}: {user} cannot work through ProxySQL's port "
                     f"{step.cfg.client_port}: {failures[-1]}; check that the user is "
                     f"granted from {px}'s address on the databases")
