"""The step contract.

preflight: read-only checks, returns problems (errors stop the migration before anything
changes; questions need the operator's yes). plan: the actions apply will take, each with the
commands and SQL it runs (secrets masked) for the runbook. apply: the engine runs the plan's
actions in order, persisting before and after each, skipping those already done. verify:
proves the step's effect from the outside. rollback: the rollback plan's actions, built from
the facts apply recorded, each idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from moodle_wizard.core.command import Command, render_all, runner

# StepError lives in the error root; steps import it from here as they always did.
from moodle_wizard.core.errors import StepError as StepError
from moodle_wizard.core.facts import Discovered, SourceFacts
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.version import ServerVersion, parse_version
from moodle_wizard.core.state import StepName

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning", "question"]
    message: str
    # A risky question is never answered by a blanket --yes: only by the operator, or by
    # the inventory setting the message names.
    risky: bool = False


def error(message: str) -> Problem:
    return Problem("error", message)


def warning(message: str) -> Problem:
    return Problem("warning", message)


def question(message: str, *, risky: bool = False) -> Problem:
    return Problem("question", message, risky)


@dataclass
class Action:
    id: str
    title: str
    run: Callable[[], Awaitable[None]]
    runbook: list[str] = field(default_factory=list)
    # Whether the action's effect is already there: an action found in flight after a crash is
    # re-verified with this instead of being blindly run again.
    done: Callable[[], Awaitable[bool]] | None = None
    host: str = ""


def source_version(src: SourceFacts) -> ServerVersion:
    """The source's version, from the facts discovery recorded."""
    return parse_version(src.server_version, src.flavor)


class Step(ABC):
    name: ClassVar[StepName]
    title: ClassVar[str]
    summary: ClassVar[str]
    # Secrets this step generates (kept in the migration's generated-secrets file until the
    # step is rolled back).
    generated_secrets: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def discovered(self) -> Discovered:
        """What discovery learned (a clear error if it has not run)."""
        return self.ctx.discovered

    @property
    def src(self) -> SourceFacts:
        """What discovery learned about the source server."""
        return self.discovered.source

    @property
    def dialect(self) -> Dialect:
        return Dialect(source_version(self.src))

    @abstractmethod
    async def preflight(self) -> list[Problem]: ...

    @abstractmethod
    def plan(self) -> list[Action]: ...

    @abstractmethod
    async def verify(self) -> None: ...

    @abstractmethod
    def rollback_plan(self) -> list[Action]: ...

    async def settle(self) -> None:
        """Stops what the step began in the background and did not wait for (called when its
        apply ends, done or failed). Most steps begin nothing."""
        return None

    async def rollback_preflight(self) -> None:
        """What this step's rollback would refuse, checked before the engine rolls back any
        step (it raises OperatorError): a rollback whose third step would refuse must not
        have undone the first two. Read-only; most steps have nothing to check."""
        return None

    def command_action(self, id: str, title: str, commands: Sequence[Command], *,
                       notes: Sequence[str] = (), done: Callable[[], Awaitable[bool]] | None = None,
                       host: str = "") -> Action:
        """An action that runs exactly `commands`, in order; its runbook is `notes` (what was
        decided and why) and then the commands' own rendering, so it shows what runs."""
        return Action(id, title, runner(self.ctx, commands), [*notes, *render_all(commands)],
                      done=done, host=host)

    def journaled(self, *action_ids: str) -> bool:
        """Whether one of these apply actions ran (done, or in flight when the wizard stopped):
        what rollback may undo is what the journal proves was done."""
        return any(a.id in action_ids for a in self.ctx.state.step(self.name).actions)

    def rollback_notes(self) -> list[str]:
        """Which hosts the rollback touches and why, and which it leaves alone (shown with the
        rollback plan before anything is undone)."""
        return []
