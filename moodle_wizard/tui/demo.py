"""`moodle-wizard demo`: the guided demo. On the machine (root) it brings the lab up if it is
not (or repairs it), then runs the real wizard on the lab's jump host - where an operator
would run it - with the guide panel on every screen and the lab's inventory pre-filled.
`--here` is that second half: the wizard, guided, in this process (used on the jump host)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

# Terminal settings the wizard on the jump host should see as the operator's terminal has them.
PASS_ENV = ("TERM", "COLORTERM", "NO_COLOR", "LANG", "LC_ALL", "TEXTUAL_COLOR_SYSTEM")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="the guided demo: the lab (built if needed) and the wizard "
                       "with a guide panel on every screen (root)")
    p.add_argument("--here", action="store_true",
                   help="run the guided wizard in this process (the lab's jump host) instead "
                   "of building the lab and starting it there")
    p.add_argument("--data-mb", type=int, default=None,
                   help="size of db1's Moodle data when the lab is built (default 50)")


def main(args: argparse.Namespace) -> int:
    if args.here:
        return run_here()
    from moodle_wizard.lab import lab
    from moodle_wizard.lab.host import exec_argv
    from moodle_wizard.lab.system import LabError, require_root

    try:
        require_root()
        previous = lab.LabState.load(lab.LABDIR)
        data_mb = args.data_mb or (previous.data_mb if previous else 50)
        print("demo: bringing the lab up (or checking it)…", flush=True)
        lab.up(None, data_mb, None)
        print(f"demo: the lab's inventory is {lab.inventory_path()}", flush=True)
        jump = lab.pid_of("jump")
    except LabError as exc:
        print(f"moodle-wizard demo: {exc}", file=sys.stderr)
        return 2
    env = [f"{k}={os.environ[k]}" for k in PASS_ENV if k in os.environ]
    if "TERM" not in os.environ:
        env.append("TERM=xterm-256color")
    argv = exec_argv(jump, ["env", *env, "moodle-wizard", "demo", "--here"])
    print("demo: starting the wizard on the lab's jump host (ctrl+q quits; run "
          "`moodle-wizard demo` again to come back)", flush=True)
    return subprocess.call(argv)


def run_here() -> int:
    from moodle_wizard.tui.app import WizardApp, lab_inventory

    path = lab_inventory()
    WizardApp(guide=True, prefill=path if path.is_file() else None,
              watch_loop=bool(os.environ.get("MOODLE_WIZARD_LOOPWATCH"))).run()
    return 0
