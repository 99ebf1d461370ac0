"""Step 4 with proxysql.cluster on: the proxy nodes joined in a ProxySQL Cluster for
mysql_users (core/render/proxysql_cluster.py says what and why).

After every node is configured and identical: on each node the firewall table first (the
admin port open to the other proxies only), then the Cluster variables with the admin
interface bound to the node's own address too; then, once every node runs the same ProxySQL
build and the same users, `proxysql_servers` on each. Verify: every node shows each peer's
mysql_users checksum, recent and equal to its own (the peer's Cluster user logged in and
polled), the admin port open from the peers and refused from the first app host.

Rollback, per node, in the order that never leaves the port open: the proxysql.service
drop-in goes first (with `Requires=` still there, stopping the firewall unit would stop
ProxySQL); the node's files are restored (they carry the Cluster settings) by the step's own
restore; only then the firewall table and its files go.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.command import (
    Command,
    Script,
    Secret,
    WriteFile,
    render_all,
    runner,
)
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.render.proxysql_cluster import (
    FIREWALL_FILE,
    FIREWALL_TABLE,
    FIREWALL_UNIT,
    ClusterConfig,
    cluster_statements,
    firewall_ruleset,
    peers_statements,
)
from moodle_wizard.core.secrets import generate_password
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.steps.base import Action, Problem, StepError, error
from moodle_wizard.core.steps.proxysql_verify import tcp_probe

if TYPE_CHECKING:
    from moodle_wizard.core.steps.proxysql_verify import ProxyStep

__all__ = ["PASSWORD", "plan", "preflight", "rollback_after", "rollback_before", "verify"]

PASSWORD = Secret("proxysql_cluster_password", partial(generate_password, 32))
SEEN_TIMEOUT_S = 10.0
#: Clocks further apart than this make "the newer epoch wins" pick the wrong node.
MAX_CLOCK_SKEW_S = 1.0
_DROPIN_DIR = "/etc/systemd/system/proxysql.service.d"
_DROPIN = f"{_DROPIN_DIR}/moodle-wizard-admin-firewall.conf"
_UNIT = f"/etc/systemd/system/{FIREWALL_UNIT}"
_USER_COLUMNS = ("username, password, active, use_ssl, default_hostgroup, default_schema, "
                 "schema_locked, transaction_persistent, fast_forward, backend, frontend, "
                 "max_connections, attributes, comment")

# Persistent and fail closed where systemd runs: a oneshot unit loads the table at boot and
# proxysql.service requires it, so ProxySQL never listens on the address without the rule.
# Elsewhere (SysV init) the table is loaded now only, and said so.
_FIREWALL_ON = f"""
command -v nft >/dev/null || {{ echo "nft is missing: install the nftables package" >&2; exit 1; }}
nft -f {FIREWALL_FILE}
nft list table inet {FIREWALL_TABLE} >/dev/null
if [ -d /run/systemd/system ]; then
    cat > {_UNIT} <<'UNIT'
[Unit]
Description=moodle-wizard: ProxySQL admin port open to the other proxies only
Before=proxysql.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {FIREWALL_FILE}
ExecStop=/usr/sbin/nft delete table inet {FIREWALL_TABLE}
[Install]
WantedBy=multi-user.target
UNIT
    mkdir -p {_DROPIN_DIR}
    printf '[Unit]\\nRequires={FIREWALL_UNIT}\\nAfter={FIREWALL_UNIT}\\n' > {_DROPIN}
    systemctl daemon-reload
    systemctl enable {FIREWALL_UNIT}
else
    echo "no systemd: table inet {FIREWALL_TABLE} is loaded now, not at boot;" \\
         "load {FIREWALL_FILE} at boot before ProxySQL starts" >&2
fi
"""

_DROPIN_OFF = f"""
if [ -f {_DROPIN} ]; then
    rm -f {_DROPIN}
    rmdir {_DROPIN_DIR} 2>/dev/null || true
    systemctl daemon-reload
fi
"""

_FIREWALL_OFF = f"""
if [ -f {_UNIT} ]; then
    systemctl disable --now {FIREWALL_UNIT} || true
    rm -f {_UNIT}
    systemctl daemon-reload
fi
if command -v nft >/dev/null; then
    nft delete table inet {FIREWALL_TABLE} 2>/dev/null || true
    if nft list table inet {FIREWALL_TABLE} >/dev/null 2>&1; then
        echo "table inet {FIREWALL_TABLE} is still there" >&2; exit 1
    fi
fi
rm -f {FIREWALL_FILE}
rmdir /etc/moodle-wizard 2>/dev/null || true
"""


def _addresses(step: ProxyStep) -> tuple[str, ...]:
    inv = step.ctx.inventory
    return tuple(inv.hosts[px].address for px in inv.proxies)


def _config(step: ProxyStep, px: str, password: str, admin_password: str) -> ClusterConfig:
    cfg = step.cfg
    return ClusterConfig(admin_user=cfg.admin_user, admin_password=admin_password,
                         user=cfg.cluster_user, password=password, admin_port=cfg.admin_port,
                         own_address=step.ctx.inventory.hosts[px].address,
                         nodes=_addresses(step))


def firewall_commands(step: ProxyStep, px: str) -> list[Command]:
    address = step.ctx.inventory.hosts[px].address
    peers = [a for a in _addresses(step) if a != address]
    return [Script(px, "install -d -m 0755 /etc/moodle-wizard"),
            WriteFile(px, FIREWALL_FILE, firewall_ruleset(step.cfg.admin_port, peers)),
            Script(px, _FIREWALL_ON.strip())]


# -- plan ------------------------------------------------------------------------------------


def plan(step: ProxyStep) -> list[Action]:
    """The Cluster's actions (none while proxysql.cluster is off)."""
    if not step.cfg.cluster:
        return []
    inv, port = step.ctx.inventory, step.cfg.admin_port
    actions: list[Action] = []
    for px in inv.proxies:
        commands = firewall_commands(step, px)
        actions.append(Action(
            f"firewall:{px}", f"Open {px}'s admin port {port} to the other proxies only "
            "(nftables)", runner(step.ctx, commands), render_all(commands), host=px))
    for px in inv.proxies:
        shown = [s.display() for s in cluster_statements(_config(step, px, MASK, MASK))]
        actions.append(Action(
            f"cluster:{px}", f"ProxySQL Cluster settings on {px} (its admin interface on "
            f"{inv.hosts[px].address}:{port} too)", partial(enable, step, px),
            [f"on {px}, admin 127.0.0.1:{port} through SSH: {line}" for line in shown],
            host=px))
    lines = [f"on {' and '.join(inv.proxies)}: the same SELECT @@version and the same "
             "runtime_mysql_users, else stop (the newer node would overwrite the other's users)"]
    for px in inv.proxies:
        lines += [f"on {px}, admin 127.0.0.1:{port} through SSH: {s.display()}"
                  for s in peers_statements(_addresses(step), port)]
    actions.append(Action("cluster-peers", "Join the proxy nodes in a ProxySQL Cluster "
                          "(mysql_users only)", partial(join, step), lines))
    return actions


# -- apply -----------------------------------------------------------------------------------


async def enable(step: ProxyStep, px: str) -> None:
    password = await PASSWORD.value(step.ctx)
    admin_password = step.ctx.secrets.generated("proxysql_admin_password", generate_password)
    cc = _config(step, px, password, admin_password)
    admin = await step.admin(px)
    for stmt in cluster_statements(cc):
        await admin.run(stmt)
    got = await admin.variables(list(cc.admin_variables))
    wrong = [n for n, v in cc.admin_variables.items() if got.get(n) != v]
    if wrong:
        raise StepError(f"{px}: ProxySQL did not take {', '.join(sorted(wrong))} (unknown to "
                        "this ProxySQL version?)")


async def join(step: ProxyStep) -> None:
    inv = step.ctx.inventory
    versions: dict[str, str] = {}
    users: dict[str, list[tuple[str, ...]]] = {}
    for px in inv.proxies:
        admin = await step.admin(px)
        rows = await admin.query("SELECT @@version AS v")
        versions[px] = str(rows[0]["v"]) if rows else "?"
        users[px] = sorted(tuple(str(v) for v in r.values()) for r in await admin.query(
            f"SELECT {_USER_COLUMNS} FROM runtime_mysql_users"))
    if len(set(versions.values())) > 1:
        raise StepError("ProxySQL Cluster needs the very same build on every node, and "
                        "ProxySQL compares the full version string: "
                        + ", ".join(f"{px} runs {v}" for px, v in versions.items())
                        + "; install the same package on every proxy host")
    first = inv.proxies[0]
    differ = [px for px in inv.proxies if users[px] != users[first]]
    if differ:
        raise StepError(f"runtime_mysql_users differ between {first} and {', '.join(differ)} "
                        "(a user added by hand on one?): the Cluster would replace one node's "
                        "users with the other's; make them equal (or run `moodle-wizard "
                        "proxysql sync`), then resume")
    for px in inv.proxies:
        admin = await step.admin(px)
        for stmt in peers_statements(_addresses(step), step.cfg.admin_port):
            await admin.run(stmt)


# -- preflight -------------------------------------------------------------------------------


async def preflight(step: ProxyStep) -> list[Problem]:
    """nft on every proxy host, IP addresses, clocks within MAX_CLOCK_SKEW_S."""
    if not step.cfg.cluster:
        return []
    problems: list[Problem] = []
    if len(step.ctx.inventory.proxies) < 2:
        return [error("proxysql.cluster needs at least two proxy hosts to keep in step; "
                      "add one, or set cluster = false")]
    try:
        _config(step, step.ctx.inventory.proxies[0], "x", "x")
    except ValueError as exc:
        problems.append(error(f"proxysql.cluster: {exc}"))
    offsets: dict[str, float] = {}
    for px in step.ctx.inventory.proxies:
        host = await step.ctx.host(px)
        out = await host.run(["sh", "-c", "command -v nft"], check=False, timeout=30)
        if out.exit_status != 0:
            problems.append(error(f"{px}: nft is missing; proxysql.cluster needs it for the "
                                  "admin port's firewall: install the nftables package there"))
        before = time.time()
        out = await host.run(["date", "+%s.%N"], check=False, timeout=30)
        after = time.time()
        try:
            offsets[px] = float(out.stdout.strip()) - (before + after) / 2
        except ValueError:
            problems.append(error(f"{px}: could not read its clock (`date +%s.%N`)"))
    if offsets and max(offsets.values()) - min(offsets.values()) > MAX_CLOCK_SKEW_S:
        shown = ", ".join(f"{px} {o:+.1f} s" for px, o in offsets.items())
        problems.append(error(f"the proxy hosts' clocks differ by more than "
                              f"{MAX_CLOCK_SKEW_S:.0f} s ({shown}, against this machine): "
                              "ProxySQL Cluster keeps the config with the later timestamp, so "
                              "run NTP (chrony, systemd-timesyncd) on them first"))
    return problems


# -- verify ----------------------------------------------------------------------------------


async def verify(step: ProxyStep) -> None:
    """Each node sees each peer's mysql_users in step (within SEEN_TIMEOUT_S), and the admin
    port is open from the peers and refused from the first app host."""
    if not step.cfg.cluster:
        return
    inv, port = step.ctx.inventory, step.cfg.admin_port
    for px in inv.proxies:
        await _peers_seen(step, px)
    for px in inv.proxies:
        address = inv.hosts[px].address
        for other in inv.proxies:
            if other != px and (seen := await tcp_probe(step, other, address, port)) != "open":
                raise StepError(f"{px}: its admin port {address}:{port} is not open to the "
                                f"other proxy {other} ({seen}): check the table inet "
                                f"{FIREWALL_TABLE} and admin-mysql_ifaces on {px}")
        for app in inv.apps[:1]:
            if (seen := await tcp_probe(step, app, address, port)) != "refused":
                raise StepError(f"{px}: its admin port {address}:{port} is not refused to "
                                f"{app} ({seen}): check the table inet {FIREWALL_TABLE} on "
                                f"{px} (`nft list table inet {FIREWALL_TABLE}`)")


async def _peers_seen(step: ProxyStep, px: str) -> None:
    inv = step.ctx.inventory
    peers = {inv.hosts[p].address for p in inv.proxies if p != px}
    last: list[str] = []

    async def in_step() -> bool | None:
        admin = await step.admin(px)
        own = await admin.query("SELECT checksum FROM runtime_checksums_values "
                                "WHERE name = 'mysql_users'")
        rows = await admin.query(
            "SELECT hostname, checksum, diff_check FROM stats_proxysql_servers_checksums "
            "WHERE name = 'mysql_users' AND updated_at >= CAST(strftime('%s', 'now') AS "
            "INTEGER) - 5")
        mine = str(own[0]["checksum"]) if own else "?"
        ok = {str(r["hostname"]) for r in rows
              if str(r["checksum"]) == mine and str(r["diff_check"]) == "0"}
        last[:] = sorted(peers - ok)
        return True if not last else None

    await poll_until(in_step, timeout_s=SEEN_TIMEOUT_S, interval_s=0.5, what=lambda: (
        f"{px} does not see the mysql_users of {', '.join(last)} in step within "
        f"{SEEN_TIMEOUT_S:.0f} s (stats_proxysql_servers_checksums): check the Cluster user "
        f"{step.cfg.cluster_user}, proxysql_servers and {px}'s proxysql.log"))


# -- rollback --------------------------------------------------------------------------------


def _rollback_commands(step: ProxyStep, px: str, script: str) -> list[Command]:
    return [Script(px, script.strip())] if step.cfg.cluster else []


def rollback_before(step: ProxyStep, px: str) -> list[Action]:
    """Before the node's files are restored: the proxysql.service drop-in goes."""
    commands = _rollback_commands(step, px, _DROPIN_OFF)
    return [Action(f"cluster-dropin:{px}", f"Let ProxySQL on {px} start without the firewall "
                   "unit again", runner(step.ctx, commands), render_all(commands), host=px)
            ] if commands else []


def rollback_after(step: ProxyStep, px: str) -> list[Action]:
    """After the node's files are restored (no Cluster settings left): the table goes."""
    commands = _rollback_commands(step, px, _FIREWALL_OFF)
    return [Action(f"cluster-firewall:{px}", f"Remove the wizard's firewall table from {px}",
                   runner(step.ctx, commands), render_all(commands), host=px)
            ] if commands else []

