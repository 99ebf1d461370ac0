"""Golden plans with TLS on (`[migration] tls = true`): the steps that make a TLS change
(prepare-source, replicas, proxysql), as test_plan_golden renders them, in
tests/unit/golden/tls/. With TLS off the ordinary goldens hold (test_plan_golden): the option
changes nothing then. Rewrite with MW_UPDATE_GOLDEN=1 and read the diff."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.state import StepName
from tests.unit import plan_fixtures, test_plan_golden
from tests.unit.plan_fixtures import all_secrets

GOLDEN = Path(__file__).parent / "golden" / "tls"
STEPS = (StepName.PREPARE_SOURCE, StepName.REPLICAS, StepName.PROXYSQL)
FLAVOURS = ("mariadb-10.11", "mysql-8.4")
CASES = [(s, f) for s in STEPS for f in FLAVOURS]


def tls_context(flavour: str, monkeypatch: pytest.MonkeyPatch,
                done: dict[StepName, list[str]] | None = None) -> Context:
    ctx = plan_fixtures.context(flavour, monkeypatch, done)
    inv = ctx.inventory
    ctx.inventory = inv.model_copy(
        update={"migration": inv.migration.model_copy(update={"tls": True})})
    return ctx


@pytest.mark.parametrize(("name", "flavour"), CASES, ids=[f"{n.value}-{f}" for n, f in CASES])
def test_tls_plan_matches_golden(name: StepName, flavour: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_plan_golden, "context", tls_context)
    text = test_plan_golden.render(name, flavour, monkeypatch)
    for secret in all_secrets():
        assert secret not in text, f"a secret reached the TLS runbook of {name.value}"
    path = GOLDEN / f"{name.value}.{flavour}.txt"
    if os.environ.get("MW_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    golden = path.read_text()
    diff = "\n".join(difflib.unified_diff(golden.splitlines(), text.splitlines(),
                                          f"golden/tls/{path.name}", "now", lineterm=""))
    assert text == golden, f"{name.value}'s TLS plan on {flavour} differs:\n{diff}"


def test_tls_off_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same plans with TLS off name no TLS action, file or statement."""
    for name in STEPS:
        text = test_plan_golden.render(name, "mariadb-10.11", monkeypatch)
        for word in ("TLS", "tls:", "moodle-wizard-tls", "ssl_", "REQUIRE SSL", "use_ssl",
                     "MASTER_SSL", "SOURCE_SSL", "openssl"):
            assert word not in text, (name, word)
