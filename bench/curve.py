"""The cost curve (issue 14, item 3): one headless migration, no writer, at each of several data
sizes; the seconds of each step, of the replicas step's stream and verify, and of the rollback.
From them a least-squares line per step (seconds = a + b x GB), what a 100 GB site would see,
the verify's share of the stream and whether the replicas step grows faster than the stream.

The measuring needs the lab; the fit, the analysis and the report's section are pure."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.labkit import Wizard, action_times, ensure_lab, seconds, sh, stamp, step_seconds

# The target: the full verify at most half the stream's time at 1 GB.
VERIFY_TARGET = 0.5
# The replicas step is the stream plus the prepares, the replicas' start and the verify: with the
# verify at its target, the step's slope is at most 1.5x the stream's.
GROWTH_LIMIT = 1.0 + VERIFY_TARGET
EXTRAPOLATE_GB = 100
PLOT = "cost-curve.svg"
_CHECKSUMS = re.compile(r"checksums equal on .* in ([0-9.]+) s")


def source_mb() -> int:
    """MB of Moodle's database on db1, as `du` counts them."""
    return int(sh("db1", "du -sm /var/lib/mysql/moodle").stdout.split()[0])


def size_order(sizes: Sequence[int], current: int | None, final: int | None) -> list[int]:
    """The sizes in the order that rebuilds the lab least: the size it has now first, the size
    it will be put back to (the one it was found at) last, the others in between, smallest
    first."""
    todo = sorted(set(sizes))
    first = [current] if current in todo else []
    last = [final] if final in todo and final != current else []
    return first + [s for s in todo if s not in first + last] + last


def verify_seconds(state: dict[str, Any]) -> float | None:
    """The replicas step's verify (lag, marker row, checksums): it runs after the step's last
    action and is not an action, so it is the step's end less the last action's end."""
    step = state["steps"].get("replicas") or {}
    ends = [a["finished_at"] for a in step.get("actions") or [] if a.get("finished_at")]
    if not step.get("finished_at") or not ends:
        return None
    return round(seconds(max(ends, key=stamp), step["finished_at"]), 2)


def checksum_seconds(output: str) -> float | None:
    """The checksums' own time, from the line the verify writes."""
    found = _CHECKSUMS.search(output)
    return float(found.group(1)) if found else None


def measure_size(data_mb: int, log: Callable[[str], None]) -> dict[str, Any]:
    ensure_lab(data_mb)
    wizard = Wizard()
    try:
        t0 = time.monotonic()
        out = wizard("run", "--inventory", wizard.migration_inventory("auto"), "--yes")
        wall = time.monotonic() - t0
        state = wizard.state()
        times = action_times(state, "replicas")
        t1 = time.monotonic()
        wizard("rollback", "--yes")
        rollback = time.monotonic() - t1
        result = {
            "data_mb": data_mb, "source_mb": source_mb(), "order": state.get("order"),
            "wall_s": round(wall, 2), "steps_s": step_seconds(state),
            "stream_s": round(seconds(*times["stream"]), 2),
            "verify_s": verify_seconds(state),
            "checksums_s": checksum_seconds(out.stdout + out.stderr),
            "replicas_actions_s": {a: round(seconds(*t), 2) for a, t in times.items()},
            "rollback_s": round(rollback, 2),
        }
        log(f"  {data_mb} MB ({result['source_mb']} MB on db1): {result['wall_s']} s, stream "
            f"{result['stream_s']} s, verify {result['verify_s']} s, rollback "
            f"{result['rollback_s']} s")
        return result
    finally:
        wizard.clean()


def measure_curve(sizes: Sequence[int], current: int | None, final: int | None,
                  log: Callable[[str], None]) -> list[dict[str, Any]]:
    return [measure_size(mb, log) for mb in size_order(sizes, current, final)]


# The pure part: fit, analysis, the report's section.

def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares y = a + b·x; None without two different x."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - b * mx, b


def gigabytes(row: dict[str, Any]) -> float:
    """The size a row stands for: the data measured on db1, else the lab's nominal size."""
    return float(row.get("source_mb") or row["data_mb"]) / 1024


def series(curve: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(GB, seconds) per step in the order the steps ran, then stream, verify, total and
    rollback."""
    rows = sorted(curve, key=gigabytes)
    names: list[str] = []
    for row in rows:
        names += [s for s in row["steps_s"] if s not in names]
    out: dict[str, list[tuple[float, float]]] = {
        s: [(gigabytes(r), r["steps_s"][s]) for r in rows if s in r["steps_s"]] for s in names}
    for key, name in (("stream_s", "stream"), ("verify_s", "verify"), ("wall_s", "total"),
                      ("rollback_s", "rollback")):
        out[name] = [(gigabytes(r), r[key]) for r in rows if r.get(key) is not None]
    return out


def analyse(curve: Sequence[dict[str, Any]]) -> dict[str, Any]:
    fits: dict[str, dict[str, float]] = {}
    for name, points in series(curve).items():
        line = fit(points)
        if line is not None:
            a, b = line
            # A step that does not grow with the data has a slope that is only noise; a
            # negative one would extrapolate to less than nothing: its mean stands instead.
            far = a + b * EXTRAPOLATE_GB if b >= 0 else sum(y for _, y in points) / len(points)
            fits[name] = {"a_s": round(a, 2), "s_per_gb": round(b, 2),
                          f"at_{EXTRAPOLATE_GB}gb_s": round(far, 1)}
    ratios = {r["data_mb"]: round(r["verify_s"] / r["stream_s"], 2) for r in curve
              if r.get("verify_s") is not None and r.get("stream_s")}
    at_1gb = ratios.get(1024)
    growth = None
    if "replicas" in fits and "stream" in fits and fits["stream"]["s_per_gb"] > 0:
        growth = round(fits["replicas"]["s_per_gb"] / fits["stream"]["s_per_gb"], 2)
    return {
        "fits": fits, "verify_over_stream": ratios,
        "verify_target_met": None if at_1gb is None else at_1gb <= VERIFY_TARGET,
        "replicas_over_stream_slope": growth,
        "growth_met": None if growth is None else growth <= GROWTH_LIMIT,
    }


def _s(value: Any) -> str:
    return "—" if value is None else f"{value}"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def markdown(curve: Sequence[dict[str, Any]], plot_problem: str | None) -> list[str]:
    """The report's section: the table, the 100 GB line, the verdicts, and the plot, or why it
    was not drawn (`plot_problem`)."""
    if not curve:
        return []
    rows = sorted(curve, key=gigabytes)
    found = analyse(rows)
    steps = [s for s in series(rows) if s not in ("stream", "verify", "total", "rollback")]
    head = ["data on db1 (MB)", *steps, "stream", "verify", "verify/stream", "total",
            "rollback"]
    lines = ["## Cost curve", "",
             "One headless migration (no writer) at each size, then its rollback; seconds. "
             "stream and verify are parts of the replicas step (verify: lag, marker row and "
             "full checksums on every host).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = found["verify_over_stream"].get(r["data_mb"])
        cells = [f"{r.get('source_mb') or r['data_mb']} (lab {r['data_mb']})",
                 *(_s(r["steps_s"].get(s)) for s in steps), _s(r["stream_s"]),
                 _s(r.get("verify_s")), _s(ratio), _s(r["wall_s"]), _s(r["rollback_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    fits = found["fits"]
    key = f"at_{EXTRAPOLATE_GB}gb_s"
    if "total" in fits:
        each = ", ".join(f"{s} {fits[s][key]} s" for s in [*steps, "stream", "verify"]
                         if s in fits)
        lines += ["", f"At {EXTRAPOLATE_GB} GB, extrapolated from a least-squares line per "
                  f"step (seconds = a + b x GB): {each}; total {fits['total'][key]} s "
                  f"(≈ {fits['total'][key] / 60:.0f} min); rollback "
                  f"{fits.get('rollback', {}).get(key, '—')} s."]
    ratio_1gb = found["verify_over_stream"].get(1024)
    lines += ["", f"- verify / stream at 1 GB: {_s(ratio_1gb)} (target ≤ {VERIFY_TARGET}: "
              f"{_verdict(found['verify_target_met'])})"]
    growth = found["replicas_over_stream_slope"]
    if growth is not None:
        lines.append(
            f"- the replicas step grows {fits['replicas']['s_per_gb']} s/GB, the stream "
            f"{fits['stream']['s_per_gb']} s/GB: {growth}x the stream's rate (target ≤ "
            f"{GROWTH_LIMIT}x, the stream plus a verify at its target: "
            f"{_verdict(found['growth_met'])})")
    lines += ["", f"![seconds per step against the data size]({PLOT})" if plot_problem is None
              else f"Plot not drawn: {plot_problem}."]
    return [*lines, ""]
