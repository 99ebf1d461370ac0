"""ProxySQL Cluster against the lab (`[proxysql] cluster = true`; issue 15 item 2): the wizard
runs until the proxysql step with the option on, then

1. the Cluster is up: each node tracks the other's mysql_users, the admin port answers the
   other proxy (the Cluster user logs in from there) and refuses app and db1, the nftables
   table is there;
2. users propagate: Moodle's password changed on db1 and, as an operator would, in px1's
   admin only: px2 pulls it (its log says so in ProxySQL's words), Moodle's user logs in
   through px2 with it, and px2 keeps it over a restart (saved to disk);
3. servers do not: a reader OFFLINE_SOFT on px1 only stays ONLINE on px2, whose log says why;
4. a node restarted while the users changed catches up; when both nodes LOAD, the later
   one wins on both;

and the rollback removes the table. Its own marker and make target (`make test-lab-cluster`,
not part of `make test`): a migration up to the proxysql step, about a minute.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import admin_query
from tests.lab.wizard import ALLOW_RESTART, Wizard

pytestmark = pytest.mark.lab_cluster

ADDRESS = {"px1": "10.77.0.21", "px2": "10.77.0.22"}
PEER = {"px1": "px2", "px2": "px1"}
TABLE = "moodle_wizard_admin"
LOG = "/var/lib/proxysql/proxysql.log"
T = TypeVar("T")


def wait_for(what: str, condition: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


@dataclass
class Clustered:
    wizard: Wizard
    secrets: dict[str, str] = field(default_factory=dict)

    def admin(self, lab: Lab, px: str, query: str) -> list[list[str]]:
        return admin_query(lab, px, self.secrets["proxysql_admin_password"], query)


@pytest.fixture(scope="module")
def clustered(running_lab: Lab) -> Iterator[Clustered]:
    lab = running_lab
    with Wizard(lab) as wizard:
        inventory = wizard.inventory("cluster", **ALLOW_RESTART, **{
            'readonly_user = "moodle_ro"\n': 'readonly_user = "moodle_ro"\ncluster = true\n'})
        started = time.monotonic()
        run = wizard("run", "--inventory", inventory, "--until", "proxysql", "--yes")
        print(f"\nrun --until proxysql with cluster = true: {time.monotonic() - started:.1f} s")
        state = Clustered(wizard)
        try:
            assert run.returncode == 0, run.stdout + run.stderr
            state.secrets = json.loads(lab.exec("jump", "cat",
                                                f"{wizard.state_dir}/mwlab.secrets").stdout)
            yield state
        finally:
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, back.stdout + back.stderr
            for px in ADDRESS:
                gone = lab.exec(px, "nft", "list", "table", "inet", TABLE, check=False)
                assert gone.returncode != 0, f"{px}: the table survived the rollback"


def tcp(lab: Lab, source: str, address: str, port: int = 6032) -> str:
    out = lab.exec(source, "bash", "-c", 'timeout 5 bash -c \'exec 3<>"/dev/tcp/$0/$1"\' '
                   '"$0" "$1" 2>&1 && echo open', address, str(port), check=False)
    text = out.stdout + out.stderr
    return "open" if "open" in text else "refused" if "refused" in text else text.strip()


def users_checksum(lab: Lab, c: Clustered, px: str) -> tuple[str, str]:
    row = c.admin(lab, px, "SELECT checksum, epoch FROM runtime_checksums_values "
                           "WHERE name = 'mysql_users'")[0]
    return row[0], row[1]


def test_cluster_is_up_and_exposed_to_the_peer_only(running_lab: Lab,
                                                    clustered: Clustered) -> None:
    lab = running_lab
    for px, peer in PEER.items():
        def peer_in_step(px: str = px, peer: str = peer) -> bool:
            rows = clustered.admin(lab, px, (
                "SELECT checksum, diff_check FROM stats_proxysql_servers_checksums "
                f"WHERE name = 'mysql_users' AND hostname = '{ADDRESS[peer]}' AND updated_at "
                ">= CAST(strftime('%s', 'now') AS INTEGER) - 5"))
            return bool(rows) and rows[0] == [users_checksum(lab, clustered, px)[0], "0"]

        wait_for(f"{px} tracks {peer}'s mysql_users", peer_in_step, timeout=10)
        ifaces = clustered.admin(lab, px, "SELECT variable_value FROM runtime_global_variables "
                                          "WHERE variable_name = 'admin-mysql_ifaces'")
        assert ifaces == [[f"127.0.0.1:6032;{ADDRESS[px]}:6032"]]
        assert tcp(lab, peer, ADDRESS[px]) == "open"
        for other in ("app", "db1"):
            assert tcp(lab, other, ADDRESS[px]) == "refused", other
        table = lab.exec(px, "nft", "list", "table", "inet", TABLE).stdout
        assert f"ip saddr {ADDRESS[peer]} accept" in table, table
        assert "reject with tcp reset" in table, table
        # The Cluster user from the peer, as the peer's Cluster thread logs in.
        login = lab.exec(peer, "sh", "-c", 'MYSQL_PWD=$(cat) exec mariadb -N -B -h "$0" '
                         '-P 6032 -u mw_cluster -e "SELECT 1"', ADDRESS[px],
                         input=clustered.secrets["proxysql_cluster_password"].encode())
        assert login.stdout.strip() == "1"


def _moodle_password(lab: Lab, clustered: Clustered, px: str) -> str:
    rows = clustered.admin(lab, px, "SELECT password FROM runtime_mysql_users "
                                    "WHERE username = 'moodleuser' AND frontend = 1")
    return rows[0][0]


def _alter_on_db1(lab: Lab, password: str) -> None:
    hosts = lab.exec("db1", "mariadb", "-N", "-B", "-e",
                     "SELECT host FROM mysql.user WHERE user = 'moodleuser'").stdout.split()
    lab.exec("db1", "mariadb", input="".join(
        f"ALTER USER 'moodleuser'@'{h}' IDENTIFIED BY '{password}';\n" for h in hosts).encode())


def _set_on_px1(lab: Lab, clustered: Clustered, password: str) -> None:
    clustered.admin(lab, "px1", f"UPDATE mysql_users SET password = '{password}' WHERE "
                                "username = 'moodleuser'; LOAD MYSQL USERS TO RUNTIME; "
                                "SAVE MYSQL USERS TO DISK")


def _through(lab: Lab, px: str, password: str) -> str:
    out = lab.exec("app", "sh", "-c", 'MYSQL_PWD=$(cat) exec mariadb -N -B -h "$0" -P 6033 '
                   '-u moodleuser -e "SELECT @@hostname"', ADDRESS[px], input=password.encode(),
                   check=False)
    return out.stdout.strip() or out.stderr.strip()


def test_a_password_changed_on_px1_reaches_px2(running_lab: Lab, clustered: Clustered) -> None:
    lab = running_lab
    old, new = _moodle_password(lab, clustered, "px1"), "Clu" + secrets.token_hex(10)
    log_lines = len(lab.exec("px2", "cat", LOG).stdout.splitlines())
    try:
        _alter_on_db1(lab, new)
        _set_on_px1(lab, clustered, new)
        started = time.monotonic()
        want = users_checksum(lab, clustered, "px1")
        wait_for("px2 runs px1's mysql_users", lambda: users_checksum(
            lab, clustered, "px2") == want, timeout=10)
        print(f"\na LOAD MYSQL USERS on px1 reached px2 in {time.monotonic() - started:.1f} s")
        log = "\n".join(lab.exec("px2", "cat", LOG).stdout.splitlines()[log_lines:])
        assert re.search(r"Cluster: detected a peer 10\.77\.0\.21:6032 with mysql_users "
                         r"version \d+, epoch \d+, diff_check \d+\. Own version: \d+, epoch: "
                         r"\d+\. Proceeding with remote sync", log), log
        assert _through(lab, "px2", new) == "db1"
        assert new not in log
        lab.exec("px2", "service", "proxysql", "stop")
        lab.exec("px2", "service", "proxysql", "start")
        wait_for("px2's admin after its restart", lambda: lab.exec(
            "px2", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6032", check=False).returncode == 0,
            timeout=30)
        assert _moodle_password(lab, clustered, "px2") == new
    finally:
        _alter_on_db1(lab, old)
        _set_on_px1(lab, clustered, old)
    wait_for("px2 back on the old password", lambda: _moodle_password(
        lab, clustered, "px2") == old, timeout=15)
    assert _through(lab, "px2", old) == "db1"


def test_servers_changed_on_px1_stay_on_px2(running_lab: Lab, clustered: Clustered) -> None:
    lab = running_lab
    row = "hostgroup_id = 20 AND hostname = '10.77.0.11'"
    before = clustered.admin(lab, "px2", f"SELECT status FROM runtime_mysql_servers WHERE {row}")
    log_lines = len(lab.exec("px2", "cat", LOG).stdout.splitlines())
    try:
        clustered.admin(lab, "px1", f"UPDATE mysql_servers SET status = 'OFFLINE_SOFT' WHERE "
                                    f"{row}; LOAD MYSQL SERVERS TO RUNTIME")
        wait_for("px2 to see px1's new mysql_servers and not pull it", lambda: (
            "Not syncing due to 'admin-cluster_mysql_servers_diffs_before_sync=0'" in "\n".join(
                lab.exec("px2", "cat", LOG).stdout.splitlines()[log_lines:])), timeout=10)
        assert clustered.admin(lab, "px2", f"SELECT status FROM runtime_mysql_servers WHERE "
                                           f"{row}") == before == [["ONLINE"]]
    finally:
        clustered.admin(lab, "px1", f"UPDATE mysql_servers SET status = 'ONLINE' WHERE {row}; "
                                    "LOAD MYSQL SERVERS TO RUNTIME")


def test_a_restarted_node_catches_up(running_lab: Lab, clustered: Clustered) -> None:
    """px2 down while px1's users change: started again, it pulls them (a node that just
    booted takes a peer's newer config, ProxySQL's own-version-1 rule)."""
    lab = running_lab
    old, new = _moodle_password(lab, clustered, "px1"), "Back" + secrets.token_hex(10)
    lab.exec("px2", "service", "proxysql", "stop")
    try:
        _set_on_px1(lab, clustered, new)
    finally:
        lab.exec("px2", "service", "proxysql", "start")
    try:
        wait_for("px2's admin after its start", lambda: lab.exec(
            "px2", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6032", check=False).returncode == 0,
            timeout=30)
        started = time.monotonic()
        want = users_checksum(lab, clustered, "px1")
        wait_for("px2, started again, runs px1's mysql_users", lambda: users_checksum(
            lab, clustered, "px2") == want, timeout=10)
        print(f"\npx2, started again, had px1's users {time.monotonic() - started:.1f} s after "
              "its admin answered")
        assert _moodle_password(lab, clustered, "px2") == new
    finally:
        _set_on_px1(lab, clustered, old)
    wait_for("px2 back on the old password", lambda: _moodle_password(
        lab, clustered, "px2") == old, timeout=15)


def test_the_later_load_wins_on_both_nodes(running_lab: Lab, clustered: Clustered) -> None:
    """Both nodes change users: the LOAD with the later epoch (a second later) replaces the
    other's whole mysql_users on both, nothing merged (the README's last writer wins)."""
    lab = running_lab
    old = _moodle_password(lab, clustered, "px1")
    first, second = "A" + secrets.token_hex(10), "B" + secrets.token_hex(10)
    try:
        _set_on_px1(lab, clustered, first)
        epoch = int(users_checksum(lab, clustered, "px1")[1])
        # Epochs are seconds: px2's LOAD must come in a later one to be the newer config.
        wait_for("a second after px1's LOAD", lambda: int(time.time()) > epoch, timeout=5)
        clustered.admin(lab, "px2", f"UPDATE mysql_users SET password = '{second}' WHERE "
                                    "username = 'moodleuser'; LOAD MYSQL USERS TO RUNTIME")
        wait_for("both nodes on px2's later users", lambda: all(
            _moodle_password(lab, clustered, px) == second for px in ADDRESS), timeout=10)
        assert users_checksum(lab, clustered, "px1") == users_checksum(lab, clustered, "px2")
    finally:
        _set_on_px1(lab, clustered, old)
    wait_for("both nodes back on the old password", lambda: all(
        _moodle_password(lab, clustered, px) == old for px in ADDRESS), timeout=15)
