"""Starting engine operations and handling what they report.

Every operation is a typed request (operations.py). `submit` is the one way to start one: it
refuses while another runs, binds the request to the open migration (inventory, journal, lock)
with the handler for its type, and hands the work to the runner. When the runner posts OpDone,
the outcome is handled by the request's type as well. Nothing here decides anything about the
migration: that is the engine's (see ops.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moodle_wizard.core import journal
from moodle_wizard.core.errors import explain
from moodle_wizard.core.inventory import InventoryError
from moodle_wizard.core.remote.errors import ChangedHostKey
from moodle_wizard.core.secrets import mask_password_hashes
from moodle_wizard.core.state import StepName, new_state, state_path
from moodle_wizard.tui import heap, results
from moodle_wizard.tui.draft import discovery_key
from moodle_wizard.tui.operate_dispatch import OperateOps
from moodle_wizard.tui.operations import (
    CheckStep,
    ClusterOperation,
    Connect,
    Discover,
    Health,
    Operation,
    Review,
    Rollback,
    Run,
    Work,
)
from moodle_wizard.tui.run_model import RunModel
from moodle_wizard.tui.runner import EngineEvents, OpDone, OpMessage
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.rollback import RollbackModal

if TYPE_CHECKING:
    from moodle_wizard.core.health import HealthItem


def describe_error(exc: BaseException) -> str:
    """core/errors.py decides, as for the headless commands: the operator's message, or for a
    bug a short note naming the log that now holds its traceback."""
    from moodle_wizard.core.session import bug_log_path

    return explain(exc, log=bug_log_path(), mask=mask_password_hashes).text


class EngineOps(OperateOps):
    # -- starting ------------------------------------------------------------------------

    def busy_notice(self) -> bool:
        if self.runner.busy:
            self.notify(f"the wizard is busy ({self.runner.current}); wait for it or press "
                        "ctrl+q", severity="warning")
            return True
        return False

    def submit(self, request: Operation[Any]) -> bool:
        """Start `request` in the engine thread; False (and a message) when it cannot start.
        A CheckStep with an invalid draft raises InventoryError (the screen shows it)."""
        if self.busy_notice():
            return False
        work = self._bind(request)
        if work is None:
            return False
        self.runner.start(request, work)
        self.changed.publish(request.name)
        return True

    def start_rollback(self, to: StepName | None, force_config: bool = False) -> bool:
        return self.submit(Rollback(to, force_config))

    def after(self, kind: type[Operation[Any]], callback: Callable[[], None]) -> None:
        """Run `callback` once the next operation of this kind succeeds."""
        self._after[kind] = callback

    def _bind(self, request: Operation[Any]) -> Work[Any] | None:
        match request:
            case Connect():
                return self._bind_connect()
            case Discover():
                return self._bind_discover()
            case Review():
                return self._bind_review()
            case CheckStep(step=step):
                return self._bind_check(step)
            case Run(until=until):
                return self._bind_run(until)
            case Rollback(to=to, force_config=force):
                return self._bind_rollback(to, force)
            case Health():
                return self._bind_health()
            case ClusterOperation():
                return self._bind_cluster(request)
        raise TypeError(f"the wizard cannot start {request!r}")

    def _bind_connect(self) -> Work[results.ConnectionReport] | None:
        try:
            inventory = self.draft.validate()
        except InventoryError as exc:
            self.notify(str(exc), title="inventory", severity="error", timeout=10)
            return None
        self.connection = {}
        self.moodle = None
        self.errors.pop("connect", None)
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        state = new_state(inventory.migration.name, self.draft.path())
        settings = self.settings
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.check_connections(io, settings, inventory, state)

    def _bind_discover(self) -> Work[results.DiscoveryResult] | None:
        try:
            inventory = self.inventory()
            path = state_path(inventory.migration.name)
        except InventoryError as exc:
            self.errors["discover"] = str(exc)
            self.changed.publish("discover")
            return None
        if self.started:
            self.notify("the migration has started; discovery is not run again",
                        severity="warning")
            return None
        if not self.take_lock(path):  # before the saved journal is read
            return None
        if self.state_file != path and path.exists():
            problem = journal.saved_conflict(path)
            if problem:
                self.drop_lock()  # not ours to hold: another migration's journal
                self.errors["discover"] = problem
                self.changed.publish("discover")
                return None
        state = new_state(inventory.migration.name, inventory.path or self.draft.path())
        self.state_file = path
        self.discovery = None
        self.errors.pop("discover", None)
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        self._discovering = discovery_key(self.draft)
        settings = self.settings
        self.run_model = RunModel(self.clock)
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.discover(io, settings, inventory, state, path)

    def _bind_review(self) -> Work[results.ReviewResult] | None:
        if self.state is None:
            return None
        try:
            inventory = self.inventory()
        except InventoryError as exc:
            self.errors["review"] = str(exc)
            self.changed.publish("review")
            return None
        self.review = None
        self.errors.pop("review", None)
        self._reviewing = self.draft.to_toml()
        state, settings = self.state, self.settings
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.review(io, settings, inventory, state)

    def _bind_check(self, step: StepName) -> Work[list[journal.Finding]] | None:
        if self.state is None:
            return None
        inventory = self.draft.validate()
        state, settings = self.state, self.settings
        self.checks.pop(step.value, None)
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.check_step(io, settings, inventory, state, step)

    def _bind_run(self, until: StepName | None) -> Work[results.RunResult] | None:
        if self.state is None or self.state_file is None:
            return None
        try:
            inventory = self.inventory()
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return None
        if not self.take_lock(self.state_file):
            return None
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        self.run_model.mode = "run"
        self.run_model.message = None
        self.health = None
        state, path, settings = self.state, self.state_file, self.settings
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.run(io, settings, inventory, state, path, until)

    def _bind_rollback(self, to: StepName | None,
                       force_config: bool) -> Work[results.RunResult] | None:
        if self.state is None or self.state_file is None:
            return None
        inventory = self.saved_inventory()
        if inventory is None:
            return None
        if not self.take_lock(self.state_file):
            return None
        self.run_model.mode = "rollback"
        self.run_model.message = None
        self.health = None
        state, path, settings = self.state, self.state_file, self.settings
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.rollback(io, settings, inventory, state, path, to, force_config)

    def _bind_health(self) -> Work[list[HealthItem]] | None:
        if self.state is None:
            return None
        inventory = self.saved_inventory()
        if inventory is None:
            return None
        state, settings, path = self.state, self.settings, self.state_file
        self.health = None
        from moodle_wizard.tui import ops  # the engine, loaded when first used

        return lambda io: ops.health(io, settings, inventory, state, path)

    # -- what the engine thread reports -------------------------------------------------------

    def on_engine_events(self, _: EngineEvents) -> None:
        events = self.runner.drain()
        if isinstance(self.runner.request, ClusterOperation):
            self.operate.apply(events)
        else:
            self.run_model.apply(events)
        self.changed.publish("events")

    def on_op_message(self, message: OpMessage) -> None:
        payload = message.payload
        if isinstance(payload, results.HostCheck):
            self.connection[payload.name] = payload
            if payload.changed_key:
                self.show_changed_key(payload.name, payload.reason)
            self.changed.publish("connect")
        elif isinstance(payload, results.MoodleConfig):
            self.moodle = payload
            self.changed.publish("connect")
        elif isinstance(payload, results.StateSnapshot):
            self.state = payload.state
            self.run_model.load(payload.state)
            self.changed.publish("state")
            heap.freeze()  # a step boundary: see heap.py

    def on_op_done(self, done: OpDone) -> None:
        request, op = done.request, done.op
        self.runner.finished()
        if done.error is not None:
            self.errors[op] = describe_error(done.error)
            changed = _changed_key(done.error)
            if changed is not None:
                self.show_changed_key(changed.host, str(changed))
        elif done.cancelled:
            self.errors[op] = "stopped"
        else:
            self.errors.pop(op, None)
        match request:
            case Discover():
                self._discovered(done)
            case Review():
                self._reviewed(done)
            case CheckStep(step=step):
                if isinstance(done.result, list):
                    self.checks[step.value] = done.result
            case Run() | Rollback():
                self._ran(request, done)
            case Health():
                if isinstance(done.result, list):
                    self.health = done.result
            case ClusterOperation():
                self._cluster_done(done)
        self.changed.publish(op)
        self.refresh_bindings()
        callback = self._after.pop(type(request), None)
        if callback is not None and done.error is None and not done.cancelled:
            callback()
        then, self._then = self._then, None
        if then is not None:
            then()

    def _discovered(self, done: OpDone) -> None:
        if isinstance(done.result, results.DiscoveryResult):
            self.discovery = done.result
            self.state = done.result.state
            self.discovered_for = self._discovering
        self.run_model.stop_clocks()

    def _reviewed(self, done: OpDone) -> None:
        if isinstance(done.result, results.ReviewResult):
            self.review = done.result
            self.reviewed_for = self._reviewing

    def _ran(self, request: Run | Rollback, done: OpDone) -> None:
        model, result = self.run_model, done.result
        model.stop_clocks()
        if isinstance(result, results.RunResult):
            self.state = result.state
            model.load(result.state)
        if done.error is not None:
            model.message = self.errors[done.op]
            if isinstance(request, Rollback):
                self._offer_forced_config_rollback(request.to)
        elif done.cancelled:
            model.message = "stopped; the state is saved - resume continues it"
        elif isinstance(request, Rollback) and isinstance(result, results.RunResult):
            model.message = ("rolled back: " + ", ".join(result.undone)
                             if result.undone else "nothing to undo")
        elif self.all_done():
            model.message = "every step is done: Moodle uses ProxySQL at the VIP; checking health"
            self._then = self._check_health
        else:
            model.message = "stopped where asked"

    def _check_health(self) -> None:
        self.submit(Health())

    # -- questions before and after ------------------------------------------------------------

    def _offer_forced_config_rollback(self, to: StepName | None) -> None:
        """The cutover's rollback refused: config.php changed after the cutover (its message,
        with the masked diff, is on the dashboard). Overwriting it is the operator's call."""
        changed = journal.config_changed_since_cutover(self.state) if self.state else []
        if not changed:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_rollback(to, force_config=True)

        self.push_screen(ConfirmModal(
            f"config.php on {', '.join(changed)} was changed after the cutover (the change is "
            "shown on the dashboard). Overwrite it with the original from before the cutover "
            "(as rollback --force-config)?", risky=True, yes="Overwrite", no="Keep it",
            title="config.php changed"), callback=answered)

    def confirm_rollback(self, to: StepName | None) -> None:
        if self.state is None:
            self.notify("no migration is open", severity="warning")
            return
        if self.busy_notice():
            return
        inventory = self.saved_inventory()
        if inventory is None:
            return
        from moodle_wizard.core.preview import rollback_preview  # the engine's

        steps = rollback_preview(inventory, self.state, to)
        if not steps:
            self.notify("nothing to roll back: no step from there on has run", timeout=6)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.goto("dashboard")
                self.start_rollback(to)

        self.push_screen(RollbackModal(to, steps), callback=answered)


def _changed_key(exc: BaseException) -> ChangedHostKey | None:
    """The refused host key behind an engine error (the engine re-raises remote errors as
    MigrationError; the original is its context)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ChangedHostKey):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
