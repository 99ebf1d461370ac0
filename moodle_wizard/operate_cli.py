"""The headless commands that operate the migrated cluster: switchover, failover, rejoin,
proxysql sync."""

from __future__ import annotations

import argparse
from typing import Any

from moodle_wizard.core.operate.report import OperationReport
from moodle_wizard.core.state import MigrationState

__all__ = ["add_parsers", "cmd_operate"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--migration", help="which saved migration (if several)")
    p.add_argument("--accept-host-key", action="append", metavar="HOST=SHA256:...")
    p.add_argument("--yes", action="store_true", help="answer yes to the questions --yes may "
                   "answer (never the risky ones)")


def add_parsers(sub: Any) -> None:
    so = sub.add_parser("switchover", help="make a replica the primary (planned: the primary "
                        "is healthy); no write is lost, Moodle's writes pause")
    so.add_argument("--to", required=True, metavar="HOST", help="the replica to promote")
    so.add_argument("--plan", action="store_true", help="print what it would run, change "
                    "nothing")
    so.add_argument("--abort", action="store_true", help="undo a switchover in flight that "
                    "has not promoted its target yet")
    _common(so)
    fo = sub.add_parser("failover", help="the primary is dead: promote the most advanced "
                        "replica, fence the old primary (confirms first that it is down)")
    fo.add_argument("--to", metavar="HOST", help="the replica to promote (when two are equally "
                    "advanced, or to choose)")
    _common(fo)
    rj = sub.add_parser("rejoin", help="a failed-over old primary comes back as a replica "
                        "(refused, with why, if it holds transactions the cluster lacks)")
    rj.add_argument("host", metavar="HOST")
    _common(rj)
    px = sub.add_parser("proxysql", help="ProxySQL on the migrated cluster")
    px_commands = px.add_subparsers(dest="proxysql_command", required=True)
    sy = px_commands.add_parser("sync", help="Moodle's database password changed: read it "
                                "from config.php again, check it on the primary, give it to "
                                "every ProxySQL node that lacks it (mysql_users, runtime and "
                                "disk), verify identical checksums and logins")
    sy.add_argument("--plan", action="store_true", help="print what each node lacks and what "
                    "would run, change nothing")
    _common(sy)


def print_cluster(state: MigrationState) -> None:
    """`status`'s lines on the cluster after the migration (none before any operation)."""
    cluster = state.cluster
    if cluster.primary or cluster.fenced or cluster.history or cluster.operation:
        fenced = f"; fenced: {', '.join(cluster.fenced)}" if cluster.fenced else ""
        print(f"  cluster: primary {cluster.primary or 'the source (as migrated)'}{fenced}")
        for done in cluster.history[-3:]:
            what = (f"of {done.target}" if done.kind == "proxysql sync"
                    else f"to {done.target} (from {done.old_primary})")
            print(f"    {done.started_at:%Y-%m-%d %H:%M:%S} {done.kind} {what}: {done.status}")
        op = cluster.operation
        if op is not None:
            err = f" — {op.last_error}" if op.last_error else ""
            print(f"    IN FLIGHT: {op.kind} to {op.target} ({op.status}, "
                  f"{len(op.actions)} action(s)){err}; continue it: {op.continue_command()}")


async def _sync(args: argparse.Namespace, ctx: Any) -> int:
    """`proxysql sync` (core/operate/sync.py); `--plan` reads and changes nothing."""
    from moodle_wizard.core.operate.sync import run_sync, sync_plan

    if not args.plan:
        print_report(await run_sync(ctx))
        return 0
    found = await sync_plan(ctx)
    for node in found.nodes:
        print(f"{node.node}: " + ("; ".join(node.differs) if node.differs else
                                  f"{found.user} already has config.php's password"))
    if not found.changes:
        print("nothing to change")
        return 0
    print(f"{found.plan.title}:")
    for action in found.plan.actions:
        print(f"- {action.title}")
        for line in action.runbook:
            print(f"    {line}")
    return 0


def print_report(report: OperationReport) -> None:
    print(f"{report.kind}: done in {report.seconds:.1f} s")
    for line in report.lines:
        print(f"  {line}")


async def cmd_operate(args: argparse.Namespace, ctx: Any) -> int:
    """Run the operation `args.command` in the migration's session `ctx`."""
    from moodle_wizard.core.operate import api

    if args.command == "proxysql":
        return await _sync(args, ctx)
    if args.command == "switchover":
        from moodle_wizard.core.operate.switchover import run_switchover, switchover_plan

        if args.plan:
            plan = switchover_plan(ctx, args.to)
            print(f"{plan.title}:")
            for action in plan.actions:
                print(f"- {action.title}")
                for line in action.runbook:
                    print(f"    {line}")
            print(f"if it fails before {args.to} is promoted, it is undone:")
            for action in plan.undo:
                print(f"- {action.title}")
                for line in action.runbook:
                    print(f"    {line}")
            return 0
        report = await run_switchover(ctx, args.to, abort_it=args.abort)
    elif args.command == "failover":
        report = await api.failover(ctx, args.to)
    else:
        report = await api.rejoin(ctx, args.host)
    print_report(report)
    return 0
