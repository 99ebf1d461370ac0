"""One error root (issue 11): the operator's problems are one line, bugs a traceback in the log.

The headless tests drive the real command line (`cli.main`), engine, discovery and database
login; only the network is faked: SSH hosts that answer, and a database server whose
`SELECT VERSION()` says what the test wants.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

import moodle_wizard
from moodle_wizard import cli
from moodle_wizard.core.errors import OperatorError, WizardError, explain
from moodle_wizard.core.remote.ssh import Result, SshTarget
from moodle_wizard.core.sql.version import UnsupportedServerError, parse_version
from tests.unit.inventories import MINIMAL_INVENTORY

INVENTORY = MINIMAL_INVENTORY

DB_PASSWORD = "Moodle-Db-Pw-7731"


class FakeCursor:
    def __init__(self, version: str, comment: str) -> None:
        self.row = {"v": version, "c": comment}

    async def __aenter__(self) -> FakeCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, sql: str, args: object = None) -> None:
        assert sql.startswith("SELECT VERSION()"), sql

    async def fetchone(self) -> dict[str, str]:
        return self.row


class FakeConnection:
    def __init__(self, version: str, comment: str) -> None:
        self.version, self.comment = version, comment
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.version, self.comment)

    def close(self) -> None:
        self.closed = True

    async def ensure_closed(self) -> None:
        self.closed = True


class FakeHost:
    def __init__(self, target: SshTarget) -> None:
        self.target = target

    async def forward_local_to_path(self, path: str) -> tuple[str, int]:
        return "127.0.0.1", 9

    def stop_forward(self, port: int) -> None:
        pass

    async def run(self, argv: Any, **_: Any) -> Result:
        return Result(0, "", "")


class FakePool:
    """Every host answers SSH (the host key question never comes up)."""

    def __init__(self, policy: object, audit: object = None) -> None:
        self.policy = policy

    async def __aenter__(self) -> FakePool:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    async def connect(self, target: SshTarget) -> FakeHost:
        return FakeHost(target)


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An inventory whose hosts answer; the source's server says MariaDB 5.5."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(state_dir))
    inventory = tmp_path / "site.toml"
    inventory.write_text(INVENTORY)
    fake_network(monkeypatch)
    yield inventory


def fake_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host answers SSH, config.php reads, the source's server says MariaDB 5.5."""
    monkeypatch.setattr("moodle_wizard.core.session.SshPool", FakePool)

    async def read_moodle_config(host: FakeHost, path: str) -> dict[str, Any]:
        return {"dbtype": "mariadb", "dbhost": "127.0.0.1", "dbname": "moodle",
                "dbuser": "moodle", "dbpass": DB_PASSWORD, "prefix": "mdl_",
                "dboptions": {}, "connect": {"ok": True}}

    monkeypatch.setattr("moodle_wizard.core.steps.discover.read_moodle_config",
                        read_moodle_config)
    server_version(monkeypatch, "5.5.68-MariaDB", "MariaDB Server")


def break_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in discovery: a KeyError whose text holds a secret the session knows."""
    async def broken(self: Any, dbname: str) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        return facts[f"server_version for {DB_PASSWORD}"]  # type: ignore[no-any-return]

    monkeypatch.setattr("moodle_wizard.core.steps.discover.Discover._source", broken)
    # A supported server: discovery's preflight refuses any other before _source runs.
    server_version(monkeypatch, "10.11.6-MariaDB", "Debian 12")


def server_version(monkeypatch: pytest.MonkeyPatch, version: str, comment: str) -> None:
    async def connect(**_: Any) -> FakeConnection:
        return FakeConnection(version, comment)

    monkeypatch.setattr("moodle_wizard.core.remote.mysql.aiomysql.connect", connect)


def run_discovery(inventory: Path) -> int:
    return cli.main(["run", "--inventory", str(inventory), "--until", "discover", "--yes"])


def bug_log(inventory: Path) -> Path:
    return inventory.parent / "state" / "moodle-wizard.log"


@pytest.mark.parametrize(("version", "comment", "words"), [
    ("5.5.68-MariaDB", "MariaDB Server",
     "db1: MariaDB 5.5.68 is too old: moodle-wizard supports MariaDB 10.5 to 11.8"),
    ("5.6.51-log", "MySQL Community Server (GPL)", "db1: MySQL 5.6.51 is too old: MySQL 8.0"),
    ("not-a-version", "", "db1: cannot read a server version from 'not-a-version'"),
])
def test_an_unsupported_server_ends_headless_with_one_line_and_no_traceback(
        site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        version: str, comment: str, words: str) -> None:
    server_version(monkeypatch, version, comment)
    code = run_discovery(site)
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moodle-wizard: discover: "), err
    assert words in lines[0] and "nothing was changed" in lines[0]
    assert "Traceback" not in err and "bug" not in err
    assert not bug_log(site).exists(), "an operator's problem is no bug"


def test_a_bug_in_a_step_leaves_its_traceback_in_the_log_and_a_short_note(
        site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    break_discovery(monkeypatch)
    code = run_discovery(site)
    err = capsys.readouterr().err
    log = bug_log(site)
    assert code == 70, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moodle-wizard: KeyError: "), err
    assert "a bug in moodle-wizard" in lines[0] and str(log) in lines[0]
    assert "Traceback" not in err and DB_PASSWORD not in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert "KeyError" in text and DB_PASSWORD not in text and "********" in text  # masked
    assert log.stat().st_mode & 0o777 == 0o600


def test_explain_tells_the_operator_from_a_bug(tmp_path: Path) -> None:
    log = tmp_path / "bugs.log"
    verdict = explain(UnsupportedServerError("MySQL 5.6.51 is too old"), log=log)
    assert verdict.operator and not verdict.bad_input
    assert verdict.text == "MySQL 5.6.51 is too old" and not log.exists()
    try:
        {}["x"]
    except KeyError as exc:
        verdict = explain(exc, log=log, mask=lambda t: t.replace("'x'", "'?'"))
    assert not verdict.operator and "KeyError: '?'" in verdict.text
    assert str(log) in verdict.text and "Traceback" in log.read_text()


def test_parse_version_refusals_are_operator_errors() -> None:
    with pytest.raises(OperatorError):
        parse_version("garbage")
    assert not issubclass(UnsupportedServerError, ValueError)


# -- every error the wizard raises for the operator derives from OperatorError -------------

# The ProxySQL stand-in is a separate server program the lab runs in place of ProxySQL: its
# errors are ProxySQL's protocol errors sent to clients, never shown by the wizard.
NOT_THE_WIZARDS = "moodle_wizard.lab.proxysql_standin"


def wizard_exception_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(moodle_wizard.__path__, "moodle_wizard."):
        if info.name.endswith("__main__") or info.name.startswith(NOT_THE_WIZARDS):
            continue
        module = importlib.import_module(info.name)
        found += [c for c in vars(module).values()
                  if inspect.isclass(c) and issubclass(c, BaseException)
                  and c.__module__ == module.__name__]
    return found


def test_every_exception_class_the_wizard_defines_is_an_operator_error() -> None:
    classes = wizard_exception_classes()
    names = {c.__name__ for c in classes}
    # The walk sees them all (a sample from each corner of the package).
    assert {"StepError", "RemoteError", "ChangedHostKey", "CommandFailed", "SecretError",
            "StateError", "LockHeldError", "InventoryError", "UnsupportedServerError",
            "HostLockHeld", "HostLockError", "ForeignJobDirectory", "UnsafeDirectory",
            "MigrationError", "PreflightFailed", "DatabaseError", "ProxySqlError",
            "ConfigPhpError", "LabError"} <= names, names
    roots = {WizardError, OperatorError}
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes
              if c not in roots and not issubclass(c, OperatorError)]
    assert not strays, f"not OperatorErrors: {strays}"


@pytest.mark.parametrize("name", ["../site", ".hidden"])
def test_a_migration_name_that_is_no_file_name_is_bad_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str) -> None:
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(tmp_path / "state"))
    code = cli.main(["status", "--migration", name])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == (f"moodle-wizard: invalid migration name {name!r}: it names the "
                           f"journal file in {tmp_path / 'state'}, so it cannot be empty, hold "
                           "'/' or start with '.'")
