"""The mask shown in place of a secret is defined once (issue 11): sql/quoting.MASK, which every
layer can import without a cycle; the others import it, so they cannot drift apart."""

from __future__ import annotations

import ast
from pathlib import Path

from moodle_wizard.core import secrets
from moodle_wizard.core.render import configphp_diff
from moodle_wizard.core.sql import quoting
from moodle_wizard.core.steps import cutover

PACKAGE = Path(__file__).resolve().parents[2] / "moodle_wizard"


def test_every_mask_is_the_one_in_sql_quoting() -> None:
    assert secrets.MASK is quoting.MASK
    assert configphp_diff.MASK is quoting.MASK
    assert vars(cutover)["MASK"] is quoting.MASK  # imported there, not re-exported


def test_the_mask_value_is_written_in_one_module_only() -> None:
    """Not assigned twice, nor written out as a literal (a runbook line with its own
    "********" would not change with MASK)."""
    where: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == quoting.MASK:
                where.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno}")
    assert where == ["core/sql/quoting.py:9"], where
