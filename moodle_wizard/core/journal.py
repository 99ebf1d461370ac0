"""Questions about the journal that every face of the wizard asks: has this step run, has the
migration started or been left half-way, which migrations are saved, which one to resume, and
what every later step's read-only preflight finds. The TUI renders the answers and the headless
commands print them; neither computes them itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.state import (
    MigrationState,
    StateError,
    StepName,
    StepStatus,
    load,
    state_dir,
)

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context


def implemented(state: MigrationState | None = None) -> list[StepName]:
    # The registry imports every step and with them SSH and MySQL (0.5 s): the TUI's first
    # screen lists saved migrations without them (docs/benchmarks.md, the cold start).
    from moodle_wizard.core.steps.registry import implemented as in_order

    return in_order(state)

# A step in one of these has nothing on the hosts for a rollback to undo.
NOT_RUN = (StepStatus.PENDING, StepStatus.ROLLED_BACK)
# A step left in one of these was stopped mid-way: resume or roll back.
MID_WAY = (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.ROLLING_BACK)


def has_run(state: MigrationState, name: StepName) -> bool:
    """Whether the step changed (or was changing) something a rollback may undo."""
    return state.step(name).status not in NOT_RUN


def ran(state: MigrationState) -> list[StepName]:
    """The steps that have run, in migration order (what a rollback can start from)."""
    return [n for n in implemented(state) if has_run(state, n)]


def started(state: MigrationState) -> bool:
    """Some step after discovery has changed (or is changing) something on the hosts."""
    return any(has_run(state, n) for n in implemented()[1:])


def all_done(state: MigrationState) -> bool:
    return all(state.step(n).status == StepStatus.DONE for n in implemented())


def unfinished(state: MigrationState) -> bool:
    """Started changing hosts and not finished, or stopped mid-step."""
    statuses = [state.step(n).status for n in implemented()]
    if any(s in MID_WAY for s in statuses):
        return True
    beyond = statuses[1:]
    return any(s == StepStatus.DONE for s in beyond) and not all(
        s == StepStatus.DONE for s in beyond)


# -- saved migrations --------------------------------------------------------------------------


class SavedMigration(NamedTuple):
    path: Path
    state: MigrationState | None  # None: the file cannot be read (then `error` says why)
    error: str | None


def journal_paths(directory: Path | None = None) -> list[Path]:
    """Every journal in the state directory, by name (temp and lock files are dot files or
    not .json)."""
    directory = directory or state_dir()
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))


def saved_migrations(directory: Path | None = None) -> list[SavedMigration]:
    """Every journal in the state directory, read, newest first (unreadable ones last)."""
    found: list[SavedMigration] = []
    for path in journal_paths(directory):
        try:
            found.append(SavedMigration(path, load(path), None))
        except StateError as exc:
            found.append(SavedMigration(path, None, str(exc)))
    found.sort(key=lambda t: t.state.updated_at.timestamp() if t.state else 0.0, reverse=True)
    return found


def find_state(name: str | None) -> Path:
    """The journal a command means: the named migration's, or the only one saved."""
    from moodle_wizard.core.state import state_path

    if name:
        return state_path(name)
    found = journal_paths()
    if not found:
        raise StateError(f"no migration to resume in {state_dir()}; start one with "
                         "`moodle-wizard run --inventory FILE`")
    if len(found) > 1:
        names = ", ".join(p.stem for p in found)
        raise StateError(f"several migrations are saved ({names}); name one with --migration")
    return found[0]


def saved_conflict(path: Path) -> str | None:
    """Why a new migration may not take this journal's name: a journal that has done more
    than discovery is never overwritten."""
    try:
        saved = load(path)
    except StateError as exc:
        return str(exc)
    if started(saved):
        return (f"a migration named {saved.migration_id!r} is already saved in {path} and has "
                "started; resume or roll it back from the welcome screen, or give this one "
                "another name")
    return None


# -- findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A preflight problem, as the step reported it."""

    step: str
    level: str  # error | warning | question
    message: str
    risky: bool = False


async def step_findings(ctx: Context, name: StepName) -> list[Finding]:
    """One step's read-only preflight (its questions are reported, not asked)."""
    from moodle_wizard.core.steps.registry import STEP_CLASSES

    try:
        problems = await STEP_CLASSES[name](ctx).preflight()
    except OperatorError as exc:
        return [Finding(name.value, "error", ctx.secrets.mask(str(exc)))]
    return [Finding(name.value, p.level, ctx.secrets.mask(p.message), p.risky)
            for p in problems]


async def findings(ctx: Context, after: StepName = StepName.DISCOVER) -> list[Finding]:
    """Every later step's read-only preflight that has yet to run, as findings."""
    order = implemented(ctx.state)
    out: list[Finding] = []
    for name in order:
        if order.index(name) <= order.index(after) or has_run(ctx.state, name):
            continue
        out += await step_findings(ctx, name)
    return out


def config_changed_since_cutover(state: MigrationState) -> list[str]:
    """The app hosts whose config.php changed after the cutover, as the cutover's refused
    rollback recorded (overwriting them is the operator's call: rollback --force-config)."""
    apps = state.steps.cutover.facts.apps
    return [app for app, f in apps.items() if f.changed_since_cutover]
