"""The dialect facts of every MariaDB release series the support table claims (10.5 to 11.8).

Each row is one real release of that series, written out by hand from the MariaDB
documentation (not computed from the code's own boundaries):
- START/STOP/RESET SLAVE, SHOW SLAVE STATUS, SHOW SLAVE HOSTS, SHOW MASTER STATUS and CHANGE
  MASTER TO stay accepted in every series (MariaDB KB "Legacy replication statements": old
  names of the REPLICA forms added in 10.5.1), so one text serves all.
- MASTER_USE_GTID=slave_pos and gtid_slave_pos: every series (GTID since 10.0).
- binlog_expire_logs_seconds: from 10.6.1; 10.5 has only expire_logs_days.
- mariadb_backup_binlog_info: from 11.1 (MDEV-18931); xtrabackup_binlog_info before.
- SLAVE MONITOR: from 10.5.9. REPLICATION REPLICA: an alias of REPLICATION SLAVE from 10.5.1.
- mariadb, mariadb-backup, mariadb-dump: the tools' names from 10.5.2 (mysqldump is gone in
  11.x); mbstream unpacks mariadb-backup's stream in every series.
"""

from __future__ import annotations

import pytest

from moodle_wizard.core.render.mycnf import render_replica_cnf, retention_variable
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.parsers import BINLOG_INFO_FILENAMES, binlog_retention_seconds
from moodle_wizard.core.sql.support import MARIADB_SERIES, source_refusal
from moodle_wizard.core.sql.version import parse_version

DAYS = "SELECT NULL AS s, @@expire_logs_days AS d, 1 AS p"
SECONDS = "SELECT @@binlog_expire_logs_seconds AS s, NULL AS d, 1 AS p"
OLD_INFO, NEW_INFO = "xtrabackup_binlog_info", "mariadb_backup_binlog_info"

# VERSION() as the server says it: (retention query, backup's binlog info file)
SERIES = {
    "10.5.27-MariaDB-0+deb11u1": (DAYS, OLD_INFO),
    "10.6.21-MariaDB-0ubuntu0.22.04.2": (SECONDS, OLD_INFO),
    "10.7.8-MariaDB-1:10.7.8+maria~ubu2004": (SECONDS, OLD_INFO),
    "10.8.8-MariaDB": (SECONDS, OLD_INFO),
    "10.9.8-MariaDB": (SECONDS, OLD_INFO),
    "10.10.7-MariaDB": (SECONDS, OLD_INFO),
    "10.11.19-MariaDB-0+deb12u1": (SECONDS, OLD_INFO),
    "11.0.6-MariaDB": (SECONDS, OLD_INFO),
    "11.1.6-MariaDB": (SECONDS, NEW_INFO),
    "11.2.6-MariaDB": (SECONDS, NEW_INFO),
    "11.3.2-MariaDB": (SECONDS, NEW_INFO),
    "11.4.5-MariaDB-ubu2404": (SECONDS, NEW_INFO),
    "11.5.2-MariaDB": (SECONDS, NEW_INFO),
    "11.6.2-MariaDB": (SECONDS, NEW_INFO),
    "11.7.2-MariaDB": (SECONDS, NEW_INFO),
    "11.8.3-MariaDB-0+deb13u1": (SECONDS, NEW_INFO),
}


def test_every_supported_series_has_a_row() -> None:
    """The support table and these facts cannot drift apart: a series added there without a
    row here (or the other way round) fails."""
    rows = sorted(parse_version(v).series for v in SERIES)
    assert rows == sorted(MARIADB_SERIES)
    assert all(source_refusal(parse_version(v)) is None for v in SERIES)


@pytest.mark.parametrize("version", sorted(SERIES))
def test_replication_statements(version: str) -> None:
    d = Dialect(parse_version(version))
    assert d.version.is_mariadb
    assert d.show_replica_status().sql == "SHOW SLAVE STATUS"
    assert d.start_replica().sql == "START SLAVE"
    assert d.stop_replica().sql == "STOP SLAVE"
    assert d.reset_replica_all().sql == "RESET SLAVE ALL"
    assert d.show_replica_hosts().sql == "SHOW SLAVE HOSTS"
    assert d.show_binlog_status().sql == "SHOW MASTER STATUS"
    change = d.change_source("10.0.0.11", 3306, "repl", "pw")
    assert change.sql == (
        "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
        "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos")
    assert change.secret == frozenset({3})
    assert [(s.sql, s.params) for s in d.set_gtid_position("0-1-27")] == [
        ("SET GLOBAL gtid_slave_pos = %s", ("0-1-27",))]
    assert [s.sql for s in d.set_read_only(True)] == ["SET GLOBAL read_only = ON"]
    assert d.disable_session_binlog().sql == "SET SESSION sql_log_bin = 0"


@pytest.mark.parametrize("version", sorted(SERIES))
def test_binary_log_and_backup_facts(version: str) -> None:
    v = parse_version(version)
    d = Dialect(v)
    retention_sql, info_file = SERIES[version]
    assert d.binlog_retention_sql() == retention_sql
    # The option the wizard writes is the one the series reads.
    option = "expire_logs_days" if retention_sql == DAYS else "binlog_expire_logs_seconds"
    assert retention_variable(v) == option
    cnf = render_replica_cnf(v, 2, "10.0.0.12")
    assert f"\n{option} = " in cnf and "log_slave_updates = ON" in cnf
    assert "gtid_mode" not in cnf and "super_read_only" not in cnf
    # A row as each series returns it reads as the same seven days.
    row = {"s": None, "d": "7.000000", "p": 1} if retention_sql == DAYS else (
        {"s": 604800, "d": None, "p": 1})
    assert binlog_retention_seconds(row) == 604800
    assert d.binlog_info_filename() == info_file
    assert info_file in BINLOG_INFO_FILENAMES


@pytest.mark.parametrize("version", sorted(SERIES))
def test_tools_and_privileges(version: str) -> None:
    d = Dialect(parse_version(version))
    assert d.client_binary() == "mariadb"
    assert (d.backup_tools().backup, d.backup_tools().extract) == ("mariadb-backup", "mbstream")
    dump = d.dump_tool()
    assert dump.binary == "mariadb-dump"
    assert dump.options == ("--single-transaction", "--master-data=2", "--gtid")
    assert d.replication_privilege() == "REPLICATION REPLICA"
    assert d.monitor_privilege() == "SLAVE MONITOR"
    assert d.prepare_show_create_user() == []
    # The binary log gets the password's hash, never the password (MariaDB logs as sent).
    create = d.create_user("repl", "10.0.0.%", "pw")
    assert create.sql == "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY PASSWORD %s"
    assert "pw" not in create.params
