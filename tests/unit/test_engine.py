"""The engine's journal: what is persisted when, what a resume redoes, what rollback undoes.

The steps here are small in-memory steps (the engine's contract, not a stand-in for a server):
they record what they did into a shared world, so every assertion is about observable effects.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest

from moodle_wizard.core import engine as engine_mod
from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine, MigrationError, PreflightFailed
from moodle_wizard.core.events import Event
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import MigrationOrder, StepName, StepStatus, load, new_state
from moodle_wizard.core.steps.base import Action, Problem, Step, StepError, error, question

INVENTORY = Inventory.model_validate({
    "migration": {"name": "t"},
    "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
              "db2": {"address": "10.0.0.2", "role": "replica"},
              "app": {"address": "10.0.0.3", "role": "app"}},
})


class Crash(BaseException):
    """The wizard dying mid-action (not an Exception: nothing may catch it)."""


class World:
    def __init__(self) -> None:
        self.effects: list[str] = []
        self.runs: dict[str, int] = {}
        self.crash_in: str | None = None
        self.problems: dict[StepName, list[Problem]] = {}
        self.rollback_refusals: dict[StepName, str] = {}


WORLD = World()


class ToyStep(Step):
    actions: ClassVar[tuple[str, ...]] = ()

    async def preflight(self) -> list[Problem]:
        return WORLD.problems.get(self.name, [])

    def plan(self) -> list[Action]:
        return [Action(a, a, partial(self.do, a), done=partial(self.present, a))
                for a in self.actions]

    async def do(self, action: str) -> None:
        key = f"{self.name}:{action}"
        WORLD.runs[key] = WORLD.runs.get(key, 0) + 1
        if key not in WORLD.effects:
            WORLD.effects.append(key)
        if WORLD.crash_in == key:
            WORLD.crash_in = None
            raise Crash

    async def present(self, action: str) -> bool:
        return f"{self.name}:{action}" in WORLD.effects

    def did(self) -> list[str]:
        """The actions the journal says ran (a toy step records nothing else)."""
        ran = [a.id for a in self.ctx.state.step(self.name).actions if a.id in self.actions]
        return list(dict.fromkeys(ran))

    async def verify(self) -> None:
        if any(a not in self.did() for a in self.actions):
            raise StepError("not all done")

    def rollback_plan(self) -> list[Action]:
        return [Action(a, f"undo {a}", partial(self.undo, a))
                for a in reversed(self.did())]

    async def rollback_preflight(self) -> None:
        if self.name in WORLD.rollback_refusals:
            raise StepError(WORLD.rollback_refusals[self.name])

    async def undo(self, action: str) -> None:
        key = f"{self.name}:{action}"
        if key in WORLD.effects:
            WORLD.effects.remove(key)


class One(ToyStep):
    name = StepName.DISCOVER
    title = summary = "one"
    actions = ("look",)


class Two(ToyStep):
    name = StepName.PREPARE_SOURCE
    title = summary = "two"
    actions = ("a", "b", "c")


class Three(ToyStep):
    name = StepName.REPLICAS
    title = summary = "three"
    actions = ("x", "y")


@pytest.fixture()
def make_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    global WORLD
    WORLD = World()
    steps = {StepName.DISCOVER: One, StepName.PREPARE_SOURCE: Two, StepName.REPLICAS: Three}
    monkeypatch.setattr(engine_mod, "STEP_CLASSES", steps)
    monkeypatch.setattr("moodle_wizard.core.steps.registry.STEP_CLASSES", steps)
    # The toy steps have no source to decide an order from.
    monkeypatch.setattr(engine_mod, "choose_order",
                        lambda ctx: (MigrationOrder.CLASSIC, "toy steps"))
    path = tmp_path / "t.json"
    answers: list[bool] = []
    events: list[Event] = []

    def make(answer: bool = True) -> tuple[Engine, Context]:
        state = load(path) if path.exists() else new_state("t", "inv.toml")
        secrets = SecretStore()

        async def confirm(message: str, risky: bool) -> bool:
            answers.append(answer)
            return answer

        ctx = Context(INVENTORY, state, path, secrets, None, AuditLog(None, secrets),  # type: ignore[arg-type]
                      events.append, confirm)
        return Engine(ctx), ctx

    make.path = path  # type: ignore[attr-defined]
    make.events = events  # type: ignore[attr-defined]
    return make


async def test_a_full_run_does_every_action_once_and_journals_it(make_engine: Any) -> None:
    engine, _ = make_engine()
    await engine.run()
    assert WORLD.effects == ["discover:look", "prepare-source:a", "prepare-source:b",
                             "prepare-source:c", "replicas:x", "replicas:y"]
    saved = load(make_engine.path)
    assert all(saved.step(s).status == StepStatus.DONE
               for s in (StepName.DISCOVER, StepName.PREPARE_SOURCE, StepName.REPLICAS))
    assert [a.id for a in saved.step(StepName.PREPARE_SOURCE).actions] == ["a", "b", "c"]


async def test_resume_after_a_crash_skips_done_actions_and_reverifies_the_one_in_flight(
        make_engine: Any) -> None:
    WORLD.crash_in = "prepare-source:b"
    engine, _ = make_engine()
    with pytest.raises(Crash):
        await engine.run()
    saved = load(make_engine.path)
    record = saved.step(StepName.PREPARE_SOURCE)
    assert [(a.id, a.status) for a in record.actions] == [("a", "done"), ("b", "running")]

    engine, _ = make_engine()  # a new wizard, from the saved state only
    await engine.run()
    # a: done before the crash, not run again; b: in flight, its effect was there: not redone.
    assert WORLD.runs["prepare-source:a"] == 1
    assert WORLD.runs["prepare-source:b"] == 1
    assert WORLD.runs["prepare-source:c"] == 1
    assert load(make_engine.path).step(StepName.REPLICAS).status == StepStatus.DONE


async def test_every_preflight_runs_before_any_change(make_engine: Any) -> None:
    WORLD.problems[StepName.REPLICAS] = [error("db2 datadir is not empty")]
    engine, _ = make_engine()
    with pytest.raises(MigrationError, match="db2 datadir is not empty") as err:
        await engine.run()
    assert "nothing was changed" in str(err.value)
    assert WORLD.effects == ["discover:look"]  # discovery only reads
    assert load(make_engine.path).step(StepName.PREPARE_SOURCE).status == StepStatus.PENDING


async def test_a_declined_question_stops_before_any_change(make_engine: Any) -> None:
    WORLD.problems[StepName.PREPARE_SOURCE] = [question("restart db1?")]
    engine, _ = make_engine(answer=False)
    with pytest.raises(PreflightFailed, match="declined"):
        await engine.run()
    assert WORLD.effects == ["discover:look"]


async def test_rollback_to_a_step_undoes_it_and_everything_after(make_engine: Any) -> None:
    engine, _ = make_engine()
    await engine.run()
    undone = await engine.rollback(StepName.PREPARE_SOURCE)
    assert undone == [StepName.REPLICAS, StepName.PREPARE_SOURCE]
    assert WORLD.effects == ["discover:look"]
    saved = load(make_engine.path)
    assert saved.step(StepName.PREPARE_SOURCE).status == StepStatus.ROLLED_BACK
    assert saved.step(StepName.DISCOVER).status == StepStatus.DONE
    # Run again: the rolled-back steps are applied afresh.
    engine, _ = make_engine()
    await engine.run()
    assert len(WORLD.effects) == 6


async def test_an_older_steps_rollback_refusal_comes_before_any_step_is_undone(
        make_engine: Any) -> None:
    """As the cutover's refusal of a config.php changed since, in the proxy-first order where
    the replicas step (newer) would otherwise be undone before the cutover refuses."""
    engine, _ = make_engine()
    await engine.run()
    WORLD.rollback_refusals[StepName.PREPARE_SOURCE] = "config.php was changed by someone"
    with pytest.raises(MigrationError, match=r"changed by someone.*nothing was rolled back"):
        await engine.rollback()
    assert len(WORLD.effects) == 6, "nothing was undone, the newest step included"
    saved = load(make_engine.path)
    assert saved.step(StepName.REPLICAS).status == StepStatus.DONE
    assert "changed by someone" in (saved.step(StepName.PREPARE_SOURCE).last_error or "")


async def test_an_interrupted_rollback_resumes_where_it_stopped(make_engine: Any) -> None:
    engine, _ = make_engine()
    await engine.run()

    original_undo = ToyStep.undo
    calls = 0

    async def dying_undo(self: ToyStep, action: str) -> None:
        nonlocal calls
        calls += 1
        await original_undo(self, action)
        if calls == 2:
            raise Crash

    ToyStep.undo = dying_undo  # type: ignore[method-assign]
    try:
        with pytest.raises(Crash):
            await engine.rollback()
    finally:
        ToyStep.undo = original_undo  # type: ignore[method-assign]
    assert load(make_engine.path).step(StepName.REPLICAS).status == StepStatus.ROLLING_BACK
    engine, _ = make_engine()
    await engine.rollback()
    assert WORLD.effects == []


async def test_a_failed_step_records_the_error_masked(make_engine: Any) -> None:
    engine, ctx = make_engine()
    ctx.secrets.register("replication_password", "s3cret-value")

    async def fail(self: ToyStep) -> None:
        raise StepError("could not log in with s3cret-value")

    Three.verify = fail  # type: ignore[method-assign]
    try:
        with pytest.raises(MigrationError) as err:
            await engine.run()
    finally:
        del Three.verify
    assert "s3cret-value" not in str(err.value)
    text = make_engine.path.read_text()
    assert "s3cret-value" not in text and "********" in text
    assert load(make_engine.path).step(StepName.REPLICAS).status == StepStatus.FAILED


async def test_a_step_settles_its_background_work_when_it_ends_done_or_failed(
        make_engine: Any) -> None:
    settled: list[str] = []

    async def settle(self: ToyStep) -> None:
        settled.append(self.name.value)

    ToyStep.settle = settle  # type: ignore[method-assign]
    WORLD.crash_in = "replicas:y"
    try:
        engine, _ = make_engine()
        with pytest.raises(Crash):
            await engine.run()
    finally:
        del ToyStep.settle
    # Once per step that began, the crashed one included.
    assert settled == ["discover", "prepare-source", "replicas"]
