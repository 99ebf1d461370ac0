"""What the engine would do, asked of the engine without touching any host.

The screens show a step's plan, a replica's server_id, or what a rollback will undo before
anything runs. Those are the steps' own answers: this module builds a Context that has the
inventory and a copy of the saved facts but no connections (nothing here may open one), and
calls the steps' public, synchronous methods on it. It holds no migration logic of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.events import ignore
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.ssh import HostKeyPolicy, SshPool
from moodle_wizard.core.secrets import MASK, SecretStore
from moodle_wizard.core.state import MigrationState, StepName, StepStatus
from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented


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


def _actions(ctx: Context, actions: list[Any]) -> list[ActionPreview]:
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
    """What Engine.rollback(to) will undo, newest first: exactly the steps it visits."""
    order = list(StepName)
    first = order.index(to) if to else 0
    out = []
    ctx = dry_context(inventory, state)
    for name in reversed(order[first:]):
        record = state.step(name)
        if record.status in (StepStatus.PENDING, StepStatus.ROLLED_BACK):
            continue
        if name not in STEP_CLASSES:
            out.append(StepPreview(name, name.value, "", [], "this engine has no such step"))
            continue
        cls = STEP_CLASSES[name]
        try:
            step = cls(ctx)
            actions = _actions(ctx, step.rollback_plan())
            notes = step.rollback_notes()
        except Exception as exc:
            out.append(StepPreview(name, cls.title, cls.summary, [], _why(exc)))
            continue
        out.append(StepPreview(name, cls.title, cls.summary, actions, notes=notes))
    return out


def server_ids(inventory: Inventory, state: MigrationState) -> dict[str, int]:
    """The replicas' server_ids as the replicas step will set them ({} before discovery)."""
    if StepName.REPLICAS not in STEP_CLASSES or not state.step(StepName.DISCOVER).facts:
        return {}
    step = STEP_CLASSES[StepName.REPLICAS](dry_context(inventory, state))
    method = getattr(step, "server_ids", None)
    if method is None:
        return {}
    try:
        ids: dict[str, int] = method()
    except Exception:
        return {}
    return ids


def source_restart_needed(inventory: Inventory, state: MigrationState) -> bool | None:
    if StepName.PREPARE_SOURCE not in STEP_CLASSES or not state.step(StepName.DISCOVER).facts:
        return None
    step = STEP_CLASSES[StepName.PREPARE_SOURCE](dry_context(inventory, state))
    method = getattr(step, "restart_needed", None)
    try:
        return bool(method()) if method is not None else None
    except Exception:
        return None


def steps() -> list[tuple[StepName, str, str]]:
    """(name, title, summary) of every step the engine has, in order."""
    return [(n, STEP_CLASSES[n].title, STEP_CLASSES[n].summary) for n in implemented()]


def missing_steps() -> list[StepName]:
    """Steps of the migration this engine build does not have yet."""
    return [n for n in StepName if n not in STEP_CLASSES]


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"needs {exc} from discovery; run discovery first"
    return text.replace(MASK, "********")


def steps_names() -> list[StepName]:
    return implemented()


def title(name: StepName) -> str:
    cls = STEP_CLASSES.get(name)
    return cls.title if cls is not None else name.value


def has_step(name: StepName) -> bool:
    return name in STEP_CLASSES


def vip_settings(inventory: Inventory, state: MigrationState) -> dict[str, str]:
    """keepalived's priorities per proxy and the virtual_router_id, as the VIP step will set
    them ({} when the step or the inventory's [vip] is not there)."""
    if StepName.VIP not in STEP_CLASSES or getattr(inventory, "vip", None) is None:
        return {}
    step = STEP_CLASSES[StepName.VIP](dry_context(inventory, state))
    out: dict[str, str] = {}
    priority = getattr(step, "priority", None)
    vrid = getattr(step, "vrid", None)
    try:
        if priority is not None:
            out["priorities"] = ", ".join(f"{p} {priority(p)}" for p in inventory.proxies)
        if vrid is not None:
            out["virtual_router_id"] = str(vrid())
    except Exception:
        return out
    return out
