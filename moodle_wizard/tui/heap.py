"""Keeps Python's full garbage collections off the screen.

A full (generation 2) collection walks every object the collector tracks, holding the
interpreter lock. Textual's render caches make that half a million objects (every Strip
carries several small caches) and a full collection 200-250 ms: on the dashboard, a visible
freeze every few seconds of a migration, measured by the benchmark. So:

- `settle()` when the screen changes (the operator expects a pause there): collect once, then
  move the survivors to the permanent generation (`gc.freeze`), so later full collections
  walk only what was created since;
- `freeze()` when a step starts: cheap (no collection), and keeps what a long run builds up
  out of the next full collections. Cyclic garbage frozen this way waits for the next
  `settle()`, which unfreezes everything first;
- `tick()` whenever the engine reports (a long action, the seed stream above all, is one
  step): `freeze()` at most every FREEZE_EVERY_S, so a full collection during it walks at
  most that long's objects (the benchmark measured 64 ms for one after the stream).
"""

from __future__ import annotations

import gc
import time

FREEZE_EVERY_S = 2.0
_frozen_at = 0.0


def settle() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def freeze() -> None:
    global _frozen_at
    _frozen_at = time.monotonic()
    gc.freeze()


def tick() -> None:
    if time.monotonic() - _frozen_at >= FREEZE_EVERY_S:
        freeze()
