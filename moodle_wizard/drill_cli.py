"""The headless `drill switchover` and `drill primary` (core/operate/drills.py), printed.

`drill primary` really stops the production primary's MariaDB: it needs
`--stop-the-primary` or the operator's yes at a terminal; `--yes` alone never does it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from moodle_wizard.core import events as ev
from moodle_wizard.core.errors import OperatorError, StepError

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["add_parsers", "run_drill"]

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(kinds: Any) -> None:
    """`drill switchover` and `drill primary`, beside `drill vip`."""
    so = kinds.add_parser("switchover", help="with a probe writing as Moodle does, switch over "
                          "to a replica and back; report failed writes, the longest pause and "
                          "lost transactions per leg (exit 1 if any write failed or was lost)")
    so.add_argument("--to", metavar="HOST", help="the replica to switch to (default: the "
                    "first serving replica)")
    pr = kinds.add_parser("primary", help="with a probe writing as Moodle does, crash the "
                          "primary's MariaDB (kill -9), fail over, measure the write outage "
                          "and lost writes; then restart it, rejoin it and switch back to it")
    pr.add_argument("--to", metavar="HOST", help="the replica the failover promotes (default: "
                    "the most advanced)")
    pr.add_argument("--stop-the-primary", action="store_true", help="yes, really kill the "
                    "production primary's MariaDB (without it the drill asks at a terminal; "
                    "--yes alone does not answer that question)")
    for p in (so, pr):
        p.add_argument("--json", action="store_true", help="print the figures as JSON")
        p.add_argument("--migration", help="which saved migration (if several)")
        p.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
        p.add_argument("--yes", action="store_true", help="answer yes to the operations' "
                       "questions that --yes may answer (never the risky ones)")


class Said:
    """The session's event sink, also keeping the output lines (the failover's confirm-down
    time is read from them)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.lines: list[str] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.OutputLine):
            self.lines.append(event.line)
        self.sink(event)


def consented(said: Said) -> Any:
    """The operations' questions inside a drill the operator said yes to: answered yes (in
    the output, not on stdout: --json's stdout is the figures), the risky ones refused as
    --yes refuses them."""
    async def confirm(message: str, risky: bool) -> bool:
        if risky:
            raise StepError(f"refused: --yes does not answer this question: {message}")
        said(ev.OutputLine("drill", "", f"question: {message} -> yes (the drill's yes)"))
        return True
    return confirm


async def run_drill(args: argparse.Namespace, ctx: Context, said: Said) -> int:
    from moodle_wizard.core.operate.drills import drill_primary, drill_switchover

    name = f"drill {args.drill}"
    try:
        if args.drill == "switchover":
            if args.yes:
                ctx.confirm = consented(said)
            result: Any = await drill_switchover(ctx, args.to)
        else:
            primary = ctx.state.cluster.primary_of(ctx.inventory.source)
            if not args.stop_the_primary and not await ctx.confirm(
                    f"kill -9 MariaDB on the primary {primary} (Moodle cannot write until the "
                    "failover), fail over, then bring it back and switch back to it?", True):
                print(f"{name}: declined; nothing was changed (--stop-the-primary says yes)")
                return EXIT_FAILED
            # One consent for the whole drill: the failover's own question is answered.
            ctx.confirm = consented(said)
            result = await drill_primary(ctx, args.to, said.lines)
    except OperatorError as exc:
        print(f"{name}: FAILED: {ctx.secrets.mask(str(exc))}")
        return EXIT_FAILED
    missed = result.missed()
    if args.json:
        print(json.dumps({"drill": args.drill, **dataclasses.asdict(result), "missed": missed},
                         indent=2))
        return EXIT_FAILED if missed else EXIT_OK
    print(f"{name}:")
    for line in result.summary():
        print(f"  {line}")
    for line in missed:
        print(f"  MISSED: {line}")
    print(f"{name}: {'targets missed' if missed else 'every target met'}")
    return EXIT_FAILED if missed else EXIT_OK
