"""The headless commands (run, resume, rollback, finish, status, plan): the engine, printed."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from moodle_wizard.core import events as ev
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine, MigrationError
from moodle_wizard.core.errors import OperatorError, explain
from moodle_wizard.core.finish import rollback_refusal
from moodle_wizard.core.inventory import Inventory, InventoryError, load_inventory
from moodle_wizard.core.journal import find_state
from moodle_wizard.core.migrationlock import MigrationLock
from moodle_wizard.core.progress import progress_text
from moodle_wizard.core.runbook import runbook_markdown
from moodle_wizard.core.secrets import mask_password_hashes, terminal_prompt
from moodle_wizard.core.session import bug_log_path, open_session
from moodle_wizard.core.state import (
    MigrationState,
    StepName,
    load,
    new_state,
    state_path,
)
from moodle_wizard.core.steps.base import StepError

# 70: a bug in the wizard (sysexits' EX_SOFTWARE), so automation can tell it from a failure.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 70


class Printer:
    """Prints engine events as lines; progress at most once a second."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout  # the stdout of now, not of when this module was imported
        self._last_progress = 0.0

    def __call__(self, event: ev.Event) -> None:
        match event:
            case ev.StepStarted(step, title):
                self._say(f"==> [{step}] {title}")
            case ev.ActionStarted(_, _, title):
                self._say(f"    - {title}")
            case ev.OutputLine(_, host, line):
                self._say(f"      {host}: {line}")
            case ev.Progress(_, _, done, total):
                now = time.monotonic()
                if now - self._last_progress >= 1.0 or (total and done >= total):
                    self._last_progress = now
                    # The rate and the limit with the bytes (core/progress.py's line).
                    self._say(f"      {progress_text(event)}")
            case ev.StepDone(step, seconds):
                self._say(f"    done: {step} ({seconds:.1f} s)")
            case ev.StepFailed(step, error):
                self._say(f"    FAILED: {step}: {error}")
            case ev.Warning_(step, message):
                self._say(f"    warning ({step}): {message}")

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def make_confirm(yes: bool) -> Any:
    async def confirm(message: str, risky: bool) -> bool:
        if yes and not risky:
            print(f"    question: {message} -> yes (--yes)", flush=True)
            return True
        if yes:
            # --yes says "no prompts": a risky question is refused, not asked, and the one
            # line says which inventory setting answers it in advance (the message names it).
            raise StepError(f"refused: --yes does not answer this question: {message}")
        if not sys.stdin.isatty():
            print(f"    question: {message} -> no (no terminal to ask; "
                  f"{'this one needs the inventory setting it names' if risky else 'use --yes'}"
                  ")", flush=True)
            return False
        answer = await asyncio.to_thread(input, f"    {message} [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    return confirm


def parse_accepted(values: list[str]) -> dict[str, str]:
    accepted = {}
    for value in values:
        host, sep, fingerprint = value.partition("=")
        if not sep or not fingerprint.startswith("SHA256:"):
            raise InventoryError(f"--accept-host-key {value!r}: use HOST=SHA256:fingerprint")
        accepted[host] = fingerprint
    return accepted


def session(inventory: Inventory, state: MigrationState, path: Path | None,
            args: argparse.Namespace, printer: Printer) -> Any:
    return open_session(
        inventory, state, path, emit=printer, confirm=make_confirm(getattr(args, "yes", False)),
        accepted_host_keys=parse_accepted(getattr(args, "accept_host_key", []) or []),
        prompt=terminal_prompt)


def print_rollback_plan(engine: Engine, to: StepName | None) -> None:
    """What the rollback will do, host by host and why, before the operator says yes."""
    for step in engine.rollback_steps(to):
        print(f"rollback {step.name}:")
        for note in step.rollback_notes():
            print(f"  {note}")
        for action in step.rollback_plan():
            print(f"  - {action.title}")


async def cmd_run(args: argparse.Namespace, printer: Printer) -> int:
    inventory: Inventory | None = None
    if args.command == "run":
        inventory = load_inventory(Path(args.inventory))
        path = state_path(inventory.migration.name)
    else:
        path = find_state(args.migration)
    until = StepName(args.until) if getattr(args, "until", None) else None
    # The lock before the journal is read: what another wizard is about to change is never
    # the basis of this one's decisions.
    with MigrationLock(path):
        if inventory is not None:
            state = load(path) if path.exists() else new_state(inventory.migration.name,
                                                               inventory.path or args.inventory)
        else:
            state = load(path)
            inventory = load_inventory(Path(state.inventory_path))
        async with session(inventory, state, path, args, printer) as ctx:
            engine = Engine(ctx)
            if args.command == "rollback":
                to = StepName(args.to) if args.to else None
                refused = rollback_refusal(state)
                if refused is not None:
                    raise MigrationError(f"rollback: {refused}; nothing was changed")
                ctx.force_config = args.force_config
                print_rollback_plan(engine, to)
                if not args.yes and not await ctx.confirm(
                        f"roll back {to or 'everything'} (and every step after it)?", False):
                    print("rollback: declined; nothing was changed")
                    return EXIT_FAILED
                undone = await engine.rollback(to)
                print(f"rolled back: {', '.join(undone) if undone else 'nothing to undo'}")
                return EXIT_OK
            ctx.save()
            await engine.run(until)
    print(f"migration {inventory.migration.name}: "
          f"{'done through ' + until if until else 'all implemented steps done'}")
    return EXIT_OK


async def cmd_plan(args: argparse.Namespace, printer: Printer) -> int:
    inventory = load_inventory(Path(args.inventory))
    state = new_state(inventory.migration.name, inventory.path or args.inventory)
    quiet = Printer(open("/dev/null", "w"))  # noqa: SIM115 - discovery is not the runbook
    async with session(inventory, state, None, args, quiet) as ctx:
        text = await runbook_markdown(ctx)
    if args.output:
        Path(args.output).write_text(text)
        print(f"runbook written to {args.output}")
    else:
        print(text)
    return EXIT_OK


@asynccontextmanager
async def saved_migration(args: argparse.Namespace, printer: Printer) -> AsyncIterator[Context]:
    """The saved migration's session, under its lock, taken before the journal is read (see
    cmd_run): for the commands that act on a migration the wizard already journals."""
    path = find_state(args.migration)
    with MigrationLock(path):
        state = load(path)
        inventory = load_inventory(Path(state.inventory_path))
        async with session(inventory, state, path, args, printer) as ctx:
            yield ctx


async def cmd_drill(args: argparse.Namespace, printer: Printer) -> int:
    """`drill vip`: a real failover of the VIP, timed, on the saved migration's hosts;
    `drill switchover` and `drill primary`: moodle_wizard/drill_cli.py."""
    from moodle_wizard.core.drill import drill_vip

    if args.drill != "vip":
        from moodle_wizard.drill_cli import Said, run_drill

        said = Said(Printer(sys.stderr) if args.json else printer)  # --json: stdout is JSON
        async with saved_migration(args, said) as ctx:  # type: ignore[arg-type]
            return await run_drill(args, ctx, said)
    async with saved_migration(args, printer) as ctx:
        try:
            result = await drill_vip(ctx)
        except OperatorError as exc:
            raise MigrationError(f"drill vip: {ctx.secrets.mask(str(exc))}") from None
    print(f"drill vip: the VIP moved from {result.old_holder} to {result.new_holder} in "
          f"{result.seconds:.2f} s (Moodle's user logged in through it, reaching "
          f"{result.reached.hostname}); ProxySQL on {result.old_holder} runs again")
    return EXIT_OK


async def cmd_operation(args: argparse.Namespace, printer: Printer) -> int:
    """switchover / failover / rejoin (moodle_wizard/operate_cli.py), under the lock."""
    from moodle_wizard.operate_cli import cmd_operate

    async with saved_migration(args, printer) as ctx:
        return await cmd_operate(args, ctx)


async def cmd_finish(args: argparse.Namespace, printer: Printer) -> int:
    """`finish`: the plan, the operator's yes, then the removals (core/finish.py)."""
    from moodle_wizard.core.finish import Finish

    async with saved_migration(args, printer) as ctx:
        state = ctx.state
        finish = Finish(ctx)
        problems = finish.problems()
        if problems:
            raise MigrationError(f"finish: {problems[0]}; nothing was changed")
        plan = await finish.left(finish.plan())
        if state.finished_at is not None and not plan.removals:
            print(f"migration {state.migration_id}: finished "
                  f"{state.finished_at:%Y-%m-%d %H:%M:%S} UTC; nothing left to remove")
            return EXIT_OK
        print(f"finish {state.migration_id}: the migration is complete, the cluster stays."
              "\n  removes:")
        for action in plan.removals:
            print(f"  - {action.title}")
            for line in action.runbook:
                print(f"      {line}")
        if not plan.removals:
            print("  - nothing left to remove")
        print("  keeps:")
        for kept in plan.kept:
            print(f"  - {kept}")
        if not await ctx.confirm("declare the migration finished and remove these? "
                                 "Rollback will no longer be offered", False):
            print("finish: declined; nothing was changed")
            return EXIT_FAILED
        try:
            await finish.run(plan)
        except OperatorError as exc:
            raise MigrationError(f"finish: {ctx.secrets.mask(str(exc))}; run `moodle-wizard "
                                 "finish` again to remove what is left") from None
    print(f"migration {state.migration_id}: finished ({len(plan.removals)} item(s) removed; "
          "the cluster runs on); rollback is no longer offered")
    return EXIT_OK


async def cmd_health(args: argparse.Namespace, printer: Printer) -> int:
    """`health`: core/health.py's checks of the result, one line each (or JSON, or
    Prometheus' text format for node_exporter's textfile collector). Without the migration
    lock, as `status`: it only reads (the journal once, the hosts), so it can watch a cluster
    while another wizard works on it; what it sees is then a moment of that work."""
    from moodle_wizard.core.health import check_health, prometheus_text, verdict

    path = find_state(args.migration)
    state = load(path)
    inventory = load_inventory(Path(state.inventory_path))
    quiet = Printer(io.StringIO())  # the checks report nothing as events
    # The state path only for the generated secrets (ProxySQL's admin password): nothing
    # here saves the journal.
    async with session(inventory, state, path, args, quiet) as ctx:
        report = await check_health(ctx)
    if args.json:
        print(json.dumps({"migration": state.migration_id, **report.to_json()}, indent=2))
    elif args.prometheus:
        print(prometheus_text(report, state.migration_id), end="")
    else:
        for item in report.items:
            mark = "n/a " if not item.applicable else "OK  " if item.ok else "FAIL"
            print(f"{mark} {item.name}: {item.detail}")
        print(f"migration {state.migration_id}: {verdict(report.items)} "
              f"({report.seconds:.1f} s)")
    return EXIT_OK if report.healthy else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    path = find_state(args.migration)
    state = load(path)
    print(f"migration {state.migration_id} (inventory {state.inventory_path}), "
          f"updated {state.updated_at:%Y-%m-%d %H:%M:%S} UTC")
    if state.finished_at is not None:
        print(f"  finished {state.finished_at:%Y-%m-%d %H:%M:%S} UTC (moodle-wizard finish): "
              "rollback is no longer offered")
    for name, step in state.steps.items():
        err = f" — {step.last_error}" if step.last_error else ""
        print(f"  {name:<15} {step.status:<12} {len(step.actions)} action(s){err}")
    from moodle_wizard.operate_cli import print_cluster

    print_cluster(state)
    if args.facts:
        # What each step recorded (defaults left out: a step that recorded nothing shows none).
        learned = {n.value: s.facts.model_dump(mode="json", exclude_defaults=True)
                   for n, s in state.steps.items()}
        print(json.dumps({n: f for n, f in learned.items() if f}, indent=2))
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    steps = [s.value for s in StepName]
    run = sub.add_parser("run", help="plan, preflight and apply the migration (headless)")
    run.add_argument("--inventory", required=True)
    run.add_argument("--until", choices=steps, help="stop after this step")
    for p in (run, sub.add_parser("resume", help="continue the saved migration")):
        p.add_argument("--yes", action="store_true", help="answer yes to every question that "
                       "--yes may answer (not the risky ones)")
        p.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
        if p is not run:
            p.add_argument("--migration", help="which saved migration (if several)")
            p.add_argument("--until", choices=steps, help="stop after this step")
    rb = sub.add_parser("rollback", help="undo a step and everything after it")
    rb.add_argument("--to", choices=steps, help="the first step to undo (default: all)")
    rb.add_argument("--yes", action="store_true")
    rb.add_argument("--migration")
    rb.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
    rb.add_argument("--force-config", action="store_true",
                    help="put config.php back even if someone changed it after the cutover "
                    "(without it, the rollback refuses and shows the change)")
    fin = sub.add_parser("finish", help="declare the migration complete: remove the backups "
                         "only a rollback needed and the wizard's scratch schema (the cluster "
                         "stays; rollback is no longer offered)")
    fin.add_argument("--yes", action="store_true", help="answer yes to the confirmation")
    fin.add_argument("--migration", help="which saved migration (if several)")
    fin.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
    st = sub.add_parser("status", help="the saved migration's steps and facts")
    st.add_argument("--migration")
    st.add_argument("--facts", action="store_true", help="also print the facts learned")
    drill = sub.add_parser("drill", help="failover drills on the migrated cluster")
    kinds = drill.add_subparsers(dest="drill", required=True)
    dv = kinds.add_parser("vip", help="stop ProxySQL where the VIP is, time how long until "
                          "the VIP answers from another node, start ProxySQL again")
    dv.add_argument("--migration", help="which saved migration (if several)")
    dv.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
    from moodle_wizard import drill_cli

    drill_cli.add_parsers(kinds)
    he = sub.add_parser("health", help="check the cluster from outside: the primary, each "
                        "replica's threads, lag, source and read_only, ProxySQL's servers, "
                        "monitor errors and config checksums on each node, the VIP's holder, "
                        "Moodle's login through the VIP (exit 0 when healthy, 1 when not)")
    he.add_argument("--migration", help="which saved migration (if several)")
    shape = he.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the items as JSON")
    shape.add_argument("--prometheus", action="store_true", help="print Prometheus' text "
                       "format (for node_exporter's textfile collector)")
    he.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
    from moodle_wizard import operate_cli

    operate_cli.add_parsers(sub)
    pl = sub.add_parser("plan", help="print the runbook: every command and SQL, secrets masked")
    pl.add_argument("--inventory", required=True)
    pl.add_argument("--output", help="write it to this file instead")
    pl.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")


def main(args: argparse.Namespace) -> int:
    printer = Printer()
    try:
        if args.command == "status":
            return cmd_status(args)
        if args.command == "plan":
            return asyncio.run(cmd_plan(args, printer))
        if args.command == "drill":
            return asyncio.run(cmd_drill(args, printer))
        if args.command == "finish":
            return asyncio.run(cmd_finish(args, printer))
        if args.command == "health":
            return asyncio.run(cmd_health(args, printer))
        if args.command in ("switchover", "failover", "rejoin", "proxysql"):
            return asyncio.run(cmd_operation(args, printer))
        return asyncio.run(cmd_run(args, printer))
    except KeyboardInterrupt:
        print("moodle-wizard: interrupted; the state is saved, continue with "
              "`moodle-wizard resume`", file=sys.stderr)
        return 130
    except Exception as exc:
        # core/errors.py decides: the operator's problem is its one message; anything else
        # is a bug, its traceback in the log and a one-line note here.
        verdict = explain(exc, log=bug_log_path(), mask=mask_password_hashes)
        print(f"moodle-wizard: {verdict.text}", file=sys.stderr)
        if not verdict.operator:
            return EXIT_BUG
        return EXIT_BAD_INPUT if verdict.bad_input else EXIT_FAILED
