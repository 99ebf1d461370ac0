"""docs/benchmarks.md and docs/benchmarks.json from the figures of one `make bench` run."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench import curve


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError:
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
        else "?"


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    from importlib.metadata import version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _version(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "textual": version("textual"),
        "asyncssh": version("asyncssh"),
        "mariadb": _version(["mariadbd", "--version"]),
        "openssh": _version(["ssh", "-V"]),
        "php": _version(["php", "--version"]),
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value}{unit}"


def _row(n: int, what: str, measured: str, target: str, met: bool | None) -> str:
    verdict = {True: "met", False: "**missed**", None: "reported"}[met]
    return f"| {n} | {what} | {measured} | {target} | {verdict} |"


def operate_rows(op: dict[str, Any]) -> list[str]:
    """10 and 11: `drill switchover` and `drill primary` (bench/operate.py)."""
    so, fo = op.get("switchover"), op.get("failover")
    where = (f"(measured {op.get('date')}, lab --data-mb {op.get('data_mb')}, ProxySQL "
             f"{op.get('proxysql')})")
    rows = []
    if so:
        met = so["writes_failed"] == 0 and so["transactions_lost"] == 0 \
            and so["rows_lost"] == 0 and so["longest_pause_s"] <= 2.0
        rows.append(_row(
            10, f"switchover and back, {so['legs']} legs, probe writing every 20 ms {where}",
            f"{so['writes_ok']} ok, {so['writes_failed']} failed; longest pause "
            f"{so['longest_pause_s']} s (median leg {so['median_pause_s']} s); lost: "
            f"{so['transactions_lost']} transactions, {so['rows_lost']} rows; switchover "
            f"{so['switchover_s']} s", "0 failed, 0 lost; pause ≤ 2 s", met))
    if fo:
        rows.append(_row(
            11, f"failover after kill -9 of db1's mysqld_safe and mariadbd {where}",
            f"write outage {_fmt(fo['outage_from_kill_s'], ' s')} from the kill, "
            f"{_fmt(fo['outage_from_failover_start_s'], ' s')} from the failover's start; "
            f"time to notice {_fmt(fo['time_to_notice_s'], ' s')}; {fo['writes_failed']} "
            f"failed writes; lost: {fo['rows_lost']} rows, {fo['transactions_lost']} "
            f"transactions; db1 rejoined and primary again: "
            f"{'yes' if fo['ended_as_started'] else 'no'}", "reported", None))
    return rows


def _writes_row(writes: dict[str, Any], what: str) -> str:
    """Figure 4: failed, lost and the longest pause of a writer across a migration. Targets:
    the proxy-first order fails none and pauses at most the restart + 0.5 s; the classic
    order's restart fails writes (reported); no order loses one."""
    failed, lost = writes["writes_failed"], writes.get("lost_writes")
    restart = writes.get("announced_restart_s")
    order = writes.get("order") or "classic"
    outside = writes.get("failed_outside_restart", failed)
    measured = (f"{order}: {writes['writes_ok']} ok, {failed} failed ({outside} outside the "
                f"{_fmt(restart, ' s')} restart of db1), {_fmt(lost)} lost; longest pause "
                f"{writes['longest_gap_s']} s, {_fmt(writes.get('longest_gap_outside_restart_s'))}"
                " s outside the restart")
    if order == "proxy-first":
        limit = (restart or 0.0) + 0.5
        return _row(4, what, measured, f"0 failed, 0 lost; pause ≤ restart + 0.5 s "
                    f"({limit:.2f} s)", failed == 0 and lost == 0
                    and writes["longest_gap_s"] <= limit)
    return _row(4, what, measured, "0 lost (failed writes during the restart reported)",
                lost == 0)


# The one-replica seed's phases: the replicas step's journaled actions, grouped (issue 14,
# item 4: where the seed's time goes). The hand pipe has the same stream and prepare.
PHASES = (
    ("replica set-up (install, stop, datadir)", ("install:", "stop:", "datadir:", "init:")),
    ("job start (seed key)", ("seed-key",)),
    ("stream", ("stream",)),
    ("prepare", ("prepare:",)),
    ("config", ("config:",)),
    ("start (replica server)", ("start:",)),
    ("replicate", ("replicate:",)),
    ("cleanup", ("cleanup",)),
)
HAND_PHASES = {"job start (seed key)": "key_s", "stream": "stream_s", "prepare": "prepare_s"}


def _phase(actions: dict[str, float], prefixes: tuple[str, ...]) -> float:
    return sum(s for a, s in actions.items()
               if any(a == p or (p.endswith(":") and a.startswith(p)) for p in prefixes))


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 2) if xs else None


def seed_timeline(seed: dict[str, Any]) -> list[str]:
    """One table: the median seconds of each phase of the wizard's one-replica seed across
    reps, beside the hand pipe's where it has the same phase."""
    one = seed.get("wizard_seed_one_s", {}).get("samples") or seed.get("one") or []
    # An older run kept the hand pipe's seconds alone.
    hand = [h if isinstance(h, dict) else {"seed_s": h}
            for h in seed.get("hand_seed_s", {}).get("samples") or seed.get("hand") or []]
    runs = [r["actions_s"] for r in one if r.get("actions_s")]
    if not runs:
        return []
    known = [p for _, ps in PHASES for p in ps]
    lines = ["## Seed timeline (one replica)", "",
             f"Median seconds per phase over {len(runs)} runs of the wizard's replicas step "
             f"(to db2), beside the hand pipe's ({len(hand)} runs) where it does the same.", "",
             "| phase | wizard | hand pipe |", "|---|---|---|"]
    for label, prefixes in PHASES:
        hand_key = HAND_PHASES.get(label)
        hand_s = _median([h[hand_key] for h in hand if hand_key and h.get(hand_key) is not None])
        lines.append(f"| {label} | {_fmt(_median([_phase(a, prefixes) for a in runs]))} | "
                     f"{_fmt(hand_s)} |")
    other = _median([sum(s for a, s in acts.items() if _phase({a: s}, tuple(known)) == 0)
                     for acts in runs])
    if other:
        lines.append(f"| other actions | {other} | — |")
    rest = _median([r["replicas_step_s"] - sum(r["actions_s"].values()) for r in one
                    if r.get("actions_s") and r.get("replicas_step_s") is not None])
    lines += [f"| verify, and the engine between actions | {_fmt(rest)} | — |",
              f"| seed (stream to last prepare) | "
              f"{_fmt(_median([r['seed_s'] for r in one]))} | "
              f"{_fmt(_median([h['seed_s'] for h in hand]))} |",
              f"| replicas step | {_fmt(_median([r['replicas_step_s'] for r in one]))} | — |",
              ""]
    return lines


def markdown(figures: dict[str, Any]) -> str:
    m = figures["machine"]
    seed = figures.get("seed", {})
    mig = figures.get("migration", {})
    tui = figures.get("tui_start", {})
    s1 = figures.get("tui_stream_1gb", {})
    s4 = figures.get("tui_stream_4gb", {})
    writes = mig.get("writes", {})
    drill = mig.get("drill", {})
    rows = []
    if seed.get("seed_overhead") is not None:
        rows += [
            _row(1, "physical seed overhead (wizard / hand pipe, 1 replica)",
                 f"{seed['seed_overhead']}x ({seed['wizard_seed_one_s']['median']} s vs "
                 f"{seed['hand_seed_s']['median']} s)", "≤ 1.10x", seed["seed_overhead"] <= 1.10),
            _row(2, "fan-out (2 replicas / 1)", f"{seed['fan_out']}x "
                 f"({seed['wizard_seed_two_s']['median']} s vs "
                 f"{seed['wizard_seed_one_s']['median']} s)", "≤ 1.3x", seed["fan_out"] <= 1.3),
            _row(3, "logical / physical (2 replicas)", f"{seed['logical_vs_physical']}x "
                 f"({seed['wizard_logical_two_s']['median']} s vs "
                 f"{seed['wizard_seed_two_s']['median']} s)", "reported", None),
        ]
    if writes:
        rows.append(_writes_row(writes, "write availability during the whole migration "
                                "(PHP writer, every 20 ms)"))
    classic = figures.get("migration_classic", {}).get("writes")
    if classic:
        rows.append(_writes_row(classic, "the same in the classic order (db1 restarts before "
                                "ProxySQL is in front of it)"))
    on = figures.get("migration_binlog_on", {}).get("writes")
    if on:
        rows.append(_row(
            4, "the same, db1's binary log already on (no restart needed)",
            f"{on['writes_ok']} ok, {on['writes_failed']} failed; longest gap "
            f"{on['longest_gap_s']} s", "0 failed; gap ≤ 1 s",
            on["writes_failed"] == 0 and on["longest_gap_s"] <= 1.0))
    if drill:
        rows.append(_row(5, "VIP failover (ProxySQL stopped on the holder)",
                         f"client outage {drill['longest_gap_s']} s, {drill['writes_failed']} "
                         f"failed writes; VIP answering again after "
                         f"{_fmt(drill.get('vip_moved_s'), ' s')}", "≤ 5 s",
                         drill["longest_gap_s"] <= 5.0))
    rows += operate_rows(figures.get("operate", {}))
    if tui:
        rows.append(_row(6, "TUI cold start to first screen painted",
                         f"{tui['median_s']:.2f} s (max {tui['max_s']:.2f} s)", "≤ 1.0 s",
                         tui["median_s"] <= 1.0))
    if s1:
        shared = figures.get("tui_stream_1gb_shared")
        beside = (f"; at equal priority with the lab's servers on the same cores: "
                  f"{shared['stall_during_stream_ms']} ms" if shared else "")
        nice = s1.get("ui_nice", 0)
        who = (f", the wizard's session at priority {nice} as on its own jump host"
               if nice else "")
        rows.append(_row(7, f"largest UI event-loop stall during the 1 GB stream{who}",
                         f"{s1['stall_during_stream_ms']} ms (whole migration: "
                         f"{s1['stall_whole_migration_ms']} ms){beside}", "≤ 50 ms",
                         s1["stall_during_stream_ms"] <= 50))
        four = f", 4 GB stream: {s4['peak_rss_mb']} MB" if s4 else ", 4 GB: not run"
        rows.append(_row(8, "wizard peak RSS (TUI process)", f"1 GB stream: {s1['peak_rss_mb']} MB"
                         + four, "≤ 150 MB, same for both",
                         s1["peak_rss_mb"] <= 150 and (not s4 or s4["peak_rss_mb"] <= 150)))
    if mig:
        steps = ", ".join(f"{k} {v} s" for k, v in mig["steps_s"].items())
        rows.append(_row(9, f"end to end at {figures['data_mb']} MB (headless)",
                         f"{mig['wall_s']} s: {steps}; rollback {mig['rollback_s']} s",
                         "reported", None))
    # A run of the cost curve alone brings up its own sizes.
    at_size = (f"lab with `--data-mb {figures['data_mb']}` ({figures['source_mb']} MB of data "
               "on db1)" if "source_mb" in figures else "lab at the sizes below")
    lines = [
        "# Benchmarks",
        "",
        f"`make bench` on {figures['date']}: {at_size}, {figures['reps']} repetitions "
        "for each comparison, alternating, medians. Every figure is in `benchmarks.json`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}, kernel "
        f"{m['kernel']}; Python {m['python']}, textual {m['textual']}, asyncssh "
        f"{m['asyncssh']}; {m['mariadb']}; {m['openssh']}.",
        "",
        *(["| # | what | measured | target | |", "|---|---|---|---|---|", *rows, ""] if rows
          else []),
    ]
    for note in figures.get("notes", []):
        lines += [f"- {note}"]
    if figures.get("notes"):
        lines.append("")
    lines += seed_timeline(seed)
    lines += curve.markdown(figures.get("curve") or [], figures.get("curve_plot_problem"))
    return "\n".join(lines).rstrip("\n") + "\n"


def write(figures: dict[str, Any], docs: Path) -> None:
    docs.mkdir(exist_ok=True)
    if figures.get("curve"):
        from bench.plot import cost_curve

        # Kept with the figures, so that the markdown links the plot or says why there is none.
        figures["curve_plot_problem"] = cost_curve(figures["curve"], docs / curve.PLOT)
    (docs / "benchmarks.json").write_text(json.dumps(figures, indent=2) + "\n")
    (docs / "benchmarks.md").write_text(markdown(figures))


if __name__ == "__main__":
    # Re-render the markdown from the JSON (after adding notes to it by hand, say).
    import sys

    docs = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "docs"
    write(json.loads((docs / "benchmarks.json").read_text()), docs)
