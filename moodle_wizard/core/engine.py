"""Runs the steps in order, journaling before and after every action; resumes; rolls back."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from moodle_wizard.core.context import Context
from moodle_wizard.core.errors import OperatorError, StepError
from moodle_wizard.core.events import OutputLine, StepDone, StepFailed, StepStarted, Warning_
from moodle_wizard.core.journal_run import run_journaled
from moodle_wizard.core.state import MigrationOrder, StepName, StepStatus
from moodle_wizard.core.steps.base import Action, Problem, Step
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented, steps_through


class MigrationError(OperatorError):
    """The migration (or its rollback) stopped; the message says where and why."""


class PreflightFailed(MigrationError):
    def __init__(self, step: StepName, problems: list[Problem]) -> None:
        self.step = step
        self.problems = problems
        lines = "\n".join(f"  - {p.message}" for p in problems)
        super().__init__(f"{step}: preflight found problems; nothing was changed:\n{lines}")


def _now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def step(self, name: StepName) -> Step:
        return STEP_CLASSES[name](self.ctx)

    async def preflight(self, steps: list[Step]) -> None:
        """Every step's checks first; then errors (all of them at once); then questions."""
        problems: list[tuple[StepName, Problem]] = []
        for step in steps:
            problems += [(step.name, p) for p in await step.preflight()]
        for name, p in problems:
            if p.level == "warning":
                self.ctx.emit(Warning_(name, p.message))
        errors = [p for _, p in problems if p.level == "error"]
        if errors:
            raise PreflightFailed(steps[0].name if len(steps) == 1 else
                                  next(n for n, p in problems if p.level == "error"), errors)
        for name, p in problems:
            if p.level == "question" and not await self.ctx.confirm(p.message, p.risky):
                raise PreflightFailed(name, [Problem("error", f"{p.message} — declined")])

    def _fresh(self, name: StepName) -> bool:
        return self.ctx.state.step(name).status in (StepStatus.PENDING, StepStatus.ROLLED_BACK)

    async def run(self, until: StepName | None = None) -> None:
        """Discover, then preflight every step still to run, then apply them in order.

        Every preflight runs before the first change, so bad input anywhere stops the
        migration while nothing has changed. A step resumed after a crash is not preflighted
        again: its checks would now see the step's own changes.
        """
        if self.ctx.state.step(StepName.DISCOVER).status != StepStatus.DONE:
            discover = self.step(StepName.DISCOVER)
            await self._guarded(discover.name, self.preflight([discover]))
            try:
                await self._apply(discover)
            except MigrationError as exc:
                # Discovery only reads: whatever stopped it, no host was changed.
                raise MigrationError(f"{exc}; nothing was changed") from None
        if until == StepName.DISCOVER:
            return
        await self._guarded(StepName.DISCOVER, self._decide_order())
        names = [n for n in steps_through(until, self.ctx.state)
                 if self.ctx.state.step(n).status != StepStatus.DONE]
        fresh = [self.step(n) for n in names if self._fresh(n)]
        if fresh:
            await self._guarded(fresh[0].name, self.preflight(fresh))
        for name in names:
            await self._apply(self.step(name))

    async def _decide_order(self) -> None:
        """The order the steps run in, decided once (after discovery) and journaled: resume
        and rollback follow it. A journal whose steps ran before there was a choice keeps
        the classic order."""
        state = self.ctx.state
        started = [n for n, s in state.steps.items() if n != StepName.DISCOVER
                   and s.status not in (StepStatus.PENDING, StepStatus.ROLLED_BACK)]
        if state.order is not None:
            asked = self.ctx.inventory.migration.order
            if started and asked != "auto" and asked != state.order.value:
                raise StepError(
                    f"the inventory says migration.order = \"{asked}\", but this migration "
                    f"runs in the {state.order.value} order ({started[0]} already ran in it): "
                    f"set order = \"{state.order.value}\" (or \"auto\") to go on, or roll it "
                    "back (moodle-wizard rollback) to run it in another order")
            if started:
                return
            # Only discovery ran (it changes nothing): the inventory may have changed since;
            # decide again rather than keep a choice nothing depends on yet.
        order, why = ((MigrationOrder.CLASSIC, "steps already ran in that order") if started
                      else choose_order(self.ctx))
        if order == state.order:
            return
        state.order = order
        self.ctx.save()
        self.ctx.emit(OutputLine(StepName.DISCOVER, self.ctx.inventory.source,
                                 f"order: {order} ({why})"))

    async def _guarded(self, name: StepName, work: Awaitable[None]) -> None:
        try:
            await work
        except MigrationError:
            raise  # PreflightFailed, a declined question: already the whole message
        except OperatorError as exc:
            raise MigrationError(f"{name}: {self.ctx.secrets.mask(str(exc))}; nothing was "
                                 "changed") from None

    async def _apply(self, step: Step) -> None:
        ctx, record = self.ctx, self.ctx.state.step(step.name)
        ctx.current_step = step.name
        ctx.emit(StepStarted(step.name, step.title))
        started = time.monotonic()
        fresh = self._fresh(step.name)
        try:
            if fresh:
                record.actions = []
            record.status = StepStatus.RUNNING
            record.started_at = record.started_at if not fresh else _now()
            record.last_error = None
            ctx.save()
            for action in step.plan():
                await self._run_action(step.name, action, prefix="")
            await step.verify()
        except OperatorError as exc:
            self._fail(step.name, str(exc))
            raise MigrationError(f"{step.name}: {ctx.secrets.mask(str(exc))}") from None
        except BaseException as exc:
            self._fail(step.name, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await step.settle()
        record.status = StepStatus.DONE
        record.finished_at = _now()
        ctx.save()
        ctx.emit(StepDone(step.name, time.monotonic() - started))

    def _fail(self, step: StepName, message: str) -> None:
        record = self.ctx.state.step(step)
        record.status = StepStatus.FAILED
        record.last_error = self.ctx.secrets.mask(message)
        self.ctx.save()
        self.ctx.emit(StepFailed(step, record.last_error))

    async def _run_action(self, step: StepName, action: Action, prefix: str) -> None:
        await run_journaled(self.ctx, self.ctx.state.step(step).actions, step, action,
                            prefix + action.id)

    def rollback_steps(self, to: StepName | None = None) -> list[Step]:
        """The steps `rollback(to)` undoes, newest first: each with its plan and its notes on
        which hosts it touches, built from what the journal proves was done."""
        order = implemented(self.ctx.state)
        first = order.index(to) if to else 0
        return [self.step(name) for name in reversed(order[first:])
                if self.ctx.state.step(name).status
                not in (StepStatus.PENDING, StepStatus.ROLLED_BACK)]

    def _rollback_failed(self, name: StepName, exc: OperatorError,
                         more: str = "") -> MigrationError:
        """Journal and show why `name`'s rollback stopped; the error to raise."""
        record = self.ctx.state.step(name)
        record.last_error = self.ctx.secrets.mask(str(exc))
        self.ctx.save()
        self.ctx.emit(StepFailed(name, record.last_error))
        return MigrationError(f"rollback of {name}: {record.last_error}{more}")

    async def rollback(self, to: StepName | None = None) -> list[StepName]:
        """Undo `to` and every step after it (everything when None), newest first."""
        from moodle_wizard.core.finish import rollback_refusal

        refused = rollback_refusal(self.ctx.state)
        if refused is not None:
            raise MigrationError(f"rollback: {refused}; nothing was changed")
        steps = self.rollback_steps(to)
        for step in steps:
            # Every step's refusal before any step is undone: the cutover's rollback refuses a
            # config.php changed since, and in the proxy-first order it is not undone first.
            try:
                await step.rollback_preflight()
            except OperatorError as exc:
                raise self._rollback_failed(step.name, exc, "; nothing was rolled back") \
                    from None
        undone = []
        for step in steps:
            name = step.name
            record = self.ctx.state.step(name)
            self.ctx.current_step = name
            self.ctx.emit(StepStarted(name, f"Roll back: {step.title}"))
            started = time.monotonic()
            record.status = StepStatus.ROLLING_BACK
            self.ctx.save()
            try:
                for action in step.rollback_plan():
                    await self._run_action(name, action, prefix="rollback:")
            except OperatorError as exc:
                raise self._rollback_failed(name, exc) from None
            record.status = StepStatus.ROLLED_BACK
            # What they protected is gone; a new run generates new ones.
            self.ctx.secrets.forget_generated(step.generated_secrets)
            record.actions = []
            if name != StepName.DISCOVER:
                record.forget_facts()
            else:
                # Everything is undone: a new run decides its order again.
                self.ctx.state.order = None
            record.remote_jobs = []
            record.finished_at = _now()
            self.ctx.save()
            self.ctx.emit(StepDone(name, time.monotonic() - started))
            undone.append(name)
        return undone
