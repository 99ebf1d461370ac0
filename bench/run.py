"""`make bench`: the lab at a chosen data size, every figure of the benchmark, and the report.

    python -m bench.run [--data-mb 1024] [--reps 3] [--big-mb 4096] [--only seed,migration,...]
                        [--curve-mb 256,1024,4096]

`--only operate` (figures 10 and 11), `--only curve` (the cost curve) or both add their
figures to docs/benchmarks.json's last run.

Needs root and the lab's packages (`make deps`). Leaves the lab as it found it: down if it was
down, otherwise rebuilt at the size it had."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.curve import source_mb
from bench.labkit import ensure_lab
from moodle_wizard.lab import lab

PARTS = ("tui_start", "seed", "migration", "classic", "binlog_on", "operate", "tui_stream",
         "big", "curve")
# The parts that measure the lab at --data-mb (the others bring up their own sizes, or none).
AT_DATA_MB = ("seed", "migration", "classic", "binlog_on", "operate", "tui_stream")
# The parts whose run alone adds to the last run's figures instead of replacing them, and the
# figures each gives.
ADDED = {"operate": ("operate",), "curve": ("curve",),
         "tui_stream": ("tui_stream_1gb", "tui_stream_1gb_shared"),
         "big": ("tui_stream_4gb", "big_source_mb")}
ROOT = Path(__file__).resolve().parent.parent


def log(text: str) -> None:
    print(text, flush=True)


#: The wizard's session priority for figures 7 and 8: on a jump host the wizard has its cores
#: to itself, while in the lab the database servers, the stream's ssh and the wizard share the
#: machine's. The stall at equal priority is measured too, and shown beside it.
JUMP_HOST_NICE = -10


def tui_stream(nice: int = JUMP_HOST_NICE) -> dict[str, Any]:
    env = {**os.environ, "MW_BENCH_UI_NICE": str(nice)}
    proc = subprocess.run([sys.executable, "-m", "bench.tui_stream"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.tui_stream failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def merged(figures: dict[str, Any], parts: list[str], docs: Path) -> dict[str, Any]:
    """A run of only parts of ADDED (operate, curve, the TUI's runs) adds its figures to the
    last full run's (kept as they are); any other run's figures replace them."""
    previous = docs / "benchmarks.json"
    keys = [k for p in parts for k in ADDED.get(p, ())]
    if not set(parts) <= set(ADDED) or not any(k in figures for k in keys) \
            or not previous.exists():
        return figures
    kept: dict[str, Any] = json.loads(previous.read_text())
    for key in keys:
        if key in figures:
            kept[key] = figures[key]
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--data-mb", type=int, default=1024)
    parser.add_argument("--big-mb", type=int, default=4096,
                        help="data size for the second memory figure (0: skip)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--seed-variants", default="hand,one,two,logical",
                        help="which seeds the seed part runs (a subset writes raw samples)")
    parser.add_argument("--curve-mb", default="256,1024,4096",
                        help="data sizes of the cost curve (comma-separated MB)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    parts = args.only.split(",")
    previous = lab.LabState.load(lab.LABDIR)
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data_mb": args.data_mb, "reps": args.reps, "machine": report.machine(), "notes": [],
    }
    started = time.monotonic()
    try:
        if "tui_start" in parts:
            from bench.tui_start import measure_tui_start
            log("6. TUI cold start")
            figures["tui_start"] = measure_tui_start(reps=max(5, args.reps))
            log(f"  median {figures['tui_start']['median_s']} s")
        if set(parts) & set(AT_DATA_MB):
            log(f"lab up with --data-mb {args.data_mb}")
            t0 = time.monotonic()
            rebuilt = ensure_lab(args.data_mb)
            figures["lab_up_s"] = round(time.monotonic() - t0, 1) if rebuilt else None
            figures["source_mb"] = source_mb()
        if "seed" in parts:
            from bench.seed import measure_seed
            log("1-3. seed: hand pipe, wizard to 1 and 2 replicas, logical")
            figures["seed"] = measure_seed(args.reps, log,
                                           tuple(args.seed_variants.split(",")))
        if "migration" in parts:
            from bench.writes import measure_migration
            log("4, 5, 9. full migration with the writer, VIP drill, rollback")
            figures["migration"] = measure_migration(log, order="auto")
        if "classic" in parts:
            from bench.writes import measure_migration
            log("4 again, in the classic order (db1 restarts before ProxySQL is in front)")
            figures["migration_classic"] = measure_migration(log, order="classic")
        if "binlog_on" in parts:
            from bench.writes import measure_migration_binlog_on
            log("4 again, with db1's binary log already on (no restart to announce)")
            figures["migration_binlog_on"] = measure_migration_binlog_on(log)
        if "operate" in parts:
            from bench.operate import measure_operate
            log("10, 11. drill switchover and drill primary (kill -9, failover) after a migration")
            figures["operate"] = measure_operate(log, args.reps)
        if "tui_stream" in parts:
            log("7, 8. the TUI through the whole migration")
            figures["tui_stream_1gb"] = tui_stream()
            log(f"  {figures['tui_stream_1gb']}")
            figures["tui_stream_1gb_shared"] = tui_stream(nice=0)
            log(f"  at equal priority: {figures['tui_stream_1gb_shared']}")
        if "big" in parts and args.big_mb:
            log(f"8. the TUI through the migration at --data-mb {args.big_mb}")
            ensure_lab(args.big_mb)
            figures["big_source_mb"] = source_mb()
            figures["tui_stream_4gb"] = tui_stream()
            log(f"  {figures['tui_stream_4gb']}")
        if "curve" in parts:
            from bench.curve import measure_curve
            sizes = [int(mb) for mb in args.curve_mb.split(",") if mb.strip()]
            now = lab.LabState.load(lab.LABDIR)
            log(f"3. the cost curve at {', '.join(map(str, sizes))} MB")
            figures["curve"] = measure_curve(
                sizes, now.data_mb if now else None, previous.data_mb if previous else None,
                log)
    finally:
        figures["bench_s"] = round(time.monotonic() - started, 1)
        report.write(merged(figures, parts, args.docs), args.docs)
        log(f"wrote {args.docs / 'benchmarks.md'} and benchmarks.json "
            f"({figures['bench_s']:.0f} s)")
        # As found: down, or back at its own size.
        now = lab.LabState.load(lab.LABDIR)
        if previous is None and now is not None:
            lab.down(out=io.StringIO())
        elif previous is not None and now is not None and now.data_mb != previous.data_mb:
            ensure_lab(previous.data_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
