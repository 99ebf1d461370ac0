"""Two stand-ins in a Cluster on loopback, set up with admin SQL as an operator would: a
mysql_users LOAD on one reaches the other (RUNTIME with the same checksum and epoch, MEMORY
and DISK too), in ProxySQL's log words; servers do not follow; the variables' Cluster rules;
a LOAD PROXYSQL SERVERS that would need an unimitated sync is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.unit.conftest_proxysql_standin import StandIn, wait_for

CLUSTER_USER, CLUSTER_PASSWORD = "mw_cluster", "c1uster-Secret-0123456789abcdefgh"
CREDENTIALS = f"admin:admin;{CLUSTER_USER}:{CLUSTER_PASSWORD}"
OTHER_MODULES = ("mysql_query_rules", "mysql_servers", "mysql_variables", "admin_variables",
                 "proxysql_servers", "ldap_variables")


def cluster_statements(peers: list[int]) -> list[str]:
    sets = [f"SET admin-cluster_{m}_diffs_before_sync=0" for m in OTHER_MODULES]
    return [
        f"SET admin-admin_credentials='{CREDENTIALS}'",
        f"SET admin-cluster_username='{CLUSTER_USER}'",
        f"SET admin-cluster_password='{CLUSTER_PASSWORD}'",
        "SET admin-cluster_check_interval_ms=100",
        "SET admin-cluster_mysql_users_diffs_before_sync=3",
        *sets,
        "LOAD ADMIN VARIABLES TO RUNTIME",
        "SAVE ADMIN VARIABLES TO DISK",
        "DELETE FROM proxysql_servers",
        *(f"INSERT INTO proxysql_servers (hostname, port, comment) VALUES "
          f"('127.0.0.1', {port}, 'test')" for port in peers),
        "LOAD PROXYSQL SERVERS TO RUNTIME",
        "SAVE PROXYSQL SERVERS TO DISK",
    ]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[StandIn, StandIn]]:
    px1 = StandIn(tmp_path / "px1").start()
    px2 = StandIn(tmp_path / "px2").start()
    try:
        ports = [px1.admin_port, px2.admin_port]
        for node in (px1, px2):
            node.admin_script(cluster_statements(ports))
        yield px1, px2
    finally:
        codes = (px1.stop(), px2.stop())
    assert codes == (0, 0), px1.log() + px2.log()


def users_checksum(node: StandIn) -> tuple[str, int]:
    rows = node.admin("SELECT checksum, epoch FROM runtime_checksums_values "
                      "WHERE name='mysql_users'")
    return str(rows[0][0]), int(rows[0][1])


def test_users_loaded_on_one_node_reach_the_other(pair: tuple[StandIn, StandIn]) -> None:
    px1, px2 = pair
    wait_for("px2 to track px1's mysql_users", lambda: any(
        row[0] == "0" for row in px2.admin(
            "SELECT diff_check FROM stats_proxysql_servers_checksums "
            f"WHERE name='mysql_users' AND port={px1.admin_port} AND updated_at >= "
            f"{int(time.time()) - 5}")))
    # Epochs are seconds: px1's LOAD must come a second after px2's last one.
    wait_for("a second after px2's epoch", lambda: int(time.time()) > users_checksum(px2)[1])
    px1.admin_script([
        "INSERT INTO mysql_users (username, password, default_hostgroup) "
        "VALUES ('moodleuser', 'N3w-pass', 10)",
        "LOAD MYSQL USERS TO RUNTIME",
    ])
    started = time.monotonic()
    wanted = users_checksum(px1)
    wait_for("px2 to pull px1's users", lambda: users_checksum(px2) == wanted)
    elapsed = time.monotonic() - started
    # diff_check 1, 2, 3 on polls 100 ms apart before the pull: never at once.
    assert elapsed >= 0.15, elapsed
    assert px2.admin("SELECT username, password FROM mysql_users") == [
        ("moodleuser", "N3w-pass"), ("moodleuser", "N3w-pass")]
    assert px2.admin("SELECT COUNT(*) FROM disk.mysql_users") == [("2",)]
    assert "Proceeding with remote sync" in px2.log()
    assert f"Fetching MySQL Users from peer 127.0.0.1:{px1.admin_port} completed" \
        in px2.log()
    # The puller's new config now carries px1's epoch: px1 never pulls it back.
    assert "Proceeding with remote sync" not in px1.log()


def test_servers_do_not_follow(pair: tuple[StandIn, StandIn]) -> None:
    px1, px2 = pair
    px1.admin_script([
        "INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (10, '127.0.0.9', 1)",
        "LOAD MYSQL SERVERS TO RUNTIME",
    ])
    wait_for("px2 to see px1's new mysql_servers checksum", lambda: "Not syncing due to "
             "'admin-cluster_mysql_servers_diffs_before_sync=0'" in px2.log())
    assert px2.admin("SELECT COUNT(*) FROM runtime_mysql_servers") == [("0",)]


def test_unimitated_sync_is_refused(tmp_path: Path) -> None:
    node = StandIn(tmp_path / "px").start()
    try:
        node.admin_script(["INSERT INTO proxysql_servers (hostname) VALUES ('127.0.0.1')",
                           "LOAD PROXYSQL SERVERS TO RUNTIME",  # no cluster user: no polls
                           "DELETE FROM proxysql_servers", "LOAD PROXYSQL SERVERS TO RUNTIME",
                           f"SET admin-cluster_username='{CLUSTER_USER}'",
                           "LOAD ADMIN VARIABLES TO RUNTIME",
                           "INSERT INTO proxysql_servers (hostname) VALUES ('127.0.0.1')"])
        with pytest.raises(pymysql.err.OperationalError, match="imitated for mysql_users "
                           "only; set admin-cluster_admin_variables_diffs_before_sync=0"):
            node.admin("LOAD PROXYSQL SERVERS TO RUNTIME")
        assert node.admin("SELECT COUNT(*) FROM runtime_proxysql_servers") == [("0",)]
    finally:
        assert node.stop() == 0


def test_cluster_variables(tmp_path: Path) -> None:
    node = StandIn(tmp_path / "px").start()
    try:
        node.admin_script([
            "SET admin-cluster_username='first'",
            "LOAD ADMIN VARIABLES TO RUNTIME",
            "SET admin-cluster_username=''",  # ProxySQL keeps the old value
            "SET admin-cluster_check_interval_ms=5",  # below 10: refused
            "SET admin-cluster_mysql_servers_diffs_before_sync=1001",  # above 1000
            "SET admin-cluster_mysql_query_rules_diffs_before_sync=1000",
            "SET admin-checksum_mysql_users='false'",
            "LOAD ADMIN VARIABLES TO RUNTIME",
        ])
        values = dict(node.admin(
            "SELECT variable_name, variable_value FROM runtime_global_variables "
            "WHERE variable_name LIKE 'admin-cluster%'"))
        assert values["admin-cluster_username"] == "first"
        assert values["admin-cluster_check_interval_ms"] == "1000"
        assert values["admin-cluster_mysql_servers_diffs_before_sync"] == "3"
        assert values["admin-cluster_mysql_query_rules_diffs_before_sync"] == "1000"
        assert values["admin-cluster_mysql_users_diffs_before_sync"] == "0"
        assert node.admin("SELECT @@mysql-have_ssl") == [("true",)]
    finally:
        assert node.stop() == 0
