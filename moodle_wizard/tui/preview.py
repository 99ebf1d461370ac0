"""The screens' view of the steps: their titles, and what the engine would do, asked of the
engine without touching any host (see core/preview.py, which answers; nothing here decides)."""

from __future__ import annotations

from moodle_wizard.core.preview import (
    ActionPreview,
    StepPreview,
    rollback_preview,
    source_restart_needed,
    step_plan,
    vip_settings,
)
from moodle_wizard.core.preview import replica_server_ids as server_ids
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented

__all__ = ["ActionPreview", "StepPreview", "rollback_preview", "server_ids",
           "source_restart_needed", "step_plan", "steps", "title", "vip_settings"]


def steps() -> list[tuple[StepName, str, str]]:
    """(name, title, summary) of every step, in order."""
    return [(n, STEP_CLASSES[n].title, STEP_CLASSES[n].summary) for n in implemented()]


def title(name: StepName) -> str:
    return STEP_CLASSES[name].title
