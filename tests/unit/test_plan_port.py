"""A source on another port (issue 12 item 4): the plans for the lab's MariaDB source found
listening on 3307, with config.php saying `'dbport' => 3307`.

The replicas listen on the source's port (their option file says so, as it is not the
default), ProxySQL's servers each carry the port their server listens on, the replicas point
at the source's port, and the cutover still sets dbport to ProxySQL's client port. Read as
the difference from test_plan_golden's rendering of the same plans on 3306 (whose goldens
hold the rest), so these tests say exactly what the port changes.
"""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from moodle_wizard.core.facts import SourceFacts
from moodle_wizard.core.health import servers_item
from moodle_wizard.core.render.mycnf import OptionFileError, render_replica_cnf
from moodle_wizard.core.sql.version import Flavor, ServerVersion
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.proxysql_verify import RuntimeServer
from moodle_wizard.core.steps.replicas.common import port_problems
from tests.unit import plan_fixtures
from tests.unit.test_plan_golden import render

PORT = 3307
FLAVOUR = "mariadb-10.11"
SOURCE, REPLICAS = "10.77.0.11", ("10.77.0.12", "10.77.0.13")


def on_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery's facts as on a source listening on PORT (config.php names it too)."""
    original = plan_fixtures.state_data

    def state_data(flavour: str) -> dict[str, Any]:
        data = original(flavour)
        facts = data["steps"][StepName.DISCOVER.value]["facts"]
        facts["source"]["port"] = PORT
        for cfg in (facts["moodle"], *facts["moodle"]["apps"].values()):
            cfg["dboptions"]["dbport"] = PORT
        return data

    monkeypatch.setattr(plan_fixtures, "state_data", state_data)


def changed(name: StepName, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The lines of the step's plan (and rollback plans) that the port changes: those only
    on 3306, and those only on PORT."""
    default = render(name, FLAVOUR, monkeypatch).splitlines()
    with monkeypatch.context() as m:
        on_port(m)
        other = render(name, FLAVOUR, m).splitlines()
    diff = list(difflib.ndiff(default, other))
    return ([line[2:] for line in diff if line.startswith("- ")],
            [line[2:] for line in diff if line.startswith("+ ")])


def change_master(replica: str, port: int) -> str:
    return (f"    on {replica}: CHANGE MASTER TO MASTER_HOST='{SOURCE}', MASTER_PORT={port}, "
            "MASTER_USER='mw_repl', MASTER_PASSWORD='********', MASTER_USE_GTID=slave_pos")


def test_replicas_listen_on_the_source_port_and_follow_it(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    gone, added = changed(StepName.REPLICAS, monkeypatch)
    # Each replica's option file names the port (3306, the default, it leaves to the server),
    # and CHANGE MASTER points at the source's.
    assert added == [f"    port = {PORT}", change_master("db2", PORT),
                     f"    port = {PORT}", change_master("db3", PORT)]
    assert gone == [change_master("db2", 3306), change_master("db3", 3306)]


def test_proxysql_servers_carry_each_servers_port(monkeypatch: pytest.MonkeyPatch) -> None:
    gone, added = changed(StepName.PROXYSQL, monkeypatch)
    insert = ("    on {px}, admin 127.0.0.1:6032 through SSH: INSERT INTO mysql_servers "
              "(hostgroup_id, hostname, port, status, weight, max_replication_lag, comment) "
              "VALUES ({hg}, '{addr}', {port}, 'ONLINE', {weight}, {lag}, 'moodle-wizard')")
    # The source the writer and the readers' fallback, the replicas readers.
    servers = ((10, SOURCE, 1, 0), (20, SOURCE, 1, 0), *((20, r, 1000, 30) for r in REPLICAS))
    for lines, port in ((added, PORT), (gone, 3306)):
        assert lines == [insert.format(px=px, hg=hg, addr=a, port=port, weight=w, lag=lag)
                         for px in ("px1", "px2") for hg, a, w, lag in servers]


def test_the_cutover_sets_proxysqls_port_whatever_the_sources(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    assert changed(StepName.CUTOVER, monkeypatch) == ([], [])
    with monkeypatch.context() as m:
        on_port(m)
        text = render(StepName.CUTOVER, FLAVOUR, m)
    assert "dboptions['dbport'] => 6033;" in text and str(PORT) not in text


MARIADB = ServerVersion(Flavor.MARIADB, 10, 11, 19)


def test_replica_cnf_names_a_port_only_when_it_is_not_the_default() -> None:
    default = render_replica_cnf(MARIADB, 2, "db2")
    assert "port" not in default.replace("report_host", "")
    assert render_replica_cnf(MARIADB, 2, "db2", port=3306) == default
    other = render_replica_cnf(MARIADB, 2, "db2", port=PORT)
    assert other.splitlines()[3:6] == ["server_id = 2", "read_only = ON", f"port = {PORT}"]
    for bad in (0, 65536, -1):
        with pytest.raises(OptionFileError, match=f"port {bad} is not in 1..65535"):
            render_replica_cnf(MARIADB, 2, "db2", port=bad)


def test_health_fails_a_server_proxysql_has_on_another_port() -> None:
    """ProxySQL keeps a server it cannot reach ONLINE until its pings have failed enough: the
    port itself is checked."""
    names = {SOURCE: "db1", REPLICAS[0]: "db2"}
    expected = {(10, SOURCE), (20, REPLICAS[0])}
    ports = {SOURCE: PORT, REPLICAS[0]: PORT}

    def servers(replica_port: int) -> list[RuntimeServer]:
        return [RuntimeServer(10, SOURCE, PORT, "ONLINE", 1, 0),
                RuntimeServer(20, REPLICAS[0], replica_port, "ONLINE", 1, 0)]

    assert servers_item("px1", servers(PORT), expected, names, ports).ok
    wrong = servers_item("px1", servers(3306), expected, names, ports)
    assert not wrong.ok
    assert wrong.detail.startswith(f"db2 is on port 3306 in hostgroup 20, but its server "
                                   f"listens on {PORT}"), wrong.detail
    # Without ports (as before), the port is not looked at.
    assert servers_item("px1", servers(3306), expected, names).ok


def test_the_preflight_says_when_the_inventory_names_another_port() -> None:
    """The plan follows the source's port; an inventory that says otherwise is told so."""
    state = plan_fixtures.state_data(FLAVOUR)
    src = SourceFacts.model_validate(state["steps"][StepName.DISCOVER.value]["facts"]["source"])
    assert port_problems("db1", src, 3306) == []
    on_3307 = src.model_copy(update={"port": PORT})
    assert port_problems("db1", on_3307, PORT) == []
    [problem] = port_problems("db1", on_3307, 3306)
    assert problem.level == "warning"
    assert problem.message == (
        "db1 listens on port 3307, not on 3306 as migration.db_port says: the replicas will "
        "listen on 3307 too, and ProxySQL will reach every database server there; set "
        "db_port = 3307 in the inventory to say so")
