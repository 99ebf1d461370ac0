"""Issue 10 items 4 and 5 with faked facts: the source's binary-log setup is kept (basename,
retention never shortened, format changed only when needed, every decision in the plan), the
source's existing replicas keep their server_ids, and a blanket --yes never restarts the
source unless the inventory allows it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.events import ignore
from moodle_wizard.core.facts import CnfBackup, DiscoverFacts, ReplicaHostFacts
from moodle_wizard.core.inventory import InventoryError, load_inventory
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.parsers import binlog_retention_seconds, normalize_replica_hosts
from moodle_wizard.core.sql.version import parse_version
from moodle_wizard.core.state import new_state
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.prepare_source import PrepareSource
from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.replicas import step as replicas_mod
from moodle_wizard.headless import make_confirm

INVENTORY = """
[migration]
name = "site1"
{migration}

[hosts.app]
address = "10.0.0.10"
role = "app"

[hosts.db1]
address = "10.0.0.11"
role = "source"

[hosts.db2]
address = "10.0.0.12"
role = "replica"
{db2}

[hosts.db3]
address = "10.0.0.13"
role = "replica"
"""

# db1 as the lab's discovery saw it, with its binary log already on (custom basename, 30 days'
# retention, MIXED) and a replica of its own (server_id 3) that is not in the inventory.
SOURCE: dict[str, Any] = {
    "flavor": "mariadb", "version": "10.11.19", "server_version": "10.11.19-MariaDB-0+deb12u1",
    "datadir": "/var/lib/mysql", "server_id": 1, "log_bin": True, "binlog_format": "MIXED",
    "log_slave_updates": True, "gtid": {"binlog_pos": "0-1-5", "current_pos": "0-1-5",
                                         "domain_id": 0},
    "log_bin_basename": "/srv/binlogs/db1-bin", "binlog_retention_seconds": 30 * 86400,
    "existing_replicas": [{"server_id": 3, "host": "10.0.0.99", "port": 3306}],
    "binlog_dump_threads": [{"id": 7, "user": "repl", "host": "10.0.0.99:40312",
                             "command": "Binlog Dump"}],
    "non_innodb": [], "data_bytes": 1000, "free_bytes": 10**12, "tables": 9,
    "version_string": "MariaDB 10.11.19", "hostname": "db1", "port": 3306, "read_only": False,
}


def context(tmp_path: Path, source: dict[str, Any] | None = None, migration: str = "",
            db2: str = "") -> Context:
    path = tmp_path / "inventory.toml"
    path.write_text(INVENTORY.format(migration=migration, db2=db2))
    inventory = load_inventory(path)
    state = new_state("site1", path)
    state.steps.discover.facts = DiscoverFacts.model_validate(
        {"source": copy.deepcopy(source or SOURCE), "replicas": {},
         "moodle": {"dbuser": "moodle", "dbname": "moodle"}})
    secrets = SecretStore(None, inventory.secrets.env_prefix, prompt=None)
    for name in ("replication_password", "monitor_password"):
        secrets.register(name, "not-used-here")

    async def never(message: str, risky: bool) -> bool:
        return False

    return Context(inventory, state, None, secrets, SshPool(HostKeyPolicy(ask=None)),
                   AuditLog(None, secrets), ignore, never)


def options(cnf: str) -> list[str]:
    """The option lines of a snippet (comments and the group header left out)."""
    return [line for line in cnf.splitlines() if not line.startswith(("#", "["))]


def runbook(step: PrepareSource) -> str:
    return "\n".join(line for a in step.plan() for line in a.runbook)


# -- the plan: keep, or change and say why -----------------------------------------------------

def test_binlog_already_on_keeps_basename_and_retention_and_changes_only_the_format(
        tmp_path: Path) -> None:
    step = PrepareSource(context(tmp_path))
    written = options(step.cnf())
    assert not any(o.startswith("log_bin ") for o in written)  # the server's basename stays
    assert not any("expire" in o for o in written)  # 30 days stay 30 days
    assert "binlog_format = ROW" in written
    text = runbook(step)
    assert "keep log_bin ON with its basename /srv/binlogs/db1-bin" in text
    assert "keep binlog_expire_logs_seconds = 2592000 (30 days" in text
    assert "change binlog_format from MIXED to ROW because" in text
    assert "keep server_id = 1" in text
    assert not step.restart_needed()
    # No restart: the format changes at runtime too, and rollback sets it back.
    assert step.runtime_changes() == [("binlog_format", "ROW")]
    assert "SET GLOBAL binlog_format = 'ROW'" in text
    step.facts.cnf = CnfBackup(path=step.cnf_path(), previous=None)
    step.facts.runtime_before = {"binlog_format": "MIXED"}
    undo = "\n".join(line for a in step.rollback_plan() for line in a.runbook)
    assert "SET GLOBAL binlog_format = 'MIXED'" in undo


@pytest.mark.parametrize(("retention", "version", "kept"), [
    (0, "10.11.19", "keep binlog_expire_logs_seconds = 0 (binary logs never expire)"),
    (10 * 86400, "10.11.19", "keep binlog_expire_logs_seconds = 864000 (10 days"),
    (30 * 86400, "10.5.23", "keep expire_logs_days = 30 (30 days"),
])
def test_retention_as_long_or_longer_is_never_written(tmp_path: Path, retention: int,
                                                      version: str, kept: str) -> None:
    # Debian's 50-server.cnf says expire_logs_days = 10 even while log_bin is off: the
    # wizard's file, read last, used to turn that into 7 days.
    src = {**SOURCE, "log_bin": False, "log_bin_basename": None, "version": version,
           "server_version": f"{version}-MariaDB-0+deb12u1",
           "binlog_retention_seconds": retention}
    step = PrepareSource(context(tmp_path, src, migration='source_restart = "allow"'))
    assert not any("expire" in o for o in options(step.cnf()))
    assert "log_bin = /var/log/mysql/mysql-bin" in options(step.cnf())
    assert kept in runbook(step)


def test_a_shorter_retention_is_raised_and_the_plan_says_why(tmp_path: Path) -> None:
    src = {**SOURCE, "binlog_format": "ROW", "binlog_retention_seconds": 86400}
    step = PrepareSource(context(tmp_path, src))
    assert "binlog_expire_logs_seconds = 604800" in options(step.cnf())
    text = runbook(step)
    assert ("change binlog_expire_logs_seconds from 86400 (1 day) to 604800 (7 days) because "
            "the replicas need") in text
    assert "keep binlog_format = ROW" in text
    assert step.runtime_changes() == [("binlog_expire_logs_seconds", 604800)]


def test_old_mariadb_keeps_its_days_variable(tmp_path: Path) -> None:
    src = {**SOURCE, "version": "10.5.23", "server_version": "10.5.23-MariaDB-0+deb11u1",
           "binlog_retention_seconds": 2 * 86400}
    step = PrepareSource(context(tmp_path, src))
    assert "expire_logs_days = 7" in options(step.cnf())
    assert "change expire_logs_days from 2 (2 days) to 7 (7 days)" in runbook(step)


def test_the_plan_names_the_existing_replicas(tmp_path: Path) -> None:
    text = runbook(PrepareSource(context(tmp_path)))
    assert "keep the replicas db1 already has (server_id 3 (10.0.0.99:3306))" in text


def test_facts_from_before_these_checks_are_refused_clearly(tmp_path: Path) -> None:
    src = {k: v for k, v in SOURCE.items() if k != "binlog_retention_seconds"}
    with pytest.raises(StepError, match="run discovery again"):
        PrepareSource(context(tmp_path, src)).cnf()


# -- discovery's readings, per flavour -----------------------------------------------------------

@pytest.mark.parametrize(("version", "comment", "sql"), [
    ("10.11.19-MariaDB", "", "SHOW SLAVE HOSTS"),
    ("8.0.21", "MySQL Community Server - GPL", "SHOW SLAVE HOSTS"),
    ("8.4.2", "MySQL Community Server - GPL", "SHOW REPLICAS"),
])
def test_replica_hosts_statement(version: str, comment: str, sql: str) -> None:
    assert Dialect(parse_version(version, comment)).show_replica_hosts().sql == sql


@pytest.mark.parametrize(("version", "comment", "has"), [
    ("10.5.23-MariaDB", "", "@@expire_logs_days"),
    ("10.11.19-MariaDB", "", "@@binlog_expire_logs_seconds"),
    ("8.0.36", "MySQL Community Server - GPL", "@@binlog_expire_logs_auto_purge"),
])
def test_retention_sql(version: str, comment: str, has: str) -> None:
    assert has in Dialect(parse_version(version, comment)).binlog_retention_sql()
    if version.startswith("8.4"):
        assert "expire_logs_days" not in Dialect(parse_version(version, comment)) \
            .binlog_retention_sql()


@pytest.mark.parametrize(("row", "seconds"), [
    ({"s": 2592000, "d": None, "p": 1}, 2592000),
    ({"s": None, "d": "30", "p": 1}, 30 * 86400),
    ({"s": 0, "d": "0.5", "p": 1}, 43200),  # MySQL 8.0: days only while seconds is 0
    ({"s": 2592000, "d": 0, "p": 0}, 0),  # auto purge off: never expires
    ({"s": 0, "d": None, "p": 1}, 0),
])
def test_retention_seconds(row: dict[str, object], seconds: int) -> None:
    assert binlog_retention_seconds(row) == seconds


def test_replica_hosts_either_vocabulary() -> None:
    rows: list[dict[str, object]] = [
        {"Server_id": 3, "Host": "", "Port": 3306, "Master_id": 1},
        {"Server_Id": "4", "Host": "db4", "Port": "3307", "Source_Id": 1},
    ]
    assert normalize_replica_hosts(rows) == [
        {"server_id": 3, "host": "", "port": 3306},
        {"server_id": 4, "host": "db4", "port": 3307}]


# -- server_ids never reuse an existing replica's -------------------------------------------------

def test_server_ids_skip_the_existing_replicas(tmp_path: Path) -> None:
    ids = Replicas(context(tmp_path)).server_ids()
    assert 3 not in ids.values()
    assert 1 not in ids.values()
    assert len(set(ids.values())) == 2


async def test_an_inventory_server_id_of_an_existing_replica_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = Replicas(context(tmp_path, db2="server_id = 3"))

    async def fake_host(name: str) -> None:
        return None

    async def healthy_host(host: object) -> ReplicaHostFacts:
        return ReplicaHostFacts(free_bytes=10**12, datadir="/var/lib/mysql",
                                server_running=False)

    async def empty_datadir(self: Replicas, r: str) -> None:
        return None

    async def debian_12(host: object, package: str) -> str:  # the source's series
        return "1:10.11.19-0+deb12u1"

    monkeypatch.setattr(step.ctx, "host", fake_host)
    monkeypatch.setattr(replicas_mod, "replica_host_facts", healthy_host)
    monkeypatch.setattr(replicas_mod, "server_candidate", debian_12)
    monkeypatch.setattr(Replicas, "datadir", empty_datadir)
    monkeypatch.setattr(Replicas, "_datadir_problems", lambda self, r, d: [])
    problems = await step.preflight()
    errors = [p.message for p in problems if p.level == "error"]
    assert errors == ["db2: server_id 3 is already used by a replica of db1 (10.0.0.99:3306); "
                      "give db2 another server_id in the inventory (or leave it out to let the "
                      "wizard choose a free one)"]


# -- the source restart is the operator's call ----------------------------------------------------

class NoAccounts:
    async def query(self, sql: str, args: object = None) -> list[dict[str, object]]:
        return []


async def restart_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           migration: str) -> list[Any]:
    src = {**SOURCE, "log_bin": False, "log_bin_basename": None, "log_slave_updates": False}
    step = PrepareSource(context(tmp_path, src, migration=migration))

    async def db(name: str) -> NoAccounts:
        return NoAccounts()

    monkeypatch.setattr(step.ctx, "db", db)
    assert step.restart_needed()
    return [p for p in await step.preflight() if p.level == "question"]


async def test_the_restart_is_a_risky_question_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for migration in ("", 'source_restart = "ask"'):
        questions = await restart_problems(tmp_path, monkeypatch, migration)
        assert len(questions) == 1
        assert questions[0].risky
        assert 'source_restart = "allow"' in questions[0].message


async def test_allow_means_no_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await restart_problems(tmp_path, monkeypatch, 'source_restart = "allow"') == []


async def test_yes_refuses_a_risky_question_in_one_line_and_answers_the_others(
        capsys: pytest.CaptureFixture[str]) -> None:
    confirm = make_confirm(True)
    message = 'db1 must restart: restart it now? (set source_restart = "allow")'
    with pytest.raises(StepError) as refused:
        await confirm(message, True)
    assert "\n" not in str(refused.value)
    assert 'source_restart = "allow"' in str(refused.value)
    assert await confirm("go on?", False) is True


@pytest.mark.parametrize("value", ['"yes"', "true", '"Allow"'])
def test_source_restart_other_values_are_one_clear_message(tmp_path: Path, value: str) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text(INVENTORY.format(migration=f"source_restart = {value}", db2=""))
    with pytest.raises(InventoryError) as bad:
        load_inventory(path)
    message = str(bad.value)
    assert "migration.source_restart" in message
    assert '"ask"' in message and '"allow"' in message and "\n" not in message


def test_mysql_source_with_gtid_off_restarts_and_says_why(tmp_path: Path) -> None:
    src = {**SOURCE, "flavor": "mysql", "version": "8.4.2", "server_version": "8.4.2",
           "binlog_format": "ROW", "log_bin_basename": "/var/lib/mysql/binlog",
           "binlog_retention_seconds": 30 * 86400,
           "gtid": {"mode": "OFF", "enforce": "OFF", "executed": ""}}
    step = PrepareSource(context(tmp_path, src, migration='source_restart = "allow"'))
    assert step.restart_needed()
    written = options(step.cnf())
    assert "gtid_mode = ON" in written and "enforce_gtid_consistency = ON" in written
    assert not any(o.startswith(("log_bin ", "binlog_expire")) for o in written)
    text = runbook(step)
    assert "change gtid_mode from OFF to ON" in text
    assert "keep log_replica_updates = ON" in text
    assert "keep binlog_expire_logs_seconds = 2592000" in text


# -- issue 12 item 1: a source that listens on 127.0.0.1 only (Moodle on the same server) -------

@pytest.mark.parametrize(("bind", "version", "server_version", "want"), [
    ("127.0.0.1", "10.11.19", "10.11.19-MariaDB-0+deb12u1", "bind-address = 127.0.0.1,10.0.0.11"),
    ("127.0.0.1,::1", "10.11.19", "10.11.19-MariaDB", "bind-address = 127.0.0.1,::1,10.0.0.11"),
    ("127.0.0.1", "10.6.18", "10.6.18-MariaDB", "bind-address = 0.0.0.0"),
])
def test_a_source_on_loopback_only_also_listens_on_its_address(
        tmp_path: Path, bind: str, version: str, server_version: str, want: str) -> None:
    src = {**SOURCE, "bind_address": bind, "version": version, "server_version": server_version}
    step = PrepareSource(context(tmp_path, src))
    assert want in options(step.cnf())
    assert step.restart_needed()  # bind-address is read at start only: the one restart
    text = runbook(step)
    assert f"change bind-address from {bind} to {want.split(' = ')[1]}" in text
    assert "service mariadb restart" in text
    if want.endswith("0.0.0.0"):
        assert "firewall" in text  # one address only: every address, and it says so


@pytest.mark.parametrize("bind", ["", "0.0.0.0", "10.0.0.11", "*"])
def test_a_source_the_cluster_can_reach_keeps_its_bind_address(tmp_path: Path,
                                                                 bind: str) -> None:
    step = PrepareSource(context(tmp_path, {**SOURCE, "bind_address": bind}))
    assert not any(o.startswith("bind-address") for o in options(step.cnf()))
    assert not step.restart_needed()
    assert "keep bind-address" in runbook(step)
