"""Which step classes exist, in migration order."""

from __future__ import annotations

from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.base import Step
from moodle_wizard.core.steps.cutover import Cutover
from moodle_wizard.core.steps.discover import Discover
from moodle_wizard.core.steps.prepare_source import PrepareSource
from moodle_wizard.core.steps.proxysql import ProxySQLStep
from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.vip import Vip

STEP_CLASSES: dict[StepName, type[Step]] = {
    StepName.DISCOVER: Discover,
    StepName.PREPARE_SOURCE: PrepareSource,
    StepName.REPLICAS: Replicas,
    StepName.PROXYSQL: ProxySQLStep,
    StepName.VIP: Vip,
    StepName.CUTOVER: Cutover,
}


def implemented() -> list[StepName]:
    return [s for s in StepName if s in STEP_CLASSES]


def steps_through(until: StepName | None) -> list[StepName]:
    """The implemented steps in order, up to and including `until`."""
    out = []
    for name in implemented():
        out.append(name)
        if name == until:
            break
    return out
