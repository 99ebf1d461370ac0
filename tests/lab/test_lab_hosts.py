"""The lab's hosts are real, separate and closed to the outside."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from moodle_wizard.lab import lab
from moodle_wizard.lab.moodle_data import MOODLE_TABLES
from moodle_wizard.lab.topology import HOST_NAMES
from tests.lab.conftest import Lab


def test_every_host_answers_ssh_from_jump_with_a_verified_host_key(running_lab: Lab) -> None:
    for host in HOST_NAMES:
        proc = running_lab.exec(
            "jump", "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=5", host, "hostname",
        )
        assert proc.stdout.strip() == host


def test_ssh_from_the_machine_refuses_a_host_key_it_was_not_given(running_lab: Lab,
                                                                 tmp_path: Path) -> None:
    ssh = lab.LABDIR / "ssh"
    base = ["ssh", "-F", "/dev/null", "-i", str(ssh / "id_ed25519"), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5"]
    addr = running_lab.topo.host_address("db2")
    good = subprocess.run([*base, "-o", f"UserKnownHostsFile={ssh / 'known_hosts'}",
                           f"root@{addr}", "hostname"], capture_output=True, text=True,
                          timeout=30)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "db2"
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    bad = subprocess.run([*base, "-o", f"UserKnownHostsFile={empty}", f"root@{addr}",
                          "hostname"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    assert "Host key verification failed" in bad.stderr


def test_hosts_have_their_own_host_keys(running_lab: Lab) -> None:
    keys = {running_lab.exec(h, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
            for h in HOST_NAMES}
    assert len(keys) == len(HOST_NAMES)


def test_a_file_under_etc_on_db2_is_private_to_db2(running_lab: Lab) -> None:
    name = f"/etc/mwlab-private-{secrets.token_hex(4)}"
    running_lab.exec("db2", "sh", "-c", f"echo db2 > {name}")
    assert running_lab.exec("db2", "cat", name).stdout.strip() == "db2"
    assert running_lab.exec("db3", "test", "-e", name, check=False).returncode == 1
    assert not Path(name).exists()
    running_lab.exec("db2", "rm", name)


def test_db1_serves_the_moodle_schema_as_a_standalone_server(running_lab: Lab) -> None:
    sql = ("SELECT table_name, engine FROM information_schema.tables "
           "WHERE table_schema='moodle' ORDER BY table_name")
    out = running_lab.exec("db1", "mariadb", "-N", "-e", sql).stdout
    tables = dict(line.split("\t") for line in out.strip().splitlines())
    assert set(MOODLE_TABLES) <= set(tables)
    assert set(tables.values()) == {"InnoDB"}
    counts = running_lab.exec(
        "db1", "mariadb", "-N", "-e",
        "SELECT (SELECT COUNT(*) FROM moodle.mdl_user), "
        "(SELECT COUNT(*) FROM moodle.mdl_logstore_standard_log), @@log_bin, @@server_id",
    ).stdout.split()
    users, logs, log_bin, server_id = (int(x) for x in counts)
    assert users > 0 and logs > 0
    assert log_bin == 0, "a standalone Moodle database has its binary log off"
    assert server_id == 1, "default server_id"
    size = running_lab.exec("db1", "du", "-sm", "/var/lib/mysql/moodle").stdout.split()[0]
    assert 40 <= int(size) <= 120, f"--data-mb 50 gave {size} MB on disk"


def test_moodle_user_is_granted_from_the_app_host_only(running_lab: Lab) -> None:
    out = running_lab.exec("db1", "mariadb", "-N", "-e",
                           "SELECT host FROM mysql.user WHERE user='moodleuser'").stdout.split()
    assert out == [running_lab.topo.host_address("app")]


def test_moodle_probe_on_app_writes_through_to_db1(running_lab: Lab) -> None:
    proc = running_lab.exec("app", "moodle-probe")
    result = json.loads(proc.stdout)
    assert result["host"] == "db1"
    assert result["row_id"] > 0
    back = running_lab.exec("db1", "mariadb", "-N", "-e",
                            "SELECT apphost FROM moodle.mdl_mwlab_probe WHERE token='"
                            + result["token"] + "'").stdout.strip()
    assert back == "app"


def test_config_php_is_valid_php_in_moodles_shape(running_lab: Lab) -> None:
    assert "No syntax errors" in running_lab.exec(
        "app", "php", "-l", "/var/www/moodle/config.php").stdout
    code = ("define('CLI_SCRIPT', true); require '/var/www/moodle/config.php'; "
            "echo json_encode($CFG);")
    cfg = json.loads(running_lab.exec("app", "php", "-r", code).stdout)
    assert cfg["dbtype"] == "mariadb" and cfg["prefix"] == "mdl_"
    assert cfg["dbhost"] == running_lab.topo.host_address("db1")
    assert set(cfg["dboptions"]) == {"dbpersist", "dbport", "dbsocket", "dbcollation"}
    text = running_lab.exec("app", "cat", "/var/www/moodle/config.php").stdout
    code_lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("//")]
    assert code_lines[-1] == "require_once(__DIR__ . '/lib/setup.php');"


def test_no_lab_host_has_a_route_out_of_the_lab_subnet(running_lab: Lab) -> None:
    # `ip route get` asks the kernel's routing decision without sending a packet.
    for host in HOST_NAMES:
        routes = running_lab.exec(host, "ip", "-4", "route", "show").stdout
        assert "default" not in routes
        for outside in ("1.1.1.1", "10.78.0.1", "192.168.1.1"):
            proc = running_lab.exec(host, "ip", "route", "get", outside, check=False)
            assert proc.returncode != 0, f"{host} has a route to {outside}: {proc.stdout}"
            assert "unreachable" in proc.stderr.lower()
        inside = running_lab.exec(host, "ip", "route", "get", running_lab.topo.vip)
        assert "dev eth0" in inside.stdout


def test_db2_and_db3_are_empty_with_the_server_packages_available(running_lab: Lab) -> None:
    for host in ("db2", "db3"):
        assert running_lab.exec(host, "ls", "-A", "/var/lib/mysql").stdout == ""
        assert running_lab.exec(host, "pidof", "mariadbd", check=False).returncode == 1
        assert running_lab.exec(host, "which", "mariadbd", "mariadb-backup", "mbstream").stdout


def test_proxy_hosts_have_keepalived_available(running_lab: Lab) -> None:
    for host in ("px1", "px2"):
        running_lab.exec(host, "test", "-x", "/usr/sbin/keepalived")
        assert running_lab.exec(host, "pidof", "keepalived", check=False).returncode == 1


def test_the_lab_stays_under_one_gigabyte(running_lab: Lab) -> None:
    kib = lab.lab_memory_kb()
    assert 0 < kib < 1024 * 1024, f"lab uses {kib // 1024} MiB"


def test_processes_on_a_host_see_only_that_host(running_lab: Lab) -> None:
    ps = running_lab.exec("db1", "ps", "-eo", "comm").stdout.split()
    assert "mariadbd" in ps
    assert running_lab.exec("db2", "ps", "-eo", "comm").stdout.count("mariadbd") == 0


def test_proxy_hosts_provide_a_proxysql_service_not_yet_running(running_lab: Lab) -> None:
    lab_ = running_lab
    for host in ("px1", "px2"):
        status = lab_.exec(host, "service", "proxysql", "status", check=False)
        assert status.returncode == 3, status.stdout + status.stderr
    lab_.exec("px2", "service", "proxysql", "start")
    try:
        out = lab_.exec("px2", "mariadb", "-h127.0.0.1", "-P6032", "-uadmin", "-padmin", "-N",
                        "-e", "SELECT variable_value FROM global_variables WHERE "
                        "variable_name='mysql-interfaces'").stdout.strip()
        assert out == "0.0.0.0:6033"
    finally:
        lab_.exec("px2", "service", "proxysql", "stop")
    assert lab_.exec("px2", "service", "proxysql", "status", check=False).returncode == 3
    lab_.exec("px2", "rm", "-rf", "/var/lib/proxysql/proxysql.db", "/var/lib/proxysql/proxysql.log")
