"""What prepare-source runs on the source, as command objects (core/command.py): apply runs
them and the plan and rollback plan render them, so the runbook is what runs.

Pure builders: each takes what was decided (the step's facts and the inventory) and returns
the commands; the step's actions run them after recording what rollback needs.
"""

from __future__ import annotations

from moodle_wizard.core.command import (
    Command,
    Secret,
    Shell,
    Sql,
    WithSecret,
    WriteFile,
    placeholder,
)
from moodle_wizard.core.render.mycnf import DEFAULT_LOG_BIN
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.source_binlog import RUNTIME_SETTINGS

HEARTBEAT_DB = "moodle_wizard"
HEARTBEAT_TABLE = "heartbeat"
LOG_DIR = DEFAULT_LOG_BIN.rsplit("/", 1)[0]


def service_name(flavor: str) -> str:
    return "mariadb" if flavor == "mariadb" else "mysql"


def config(src: str, path: str, cnf: str, *, make_log_dir: bool) -> list[Command]:
    """The wizard's config file (and the binary log's directory when the log was off)."""
    out: list[Command] = []
    if make_log_dir:
        out.append(Shell.sh(src, f"[ -d {LOG_DIR} ] || install -d -o mysql -g mysql {LOG_DIR}"))
    out.append(WriteFile(src, path, cnf, 0o644))
    return out


def restart(src: str, flavor: str) -> Shell:
    return Shell(src, ("service", service_name(flavor), "restart"), timeout=300)


def _setting(name: str) -> str:
    if name not in RUNTIME_SETTINGS:
        raise StepError(f"{name} is not a setting this step changes")
    return name


def set_global(src: str, name: str, value: str | int) -> Sql:
    return Sql(src, Statement(f"SET GLOBAL {_setting(name)} = %s", (value,)))


def restore_global(src: str, name: str, value: str) -> Sql:
    """A setting back to the value read before the step changed it (kept as text in the
    facts): binlog_format as a word, the others as the numbers the server takes."""
    if _setting(name) == "binlog_format":
        return Sql(src, Statement(f"SET GLOBAL {name} = %s", (value,)))
    if "." in value:  # expire_logs_days may be fractional; float() proves it is a number
        return Sql(src, Statement(f"SET GLOBAL {name} = {float(value)!r}"))
    return Sql(src, Statement(f"SET GLOBAL {name} = %s", (int(value),)))


def create_account(src: str, d: Dialect, user: str, host: str, secret: str,
                   grant: Statement) -> list[Command]:
    """CREATE USER IF NOT EXISTS keeps an old password, so it is set again; then the grant."""

    def create(password: str) -> Command:
        return Sql(src, d.create_user(user, host, password))

    def alter(password: str) -> Command:
        return Sql(src, d.alter_user_password(user, host, password))

    return [WithSecret(Secret(secret), create), WithSecret(Secret(secret), alter),
            Sql(src, grant)]


def _account(user: str, host: str) -> str:
    """An account as SHOW CREATE USER and accounts.copy_account_statements write it."""
    return "`" + user.replace("`", "``") + "`@`" + host.replace("`", "``") + "`"


def show_create_setup(src: str, d: Dialect) -> list[Command]:
    """The session setting SHOW CREATE USER needs to print a hash that can be copied."""
    return [Sql(src, s) for s in d.prepare_show_create_user()]


def copy_account_plan(src: str, user: str, new_host: str) -> list[Command]:
    """The statements copying Moodle's account to new_host, for the runbook: what they say
    comes from SHOW CREATE USER and SHOW GRANTS at run time (placeholders), the account they
    are for is as they run."""
    return [Sql(src, Statement(f"CREATE USER IF NOT EXISTS {_account(user, new_host)} "
                               + placeholder("its login as SHOW CREATE USER shows it"))),
            Sql(src, Statement("GRANT " + placeholder("each grant SHOW GRANTS shows") + " TO "
                               + _account(user, new_host) + placeholder("grant options")))]


def copy_account(src: str, statements: list[Statement]) -> list[Command]:
    """The copy as it runs (statements from accounts.copy_account_statements)."""
    return [Sql(src, s) for s in statements]


def heartbeat(src: str) -> list[Command]:
    return [
        Sql(src, Statement(f"CREATE DATABASE IF NOT EXISTS `{HEARTBEAT_DB}`")),
        Sql(src, Statement(
            f"CREATE TABLE IF NOT EXISTS `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` ("
            "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, token VARCHAR(64) NOT NULL, "
            "written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB")),
    ]


def first_logged_write(src: str) -> Sql:
    """One row in the wizard's scratch table right after the binary log is on: the backup then
    records a GTID position even on a site nobody writes to (the proxy-first order made the
    accounts before the binary log was on, so nothing else is logged yet)."""
    return Sql(src, Statement(f"INSERT INTO `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` (token) "
                              "VALUES (%s)", ("binary log on",)))


def drop_heartbeat(src: str) -> Sql:
    return Sql(src, Statement(f"DROP DATABASE IF EXISTS `{HEARTBEAT_DB}`"))


def restore_config(src: str, path: str, previous: str | None) -> Command:
    if previous is None:
        return Shell(src, ("rm", "-f", path))
    return WriteFile(src, path, previous, 0o644)


BINLOGS_NOTE = "only if log_bin was OFF before and none were there then"


def remove_binlogs(src: str, files: list[str] | None, *, log_dir: bool) -> list[Command]:
    """The binary logs the wizard's settings made (None: the plan's placeholder), and the
    log directory if the wizard made it (left if anything else is in it)."""
    shown = files if files is not None else [placeholder("the binary logs there now")]
    out: list[Command] = []
    if shown:
        out.append(Shell(src, ("rm", "-f", "--", *shown), note=BINLOGS_NOTE))
    if log_dir:
        out.append(Shell(src, ("rmdir", "--ignore-fail-on-non-empty", LOG_DIR), check=False,
                         note=BINLOGS_NOTE))
    return out
