"""docs/cost-curve.svg: seconds per step against the data size, one line per step and the total.

matplotlib is the `bench` extra (`make bench` installs it); without it the report says so and
goes on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.curve import series

# The rollback is not part of the migration's time; stream and verify are parts of the
# replicas step, drawn dashed.
NOT_DRAWN = ("rollback",)
PARTS = {"stream": "stream (in replicas)", "verify": "verify (in replicas)"}


def cost_curve(curve: Sequence[dict[str, Any]], path: Path) -> str | None:
    """Draw the plot into `path`; None when drawn, else why not."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")  # no display: a file only
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "matplotlib is not installed (`pip install '.[bench]'`, which `make bench` does)"
    # The same SVG for the same figures: no date in it, fixed element ids.
    plt.rcParams["svg.hashsalt"] = "moodle-wizard"
    plt.rcParams["svg.fonttype"] = "none"
    fig, ax = plt.subplots(figsize=(8, 4.2))
    try:
        for name, points in series(curve).items():
            if name in NOT_DRAWN or not points:
                continue
            xs, ys = zip(*points, strict=True)
            total = name == "total"
            ax.plot(xs, ys, marker="o", markersize=3, label=PARTS.get(name, name),
                    linewidth=2.2 if total else 1.2, color="black" if total else None,
                    linestyle="--" if name in PARTS else "-")
        ax.set_xlabel("data on db1 (GB)")
        ax.set_ylabel("seconds")
        ax.set_title("Migration time per step against the data size")
        ax.grid(True, linewidth=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    return None
