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
  `settle()`, which unfreezes everything first.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def freeze() -> None:
    gc.freeze()
