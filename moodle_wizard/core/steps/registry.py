"""Which step classes exist, in migration order."""

from __future__ import annotations

from moodle_wizard.core.state import MigrationOrder, MigrationState, StepName
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


ORDERS: dict[MigrationOrder, tuple[StepName, ...]] = {
    MigrationOrder.CLASSIC: (StepName.DISCOVER, StepName.PREPARE_SOURCE, StepName.REPLICAS,
                             StepName.PROXYSQL, StepName.VIP, StepName.CUTOVER),
    # The source prepared (its option file and accounts; its restart deferred), ProxySQL
    # (the source its only server), the VIP and the cutover; then the replicas step, which
    # restarts the source first, behind ProxySQL.
    MigrationOrder.PROXY_FIRST: (StepName.DISCOVER, StepName.PREPARE_SOURCE, StepName.PROXYSQL,
                                 StepName.VIP, StepName.CUTOVER, StepName.REPLICAS),
}


def implemented(state: MigrationState | None = None) -> list[StepName]:
    """The steps in the order `state`'s migration runs them (classic until it is decided)."""
    order = (state.order if state is not None else None) or MigrationOrder.CLASSIC
    return [name for name in ORDERS[order] if name in STEP_CLASSES]


def steps_through(until: StepName | None, state: MigrationState | None = None
                  ) -> list[StepName]:
    """The steps in order, up to and including `until`."""
    out = []
    for name in implemented(state):
        out.append(name)
        if name == until:
            break
    return out
