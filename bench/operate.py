"""Figures 10 and 11: the operations after the migration, as Moodle's client sees them.

One migration (headless, db1's restart allowed), then the wizard's own drills with their
probe on app (probe.php: a new mysqli connection through the VIP as Moodle's user and one
INSERT into the lab's mdl_mwlab_probe every 20 ms):
- 10. `drill switchover` (db1 -> db2 -> db1), `reps` times: failed writes, longest pause,
  transactions lost (GTID) and acknowledged rows missing, the switchover's own time;
- 11. `drill primary --stop-the-primary` (db1's mysqld_safe and mariadbd killed with -9,
  failover, then db1 restarted, rejoined and switched back to): the write outage from the kill
  and from the failover's start, the time to confirm db1 down, failed and lost writes.
Then the migration's rollback."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.labkit import Wizard
from moodle_wizard.lab import lab


def _inventory(wizard: Wizard) -> str:
    return wizard.migration_inventory()


def _drill(wizard: Wizard, *args: str) -> dict[str, Any]:
    out = wizard("drill", *args, "--json", "--yes", check=False)
    try:
        data: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"drill {' '.join(args)} failed ({out.returncode}): "
                           f"{out.stdout[-2000:]}{out.stderr[-2000:]}") from None
    data["exit"] = out.returncode
    return data


def summarize_switchover(runs: list[dict[str, Any]]) -> dict[str, Any]:
    legs = [leg for r in runs for leg in r["legs"]]
    return {
        "legs": len(legs),
        "writes_ok": sum(leg["writes"]["ok"] for leg in legs),
        "writes_failed": sum(leg["writes"]["failed"] for leg in legs),
        "longest_pause_s": max(leg["writes"]["longest_pause_s"] for leg in legs),
        "median_pause_s": round(statistics.median(leg["writes"]["longest_pause_s"]
                                                  for leg in legs), 3),
        "transactions_lost": sum(leg["lost"] for leg in legs),
        "rows_lost": sum(r["rows_lost"] or 0 for r in runs),
        "switchover_s": round(statistics.median(leg["seconds"] for leg in legs), 2),
        "errors": sorted({e for leg in legs for e in leg["writes"]["errors"]})[:5],
    }


def summarize_failover(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "runs": len(runs),
        "outage_from_kill_s": med("outage_from_crash_s"),
        "outage_from_failover_start_s": med("outage_from_failover_s"),
        "time_to_notice_s": med("notice_s"),
        "failover_s": med("failover_s"),
        "writes_failed": sum((r["writes"] or {}).get("failed", 0) for r in runs),
        "rows_lost": sum(r["rows_lost"] or 0 for r in runs),
        "transactions_lost": sum(r["lost"] for r in runs),
        "ended_as_started": all(r["back"] for r in runs),
    }


def measure_operate(log: Any, reps: int = 1) -> dict[str, Any]:
    state = lab.LabState.load(lab.LABDIR)
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data_mb": state.data_mb if state else None,
        "proxysql": state.proxysql if state else None,
    }
    wizard = Wizard()
    t0 = time.monotonic()
    wizard("run", "--inventory", _inventory(wizard), "--yes")
    figures["migration_s"] = round(time.monotonic() - t0, 1)
    log(f"  migration {figures['migration_s']} s")
    switch: list[dict[str, Any]] = []
    fail: list[dict[str, Any]] = []
    try:
        for _ in range(reps):
            switch.append(_drill(wizard, "switchover"))
            legs = switch[-1]["legs"]
            log(f"  drill switchover: {[(leg['writes'], leg['lost']) for leg in legs]}")
        for _ in range(reps):
            fail.append(_drill(wizard, "primary", "--stop-the-primary"))
            log(f"  drill primary: outage {fail[-1]['outage_from_crash_s']} s from the kill, "
                f"{fail[-1]['outage_from_failover_s']} s from the failover, notice "
                f"{fail[-1]['notice_s']} s, missed {fail[-1]['missed']}")
            if not fail[-1]["back"]:
                break  # the cluster is not as it started: no second crash on top
    finally:
        # What was measured counts, also when a later drill failed.
        if switch:
            figures["switchover"] = summarize_switchover(switch)
        if fail:
            figures["failover"] = summarize_failover(fail)
        figures["raw"] = {"switchover": switch, "failover": fail}
        t1 = time.monotonic()
        back = wizard("rollback", "--yes", check=False)
        figures["rollback_s"] = round(time.monotonic() - t1, 1)
        if back.returncode != 0:
            # The journal stays, so the lab can still be rolled back by hand.
            log(f"  rollback failed; the journal is in {wizard.state_dir} on jump: "
                f"MOODLE_WIZARD_STATE_DIR={wizard.state_dir} moodle-wizard rollback --yes\n"
                f"{back.stdout[-2000:]}{back.stderr[-2000:]}")
        else:
            wizard.clean()
    return figures
