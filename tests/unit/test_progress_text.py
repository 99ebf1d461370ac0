"""The stream's rate (core/progress.py) and the line the headless output and the TUI show."""

from __future__ import annotations

import io

from moodle_wizard.core import events as ev
from moodle_wizard.core.progress import RateWindow, eta, progress_text
from moodle_wizard.headless import Printer


def test_the_rate_spans_the_last_seconds() -> None:
    window = RateWindow(5.0)
    assert window.add(0.0, 0) is None
    assert window.add(1.0, 100) == 100
    for t in range(2, 11):
        window.add(float(t), 100 * t if t < 8 else 700 + 10 * (t - 7))
    # From t=5 (500 bytes) to t=10 (730 bytes): the slowdown shows within the window.
    assert window.rate == (730 - 500) / 5


def test_a_count_that_goes_back_starts_again() -> None:
    window = RateWindow()
    window.add(0.0, 0)
    window.add(1.0, 1000)
    assert window.add(2.0, 10) is None


def test_eta_reads_as_people_say_it() -> None:
    assert [eta(s) for s in (9.6, 185, 3725)] == ["~10 s", "~3 min 05 s", "~1 h 02 min"]


def test_the_line_shows_the_rate_against_the_limit() -> None:
    event = ev.Progress("replicas", "seed stream", 312_000_000, 811_000_000, 49_800_000,
                        50_000_000)
    assert progress_text(event) == ("seed stream: 312.0 MB of ~811.0 MB (38%), 49.8 MB/s "
                                    "(limit 50.0 MB/s), ~10 s left")


def test_without_rate_or_limit_the_line_says_what_it_knows() -> None:
    assert progress_text(ev.Progress("s", "seed stream", 5_000, None)) == "seed stream: 5.0 kB"
    assert progress_text(ev.Progress("s", "seed stream", 5_000, 10_000), rate=1_000) == (
        "seed stream: 5.0 kB of ~10.0 kB (50%), 1.0 kB/s, ~5 s left")


def test_headless_prints_the_rate_and_the_limit() -> None:
    out = io.StringIO()
    printer = Printer(out)
    printer(ev.Progress("replicas", "seed stream", 100_000_000, 200_000_000, 50_100_000,
                        50_000_000))
    assert out.getvalue() == ("      seed stream: 100.0 MB of ~200.0 MB (50%), 50.1 MB/s "
                              "(limit 50.0 MB/s), ~2 s left\n")
