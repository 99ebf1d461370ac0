"""tui/heap.py's tick: while the engine reports (a long action such as the seed stream is one
step), the heap is frozen at most every FREEZE_EVERY_S, so a full collection walks only what
that long created."""

from __future__ import annotations

import pytest

from moodle_wizard.tui import heap


def test_tick_freezes_at_most_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    frozen: list[float] = []
    monkeypatch.setattr(heap.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(heap.gc, "freeze", lambda: frozen.append(now[0]))
    monkeypatch.setattr(heap, "_frozen_at", 0.0)
    heap.tick()  # long since the last freeze
    for step in range(40):  # the engine reports every 0.1 s for 4 s
        now[0] = 100.0 + 0.1 * (step + 1)
        heap.tick()
    assert frozen == pytest.approx([100.0, 102.0, 104.0])
    heap.freeze()  # a step boundary counts as a freeze
    now[0] += 1.0
    heap.tick()
    assert len(frozen) == 4
