"""``python -m moodle_wizard.lab.proxysql_standin``: run the lab's ProxySQL stand-in."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from moodle_wizard.lab.proxysql_standin import LOG_NAME, STANDIN_VERSION, initial_config
from moodle_wizard.lab.proxysql_standin.app import Settings
from moodle_wizard.lab.proxysql_standin.process import (
    AlreadyRunning,
    PidFile,
    name_process,
    run_daemon,
    run_foreground,
    setup_logging,
)

DEFAULT_CONFIG = Path("/etc/proxysql.cnf")
DEFAULT_DATADIR = Path("/var/lib/proxysql")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m moodle_wizard.lab.proxysql_standin",
        description="ProxySQL stand-in for the moodle-wizard lab (not ProxySQL): admin "
        "interface with ProxySQL's tables and LOAD/SAVE, client interface relaying to "
        "backends by hostgroup, read_only monitor.",
    )
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help=f"initial config file, read on a first start only "
                        f"(default {DEFAULT_CONFIG} if it exists)")
    parser.add_argument("-D", "--datadir", type=Path, default=None,
                        help=f"directory of proxysql.db (default: the config file's "
                        f"datadir, else {DEFAULT_DATADIR})")
    parser.add_argument("--pidfile", type=Path, default=None,
                        help="pid file (default DATADIR/proxysql.pid)")
    parser.add_argument("--logfile", type=Path, default=None,
                        help="log file (default: stderr in the foreground, "
                        "DATADIR/proxysql.log as a daemon)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-f", "--foreground", dest="daemon", action="store_false",
                      help="stay in the foreground (the default)")
    mode.add_argument("--daemon", dest="daemon", action="store_true",
                      help="detach; the command returns once the stand-in listens")
    parser.add_argument("--initial", action="store_true",
                        help="ignore DATADIR/proxysql.db and start again from the "
                        "defaults and the config file")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--version", action="version",
                        version=f"ProxySQL stand-in {STANDIN_VERSION} (moodle-wizard lab)")
    parser.set_defaults(daemon=False)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config_path: Path | None = args.config
    if config_path is None and DEFAULT_CONFIG.exists():
        config_path = DEFAULT_CONFIG
    try:
        config = (
            initial_config.load(config_path) if config_path else initial_config.InitialConfig()
        )
    except initial_config.ConfigError as error:
        print(f"{LOG_NAME}: {error}", file=sys.stderr)
        return 2
    datadir: Path = args.datadir or Path(config.datadir or DEFAULT_DATADIR)
    pidfile = PidFile(args.pidfile or datadir / "proxysql.pid")
    logfile: Path | None = args.logfile
    if logfile is None and args.daemon:
        logfile = datadir / "proxysql.log"
    setup_logging(logfile, args.log_level)
    name_process()
    settings = Settings(datadir=datadir, initial_config=config, initial=args.initial)
    try:
        if args.daemon:
            return run_daemon(settings, pidfile)
        return run_foreground(settings, pidfile)
    except (AlreadyRunning, initial_config.ConfigError, OSError, ValueError) as error:
        print(f"{LOG_NAME}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
