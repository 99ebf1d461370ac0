"""`drill switchover` and `drill primary`: the operations rehearsed on the running cluster,
with a probe writing as Moodle does (core/operate/drill_probe.py), measured.

- switchover: to a replica and back to the primary; per leg the writes that failed, the
  longest pause, the transactions lost (the old primary's @@gtid_binlog_state against the new
  one's: must be none) and the switchover's own time. Target: no failed write, nothing lost.
- primary: the primary's MariaDB crashed (kill -9 of its supervisor, mysqld_safe, then of the
  server, by pid, so nothing restarts it), `failover`, measured: from the crash and from the
  failover's start until a write through the VIP succeeds, the failover's time to confirm the
  primary down, the writes that failed and were lost. Then the old primary's MariaDB is
  started again, `rejoin`ed (it reports the transactions only it has, if any) and switched
  back to, so the cluster ends as it started.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.operate import api
from moodle_wizard.core.operate.drill_probe import (
    LAB_TABLE,
    LAB_TAG,
    DrillError,
    Probe,
    ProbeLog,
    Window,
    clock_offset,
    lost_tokens,
    outage_after,
    window,
)
from moodle_wizard.core.operate.operation import OperationRefused, require_migrated
from moodle_wizard.core.operate.record import OperationKind
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.core.poll import PollTimeout, poll_until
from moodle_wizard.core.sql.gtid import beyond, parse_state

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["DrillError", "Leg", "PrimaryDrill", "SwitchoverDrill", "drill_primary",
           "drill_switchover", "lost_count", "notice_seconds"]

RESTART_TIMEOUT_S = 120.0
AFTER_WRITE_TIMEOUT_S = 30.0


def lost_count(old_state: str, new_state: str) -> tuple[int, list[str]]:
    """How many transactions (at most) of the old primary's binary log the new one lacks, and
    which: per GTID the old one has beyond the new one's history, the seq_nos between the new
    one's last from that server (or nothing) and it."""
    old = parse_state(old_state, source="the old primary's @@gtid_binlog_state")
    new = parse_state(new_state, source="the new primary's @@gtid_binlog_state")
    found = beyond(old, new)
    count = 0
    for f in (*found.proven, *found.doubts):
        mine = new.get(f.domain, f.have.server_id)
        count += f.have.seq_no - (mine.seq_no if mine is not None else
                                  (f.other.seq_no if f.other is not None and
                                   f.other.seq_no < f.have.seq_no else 0))
    return count, [str(f) for f in (*found.proven, *found.doubts)]


def notice_seconds(lines: Sequence[str], primary: str) -> float | None:
    """The failover's confirm-down time, from its line "PRIMARY is down: ... (N.N s)"."""
    for line in reversed(lines):
        found = re.match(rf"{re.escape(primary)} is down: .*\(([0-9.]+) s\)$", line)
        if found:
            return float(found.group(1))
    return None


@dataclass(frozen=True)
class Leg:
    old: str
    new: str
    seconds: float  # the switchover's own time, as it reports it
    writes: Window
    lost: int
    lost_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwitchoverDrill:
    legs: tuple[Leg, ...]
    write: str  # what the probe wrote
    rows_lost: int | None  # lab table: acknowledged writes missing at the end (else None)

    def missed(self) -> list[str]:
        out = [f"{leg.old} -> {leg.new}: {leg.writes.failed} write(s) failed "
               f"({'; '.join(leg.writes.errors)})" for leg in self.legs if leg.writes.failed]
        out += [f"{leg.old} -> {leg.new}: {leg.lost} transaction(s) of {leg.old} missing on "
                f"{leg.new} ({'; '.join(leg.lost_lines)})" for leg in self.legs if leg.lost]
        if self.rows_lost:
            out.append(f"{self.rows_lost} acknowledged write(s) missing on the primary")
        return out

    def summary(self) -> list[str]:
        lines = [f"probe: {self.write}, every 20 ms through the VIP as Moodle's user"]
        for leg in self.legs:
            lines.append(f"{leg.old} -> {leg.new}: switchover {leg.seconds:.1f} s; writes "
                         f"{leg.writes.ok} ok, {leg.writes.failed} failed, longest pause "
                         f"{leg.writes.longest_pause_s:.2f} s; transactions lost {leg.lost}")
        if self.rows_lost is not None:
            lines.append(f"acknowledged writes missing on the primary: {self.rows_lost}")
        return lines


@dataclass
class PrimaryDrill:
    old: str
    new: str = ""
    write: str = ""
    failover_s: float = 0.0
    outage_from_crash_s: float | None = None
    outage_from_failover_s: float | None = None
    notice_s: float | None = None
    writes: Window | None = None
    rows_lost: int | None = None
    lost: int = 0
    lost_lines: list[str] = field(default_factory=list)
    rejoined: bool = False
    back: bool = False
    notes: list[str] = field(default_factory=list)

    def missed(self) -> list[str]:
        out = list(self.notes)
        if self.outage_from_crash_s is None:
            out.append("no write succeeded through the VIP after the failover")
        if not self.back:
            out.append(f"the cluster did not end as it started ({self.old} the primary)")
        return out

    def summary(self) -> list[str]:
        def s(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f} s"

        w = self.writes
        return [
            f"probe: {self.write}, every 20 ms through the VIP as Moodle's user",
            f"{self.old} crashed (kill -9), failover to {self.new} in {self.failover_s:.1f} s",
            f"write outage: {s(self.outage_from_crash_s)} from the crash, "
            f"{s(self.outage_from_failover_s)} from the failover's start; time to confirm "
            f"{self.old} down {s(self.notice_s)}",
            f"writes: {w.ok if w else 0} ok, {w.failed if w else 0} failed until the first "
            "write after the failover"
            + (f"; acknowledged and lost: {self.rows_lost}" if self.rows_lost is not None
               else ""),
            f"transactions of {self.old} missing on {self.new}: {self.lost}"
            + (f" ({'; '.join(self.lost_lines)})" if self.lost_lines else ""),
            f"{self.old} rejoined: {'yes' if self.rejoined else 'no'}; primary again: "
            f"{'yes' if self.back else 'no'}",
        ]


# -- shared ----------------------------------------------------------------------------------

def _ready(ctx: Context, what: str) -> Topology:
    require_migrated(ctx, OperationKind.SWITCHOVER)
    op = ctx.state.cluster.operation
    if op is not None:
        raise DrillError(f"drill {what}: a {op.kind} to {op.target} is in flight; finish it "
                         f"first (`moodle-wizard {op.kind}`); nothing was changed")
    topo = topology(ctx.inventory, ctx.state.cluster)
    if topo.fenced:
        raise DrillError(f"drill {what}: {', '.join(topo.fenced)} fenced by a failover: "
                         f"`moodle-wizard rejoin` it first; nothing was changed")
    if not topo.replicas:
        raise DrillError(f"drill {what}: no serving replica to promote; nothing was changed")
    if ctx.inventory.vip is None:
        raise DrillError(f"drill {what}: the inventory has no VIP; nothing was changed")
    return topo


async def _has_lab_table(ctx: Context, primary: str) -> bool:
    """Whether Moodle's database has the lab's probe table (only the lab's has it)."""
    moodle = ctx.discovered.moodle
    row = await (await ctx.db(primary)).one(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = %s AND "
        "table_name = %s", (moodle.dbname or "", f"{moodle.prefix or 'mdl_'}{LAB_TABLE}"))
    return int(row["n"]) > 0


def _lab_table(ctx: Context) -> str:
    moodle = ctx.discovered.moodle
    return f"`{moodle.dbname}`.`{moodle.prefix or 'mdl_'}{LAB_TABLE}`"


async def _rows_lost(ctx: Context, primary: str, log: ProbeLog) -> int:
    """Acknowledged writes missing on `primary`; then the drill's rows are removed."""
    db = await ctx.db(primary)
    rows = await db.query(f"SELECT token FROM {_lab_table(ctx)} WHERE apphost = %s", (LAB_TAG,))
    lost = lost_tokens([a.token for a in log.ok], {str(r["token"]) for r in rows})
    await db.query(f"DELETE FROM {_lab_table(ctx)} WHERE apphost = %s", (LAB_TAG,))
    return len(lost)


async def _binlog_state(ctx: Context, name: str) -> str:
    return str(await (await ctx.db(name)).variable("gtid_binlog_state") or "")


async def _wrote_after(probe: Probe, t: float, ending_after: float | None = None) -> None:
    async def wrote() -> bool | None:
        return True if probe.log.first_ok_after(t, ending_after) is not None else None

    await poll_until(wrote, timeout_s=AFTER_WRITE_TIMEOUT_S, interval_s=0.05,
                     what=f"no write through the VIP succeeded within "
                          f"{AFTER_WRITE_TIMEOUT_S:.0f} s after the operation")


# -- drill switchover ------------------------------------------------------------------------

async def drill_switchover(ctx: Context, to: str | None = None) -> SwitchoverDrill:
    topo = _ready(ctx, "switchover")
    old = topo.primary
    target = to or topo.replicas[0]
    if target not in topo.replicas:
        raise DrillError(f"drill switchover: {target} is not a serving replica (they are "
                         f"{', '.join(topo.replicas)}); nothing was changed")
    lab = await _has_lab_table(ctx, old)
    timed: list[tuple[str, str, float, float, float, int, list[str]]] = []
    async with Probe(ctx, lab_table=lab) as probe:
        for a, b in ((old, target), (target, old)):
            t0 = time.time()
            report = await api.switchover(ctx, b)
            t1 = time.time()
            await _wrote_after(probe, t1)
            # `a` is read-only now: its history is final for this leg.
            lost, lines = lost_count(await _binlog_state(ctx, a), await _binlog_state(ctx, b))
            timed.append((a, b, t0, t1, report.seconds, lost, lines))
    log = probe.log
    legs = tuple(Leg(a, b, sec, window(log.attempts, t0, t1), lost, tuple(lines))
                 for a, b, t0, t1, sec, lost, lines in timed)
    return SwitchoverDrill(legs, probe.write_text,
                           await _rows_lost(ctx, old, log) if lab else None)


# -- drill primary ---------------------------------------------------------------------------

# mysqld_safe restarts a killed server, and so does systemd (Restart=on-abort in Debian's
# mariadb.service): the supervisor is killed first, or told not to restart it (a runtime
# drop-in, gone at reboot and removed when the drill starts the server again).
CRASH = r"""
pid=$(cat "$1")
comm=$(ps -o comm= -p "$pid")
case "$comm" in mariadbd|mysqld) ;; *) echo "not a server: $pid $comm" >&2; exit 3;; esac
ppid=$(ps -o ppid= -p "$pid" | tr -d ' ')
parent=$(ps -o comm= -p "$ppid")
case "$parent" in
mysqld_safe|mariadbd-safe) kill -9 "$ppid";;
systemd)
  unit=$(sed -n 's|.*/\([^/]*\.service\)$|\1|p' "/proc/$pid/cgroup" | head -n 1)
  if [ -n "$unit" ]; then
    mkdir -p "/run/systemd/system/$unit.d"
    printf '[Service]\nRestart=no\n' > "/run/systemd/system/$unit.d/$2"
    systemctl daemon-reload
    parent="systemd:$unit"
  fi;;
esac
date +%s.%N
kill -9 "$pid"
echo "$parent"
"""
DROP_IN = "90-moodle-wizard-drill.conf"
START = r"""
case "$1" in
systemd:*)
  unit=${1#systemd:}
  rm -f "/run/systemd/system/$unit.d/$2"
  rmdir "/run/systemd/system/$unit.d" 2>/dev/null || true
  systemctl daemon-reload
  systemctl start "$unit";;
*) service mariadb start;;
esac
"""


async def _crash(ctx: Context, name: str) -> tuple[float, str]:
    """kill -9 of the server, by the pid in its pid file, on its host only, its supervisor
    first kept from restarting it. The wizard's time of the kill, and the supervisor."""
    pid_file = str(await (await ctx.db(name)).variable("pid_file"))
    host = await ctx.host(name)
    offset = await clock_offset(host)
    out = await host.run(["sh", "-c", CRASH, "sh", pid_file, DROP_IN], timeout=60,
                         display=f"kill -9 the MariaDB server in {pid_file} (mysqld_safe "
                                 "first, or systemd's restart off)")
    at, parent = out.stdout.split("\n", 1)
    await ctx.forget_db(name)
    return float(at) - offset, parent.strip()


async def _start_again(ctx: Context, name: str, parent: str) -> list[str]:
    """The killed server started again; what went wrong on the way, for the drill's notes.

    Debian's SysV script gives up when the server does not answer within its own 30 s
    (MYSQLD_STARTUP_TIMEOUT) and prints why on stdout, not stderr: a failed start is told with
    that output, and tried once more, as an operator would, before the drill gives up."""
    host = await ctx.host(name)
    notes = []
    for attempt in (1, 2):
        out = await host.run(["sh", "-c", START, "sh", parent, DROP_IN], check=False,
                             timeout=RESTART_TIMEOUT_S,
                             display=f"start MariaDB on {name} again ({parent or 'service'})")
        if out.exit_status == 0:
            break
        lines = [ln.strip() for ln in (out.stdout + "\n" + out.stderr).splitlines()
                 if ln.strip()][-6:]
        said = (f"starting MariaDB on {name} again failed (exit {out.exit_status}): "
                + ctx.secrets.mask(" | ".join(lines)))
        if attempt == 2:
            raise DrillError(f"drill primary: {said}; start it by hand, then "
                             f"`moodle-wizard rejoin {name}`")
        notes.append(said + "; tried once more")

    async def answers() -> bool | None:
        try:
            await ctx.forget_db(name)
            await (await ctx.db(name)).one("SELECT 1 AS one")
            return True
        except OperatorError:
            return None

    await poll_until(answers, timeout_s=RESTART_TIMEOUT_S, interval_s=0.5,
                     what=f"MariaDB on {name} does not answer {RESTART_TIMEOUT_S:.0f} s after "
                          "starting it: see its error log")
    return notes


async def drill_primary(ctx: Context, to: str | None = None,
                        said: Sequence[str] = ()) -> PrimaryDrill:
    """`said`: the session's output lines so far (the failover's confirm-down time is read
    from them)."""
    topo = _ready(ctx, "primary")
    old = topo.primary
    result = PrimaryDrill(old)
    lab = await _has_lab_table(ctx, old)
    async with Probe(ctx, lab_table=lab) as probe:
        result.write = probe.write_text
        crashed, parent = await _crash(ctx, old)
        f0 = time.time()
        try:
            report = await api.failover(ctx, to)
        except OperationRefused as exc:
            # Nothing was changed: Moodle gets its primary back at once.
            await _start_again(ctx, old, parent)
            raise DrillError(f"drill primary: {ctx.secrets.mask(str(exc))}; MariaDB on {old} "
                             f"(under {parent or '?'}) was started again") from None
        except OperatorError as exc:
            raise DrillError(f"drill primary: the failover failed after MariaDB on {old} was "
                             f"killed: {ctx.secrets.mask(str(exc))}; continue it with "
                             "`moodle-wizard failover`, then start MariaDB on "
                             f"{old} and `moodle-wizard rejoin {old}`") from None
        result.failover_s, result.new = time.time() - f0, report.new_primary
        try:
            await _wrote_after(probe, crashed, f0)
        except PollTimeout as exc:
            result.notes.append(str(exc))
    log = probe.log
    result.outage_from_crash_s = outage_after(log.attempts, crashed, f0)
    first = log.first_ok_after(crashed, f0)
    if first is not None:
        result.outage_from_failover_s = round(first.end - f0, 3)
        result.writes = window(log.attempts, crashed, first.end)
    result.notice_s = notice_seconds(said, old)
    if lab:
        result.rows_lost = await _rows_lost(ctx, result.new, log)
    # Back as it was: the old primary's server started (its files keep it read-only), what
    # only it has counted, rejoined, and the primary again.
    result.notes += await _start_again(ctx, old, parent)
    result.lost, result.lost_lines = lost_count(await _binlog_state(ctx, old),
                                                await _binlog_state(ctx, result.new))
    try:
        await api.rejoin(ctx, old)
        result.rejoined = True
    except OperatorError as exc:
        result.notes.append(f"rejoin {old} refused: {ctx.secrets.mask(str(exc))}")
        return result
    await api.switchover(ctx, old)
    result.back = True
    return result
