"""A replica catching up with the source: how far behind it is, how fast it closes the gap, and
when it will be done. A replica seeded from last night's backup replays hours of the source's
binary log; the operator sees it go down, with a rate and an estimate, and the wizard waits as
long as it makes progress (not a fixed time) and stops with a clear line when it makes none.
Pure: the reads are the caller's."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from moodle_wizard.core.sql.gtid import GtidPosition

# The rate is over the last samples in this window: recent enough to follow a change of pace.
RATE_WINDOW_S = 10.0
# A line at most this often (and at the first sample).
REPORT_EVERY_S = 5.0


def transactions_behind(source: GtidPosition, replica: GtidPosition) -> int:
    """Transactions the source has that the replica has not applied, domain by domain (a
    domain's seq_no counts its transactions, whichever server wrote them)."""
    behind = 0
    for want in source.gtids:
        have = replica.get(want.domain)
        behind += max(0, want.seq_no - (have.seq_no if have else 0))
    return behind


def count(n: float) -> str:
    """1234567 -> '1.2 million'; below a million with separators (12,345)."""
    if n >= 1e9:
        return f"{n / 1e9:,.1f} billion"
    return f"{n / 1e6:.1f} million" if n >= 1e6 else f"{round(n):,}"


@dataclass
class CatchUp:
    """One replica's catch-up, sample by sample."""

    replica: str
    source: str
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    best: int | None = None
    best_at: float = 0.0
    reported_at: float | None = None

    def add(self, now: float, behind: int, positions: str = "") -> str | None:
        """Record a sample; the line to show now, if one is due (`positions`: the two GTID
        positions, shown after it)."""
        self.samples.append((now, behind))
        while self.samples and now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()
        if self.best is None or behind < self.best:
            self.best, self.best_at = behind, now
        if self.reported_at is not None and now - self.reported_at < REPORT_EVERY_S:
            return None
        self.reported_at = now
        return self.describe(behind) + (f" ({positions})" if positions else "")

    def rate(self) -> float | None:
        """Transactions applied a second, over the window (None before two samples)."""
        if len(self.samples) < 2:
            return None
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return max(0.0, (b0 - b1) / (t1 - t0)) if t1 > t0 else None

    def describe(self, behind: int) -> str:
        text = (f"{self.replica}: catching up with {self.source}: {count(behind)} transactions "
                "behind")
        rate = self.rate()
        if rate:
            text += f", applying {count(rate)}/s, about {eta(behind / rate)} to go"
        return text

    def stalled(self, now: float, limit_s: float) -> bool:
        """No new low for `limit_s`: replication is not closing the gap."""
        return self.best is not None and self.best > 0 and now - self.best_at > limit_s


def eta(seconds: float) -> str:
    """'45 s', '12 min', '3 h 20 min'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
