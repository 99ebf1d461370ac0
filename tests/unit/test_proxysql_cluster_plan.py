"""ProxySQL Cluster in the proxysql step's plan (`[proxysql] cluster = true`): a golden of
the plan and rollback (tests/unit/golden/cluster/), as test_plan_golden renders them; with
the option off the ordinary goldens hold. Rewrite with MW_UPDATE_GOLDEN=1 and read the diff.
And the pure parts: the nft file, the statements, the config's refusals."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory_parts import ProxySQL
from moodle_wizard.core.render.proxysql import ProxySqlConfigError
from moodle_wizard.core.render.proxysql_cluster import (
    ClusterConfig,
    admin_ifaces,
    cluster_statements,
    firewall_ruleset,
    peers_statements,
)
from moodle_wizard.core.state import StepName
from tests.unit import plan_fixtures, test_plan_golden
from tests.unit.plan_fixtures import all_secrets

GOLDEN = Path(__file__).parent / "golden" / "cluster"


def cluster_context(flavour: str, monkeypatch: pytest.MonkeyPatch,
                    done: dict[StepName, list[str]] | None = None) -> Context:
    ctx = plan_fixtures.context(flavour, monkeypatch, done)
    inv = ctx.inventory
    ctx.inventory = inv.model_copy(
        update={"proxysql": inv.proxysql.model_copy(update={"cluster": True})})
    return ctx


def test_cluster_plan_matches_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_plan_golden, "context", cluster_context)
    text = test_plan_golden.render(StepName.PROXYSQL, "mariadb-10.11", monkeypatch)
    for secret in all_secrets():
        assert secret not in text, "a secret reached the Cluster runbook"
    path = GOLDEN / "proxysql.mariadb-10.11.txt"
    if os.environ.get("MW_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    golden = path.read_text()
    diff = "\n".join(difflib.unified_diff(golden.splitlines(), text.splitlines(),
                                          f"golden/cluster/{path.name}", "now", lineterm=""))
    assert text == golden, f"the Cluster plan differs:\n{diff}"


def test_cluster_off_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = test_plan_golden.render(StepName.PROXYSQL, "mariadb-10.11", monkeypatch)
    for word in ("cluster", "Cluster", "nft", "proxysql_servers", "have_ssl"):
        assert word not in text, word


def _cc(**changes: object) -> ClusterConfig:
    values: dict[str, object] = dict(
        admin_user="mw_admin", admin_password="Adm1n", user="mw_cluster", password="C1uster",
        admin_port=6032, own_address="10.77.0.21", nodes=("10.77.0.21", "10.77.0.22"))
    values.update(changes)
    return ClusterConfig(**values)  # type: ignore[arg-type]


def test_statements_and_ifaces() -> None:
    cc = _cc()
    assert cc.peers == ("10.77.0.22",)
    assert admin_ifaces(6032, None) == "127.0.0.1:6032"
    variables = cc.admin_variables
    assert variables["admin-mysql_ifaces"] == "127.0.0.1:6032;10.77.0.21:6032"
    assert list(variables)[-1] == "admin-mysql_ifaces"  # bound last
    assert variables["admin-admin_credentials"] == "mw_admin:Adm1n;mw_cluster:C1uster"
    assert variables["admin-cluster_mysql_users_diffs_before_sync"] == "3"
    assert {n for n, v in variables.items() if n.endswith("_diffs_before_sync") and v == "0"} \
        == {f"admin-cluster_{m}_diffs_before_sync" for m in (
            "mysql_query_rules", "mysql_servers", "mysql_variables", "admin_variables",
            "proxysql_servers", "ldap_variables")}
    shown = "\n".join(s.display() for s in cluster_statements(cc))
    assert "C1uster" not in shown and "Adm1n" not in shown
    assert "'mysql-have_ssl'" in shown
    peers = [s.display() for s in peers_statements(cc.nodes, 6032)]
    assert peers[0] == "DELETE FROM proxysql_servers"
    assert sum("INSERT INTO proxysql_servers" in s for s in peers) == 2
    assert peers[-2:] == ["LOAD PROXYSQL SERVERS TO RUNTIME", "SAVE PROXYSQL SERVERS TO DISK"]


def test_firewall_ruleset() -> None:
    text = firewall_ruleset(6032, ["10.77.0.22", "fd00::2"])
    lines = text.splitlines()
    assert lines[:3] == ["add table inet moodle_wizard_admin",
                         "delete table inet moodle_wizard_admin",
                         "table inet moodle_wizard_admin {"]
    assert "    tcp dport 6032 ip saddr { 10.77.0.22 } accept" in lines
    assert "    tcp dport 6032 ip6 saddr { fd00::2 } accept" in lines
    # The reset comes last: the accepts before it decide.
    assert lines[-3] == "    tcp dport 6032 reject with tcp reset"
    assert "ip6" not in firewall_ruleset(6032, ["10.77.0.22"])


@pytest.mark.parametrize(("changes", "words"), [
    ({"password": "a:b"}, "':', ';' or spaces"),
    ({"admin_password": ""}, "cannot be empty"),
    ({"own_address": "px1.example"}, "IP addresses"),
    ({"nodes": ("10.77.0.22", "10.77.0.23")}, "not one of the proxy nodes"),
    ({"user": "mw_admin"}, "a name of its own"),
])
def test_config_refusals(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ProxySqlConfigError, match=words):
        _cc(**changes)


@pytest.mark.parametrize("name", ["admin", "stats", "mw_admin", "bad-name"])
def test_inventory_refuses_cluster_user(name: str) -> None:
    with pytest.raises(ValueError, match=r"cluster_user|letters"):
        ProxySQL(cluster=True, cluster_user=name)
    assert ProxySQL().cluster is False
