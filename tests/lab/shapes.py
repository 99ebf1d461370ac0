"""A test module on one of the lab's other shapes (issue 12): build it with little data, and put
the default lab back afterwards, whatever shape the module found or left."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TypeVar

from moodle_wizard.lab import lab
from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab, proxysql_bin

SHAPE_DATA_MB = 5   # the shapes matter here, not the amount of data
DEFAULT_DATA_MB = 50  # what the other lab tests' fixture builds

T = TypeVar("T")


def build(shape: Shape) -> Lab:
    """The lab in `shape` (brought down first if it runs in another shape or size)."""
    state = lab.LabState.load(lab.LABDIR)
    if state is not None and (state.shape != shape or state.data_mb != SHAPE_DATA_MB):
        lab.down(out=io.StringIO())
    state = lab.up(None, SHAPE_DATA_MB, proxysql_bin(), out=io.StringIO(), shape=shape)
    assert state.shape == shape
    return Lab(state.topology, state)


def restore_default_lab() -> None:
    state = lab.LabState.load(lab.LABDIR)
    if state is None or state.shape != Shape() or state.data_mb != DEFAULT_DATA_MB:
        lab.down(out=io.StringIO())
    state = lab.up(None, DEFAULT_DATA_MB, proxysql_bin(), out=io.StringIO())
    assert state.shape == Shape()


def wait_for(what: str, check: Callable[[], T], timeout: float = 30) -> T:
    """`check()`'s first true value; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.1)
