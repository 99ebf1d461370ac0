"""Pure logic of the ProxySQL stand-in: command parsing, checksums, config (placement:
test_proxysql_standin_servers.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from moodle_wizard.lab.proxysql_standin import commands, initial_config
from moodle_wizard.lab.proxysql_standin.checksums import (
    EMPTY_CHECKSUM,
    ChecksumBook,
    config_checksum,
)
from moodle_wizard.lab.proxysql_standin.commands import Direction, LayerCopy
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.passwords import (
    is_native_hash,
    native_hash,
    scramble_matches,
    stage2,
)
from moodle_wizard.lab.proxysql_standin.variables import (
    Interface,
    normalize,
    parse_credentials,
    parse_interfaces,
)

# -- commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "direction"),
    [
        ("LOAD MYSQL SERVERS TO RUNTIME", Direction.MEMORY_TO_RUNTIME),
        ("load mysql servers to run;", Direction.MEMORY_TO_RUNTIME),
        ("LOAD  MYSQL\tSERVERS FROM MEMORY ;", Direction.MEMORY_TO_RUNTIME),
        ("LOAD MYSQL SERVERS FROM MEM", Direction.MEMORY_TO_RUNTIME),
        ("SAVE MYSQL SERVERS TO DISK", Direction.MEMORY_TO_DISK),
        ("SAVE MYSQL SERVERS FROM MEMORY", Direction.MEMORY_TO_DISK),
        ("SAVE MYSQL SERVERS FROM MEM", Direction.MEMORY_TO_DISK),
        ("LOAD MYSQL SERVERS FROM DISK", Direction.DISK_TO_MEMORY),
        ("LOAD MYSQL SERVERS TO MEMORY", Direction.DISK_TO_MEMORY),
        ("LOAD MYSQL SERVERS TO MEM", Direction.DISK_TO_MEMORY),
        ("SAVE MYSQL SERVERS FROM RUNTIME", Direction.RUNTIME_TO_MEMORY),
        ("SAVE MYSQL SERVERS FROM RUN", Direction.RUNTIME_TO_MEMORY),
        ("SAVE MYSQL SERVERS TO MEMORY", Direction.RUNTIME_TO_MEMORY),
        ("SAVE MYSQL SERVERS TO MEM", Direction.RUNTIME_TO_MEMORY),
    ],
)
def test_every_layer_alias_is_recognised(sql: str, direction: Direction) -> None:
    assert commands.parse(sql) == LayerCopy(Module.MYSQL_SERVERS, direction)


@pytest.mark.parametrize("module", list(Module))
def test_every_module_loads_to_runtime(module: Module) -> None:
    assert commands.parse(f"LOAD {module.value} TO RUNTIME") == LayerCopy(
        module, Direction.MEMORY_TO_RUNTIME
    )


@pytest.mark.parametrize(
    "sql", ["LOAD MYSQL SERVER TO RUNTIME", "LOAD MYSQL SERVERS TO RUNTIM", "SAVE USERS TO DISK"]
)
def test_misspelt_layer_commands_go_to_sqlite(sql: str) -> None:
    assert commands.parse(sql) == commands.Passthrough(sql)


@pytest.mark.parametrize(
    "sql",
    ["BEGIN", "COMMIT", "rollback", "START TRANSACTION", "SET NAMES utf8mb4",
     "SET autocommit=1", "SET character_set_results=NULL", "SET SQL_AUTO_IS_NULL = 0"],
)
def test_client_chatter_is_ignored(sql: str) -> None:
    assert commands.parse(sql) == commands.Ignored()


@pytest.mark.parametrize(
    ("sql", "name", "value"),
    [
        ("SET mysql-monitor_username='monitor'", "mysql-monitor_username", "monitor"),
        ('SET admin-admin_credentials="admin:a;radmin:b"', "admin-admin_credentials",
         "admin:a;radmin:b"),
        ("set mysql-monitor_read_only_interval = 1000;", "mysql-monitor_read_only_interval",
         "1000"),
        ("SET mysql-server_version='it''s'", "mysql-server_version", "it's"),
        ("SET sql_mode=''", "sql_mode", ""),
    ],
)
def test_set_updates_a_variable(sql: str, name: str, value: str) -> None:
    assert commands.parse(sql) == commands.SetVariable(name, value)


def test_select_variables_keeps_labels() -> None:
    parsed = commands.parse("select @@version_comment limit 1")
    assert parsed == commands.SelectVariables((("@@version_comment", "version_comment"),))
    parsed = commands.parse("SELECT @@admin-version AS v, @@session.max_allowed_packet")
    assert parsed == commands.SelectVariables(
        (("v", "admin-version"), ("@@session.max_allowed_packet", "max_allowed_packet"))
    )


def test_show_statements() -> None:
    assert commands.parse("SHOW DATABASES") == commands.ShowDatabases()
    assert commands.parse("show tables from monitor") == commands.ShowTables("monitor", None)
    assert commands.parse("SHOW TABLES LIKE 'mysql%'") == commands.ShowTables("main", "mysql%")
    assert commands.parse("SHOW VARIABLES LIKE 'mysql-server_version'") == (
        commands.ShowVariables("mysql-server_version")
    )
    assert commands.parse("SHOW CREATE TABLE disk.mysql_users") == (
        commands.ShowCreateTable("disk", "mysql_users")
    )


# -- checksums -------------------------------------------------------------------------

def test_checksums_depend_on_content_only() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert config_checksum(rows) == config_checksum(list(reversed(rows)))
    assert config_checksum(rows) != config_checksum(rows[:1])
    assert config_checksum([]) == EMPTY_CHECKSUM
    assert config_checksum(rows).startswith("0x") and len(config_checksum(rows)) == 18


def test_checksum_versions_count_loads_and_changes() -> None:
    book = ChecksumBook()
    book.record("mysql_servers", "0x1", loaded=True)
    book.record("mysql_servers", "0x1", loaded=True)
    assert book.get("mysql_servers").version == 2
    assert not book.record("mysql_servers", "0x1", loaded=False)
    assert book.get("mysql_servers").version == 2
    assert book.record("mysql_servers", "0x2", loaded=False)
    assert book.get("mysql_servers").version == 3


# -- variables and passwords ---------------------------------------------------------------

def test_variable_values_are_checked() -> None:
    assert normalize("mysql-monitor_read_only_interval", " 1000 ") == "1000"
    assert normalize("mysql-monitor_read_only_interval", "soon") is None
    assert normalize("mysql-monitor_writer_is_also_reader", "1") == "true"
    assert normalize("mysql-monitor_writer_is_also_reader", "maybe") is None
    assert normalize("admin-version", "9.9.9") != "9.9.9"
    assert normalize("mysql-no_such_variable", "1") is None


def test_credentials_and_interfaces() -> None:
    assert parse_credentials("admin:admin;radmin:s3cret") == {"admin": "admin",
                                                              "radmin": "s3cret"}
    assert parse_interfaces("0.0.0.0:6032;/tmp/a.sock") == [
        Interface("0.0.0.0", 6032), Interface(unix_path="/tmp/a.sock")]
    with pytest.raises(ValueError):
        parse_interfaces("localhost")


def client_scramble(password: str, nonce: bytes) -> bytes:
    """What a MySQL client sends for mysql_native_password."""
    stage1 = hashlib.sha1(password.encode()).digest()
    mask = hashlib.sha1(nonce + hashlib.sha1(stage1).digest()).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))


@pytest.mark.parametrize("stored", ["s3cret", native_hash("s3cret")])
def test_native_password_check_accepts_cleartext_or_hash(stored: str) -> None:
    nonce = os.urandom(20)
    assert scramble_matches(stage2(stored), client_scramble("s3cret", nonce), nonce)
    assert not scramble_matches(stage2(stored), client_scramble("wrong", nonce), nonce)


def test_native_hash_matches_mysql_password_function() -> None:
    # SELECT PASSWORD('password') on MariaDB.
    assert native_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    assert is_native_hash(native_hash("x")) and not is_native_hash("x")


# -- initial config file ----------------------------------------------------------------------

def test_initial_config_file(tmp_path: Path) -> None:
    path = tmp_path / "proxysql.cnf"
    path.write_text(
        '# comment\ndatadir="/var/lib/proxysql"\n'
        'admin_variables=\n{\n admin_credentials="admin:admin"\n mysql_ifaces="0.0.0.0:6032"\n}\n'
        "mysql_variables= { threads=4\n monitor_enabled=true ; }\n"
        'mysql_servers = ( { address="db1", port=3306, hostgroup=10 },'
        ' { address="db2" , port=3306 , hostgroup=20, comment="r" } )\n'
        "/* block */ mysql_users: ( { username = \"moodle\" , password = \"pw\" ,"
        " default_hostgroup = 10 } )\n"
    )
    config = initial_config.load(path)
    assert config.datadir == "/var/lib/proxysql"
    assert config.variables == {
        "admin-admin_credentials": "admin:admin", "admin-mysql_ifaces": "0.0.0.0:6032",
        "mysql-threads": "4", "mysql-monitor_enabled": "true"}
    assert config.tables["mysql_servers"][1] == {
        "hostname": "db2", "port": 3306, "hostgroup_id": 20, "comment": "r"}
    assert config.tables["mysql_users"] == [
        {"username": "moodle", "password": "pw", "default_hostgroup": 10}]


def test_initial_config_syntax_errors_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.cnf"
    path.write_text("mysql_variables = { threads = }\n")
    with pytest.raises(initial_config.ConfigError, match=r"broken\.cnf"):
        initial_config.load(path)
