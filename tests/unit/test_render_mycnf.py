"""Option files, read back by the servers' own option-file parser (my_print_defaults, mariadbd)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from moodle_wizard.core.render.mycnf import (
    OptionFileError,
    quote_option_value,
    render_client_defaults,
    render_replica_cnf,
    render_source_cnf,
    server_cnf_path,
)
from moodle_wizard.core.sql.version import parse_version

MY_PRINT_DEFAULTS = shutil.which("my_print_defaults")
MARIADBD = shutil.which("mariadbd") or (
    "/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None
)
needs_mpd = pytest.mark.skipif(MY_PRINT_DEFAULTS is None, reason="my_print_defaults missing")

MARIADB_10_5 = parse_version("10.5.23-MariaDB-0+deb11u1")
MARIADB_10_11 = parse_version("10.11.19-MariaDB-0+deb12u1")
MARIADB_11_4 = parse_version("11.4.3-MariaDB")
MYSQL_8_0_22 = parse_version("8.0.22", "MySQL Community Server - GPL")
MYSQL_8_0_36 = parse_version("8.0.36", "MySQL Community Server - GPL")
MYSQL_8_4 = parse_version("8.4.2", "MySQL Community Server - GPL")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _print_defaults(path: Path, group: str) -> str:
    """What the C option-file reader makes of `path` (exact text, one --option per line)."""
    assert MY_PRINT_DEFAULTS is not None
    help_text = subprocess.run(
        [MY_PRINT_DEFAULTS, "--help"], capture_output=True, text=True, check=False
    ).stdout
    # Newer releases mask passwords unless asked to show them.
    show = ["--show"] if "--show" in help_text else []
    run = subprocess.run(
        [MY_PRINT_DEFAULTS, f"--defaults-file={path}", *show, group],
        capture_output=True,
        check=True,
    )
    return run.stdout.decode("utf-8")


def _options(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _print_defaults(path, "mysqld").splitlines():
        name, _, value = line.removeprefix("--").partition("=")
        out[name] = value
    return out


@needs_mpd
@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            MARIADB_10_5,
            {"log_slave_updates": "ON", "expire_logs_days": "7"},
        ),
        (
            MARIADB_10_11,
            {"log_slave_updates": "ON", "binlog_expire_logs_seconds": "604800"},
        ),
        (
            MARIADB_11_4,
            {"log_slave_updates": "ON", "binlog_expire_logs_seconds": "604800"},
        ),
        (
            MYSQL_8_0_22,
            {"log_slave_updates": "ON", "gtid_mode": "ON", "enforce_gtid_consistency": "ON"},
        ),
        (
            MYSQL_8_0_36,
            {"log_replica_updates": "ON", "gtid_mode": "ON", "enforce_gtid_consistency": "ON"},
        ),
        (
            MYSQL_8_4,
            {"log_replica_updates": "ON", "binlog_expire_logs_seconds": "604800"},
        ),
    ],
)
def test_source_snippet(tmp_path: Path, version: object, expected: dict[str, str]) -> None:
    text = render_source_cnf(version, 1)  # type: ignore[arg-type]
    assert text.splitlines()[2] == "[mysqld]"
    options = _options(_write(tmp_path, "source.cnf", text))
    assert options["server_id"] == "1"
    assert options["log_bin"] == "/var/log/mysql/mysql-bin"
    assert options["binlog_format"] == "ROW"
    for name, value in expected.items():
        assert options[name] == value
    assert "read_only" not in options
    gtid_expected = not version.is_mariadb  # type: ignore[attr-defined]
    assert ("gtid_mode" in options) is gtid_expected


@needs_mpd
@pytest.mark.parametrize("version", [MARIADB_10_11, MARIADB_11_4, MYSQL_8_0_36, MYSQL_8_4])
def test_replica_snippet(tmp_path: Path, version: object) -> None:
    text = render_replica_cnf(version, 2, "db2", expire_days=3)  # type: ignore[arg-type]
    options = _options(_write(tmp_path, "replica.cnf", text))
    assert options["server_id"] == "2"
    assert options["read_only"] == "ON"
    assert options["relay_log_recovery"] == "ON"
    assert options["report_host"] == "db2"
    assert options["binlog_format"] == "ROW"
    assert options["log_bin"]  # replicas log too, so one can be promoted
    assert options.get("log_slave_updates", options.get("log_replica_updates")) == "ON"
    assert options["binlog_expire_logs_seconds"] == str(3 * 86400)
    is_mysql = not version.is_mariadb  # type: ignore[attr-defined]
    assert (options.get("super_read_only") == "ON") is is_mysql


@pytest.mark.skipif(MARIADBD is None, reason="mariadbd is not installed")
def test_mariadb_server_accepts_the_replica_snippet(tmp_path: Path) -> None:
    conf = _write(tmp_path, "replica.cnf", render_replica_cnf(MARIADB_10_11, 7, "db3"))
    assert MARIADBD is not None
    run = subprocess.run(
        [MARIADBD, f"--defaults-file={conf}", "--verbose", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    values = {}
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            values[parts[0]] = parts[1]
    assert values["server-id"] == "7"
    assert values["read-only"] == "TRUE"
    assert values["relay-log-recovery"] == "TRUE"
    assert values["log-slave-updates"] == "TRUE"
    assert values["binlog-format"] == "ROW"
    assert values["report-host"] == "db3"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server_id": 0}, "server_id 0"),
        ({"server_id": 2**32}, "server_id"),
        ({"server_id": 1, "log_bin": "mysql-bin"}, "absolute"),
        ({"server_id": 1, "log_bin": "/var/log/my sql/bin"}, "absolute"),
        ({"server_id": 1, "log_bin": "/var/log/../etc/bin"}, "absolute"),
        ({"server_id": 1, "expire_days": 0}, "retention"),
    ],
)
def test_invalid_server_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(OptionFileError, match=message):
        render_source_cnf(MARIADB_10_11, **kwargs)  # type: ignore[arg-type]


def test_invalid_report_host() -> None:
    with pytest.raises(OptionFileError, match="report_host"):
        render_replica_cnf(MARIADB_10_11, 2, "db 2")


def test_server_cnf_path() -> None:
    assert server_cnf_path(MARIADB_10_11) == "/etc/mysql/mariadb.conf.d/90-moodle-wizard.cnf"
    assert server_cnf_path(MYSQL_8_4).startswith("/etc/mysql/mysql.conf.d/")


NASTY_PASSWORDS = [
    "plain",
    "",
    'dq"inside',
    "sq'inside",
    "back\\slash",
    "ends-with-backslash\\",
    "\\",
    '"',
    "'",
    '"quoted"',
    "'single'",
    "$(rm -rf /)",
    "`id`",
    "  spaces around  ",
    "# starts like a comment",
    "; also a comment",
    "mid#hash;semi",
    "non-ASCII: Grüße ∑ 密码",
    "escapes \\n \\t \\s \\b literal",
    "line\nbreak",
    "tab\there",
    "all\\\"'`$#;= mixed",
]


@needs_mpd
@pytest.mark.parametrize("password", NASTY_PASSWORDS)
def test_client_defaults_round_trip(tmp_path: Path, password: str) -> None:
    text = render_client_defaults("moodle", password, host="10.0.0.1", port=3306, socket=None)
    path = _write(tmp_path, "client.cnf", text)
    assert path.stat().st_mode & 0o777 == 0o600
    expected = f"--user=moodle\n--password={password}\n--host=10.0.0.1\n--port=3306\n"
    assert _print_defaults(path, "client") == expected


@needs_mpd
def test_client_defaults_socket_and_odd_user(tmp_path: Path) -> None:
    text = render_client_defaults('u"s#r', "pw", socket="/run/mysqld/mysqld.sock")
    path = _write(tmp_path, "client.cnf", text)
    out = _print_defaults(path, "client")
    assert out == '--user=u"s#r\n--password=pw\n--socket=/run/mysqld/mysqld.sock\n'


def test_quote_option_value_refuses_what_cannot_be_stored() -> None:
    with pytest.raises(OptionFileError, match="NUL"):
        quote_option_value("a\x00b")
    with pytest.raises(OptionFileError, match="too long"):
        quote_option_value("x" * 5000)
    with pytest.raises(OptionFileError, match="port"):
        render_client_defaults("u", "p", port=0)
