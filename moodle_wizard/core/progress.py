"""A stream's rate, measured where its bytes are counted, and the one line every face shows
for a Progress event: "seed stream: 312.0 MB of ~811.0 MB (38%), 49.8 MB/s (limit 50.0 MB/s),
~10 s left". The headless printer prints it; the TUI puts it under its progress bar."""

from __future__ import annotations

from collections import deque

from rich.filesize import decimal

from moodle_wizard.core.events import Progress

# Long enough that a poll's jitter (the wizard asks about once a second; the job writes its
# count five times a second) moves the rate by a few % at most, short enough to follow a
# change of pace within seconds.
RATE_WINDOW_S = 5.0


class RateWindow:
    """Bytes a second over the last `window_s` seconds of (time, bytes so far) samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque(maxlen=256)

    def add(self, now: float, done: int) -> float | None:
        if self.samples and done < self.samples[-1][1]:
            self.samples.clear()  # a count that went back is a new stream (a restart)
        self.samples.append((now, done))
        # The oldest sample kept is the newest one at least window_s old, so the rate always
        # spans the whole window once the stream has run that long.
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        return self.rate

    @property
    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


def eta(seconds: float) -> str:
    """'~10 s', '~3 min 05 s', '~1 h 02 min'."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"~{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"~{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes:02d} min"


def rate_text(rate: float) -> str:
    return f"{decimal(int(rate))}/s"


def progress_parts(event: Progress, rate: float | None = None) -> tuple[str, str, str]:
    """The line's three parts: the amount ("seed stream: 312.0 MB of ~811.0 MB (38%)"), the
    pace ("49.8 MB/s (limit 50.0 MB/s)") and the time left ("~10 s left"); a part not known
    is "". `rate` stands in when the event carries none (a face's own measurement). The total
    is an estimate (the datadir's size), hence the '~'."""
    done, total = event.done, event.total
    rate = event.rate if event.rate is not None else rate
    amount = f"{event.label}: {decimal(done)}"
    if total:
        amount += f" of ~{decimal(total)} ({100 * min(1.0, done / total):.0f}%)"
    pace = rate_text(rate) if rate else ""
    if event.limit:
        pace = f"{pace} (limit {rate_text(event.limit)})".lstrip()
    left = f"{eta((total - done) / rate)} left" if rate and total and done < total else ""
    return amount, pace, left


def progress_text(event: Progress, rate: float | None = None) -> str:
    """The event's line, its parts joined."""
    return ", ".join(part for part in progress_parts(event, rate) if part)
