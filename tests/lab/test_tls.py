"""TLS in transit against the lab (`[migration] tls = true`): one `run --yes` with TLS on,
the cipher of each link read from outside (a login from a replica host as the replication
user; a query through each ProxySQL node as Moodle's user, which runs on ProxySQL's backend
connection), Moodle working through the VIP, then one `rollback --yes` that leaves no TLS file
or setting anywhere (every host as it was before, byte for byte in /etc/mysql).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.test_migration_cluster import PROXIES, VIP, admin_query, cluster_snapshot, probe
from tests.lab.wizard import ALLOW_RESTART, Wizard, replica_status, sql

TLS_DIR = "/etc/mysql/moodle-wizard-tls"
TLS_ON = {**ALLOW_RESTART, "[migration]\n": "[migration]\ntls = true\n"}


@dataclass
class Migrated:
    wizard: Wizard
    before: dict[str, Any]
    output: str
    rolled_back: bool = False
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def migrated(running_lab: Lab) -> Iterator[Migrated]:
    lab = running_lab
    with Wizard(lab) as wizard:
        state = Migrated(wizard, cluster_snapshot(lab), "")
        run = wizard("run", "--inventory", wizard.inventory("tls", **TLS_ON), "--yes")
        state.output = run.stdout + run.stderr
        try:
            assert run.returncode == 0, state.output
            state.secrets = {
                **json.loads(lab.exec("jump", "cat", "/srv/mwlab/secrets.json").stdout),
                **json.loads(lab.exec("jump", "cat",
                                      f"{wizard.state_dir}/mwlab.secrets").stdout)}
            yield state
        finally:
            if not state.rolled_back:
                back = wizard("rollback", "--yes")
                assert back.returncode == 0, back.stdout + back.stderr


def login_cipher(lab: Lab, host: str, password: str, *args: str) -> str:
    """Ssl_cipher of a `mariadb` login made on `host` (the password on stdin)."""
    out = lab.exec(host, "sh", "-c", 'MYSQL_PWD=$(cat) exec mariadb -N -B "$@" -e '
                   "\"SHOW SESSION STATUS LIKE 'Ssl_cipher'\"", "sh", *args,
                   input=password.encode()).stdout
    return out.split("\t", 1)[1].strip() if "\t" in out else ""


def moodle_password(lab: Lab) -> str:
    text = lab.exec("app", "cat", "/var/www/moodle/config.php").stdout
    match = re.search(r"\$CFG->dbpass\s*=\s*'((?:[^'\\]|\\.)*)'", text)
    assert match, "no dbpass in config.php"
    return re.sub(r"\\(.)", r"\1", match.group(1))


def test_the_run_shows_the_cipher_of_every_link(migrated: Migrated) -> None:
    out = migrated.output
    print("\n" + "\n".join(line.strip() for line in out.splitlines() if "TLS, cipher" in line))
    for r in ("db2", "db3"):
        assert re.search(rf"replication {r} -> db1: TLS, cipher \S+", out), out[-3000:]
    for px in PROXIES:
        assert re.search(rf"ProxySQL {px} -> primary: TLS, cipher \S+", out), out[-3000:]


def test_replication_uses_tls_and_its_user_requires_it(running_lab: Lab,
                                                       migrated: Migrated) -> None:
    lab, password = running_lab, migrated.secrets["replication_password"]
    for r in ("db2", "db3"):
        status = replica_status(lab, r)
        assert status["Master_SSL_Allowed"] == "Yes"
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
        # From the replica host, as the replication user: TLS, with a cipher ...
        cipher = login_cipher(lab, r, password, "--ssl", "-h", "10.77.0.11", "-u", "mw_repl")
        assert cipher, f"{r}: no cipher on the replication user's login"
        # ... and without TLS the same login is refused (REQUIRE SSL).
        plain = lab.exec(r, "sh", "-c", 'MYSQL_PWD=$(cat) exec mariadb --skip-ssl -h 10.77.0.11 '
                         "-u mw_repl -e 'SELECT 1'", input=password.encode(), check=False)
        assert plain.returncode != 0 and "Access denied" in plain.stderr, plain.stderr
    users = sql(lab, "db1", "SELECT DISTINCT user, ssl_type FROM mysql.user WHERE user IN "
                            "('mw_repl', 'mw_monitor') ORDER BY 1")
    assert users == [["mw_monitor", "ANY"], ["mw_repl", "ANY"]]


def test_proxysql_backends_use_tls(running_lab: Lab, migrated: Migrated) -> None:
    lab, admin = running_lab, migrated.secrets["proxysql_admin_password"]
    password = moodle_password(lab)
    for px in PROXIES:
        rows = admin_query(lab, px, admin, "SELECT DISTINCT use_ssl FROM runtime_mysql_servers")
        assert rows == [["1"]], (px, rows)
        cipher = login_cipher(lab, px, password, "-h", "127.0.0.1", "-P", "6033",
                              "-u", "moodleuser", "-D", "moodle")
        assert cipher, f"{px}: ProxySQL's backend connection has no cipher"
        # The monitor (whose user requires TLS) still reads every server's read_only.
        wait_for(f"{px}'s monitor logs in with TLS", lambda p=px: [
            row[1] for row in admin_query(
                lab, p, admin, "SELECT hostname, IFNULL(error, '') FROM "
                "monitor.mysql_server_read_only_log ORDER BY time_start_us DESC LIMIT 3")
        ] == ["", "", ""])


def test_moodle_works_through_the_vip(running_lab: Lab, migrated: Migrated) -> None:
    lab = running_lab
    written = probe(lab)
    assert written["via"] == f"{VIP}:6033" and written["host"] == "db1"
    for r in ("db2", "db3"):
        wait_for(f"the probe row on {r}", lambda h=r: sql(
            lab, h, "SELECT COUNT(*) FROM moodle.mdl_mwlab_probe WHERE token = '"
            + written["token"] + "'")[0] == ["1"])
    read = probe(lab, "--read-only")
    assert read["via"] == f"{VIP}:6033" and read["read_only"] == "1"


def test_rollback_leaves_no_tls_behind(running_lab: Lab, migrated: Migrated) -> None:
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
    back = migrated.wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    migrated.rolled_back = True
    for host in ("db1", "db2", "db3"):
        assert lab.exec(host, "test", "-e", TLS_DIR, check=False).returncode != 0, host
        grep = lab.exec(host, "sh", "-c", "grep -rl moodle-wizard-tls /etc/mysql || true")
        assert grep.stdout.strip() == "", (host, grep.stdout)
    assert sql(lab, "db1", "SELECT @@ssl_cert")[0][0] in ("", "NULL")
    ca = lab.exec("jump", "test", "-e", f"{migrated.wizard.state_dir}/mwlab.tls", check=False)
    assert ca.returncode != 0, "the CA's directory is still on the jump host"
    after = cluster_snapshot(lab)
    before = migrated.before
    for snap in (before, after):
        snap["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    assert after == before
