"""The health checks' verdicts: canned rows in, one HealthItem out (core/health.py reads the
hosts and calls these). Pure functions, unit-tested on rows as the servers answer them.

An item's `ok` is None exactly when its step is not done yet ("not applicable"); the verdict
counts only the applicable items. The cluster's roles come from the journal's topology
(core/operate/topology.py), not the inventory: after a switchover the primary is elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from moodle_wizard.core.operate.record import Operation, OperationKind, OperationStatus
from moodle_wizard.core.sql.parsers import ReplicaStatus
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.proxysql_verify import RuntimeServer

# A replica further behind than this is unhealthy (Moodle's reads through the reader
# hostgroup would see old data).
MAX_LAG_S = 10
# How far back the monitor's errors are looked at: its connect check runs once a minute by
# default (mysql-monitor_connect_interval), ping every 10 s, read_only every 1.5 s.
MONITOR_WINDOW_S = 60
# The groups, in the order they are shown.
GROUPS = ("cluster", "replication", "proxysql", "vip", "moodle")


@dataclass(frozen=True)
class HealthItem:
    """One check. `ok` is None exactly when the check does not apply yet (its step is not
    done); `detail` says what was seen, and why when not ok."""

    group: str  # cluster | replication | proxysql | vip | moodle
    name: str
    applicable: bool
    ok: bool | None
    detail: str

    def __post_init__(self) -> None:
        if self.applicable != (self.ok is not None):
            raise ValueError(f"health item {self.name}: ok must be a bool exactly when the "
                             "check applies")


def passed(group: str, name: str, detail: str) -> HealthItem:
    return HealthItem(group, name, True, True, detail)


def failed(group: str, name: str, detail: str) -> HealthItem:
    return HealthItem(group, name, True, False, detail)


def not_yet(group: str, name: str, step: StepName) -> HealthItem:
    return HealthItem(group, name, False, None, f"not applicable yet: step {step} is not done")


def healthy(items: Sequence[HealthItem]) -> bool:
    """The verdict: every applicable item is ok, and there is at least one (before the
    replicas are done nothing can be proven healthy)."""
    applicable = [i for i in items if i.applicable]
    return bool(applicable) and all(i.ok is True for i in applicable)


def verdict(items: Sequence[HealthItem]) -> str:
    """The verdict in words, as the dashboard and `moodle-wizard health` print it."""
    applicable = [i for i in items if i.applicable]
    failing = [i for i in applicable if i.ok is not True]
    if not applicable:
        return "nothing to check yet: the checks start once the replicas step is done"
    if failing:
        return f"UNHEALTHY: {len(failing)} of {len(applicable)} checks fail"
    return f"healthy: all {len(applicable)} applicable checks pass"


@dataclass(frozen=True)
class HealthReport:
    items: tuple[HealthItem, ...]
    seconds: float
    # The cluster's roles the checks expected (the journal's topology).
    primary: str | None = None
    fenced: tuple[str, ...] = ()

    @property
    def applicable(self) -> list[HealthItem]:
        return [i for i in self.items if i.applicable]

    @property
    def healthy(self) -> bool:
        return healthy(self.items)

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "seconds": round(self.seconds, 3),
                "primary": self.primary, "fenced": list(self.fenced),
                "items": [asdict(i) for i in self.items]}


@dataclass(frozen=True)
class ServerVars:
    """A database server's own view: `SELECT @@read_only, @@gtid_slave_pos,
    @@gtid_binlog_pos` (MariaDB)."""

    read_only: bool
    slave_pos: str
    binlog_pos: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ServerVars:
        return cls(str(row.get("read_only")).upper() in ("1", "ON"),
                   str(row.get("slave_pos") or ""), str(row.get("binlog_pos") or ""))


# -- the database servers ------------------------------------------------------------------


def replica_item(name: str, status: ReplicaStatus | None, max_lag_s: int = MAX_LAG_S, *,
                 seen: ServerVars | None = None, primary: tuple[str, str] | None = None
                 ) -> HealthItem:
    """A serving replica: both threads, no error, lag, replicating from `primary` (its name
    and address), and read-only (a writable replica is moved into the writer hostgroup by
    ProxySQL's monitor: two writers)."""
    label = f"{name} replication"
    if status is None:
        return failed("replication", label, "not a replica: SHOW SLAVE STATUS is empty")
    why = []
    if not status.io_running:
        why.append(f"IO thread not running ({status.io_state or 'stopped'})")
    if not status.sql_running:
        why.append("SQL thread not running")
    why += [f"error: {e}" for e in status.errors]
    if primary is not None and status.source_host != primary[1]:
        why.append(f"replicates from {status.source_host or '(no host)'}, not from the "
                   f"primary {primary[0]} ({primary[1]})")
    if seen is not None and not seen.read_only:
        why.append("writable (read_only=0): ProxySQL would take it as a writer")
    if why:
        return failed("replication", label, "; ".join(why))
    if status.seconds_behind is None:
        return failed("replication", label, "lag unknown (Seconds_Behind is NULL)")
    if status.seconds_behind > max_lag_s:
        return failed("replication", label, f"lag {status.seconds_behind} s (more than "
                      f"{max_lag_s} s)")
    detail = f"IO and SQL threads running, lag {status.seconds_behind} s"
    if primary is not None:
        detail += f", from {primary[0]}"
    if seen is not None:
        detail += f", read-only, applied {seen.slave_pos or '(nothing)'}"
    return passed("replication", label, detail)


def primary_item(name: str, status: ReplicaStatus | None, seen: ServerVars) -> HealthItem:
    """The primary: writable, and not itself replicating from anywhere (a primary that
    replicates would apply another server's writes over Moodle's)."""
    label = f"{name} primary"
    why = []
    if seen.read_only:
        why.append("read-only (read_only=1): Moodle's writes fail")
    if status is not None:
        why.append(f"it replicates from {status.source_host or '(no host)'} (SHOW SLAVE "
                   "STATUS is not empty): a primary must not be a replica")
    if why:
        return failed("replication", label, "; ".join(why))
    return passed("replication", label, "writable, not a replica, binlog at "
                  f"{seen.binlog_pos or '(empty)'}")


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at is not None else "an unknown time"


def fenced_item(name: str, history: Sequence[Operation]) -> HealthItem:
    """An old primary a failover fenced: the cluster runs with one server less until it
    rejoins, so this fails until then."""
    when = next((op.finished_at or op.started_at for op in reversed(history)
                 if op.kind == OperationKind.FAILOVER and op.old_primary == name), None)
    return failed("cluster", f"{name} fenced", f"{name} fenced by the failover at "
                  f"{_when(when)}: rejoin it with `moodle-wizard rejoin {name}`")


def operation_item(op: Operation) -> HealthItem:
    """An operation in flight (running, or stopped by an error): the cluster is between two
    shapes until it is continued."""
    what = (f"rejoin of {op.target}" if op.kind == OperationKind.REJOIN
            else f"{op.kind} from {op.old_primary} to {op.target}")
    error = f" ({op.last_error})" if op.last_error else ""
    # The journal says running both while a wizard runs it and after that wizard was killed.
    unless = ("if no wizard is running it now, " if op.status == OperationStatus.RUNNING
              else "")
    return failed("cluster", f"{op.kind} in flight", f"{what} started at "
                  f"{_when(op.started_at)} is {op.status}{error}: {unless}continue it with "
                  f"`{op.continue_command()}`")


# -- ProxySQL --------------------------------------------------------------------------------


def servers_item(px: str, servers: Sequence[RuntimeServer], expected: set[tuple[int, str]],
                 names: dict[str, str], ports: dict[str, int] | None = None, *,
                 writer: tuple[int, str] | None = None, fenced: frozenset[str] = frozenset(),
                 max_lag_s: int = 0) -> HealthItem:
    """A node's runtime servers: every one ONLINE, and each expected (hostgroup, address)
    among them (the primary in the writer hostgroup and, as the readers' fallback, in the
    reader's; the serving replicas in the reader's), on the port its server listens on
    (`ports`, by address): ProxySQL keeps a server it cannot reach ONLINE until its pings have
    failed often enough. `writer` (hostgroup, primary's address): no other server ONLINE in
    that hostgroup. `fenced` addresses: OFFLINE_HARD, as the failover left them. A replica
    ProxySQL shunned for lag (the limit `max_lag_s`) is said in those words."""
    label = f"{px} servers"
    writer_hg, primary = writer if writer is not None else (None, None)

    def name(addr: str) -> str:
        return names.get(addr, addr)

    groups: dict[int, list[str]] = {}
    for s in servers:
        # The primary's row among the readers is the fallback (render/proxysql.py
        # server_rows), not a misplaced primary: said so.
        role = " (fallback)" if s.hostname == primary and s.hostgroup != writer_hg else ""
        groups.setdefault(s.hostgroup, []).append(f"{name(s.hostname)} {s.status}{role}")
    seen = "; ".join(f"HG {hg}: {', '.join(v)}" for hg, v in sorted(groups.items()))
    why = [f"{name(s.hostname)} is fenced but {s.status} in hostgroup {s.hostgroup} (must be "
           "OFFLINE_HARD until it rejoins)" for s in servers
           if s.hostname in fenced and s.status != "OFFLINE_HARD"]
    why += [_not_online(name(s.hostname), s, max_lag_s)
            for s in servers if s.status != "ONLINE" and s.hostname not in fenced]
    why += [f"{name(s.hostname)} is on port {s.port} in hostgroup "
            f"{s.hostgroup}, but its server listens on {(ports or {})[s.hostname]}"
            for s in servers if (ports or {}).get(s.hostname, s.port) != s.port]
    if writer is not None:
        why += [f"{name(s.hostname)} is ONLINE in the writer hostgroup {s.hostgroup}, but the "
                f"primary is {name(writer[1])}" for s in servers
                if s.hostgroup == writer[0] and s.status == "ONLINE"
                and s.hostname != writer[1] and s.hostname not in fenced]
    online = {(s.hostgroup, s.hostname) for s in servers if s.status == "ONLINE"}
    why += [f"{name(addr)} is not ONLINE in hostgroup {hg}"
            for hg, addr in sorted(expected - online)
            if not any((s.hostgroup, s.hostname) == (hg, addr) for s in servers)]
    if why:
        return failed("proxysql", label, f"{'; '.join(why)} ({seen or 'no servers'})")
    return passed("proxysql", label, seen)


def _not_online(name: str, s: RuntimeServer, max_lag_s: int) -> str:
    if s.status == "SHUNNED_REPLICATION_LAG":
        limit = s.max_replication_lag or max_lag_s
        return (f"{name} out of the readers: replication lag over {limit} s or replication "
                "stopped")
    return f"{name} is {s.status} in hostgroup {s.hostgroup}"


@dataclass(frozen=True)
class MonitorEntry:
    """One row of a monitor log (monitor.mysql_server_{connect,ping,read_only}_log)."""

    check: str  # connect | ping | read_only
    hostname: str
    port: int
    time_start_us: int
    error: str | None
    now_us: int  # the node's clock when it was read (the age of the entry)


def monitor_item(px: str, entries: Sequence[MonitorEntry], serving: Mapping[str, str],
                 names: Mapping[str, str], window_s: int = MONITOR_WINDOW_S) -> HealthItem:
    """What ProxySQL's monitor on `px` saw in the last `window_s`: a serving server (address
    -> name in `serving`) whose newest check of any kind failed, or that it did not check at
    all, is one it cannot reach: unhealthy. Errors it has recovered from since, and errors
    about servers that do not serve (a fenced old primary), are shown but do not fail."""
    label = f"{px} monitor"
    newest: dict[tuple[str, str, int], MonitorEntry] = {}
    errors: dict[tuple[str, str, int], list[MonitorEntry]] = {}
    for e in entries:
        key = (e.check, e.hostname, e.port)
        if key not in newest or e.time_start_us > newest[key].time_start_us:
            newest[key] = e
        if e.error is not None:
            errors.setdefault(key, []).append(e)
    why, shown = [], []
    for key, errs in sorted(errors.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        check, host, _ = key
        last = max(errs, key=lambda e: e.time_start_us)
        ago = max(0, (last.now_us - last.time_start_us) // 1_000_000)
        count = f" ({len(errs)} errors in {window_s} s)" if len(errs) > 1 else ""
        line = f"{names.get(host, host)} {check} failed {ago} s ago{count}: {last.error}"
        if host in serving and newest[key].error is not None:
            why.append(f"cannot reach {line}")
        else:
            shown.append(f"{line} ({'recovered' if host in serving else 'not serving'})")
    checked = {host for _, host, _ in newest}
    why += [f"it has not checked {n} in the last {window_s} s" for addr, n in serving.items()
            if addr not in checked]
    if why:
        return failed("proxysql", label, "; ".join(why + shown))
    ok = f"no monitor errors about {', '.join(serving.values())} in the last {window_s} s"
    return passed("proxysql", label, "; ".join([ok, *shown]))


def checksums_item(checksums: dict[str, dict[str, str] | str]) -> HealthItem:
    """The nodes' runtime_checksums_values compared module by module. A node's value is its
    checksums, or why they could not be read."""
    label = "config checksums"
    unread = {px: v for px, v in checksums.items() if isinstance(v, str)}
    if unread:
        return failed("proxysql", label, "; ".join(f"{px} did not answer: {why}"
                                                    for px, why in unread.items()))
    read = {px: v for px, v in checksums.items() if isinstance(v, dict)}
    if len(read) < 2:
        return passed("proxysql", label, "one node: nothing to compare")
    modules = sorted({m for v in read.values() for m in v})
    differ = [m for m in modules if len({v.get(m, "(missing)") for v in read.values()}) > 1]
    if differ:
        return failed("proxysql", label, "; ".join(
            f"{m} differs (" + ", ".join(f"{px} {v.get(m, '(missing)')}"
                                         for px, v in read.items()) + ")" for m in differ))
    return passed("proxysql", label, f"{len(modules)} modules identical on "
                  f"{' and '.join(read)}")


# -- the VIP and Moodle ------------------------------------------------------------------------


def holder_item(holders: Sequence[str], vip: str) -> HealthItem:
    if len(holders) == 1:
        return passed("vip", "VIP holder", f"{holders[0]} holds {vip}")
    if not holders:
        return failed("vip", "VIP holder", f"no proxy node holds {vip}")
    return failed("vip", "VIP holder", f"{vip} is on {' and '.join(holders)} at once (must "
                  "be exactly one)")


def config_login_item(app: str, vip: str, got: dict[str, Any]) -> HealthItem:
    """Moodle's config.php on `app` as Moodle reads it: dbhost is the VIP and its own login
    reaches a writable server."""
    label = f"{app} config.php login"
    connect = got.get("connect") or {}
    server = connect.get("server") or {}
    if got.get("dbhost") != vip:
        return failed("moodle", label, f"config.php's dbhost is {got.get('dbhost')!r}, not "
                      f"the VIP {vip}")
    if not connect.get("ok"):
        return failed("moodle", label, f"Moodle's login through {vip} fails: "
                      f"{connect.get('error', 'PHP has no mysqli')}")
    if str(server.get("read_only")) not in ("0", "None"):
        return failed("moodle", label, f"through {vip} Moodle reached a read-only server "
                      f"({server.get('host')})")
    return passed("moodle", label, f"Moodle's own login through {vip} reaches "
                  f"{server.get('host')} (server_id {server.get('server_id')})")
