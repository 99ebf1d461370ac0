"""The suite passes from a checkout other users cannot read (a clone under /root, 0700, or in
a `mktemp -d` directory): the tests that run code as another user are run from such a copy.

Only those tests are run there (a few seconds), by a venv inside the private directory that
sees this venv's packages but not its editable install of this checkout, as a venv made in a
private clone would be. The tests get the code under test from tests/asuser.py's readable
install, copied from the checkout they live in; a test that reached into the checkout or the
venv instead fails here with "No module named moodle_wizard".
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every test that runs code as another user (through tests/asuser.py); the guard below keeps
# this list complete.
OTHER_USER_TESTS = [
    "tests/lab/test_lifecycle.py::"
    "test_lab_up_as_an_ordinary_user_says_it_needs_root_and_changes_nothing",
    "tests/unit/test_state_lock.py::test_an_ordinary_user_shares_roots_host_lock",
]
NOT_THE_CHECKOUT = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".mypy_cache",
                                          ".ruff_cache", ".pytest_cache", "*.egg-info")


def test_every_test_that_runs_code_as_another_user_is_listed() -> None:
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and any(
                    isinstance(n, ast.Name) and n.id == "readable_install"
                    for n in ast.walk(node)):
                found.append(f"{path.relative_to(ROOT)}::{node.name}")
    assert sorted(found) == sorted(OTHER_USER_TESTS)


def private_venv(venv: Path) -> str:
    """A venv (no pip) whose only extra path is this venv's site-packages, added as a plain
    path so that its .pth files (the editable install of this checkout) are not read."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=60)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_this_venv.pth").write_text("".join(f"{p}\n" for p in ours))
    return str(venv / "bin" / "python")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
def test_the_other_user_tests_pass_from_a_0700_checkout() -> None:
    private = Path(tempfile.mkdtemp(prefix="mw-private-"))  # 0700, like a clone under /root
    try:
        checkout = private / "moodle-wizard"
        shutil.copytree(ROOT, checkout, ignore=NOT_THE_CHECKOUT, symlinks=True)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        python = private_venv(private / "venv")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTEST_") and k != "PYTHONPATH"}
        # `python -m pytest` from the copy puts the copy first on sys.path: its code is tested.
        proc = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
             *OTHER_USER_TESTS], cwd=checkout, env=env, capture_output=True, text=True,
            timeout=300, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(private)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and summary.startswith(f"{len(OTHER_USER_TESTS)} passed") \
        and "skipped" not in summary, proc.stdout + proc.stderr
