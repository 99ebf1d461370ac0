"""core/health.py follows the journal's topology (state.cluster), not the inventory: after a
switchover the primary is db2, after a failover db1 is fenced until it rejoins, and an
operation left in flight is named. Also the monitor's logs read per node, and
`health --prometheus`. On the faked cluster of tests/unit/health_fakes.py."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.health import HealthItem, HealthReport, check_health
from moodle_wizard.core.operate.record import Operation, OperationKind, OperationStatus
from tests.unit.health_fakes import (
    Cluster,
    fake_context,
    monitor_row,
    server_vars,
    servers,
    slave_status,
)

DB1, DB2, DB3 = "10.77.0.11", "10.77.0.12", "10.77.0.13"
AT = datetime(2026, 12, 1, 20, 5, 7, tzinfo=UTC)


def switched(cluster: Cluster) -> None:
    """The hosts after `switchover --to db2`: db2 writable and no replica, db1 and db3
    replicating from it, ProxySQL's writer db2."""
    del cluster.replicas["db2"]
    for r in ("db1", "db3"):
        cluster.replicas[r] = [dict(slave_status()[0], Master_Host=DB2)]
    cluster.variables = {"db1": server_vars(), "db2": server_vars(0, "0-1-42", "0-2-57"),
                         "db3": server_vars()}
    rows = servers(primary=DB2)
    cluster.servers = {"px1": rows, "px2": rows}


async def check(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                **record: Any) -> tuple[HealthReport, Context]:
    ctx = fake_context(cluster, tmp_path, monkeypatch)
    for key, value in record.items():
        setattr(ctx.state.cluster, key, value)
    return await check_health(ctx), ctx


def by_name(report: HealthReport) -> dict[str, HealthItem]:
    return {i.name: i for i in report.items}


def failures(report: HealthReport) -> dict[str, str]:
    return {i.name: i.detail for i in report.items if i.ok is not True}


async def test_after_a_switchover_db2_is_checked_as_the_primary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    switched(cluster)
    found, _ = await check(cluster, tmp_path, monkeypatch, primary="db2")
    assert failures(found) == {}
    assert found.healthy and found.primary == "db2"
    assert [i.name for i in found.items[:3]] == ["db2 primary", "db1 replication",
                                                 "db3 replication"]
    items = by_name(found)
    assert items["db2 primary"].detail == "writable, not a replica, binlog at 0-2-57"
    assert ", from db2, " in items["db1 replication"].detail


async def test_the_inventory_roles_after_a_switchover_are_unhealthy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same hosts, but a journal that does not know of the switchover: every role is
    wrong, and each item says so (the check reads the journal's topology, not the hosts)."""
    cluster = Cluster()
    switched(cluster)
    cluster.replicas["db2"] = []
    found, _ = await check(cluster, tmp_path, monkeypatch)
    bad = failures(found)
    assert bad["db1 primary"].startswith("read-only (read_only=1)")
    assert bad["db2 replication"] == "not a replica: SHOW SLAVE STATUS is empty"
    assert bad["db3 replication"] == ("replicates from 10.77.0.12, not from the primary db1 "
                                      "(10.77.0.11)")
    assert "db2 is ONLINE in the writer hostgroup 10, but the primary is db1" in \
        bad["px1 servers"]


async def test_a_fenced_old_primary_is_one_failing_item(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    del cluster.replicas["db2"]
    cluster.replicas["db3"] = [dict(slave_status()[0], Master_Host=DB2)]
    cluster.variables["db2"] = server_vars(0, "0-1-42", "0-2-3")
    rows = servers(primary=DB2, fenced=(DB1,))
    cluster.servers = {"px1": rows, "px2": rows}
    for px in ("px1", "px2"):  # the monitor cannot reach the dead db1: expected
        cluster.monitor[px]["mysql_server_ping_log"][0] = monitor_row(
            DB1, 1, "Can't connect to MySQL server on '10.77.0.11' (111)")
    failover = Operation(kind=OperationKind.FAILOVER, target="db2", old_primary="db1",
                         status=OperationStatus.DONE, started_at=AT, finished_at=AT)
    found, _ = await check(cluster, tmp_path, monkeypatch, primary="db2", fenced=["db1"],
                           history=[failover])
    assert failures(found) == {"db1 fenced": "db1 fenced by the failover at 2026-12-01 "
                               "20:05:07 UTC: rejoin it with `moodle-wizard rejoin db1`"}
    assert not found.healthy and found.fenced == ("db1",)
    assert found.items[0].name == "db1 fenced"
    assert "db1 replication" not in by_name(found)
    assert "(not serving)" in by_name(found)["px1 monitor"].detail
    assert found.to_json()["fenced"] == ["db1"]


async def test_an_operation_in_flight_is_named_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    op = Operation(kind=OperationKind.SWITCHOVER, target="db3", old_primary="db1",
                   status=OperationStatus.RUNNING, started_at=AT)
    found, _ = await check(Cluster(), tmp_path, monkeypatch, operation=op)
    assert list(failures(found)) == ["switchover in flight"]
    assert found.items[0].detail == ("switchover from db1 to db3 started at 2026-12-01 "
                                     "20:05:07 UTC is running: if no wizard is running it "
                                     "now, continue it with `moodle-wizard switchover --to "
                                     "db3`")


async def test_a_node_without_a_ping_log_is_read_from_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    del cluster.monitor["px1"]["mysql_server_ping_log"]
    found, _ = await check(cluster, tmp_path, monkeypatch)
    assert failures(found) == {}


async def test_a_monitor_that_cannot_reach_a_replica_fails_that_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    logs = cluster.monitor["px2"]["mysql_server_read_only_log"]
    logs[1] = monitor_row(DB2, 1, "timeout check")
    found, _ = await check(cluster, tmp_path, monkeypatch)
    assert failures(found) == {"px2 monitor": "cannot reach db2 read_only failed 1 s ago: "
                               "timeout check"}


async def test_a_writable_replica_fails_its_replication_item(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    cluster.variables["db3"] = server_vars(0)
    found, _ = await check(cluster, tmp_path, monkeypatch)
    assert failures(found) == {"db3 replication": "writable (read_only=0): ProxySQL would "
                               "take it as a writer"}


async def test_headless_health_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
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
    args = argparse.Namespace(migration="mwlab", json=False, prometheus=True,
                              accept_host_key=None)
    assert await headless.cmd_health(args, headless.Printer()) == headless.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    oks = [ln for ln in lines if ln.startswith("moodle_wizard_health_ok{")]
    assert len(oks) == 11 and all(ln.endswith(" 1") for ln in oks)
    assert 'moodle_wizard_health_ok{migration="mwlab",group="replication",item="db1 ' \
        'primary"} 1' in oks
    assert 'moodle_wizard_healthy{migration="mwlab"} 1' in lines

    cluster.variables["db2"] = server_vars(0)
    assert await headless.cmd_health(args, headless.Printer()) == headless.EXIT_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert 'moodle_wizard_health_ok{migration="mwlab",group="replication",item="db2 ' \
        'replication"} 0' in lines
    assert 'moodle_wizard_healthy{migration="mwlab"} 0' in lines

    # The parser: --json and --prometheus together are refused.
    parser = argparse.ArgumentParser()
    headless.add_parsers(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["health", "--prometheus"]).prometheus is True
    with pytest.raises(SystemExit):
        parser.parse_args(["health", "--json", "--prometheus"])
