"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def root_scratch() -> Iterator[Path]:
    """A directory whose every parent is root's own and not writable by others (under /run),
    for a test running as root; /tmp, where tmp_path lives, is world-writable, which the
    wizard's private-directory checks rightly refuse."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the paths must be root's own")
    path = Path(f"/run/mw-unit-{secrets.token_hex(4)}")
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", "--", str(path)], check=True)
