"""Figures 4, 5 and 9: a Moodle-like writer on app (mw-writer.php: re-reads config.php and
writes one row every 20 ms) for the whole migration, the VIP failover drill with the writer
still on, and the migration's wall time per step."""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.labkit import Wizard, run, seconds, sh, step_seconds, wait_for

WRITER = Path(__file__).parent.parent / "tests" / "lab" / "files" / "mw-writer.php"
CONFIG = "/var/www/moodle/config.php"


class Writer:
    def __enter__(self) -> Writer:
        run("app", "sh", "-c", "cat > /run/mw-writer.php", input=WRITER.read_bytes())
        sh("app", "rm -f /run/mw-writer.stop; setsid php /run/mw-writer.php "
                  f"{CONFIG} /run/mw-writer.stop </dev/null >/run/mw-writer.out 2>&1 & "
                  "echo $! > /run/mw-writer.pid")
        # Started when its first row is in.
        wait_for("the writer's first row", lambda: sh(
            "db1", "mariadb -N -e \"SELECT COUNT(*) FROM moodle.mdl_mwlab_probe "
                   "WHERE apphost='mw-writer'\"").stdout.strip() not in ("", "0"), timeout=30)
        return self

    def stop(self) -> dict[str, Any]:
        run("app", "touch", "/run/mw-writer.stop")
        pid = run("app", "cat", "/run/mw-writer.pid").stdout.strip()
        wait_for("the writer to stop", lambda: run("app", "kill", "-0", pid,
                                                   check=False).returncode != 0, timeout=30)
        writes: dict[str, Any] = json.loads(run("app", "cat", "/run/mw-writer.out").stdout)
        return writes

    def __exit__(self, *exc: object) -> None:
        run("app", "touch", "/run/mw-writer.stop", check=False)
        run("app", "rm", "-f", "/run/mw-writer.php", "/run/mw-writer.out", "/run/mw-writer.pid",
            check=False)


def gaps(ok: list[float], start: float = 0.0, end: float = float("inf")) -> list[float]:
    return [b - a for a, b in itertools.pairwise(t for t in ok if start <= t <= end)]


def availability(writes: dict[str, Any], restart: tuple[float, float] | None,
                 window: tuple[float, float]) -> dict[str, Any]:
    ok, failed = writes["ok"], writes["failed"]
    start, end = window
    ok = [t for t in ok if start <= t <= end]
    failed = [f for f in failed if start <= f[0] <= end]
    result: dict[str, Any] = {
        "writes_ok": len(ok), "writes_failed": len(failed),
        "longest_gap_s": round(max(gaps(ok), default=0.0), 3),
        "failures": failed[:5],
    }
    if restart is not None:
        r0, r1 = restart
        # An attempt begun up to its 2 s connect timeout before the restart fails inside it.
        outside = [f for f in failed if not r0 - 2.5 <= f[0] <= r1]
        around = [b - a for a, b in itertools.pairwise(ok) if not (a <= r1 and b >= r0)]
        result.update({
            "announced_restart_s": round(r1 - r0, 2),
            "failed_outside_restart": len(outside),
            "longest_gap_outside_restart_s": round(max(around, default=0.0), 3),
        })
    return result


def during(state: dict[str, Any], a: float, b: float) -> list[str]:
    """The journaled actions that ran at some time between a and b."""
    hits = []
    for name, step in state["steps"].items():
        for action in step.get("actions") or []:
            if not (action.get("started_at") and action.get("finished_at")):
                continue
            s = datetime.fromisoformat(action["started_at"]).timestamp()
            e = datetime.fromisoformat(action["finished_at"]).timestamp()
            if s <= b and e >= a:
                hits.append(f"{name}/{action['id']}")
    return hits


def longest_gaps(ok: list[float], state: dict[str, Any], n: int = 3) -> list[dict[str, Any]]:
    pairs = sorted(itertools.pairwise(ok), key=lambda p: p[0] - p[1])[:n]
    return [{"gap_s": round(b - a, 3), "at": round(a, 3), "during": during(state, a, b)}
            for a, b in pairs]


def restart_window(state: dict[str, Any]) -> tuple[float, float] | None:
    """When db1 restarted: prepare-source's restart (classic order) or the replicas step's
    first action (proxy-first: behind ProxySQL)."""
    for step, action in (("prepare-source", "restart"), ("replicas", "source-restart")):
        for a in state["steps"][step].get("actions") or []:
            if a["id"] == action:
                return (datetime.fromisoformat(a["started_at"]).timestamp(),
                        datetime.fromisoformat(a["finished_at"]).timestamp())
    return None


BINLOG_CNF = "/etc/mysql/mariadb.conf.d/95-bench-binlog.cnf"


class BinlogOn:
    """db1 as many production sources already are: binary log on (ROW, log_slave_updates),
    so the wizard has no restart to announce. Set by hand before, taken away after."""

    def __enter__(self) -> BinlogOn:
        self.made_logdir = run("db1", "test", "-d", "/var/log/mysql", check=False).returncode != 0
        run("db1", "sh", "-c", f"cat > {BINLOG_CNF}", input=(
            b"[mariadb]\nlog_bin = /var/log/mysql/mariadb-bin\nbinlog_format = ROW\n"
            b"log_slave_updates = ON\nserver_id = 1\n"))
        sh("db1", "install -d -o mysql -g mysql /var/log/mysql && service mariadb restart")
        return self

    def __exit__(self, *exc: object) -> None:
        sh("db1", f"rm -f {BINLOG_CNF} && service mariadb restart && "
                  "rm -f /var/log/mysql/mariadb-bin.*")
        if self.made_logdir:
            run("db1", "rmdir", "/var/log/mysql")


def measure_migration_binlog_on(log: Any) -> dict[str, Any]:
    with BinlogOn():
        return measure_migration(log)


def measure_migration(log: Any, order: str | None = None) -> dict[str, Any]:
    """One full migration with the writer on (in `order`; None: as the wizard decides), then
    the VIP drill, then the rollback. Lost writes: those the writer was told succeeded that
    are not on db1 at the end."""
    wizard = Wizard()
    try:
        with Writer() as writer:
            t0, started = time.monotonic(), time.time()
            wizard("run", "--inventory", wizard.migration_inventory(order), "--yes")
            wall = time.monotonic() - t0
            migrated = time.time()
            state = wizard.state()
            log(f"  migration {wall:.1f} s")
            # The drill, with the writer going through the VIP now.
            drill_started = time.time()
            drill = wizard("drill", "vip").stdout.strip()
            drill_ended = time.time()
            log(f"  {drill}")
            writes = writer.stop()
        rows = int(sh("db1", "mariadb -N -e \"SELECT COUNT(*) FROM moodle.mdl_mwlab_probe "
                             "WHERE apphost='mw-writer'\"").stdout.strip() or 0)
        during_run = availability(writes, restart_window(state), (started, migrated))
        during_run["lost_writes"] = max(len(writes["ok"]) - rows, 0)
        during_run["order"] = state.get("order")
        during_run["longest_gaps"] = longest_gaps(
            [t for t in writes["ok"] if started <= t <= migrated], state)
        failover = availability(writes, None, (drill_started, drill_ended))
        t1 = time.monotonic()
        wizard("rollback", "--yes")
        rollback = time.monotonic() - t1
        sh("db1", "mariadb -e \"DELETE FROM moodle.mdl_mwlab_probe WHERE apphost='mw-writer'\"")
        steps = step_seconds(state)
        return {
            "wall_s": round(wall, 2),
            "steps_s": steps,
            "between_steps_s": round(wall - sum(steps.values()), 2),
            "rollback_s": round(rollback, 2),
            "writes": during_run,
            "drill": {"wizard_says": drill, **failover,
                      "vip_moved_s": _drill_seconds(drill)},
            "replicas_actions_s": {a["id"]: round(seconds(a["started_at"], a["finished_at"]), 2)
                                   for a in state["steps"]["replicas"]["actions"]},
        }
    finally:
        wizard.clean()


def _drill_seconds(text: str) -> float | None:
    # "drill vip: the VIP moved from px1 to px2 in 2.41 s (...)"
    found = re.search(r" in ([0-9.]+) s\b", text)
    return float(found.group(1)) if found else None
