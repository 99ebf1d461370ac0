"""The screens' view of the steps: their titles, and what the engine would do, asked of the
engine without touching any host (see core/preview.py, which answers; nothing here decides)."""

from __future__ import annotations

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.preview import (
    ActionPreview,
    StepPreview,
    dry_context,
    rollback_preview,
    source_restart_needed,
    step_plan,
    vip_settings,
)
from moodle_wizard.core.preview import replica_server_ids as server_ids
from moodle_wizard.core.state import MigrationOrder, MigrationState, StepName
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.core.steps.registry import ORDERS, STEP_CLASSES

__all__ = ["ActionPreview", "StepPreview", "order", "rollback_preview", "server_ids",
           "source_restart_needed", "step_plan", "steps", "title", "vip_settings"]


def steps(order: MigrationOrder | None = None) -> list[tuple[StepName, str, str]]:
    """(name, title, summary) of every step, in the order given (classic until decided)."""
    return [(n, STEP_CLASSES[n].title, STEP_CLASSES[n].summary)
            for n in ORDERS[order or MigrationOrder.CLASSIC] if n in STEP_CLASSES]


def order(inventory: Inventory, state: MigrationState) -> tuple[MigrationOrder | None, str]:
    """The order the migration runs in and why, as core decides it (None and why not yet:
    discovery has not run, or the inventory asks for an order this source cannot take)."""
    if state.order is not None:
        return state.order, "journaled when the migration started"
    if state.steps.discover.facts.source is None:
        return None, "decided once discovery has run"
    try:
        return choose_order(dry_context(inventory, state))
    except OperatorError as exc:
        return None, str(exc)
    except Exception:  # facts this preview lacks: the run decides with fresh ones
        return None, "decided when the migration starts"


def title(name: StepName) -> str:
    return STEP_CLASSES[name].title
