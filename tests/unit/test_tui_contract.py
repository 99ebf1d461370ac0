"""What the TUI may rely on (issue 11): it reaches steps only through what they declare (no
getattr on a step or a step module), screens and widgets never import the app at run time
(the app imports them: the cycle is type-only, under TYPE_CHECKING), and a bare operation
name stands for the typed request it names."""

from __future__ import annotations

import ast
from pathlib import Path

from moodle_wizard.core.state import StepName
from moodle_wizard.tui.operations import (
    CheckStep,
    Health,
    Rollback,
    Run,
    Scripted,
    named,
)

TUI = Path(__file__).resolve().parents[2] / "moodle_wizard" / "tui"

# getattr in tui/ on things that are not steps: a type annotation's arguments, a screen's
# optional help text, an enum-or-value, the app's cursor setting.
ALLOWED_GETATTR = {
    ("draft.py", "annotation"),
    ("screens/help.py", "self.about"),
    ("widgets/model_form.py", "value"),
    ("widgets/form_field.py", "self.app"),
    ("screens/modals.py", "self.app"),
}


def getattr_calls(root: Path) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and node.args):
                found.add((path.relative_to(root).as_posix(), ast.unparse(node.args[0])))
    return found


def runtime_app_imports(root: Path) -> list[str]:
    """Imports of moodle_wizard.tui.app in screens/ and widgets/ outside TYPE_CHECKING."""
    bad = []
    for path in sorted([*(root / "screens").rglob("*.py"), *(root / "widgets").rglob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                  and ast.unparse(node.test).endswith("TYPE_CHECKING")
                  for n in ast.walk(node)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.ImportFrom) and node.module == "moodle_wizard.tui.app"
                    and id(node) not in hidden):
                bad.append(f"{path.relative_to(root)}:{node.lineno}")
    return bad


def test_no_getattr_on_steps_in_the_tui() -> None:
    assert getattr_calls(TUI) - ALLOWED_GETATTR == set()


def test_the_getattr_check_would_catch_a_step_probe(tmp_path: Path) -> None:
    (tmp_path / "preview.py").write_text(
        "def f(step):\n    return getattr(step, 'server_ids', None)\n")
    assert getattr_calls(tmp_path) == {("preview.py", "step")}


def test_screens_and_widgets_never_import_the_app_at_run_time() -> None:
    assert runtime_app_imports(TUI) == []


def test_the_import_check_would_catch_a_function_local_import(tmp_path: Path) -> None:
    (tmp_path / "screens").mkdir()
    (tmp_path / "widgets").mkdir()
    (tmp_path / "screens" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from moodle_wizard.tui.app import WizardApp\n"
        "def f():\n    from moodle_wizard.tui.app import WizardApp\n")
    assert runtime_app_imports(tmp_path) == ["screens/a.py:5"]


def test_a_bare_name_stands_for_its_typed_request() -> None:
    assert named("run") == Run() and named("rollback") == Rollback() and named("health") == Health()
    assert named("stream") == Scripted("stream") and named("stream").name == "stream"
    assert CheckStep(StepName.VIP).name == "check-vip"
    assert Run.changes_hosts and Rollback.changes_hosts and not Health.changes_hosts
