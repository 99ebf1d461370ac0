"""Golden files of every step's plan and rollback plan, per source flavour.

Each step's `plan()` (every action's id, title, host and masked runbook lines) and its
`rollback_plan()` and `rollback_notes()` for a journal where every apply action is done (for
the replicas also one where only db2 was touched) are rendered to text and compared with
tests/unit/golden/<step>.<flavour>.txt: a change in what runs shows as a readable diff.
After an intended change, rewrite them with
`MW_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_plan_golden.py` and read the diff
before committing it. Fake secrets are set for every known secret: none may reach a runbook,
masked or not.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.base import Action
from moodle_wizard.core.steps.registry import STEP_CLASSES
from tests.unit.plan_fixtures import FLAVOURS, all_secrets, context

GOLDEN = Path(__file__).parent / "golden"


def _actions(ctx: Context, actions: list[Action]) -> list[str]:
    out = []
    for a in actions:
        out.append(f"[{a.id}] {a.title}  (host: {a.host or '-'})")
        for line in a.runbook:
            # The runbook itself, before the mask: no step may rely on masking to hide one.
            leaked = [s for s in all_secrets() if s in line or s in a.title]
            assert not leaked, f"[{a.id}]'s runbook holds a secret unmasked"
            masked = ctx.secrets.mask(line)
            out += ["    " + part if part else "" for part in masked.split("\n")]
    return out


def _rollback(ctx: Context, name: StepName, heading: str) -> list[str]:
    step = STEP_CLASSES[name](ctx)
    out = [f"== rollback plan, {heading}", *_actions(ctx, step.rollback_plan())]
    out += ["-- notes", *(f"* {n}" for n in step.rollback_notes())]
    return out


def render(name: StepName, flavour: str, monkeypatch: pytest.MonkeyPatch) -> str:
    ctx = context(flavour, monkeypatch)
    cls = STEP_CLASSES[name]
    plan = cls(ctx).plan()
    ids = [a.id for a in plan]
    out = [f"# {name.value} on a {flavour} source: {cls.title}", "", "== plan",
           *_actions(ctx, plan), ""]
    out += [*_rollback(context(flavour, monkeypatch, {name: ids}), name,
                       "every apply action done"), ""]
    if name == StepName.REPLICAS:
        only_db2 = [i for i in ids if i.endswith(":db2")]
        out += [*_rollback(context(flavour, monkeypatch, {name: only_db2}), name,
                           f"only db2 touched ({', '.join(only_db2)})"), ""]
    return "\n".join(line.rstrip() for line in out)


CASES = [(name, flavour) for name in STEP_CLASSES for flavour in FLAVOURS]


@pytest.mark.parametrize(("name", "flavour"), CASES,
                         ids=[f"{n.value}-{f}" for n, f in CASES])
def test_plan_matches_golden(name: StepName, flavour: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    text = render(name, flavour, monkeypatch)
    for secret in all_secrets():
        assert secret not in text, f"a secret reached the runbook of {name.value}"
    path = GOLDEN / f"{name.value}.{flavour}.txt"
    if os.environ.get("MW_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with MW_UPDATE_GOLDEN=1 to write it"
    golden = path.read_text()
    diff = "\n".join(difflib.unified_diff(golden.splitlines(), text.splitlines(),
                                          f"golden/{path.name}", "now", lineterm=""))
    assert text == golden, (
        f"{name.value}'s plan on {flavour} differs from its golden file; if intended, rewrite "
        f"it with MW_UPDATE_GOLDEN=1 and read the diff:\n{diff}")


def test_a_secret_in_a_runbook_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above bites: a runbook that renders keepalived's real auth_pass (even one the
    mask would hide afterwards) fails the render."""
    from moodle_wizard.core.steps.vip import Vip

    def leaky(self: Vip, px: str, auth_pass: str) -> str:  # ignores the MASK it is given
        return self._render(px, "10.77.0.21/24", ("10.77.0.22",),
                            self.ctx.secrets.get("keepalived_auth_pass"))

    monkeypatch.setattr(Vip, "_runbook_conf", leaky)
    with pytest.raises(AssertionError, match=r"\[config:px1\]'s runbook holds a secret"):
        render(StepName.VIP, "mariadb-10.11", monkeypatch)
