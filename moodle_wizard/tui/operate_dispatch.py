"""Starting the cluster operations of the Operate screen (switchover, failover, rejoin, the
drills) and handling what they report, as dispatch.py does for the migration's: the request
is bound to the open migration (its inventory, journal and lock), operate_ops.py runs it in
the engine thread, its events and its outcome land in the app's OperateLog."""

from __future__ import annotations

from typing import Any

from moodle_wizard.tui.app_base import WizardBase
from moodle_wizard.tui.draft import InventoryDraft
from moodle_wizard.tui.operate_model import OperateLog
from moodle_wizard.tui.operations import ClusterOperation, Health, Operation, Work
from moodle_wizard.tui.results import OperateResult
from moodle_wizard.tui.runner import OpDone


class OperateOps(WizardBase):
    def reset_migration(self, draft: InventoryDraft | None = None) -> None:
        super().reset_migration(draft)
        self.operate = OperateLog()

    def submit(self, request: Operation[Any]) -> bool:
        raise NotImplementedError  # EngineOps's (dispatch.py)

    def open_operate(self) -> None:
        """Where a completed migration opens: the Operate screen, its health checked."""
        self.goto("operate")
        self.submit(Health())

    def _bind_cluster(self, request: ClusterOperation) -> Work[OperateResult] | None:
        if self.state is None or self.state_file is None:
            return None
        inventory = self.saved_inventory()
        if inventory is None:
            return None
        if not self.take_lock(self.state_file):
            return None
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        self.operate.start(request.title)
        state, path, settings = self.state, self.state_file, self.settings
        from moodle_wizard.tui import operate_ops  # the engine, loaded when first used

        return lambda io: operate_ops.run_operation(io, settings, inventory, state, path,
                                                    request)

    def _cluster_done(self, done: OpDone) -> None:
        """Called by on_op_done after it recorded the error (if any) in self.errors."""
        result = done.result
        if done.error is not None:
            self.operate.stopped(self.errors[done.op])
        elif done.cancelled:
            self.operate.stopped("stopped; the journal keeps where it was: continue it with c")
        elif isinstance(result, OperateResult):
            if result.state is not None:
                self.state = result.state
                self.run_model.load(result.state)
            self.operate.succeeded(result.headline, result.lines, result.ok)
            # The cluster changed: show its health as it is now.
            self._then = self._check_health_after

    def _check_health_after(self) -> None:
        self.submit(Health())
