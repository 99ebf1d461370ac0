"""Entry point: `moodle-wizard` opens the wizard; subcommands run headless."""

from __future__ import annotations

import argparse
import sys

from moodle_wizard import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodle-wizard",
        description="Take a standalone Moodle database to a replicated cluster behind "
        "ProxySQL and a virtual IP, step by step and reversibly. Without a command, "
        "opens the wizard.",
    )
    parser.add_argument("--version", action="version", version=f"moodle-wizard {__version__}")
    sub = parser.add_subparsers(dest="command")
    from moodle_wizard.lab import cli as lab_cli

    lab_cli.add_parser(sub)
    from moodle_wizard import headless

    headless.add_parsers(sub)
    from moodle_wizard.tui import demo

    demo.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "lab":
        from moodle_wizard.lab import cli as lab_cli

        return lab_cli.run(args)
    if args.command == "demo":
        from moodle_wizard.tui import demo

        return demo.main(args)
    if args.command is not None:
        from moodle_wizard import headless

        return headless.main(args)
    import os

    from moodle_wizard.tui.app import WizardApp

    WizardApp(watch_loop=bool(os.environ.get("MOODLE_WIZARD_LOOPWATCH"))).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
