"""What the engine would do, asked of the engine without touching any host.

The screens show a step's plan, a replica's server_id, or what a rollback will undo before
anything runs. Those are the steps' own answers: this module builds a Context that has the
inventory and a copy of the saved facts but no connections (nothing here may open one), and
calls the steps' public, synchronous methods on it; the rollback's order is the engine's own
(`Engine.rollback_steps`). It holds no migration logic of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine
from moodle_wizard.core.events import ignore
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import MigrationState, StepName
from moodle_wizard.core.steps.base import Action
from moodle_wizard.core.steps.prepare_source import PrepareSource
from moodle_wizard.core.steps.registry import STEP_CLASSES
from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.vip import Vip


async def _never(message: str, risky: bool) -> bool:
    return False


def dry_context(inventory: Inventory, state: MigrationState) -> Context:
    """A Context for the steps' pure methods (plan, rollback_plan, server ids ...)."""
    secrets = SecretStore(None, inventory.secrets.env_prefix, prompt=None)
    return Context(inventory, state.model_copy(deep=True), None, secrets,
                   SshPool(HostKeyPolicy(ask=None)), AuditLog(None, secrets), ignore, _never)


@dataclass(frozen=True)
class ActionPreview:
    title: str
    host: str
    runbook: list[str]


@dataclass(frozen=True)
class StepPreview:
    name: StepName
    title: str
    summary: str
    actions: list[ActionPreview]
    # Why the plan could not be made yet (e.g. discovery has not run), or None.
    unavailable: str | None = None
    # A rollback's hosts: which it touches and why, which it leaves alone.
    notes: list[str] = field(default_factory=list)


def _actions(ctx: Context, actions: list[Action]) -> list[ActionPreview]:
    return [ActionPreview(a.title, a.host, [ctx.secrets.mask(line) for line in a.runbook])
            for a in actions]


def step_plan(inventory: Inventory, state: MigrationState, name: StepName) -> StepPreview:
    cls = STEP_CLASSES[name]
    ctx = dry_context(inventory, state)
    try:
        actions = _actions(ctx, cls(ctx).plan())
    except Exception as exc:  # the step needs facts or secrets this preview does not have
        return StepPreview(name, cls.title, cls.summary, [], _why(exc))
    return StepPreview(name, cls.title, cls.summary, actions)


def rollback_preview(inventory: Inventory, state: MigrationState,
                     to: StepName | None) -> list[StepPreview]:
    """What Engine.rollback(to) will undo, newest first: exactly the steps it visits, each
    with its rollback plan and its notes on which hosts it touches."""
    ctx = dry_context(inventory, state)
    out = []
    for step in Engine(ctx).rollback_steps(to):
        try:
            actions = _actions(ctx, step.rollback_plan())
            notes = step.rollback_notes()
        except Exception as exc:  # facts this preview lacks: the step's own rollback still runs
            out.append(StepPreview(step.name, step.title, step.summary, [], _why(exc)))
            continue
        out.append(StepPreview(step.name, step.title, step.summary, actions, notes=notes))
    return out


def replica_server_ids(inventory: Inventory, state: MigrationState) -> dict[str, int]:
    """The replicas' server_ids as the replicas step will set them ({} before discovery)."""
    if state.steps.discover.facts.source is None:
        return {}
    try:
        return Replicas(dry_context(inventory, state)).server_ids()
    except Exception:  # an inventory the form has not finished: nothing to show yet
        return {}


def source_restart_needed(inventory: Inventory, state: MigrationState) -> bool | None:
    """Whether preparing the source restarts it (None: discovery has not run)."""
    if state.steps.discover.facts.source is None:
        return None
    try:
        return PrepareSource(dry_context(inventory, state)).restart_needed()
    except Exception:
        return None


def vip_settings(inventory: Inventory, state: MigrationState) -> dict[str, str]:
    """keepalived's priorities per proxy and the virtual_router_id, as the VIP step will set
    them ({} when the inventory has no [vip])."""
    if inventory.vip is None:
        return {}
    step = Vip(dry_context(inventory, state))
    out: dict[str, str] = {}
    try:
        out["priorities"] = ", ".join(f"{p} {step.priority(p)}" for p in inventory.proxies)
        out["virtual_router_id"] = str(step.vrid())
    except Exception:
        return out
    return out


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"needs {exc} from discovery; run discovery first"
    return text
