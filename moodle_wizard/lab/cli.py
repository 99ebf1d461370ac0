"""The `lab` subcommands."""

from __future__ import annotations

import argparse
import sys

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.lab import backup, lab
from moodle_wizard.lab.host import interactive
from moodle_wizard.lab.system import LabError, require_root
from moodle_wizard.lab.topology import (
    ALL_HOST_NAMES,
    BACKUP_STATES,
    DEFAULT_DB_PORT,
    DEFAULT_SUBNET,
    LAYOUTS,
    MAX_APP_HOSTS,
    REPLICA_STATES,
    Shape,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lab", help="the local lab of real servers (root)")
    lsub = p.add_subparsers(dest="lab_command", required=True)
    upp = lsub.add_parser("up", help="build the lab, or check and repair it")
    upp.add_argument("--data-mb", type=int, default=50, help="size of db1's Moodle data")
    upp.add_argument("--proxysql-bin", help="a real proxysql binary to use on px1/px2")
    upp.add_argument("--subnet", default=None, help=f"lab subnet (default {DEFAULT_SUBNET})")
    # Options are checked by Shape.check (one line naming the fix), not by argparse choices.
    upp.add_argument("--shape", default=LAYOUTS[0], metavar="|".join(LAYOUTS),
                     help="single-server: Moodle and MariaDB (on 127.0.0.1) both on db1, no "
                          "app host (default standard)")
    upp.add_argument("--replicas", default=REPLICA_STATES[0], metavar="|".join(REPLICA_STATES),
                     help="db2/db3: empty datadir with the packages (default), as `apt-get "
                          "install mariadb-server` leaves them, or without the packages")
    upp.add_argument("--app-hosts", type=int, default=1, metavar="N",
                     help=f"Moodle app servers, 1 to {MAX_APP_HOSTS} (2 adds app2)")
    upp.add_argument("--db-port", type=int, default=DEFAULT_DB_PORT, metavar="P",
                     help=f"db1's MariaDB port (default {DEFAULT_DB_PORT})")
    upp.add_argument("--backup", default=BACKUP_STATES[0], metavar="|".join(BACKUP_STATES),
                     help="nightly: db1's binary log on, a `backup` host with last night's "
                          "mariadb-backup directory and SQL dump of db1, and Moodle's writes "
                          "since; purged: the same, db1's binary logs then purged past the "
                          "backups (default none)")
    lsub.add_parser("down", help="stop and remove everything the lab built")
    lsub.add_parser("status", help="what runs in the lab")
    sh = lsub.add_parser("shell", help="a root shell on a lab host")
    sh.add_argument("host", help=", ".join(ALL_HOST_NAMES))
    ex = lsub.add_parser("exec", help="run a command on a lab host: lab exec HOST -- CMD...")
    ex.add_argument("host", help=", ".join(ALL_HOST_NAMES))
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    lsub.add_parser("inventory", help="print the path of the lab's inventory file")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except OperatorError as exc:  # the lab's (LabError, TopologyError) and the core's alike
        print(f"moodle-wizard lab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("moodle-wizard lab: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    cmd = args.lab_command
    require_root()
    if cmd == "up":
        shape = Shape(args.shape, args.replicas, args.app_hosts, args.db_port, args.backup)
        lab.up(args.subnet, args.data_mb, args.proxysql_bin, shape=shape)
        return 0
    if cmd == "down":
        lab.down()
        return 0
    if cmd == "status":
        return _status()
    if cmd == "shell":
        return interactive(lab.pid_of(args.host), ["bash", "-l"])
    if cmd == "exec":
        argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not argv:
            raise LabError("nothing to run: use `moodle-wizard lab exec HOST -- CMD ...`")
        return interactive(lab.pid_of(args.host), argv)
    if cmd == "inventory":
        print(lab.inventory_path())
        return 0
    raise LabError(f"unknown lab command {cmd}")


def _status() -> int:
    state, hosts = lab.status()
    if state is None:
        print("lab: down")
        return 1
    healthy = all(h.pid and h.ssh and all(h.services.values()) for h in hosts)
    print(f"lab: {'up' if healthy else 'DEGRADED (repair with `moodle-wizard lab up`)'} on "
          f"{state.subnet}, data {state.data_mb} MB, ProxySQL {state.proxysql}, "
          f"memory {lab.lab_memory_kb() // 1024} MiB")
    print(f"  {state.shape.describe()}"
          + (f" (built with `lab up {state.shape.options()}`)" if state.shape.options() else ""))
    taken = backup.Backups.load(lab.LABDIR) if state.shape.has_backup else None
    existing = [lab.LABDIR / name for name in backup.EXISTING_INVENTORIES]
    for line in backup.summary_lines(taken, existing) if taken else []:
        print(line)
    for h in hosts:
        services = " ".join(f"{k}:{'up' if v else 'DOWN'}" for k, v in h.services.items())
        print(f"  {h.name:<6} {h.address:<13} {'running' if h.pid else 'STOPPED':<8} "
              f"ssh:{'up' if h.ssh else 'DOWN'} {services}")
    return 0 if healthy else 1
