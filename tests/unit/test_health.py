"""core/health.py on a faked migrated cluster (tests/unit/health_fakes.py): healthy as it is,
and each kind of breakage unhealthy with the reason named in the item that broke."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodle_wizard.core.health import HealthItem, HealthReport, check_health
from moodle_wizard.core.remote.client import ServerIdentity
from moodle_wizard.core.state import StepName, StepStatus
from tests.unit.health_fakes import Cluster, checksums, fake_context, servers, slave_status

EVERY_ITEM = ["db1 primary", "db2 replication", "db3 replication", "px1 servers",
              "px1 monitor", "px2 servers", "px2 monitor", "config checksums", "VIP holder",
              "Moodle's login", "app config.php login"]


async def report(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 statuses: dict[StepName, StepStatus] | None = None) -> HealthReport:
    return await check_health(fake_context(cluster, tmp_path, monkeypatch, statuses))


def item(found: HealthReport, name: str) -> HealthItem:
    return next(i for i in found.items if i.name == name)


def only_failure(found: HealthReport) -> HealthItem:
    bad = [i for i in found.items if i.ok is not True]
    assert len(bad) == 1, bad
    assert not found.healthy
    assert bad[0].applicable and bad[0].ok is False
    return bad[0]


async def test_a_healthy_cluster_has_every_item_true(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    found = await report(Cluster(), tmp_path, monkeypatch)
    assert [i.name for i in found.items] == EVERY_ITEM
    assert all(i.ok is True and i.applicable for i in found.items), found.items
    assert found.healthy
    # The primary's row among the readers is the fallback, said so, not a misplaced primary.
    assert item(found, "px1 servers").detail == ("HG 10: db1 ONLINE; HG 20: db1 ONLINE "
                                                 "(fallback), db2 ONLINE, db3 ONLINE")
    assert item(found, "VIP holder").detail == "px1 holds 10.77.0.100"
    assert item(found, "db2 replication").detail == ("IO and SQL threads running, lag 0 s, "
                                                     "from db1, read-only, applied 0-1-42")
    assert item(found, "db1 primary").detail == "writable, not a replica, binlog at 0-1-42"
    assert item(found, "px2 monitor").detail == ("no monitor errors about db1, db2, db3 in "
                                                 "the last 60 s")
    data = found.to_json()
    assert data["healthy"] is True and data["primary"] == "db1" and data["fenced"] == []


async def test_a_stopped_sql_thread_is_unhealthy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.replicas["db2"] = slave_status(sql="No", lag=None)
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "db2 replication"
    assert "SQL thread not running" in bad.detail


async def test_an_sql_error_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.replicas["db3"] = slave_status(sql="No", lag=None,
                                           sql_error="Error 'Duplicate entry' on query")
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "db3 replication" and "Duplicate entry" in bad.detail


async def test_lag_is_unhealthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.replicas["db3"] = slave_status(lag=600)
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "db3 replication"
    assert bad.detail == "lag 600 s (more than 10 s)"


async def test_unknown_lag_is_not_healthy(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.replicas["db2"] = slave_status(lag=None)
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert "lag unknown" in bad.detail


async def test_not_a_replica_is_unhealthy(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.replicas["db2"] = []
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert "not a replica" in bad.detail


async def test_a_shunned_server_is_unhealthy(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.servers["px2"] = servers(db2="SHUNNED")
    # The shunned row moved mysql_servers' checksum on px2 alone.
    cluster.checksums["px2"] = [dict(r, checksum="0x9999") if r["name"] == "mysql_servers"
                                else r for r in checksums()]
    found = await report(cluster, tmp_path, monkeypatch)
    assert not found.healthy
    bad = item(found, "px2 servers")
    assert bad.ok is False and "db2 is SHUNNED in hostgroup 20" in bad.detail
    assert item(found, "px1 servers").ok is True
    sums = item(found, "config checksums")
    assert sums.ok is False
    assert sums.detail == "mysql_servers differs (px1 0x2222, px2 0x9999)"


async def test_a_replica_shunned_for_lag_is_said_in_the_operators_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    for px in ("px1", "px2"):
        cluster.servers[px] = servers(db2="SHUNNED_REPLICATION_LAG")
    found = await report(cluster, tmp_path, monkeypatch)
    bad = item(found, "px1 servers")
    assert bad.ok is False
    assert bad.detail.startswith("db2 out of the readers: replication lag over 30 s or "
                                 "replication stopped ("), bad.detail
    assert "SHUNNED_REPLICATION_LAG in hostgroup" not in bad.detail


async def test_the_primary_missing_from_the_readers_is_unhealthy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its reader row, Moodle's safe reads fail once no replica serves."""
    cluster = Cluster()
    cluster.servers["px2"] = [r for r in servers()
                              if (r["hostgroup_id"], r["hostname"]) != (20, "10.77.0.11")]
    found = await report(cluster, tmp_path, monkeypatch)
    bad = item(found, "px2 servers")
    assert bad.ok is False and "db1 is not ONLINE in hostgroup 20" in bad.detail
    assert item(found, "px1 servers").ok is True


async def test_a_missing_server_is_unhealthy(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.servers["px1"] = [r for r in servers() if r["hostname"] != "10.77.0.11"]
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "px1 servers"
    assert "db1 is not ONLINE in hostgroup 10" in bad.detail


async def test_differing_checksums_are_unhealthy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.checksums["px2"] = checksums(users="0x00000000DEADBEEF")
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "config checksums"
    assert bad.detail == ("mysql_users differs (px1 0x5A1C0FFEE0000001, "
                          "px2 0x00000000DEADBEEF)")


async def test_a_stopped_proxysql_is_unhealthy(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.proxysql_down = {"px2"}
    found = await report(cluster, tmp_path, monkeypatch)
    assert not found.healthy
    assert {i.name for i in found.items if i.ok is False} == {
        "px2 servers", "px2 monitor", "config checksums"}
    assert "does not answer on 127.0.0.1:6032" in item(found, "px2 monitor").detail
    assert "does not answer on 127.0.0.1:6032" in item(found, "px2 servers").detail
    assert item(found, "config checksums").detail.startswith("px2 did not answer: ")


@pytest.mark.parametrize(("holders", "why"), [
    (set(), "no proxy node holds 10.77.0.100"),
    ({"px1", "px2"}, "10.77.0.100 is on px1 and px2 at once (must be exactly one)")])
async def test_the_vip_on_zero_or_two_nodes_is_unhealthy(
        holders: set[str], why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.vip_on = holders
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert (bad.name, bad.detail) == ("VIP holder", why)


async def test_moodle_reaching_a_read_only_server_is_unhealthy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.reached = ServerIdentity(2, True, "db2", "10.11.19-MariaDB")
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "Moodle's login" and "db2 (server_id 2), a read-only server" in bad.detail


async def test_config_php_not_on_the_vip_is_unhealthy(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.config["dbhost"] = "10.77.0.11"
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert bad.name == "app config.php login"
    assert bad.detail == "config.php's dbhost is '10.77.0.11', not the VIP 10.77.0.100"


async def test_a_failed_config_login_is_unhealthy_and_masked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.config["connect"] = {"ok": False,
                                 "error": "Access denied (password moodle-Secret-9)"}
    bad = only_failure(await report(cluster, tmp_path, monkeypatch))
    assert "Access denied" in bad.detail and "moodle-Secret-9" not in bad.detail


async def test_steps_not_done_are_not_applicable_and_not_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.vip_on = set()  # would fail, but the VIP step has not run
    statuses = {StepName.DISCOVER: StepStatus.DONE, StepName.PREPARE_SOURCE: StepStatus.DONE,
                StepName.REPLICAS: StepStatus.DONE}
    found = await report(cluster, tmp_path, monkeypatch, statuses)
    assert [i.name for i in found.items] == EVERY_ITEM
    assert [i.name for i in found.applicable] == ["db1 primary", "db2 replication",
                                                  "db3 replication"]
    for later in found.items[3:]:
        assert later.ok is None and not later.applicable
        assert later.detail.startswith("not applicable yet: step ")
    assert found.healthy


async def test_nothing_applicable_is_not_healthy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    found = await report(Cluster(), tmp_path, monkeypatch, {StepName.DISCOVER: StepStatus.DONE})
    assert not found.applicable and not found.healthy


def test_ok_is_a_bool_exactly_when_the_item_applies() -> None:
    with pytest.raises(ValueError):
        HealthItem("vip", "VIP holder", True, None, "unknown")
    with pytest.raises(ValueError):
        HealthItem("vip", "VIP holder", False, True, "")


async def test_headless_health_prints_each_item_and_exits_by_the_verdict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager
    from typing import Any

    from moodle_wizard import headless

    cluster = Cluster()
    ctx = fake_context(cluster, tmp_path, monkeypatch)
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    state = ctx.state.model_copy(update={"inventory_path": str(tmp_path / "inventory.toml")})
    (tmp_path / "state" / "mwlab.json").write_text(state.model_dump_json())

    @asynccontextmanager
    async def session(*_: Any) -> AsyncIterator[Any]:
        yield ctx

    monkeypatch.setattr(headless, "session", session)
    args = argparse.Namespace(migration="mwlab", json=False, prometheus=False,
                              accept_host_key=None)
    assert await headless.cmd_health(args, headless.Printer()) == headless.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "OK   db1 primary: writable, not a replica, binlog at 0-1-42"
    assert lines[-1].startswith("migration mwlab: healthy: all 11 applicable checks pass (")

    cluster.replicas["db2"] = slave_status(sql="No", lag=None)
    assert await headless.cmd_health(args, headless.Printer()) == headless.EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAIL db2 replication: SQL thread not running" in out
    assert "UNHEALTHY: 1 of 11 checks fail" in out

    args.json = True
    assert await headless.cmd_health(args, headless.Printer()) == headless.EXIT_FAILED
    data = json.loads(capsys.readouterr().out)
    assert data["healthy"] is False
    assert [i["name"] for i in data["items"] if i["ok"] is False] == ["db2 replication"]
