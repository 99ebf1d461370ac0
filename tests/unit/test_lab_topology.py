from __future__ import annotations

import pytest

from moodle_wizard.lab.moodle_data import DataPlan, data_sql, schema_sql
from moodle_wizard.lab.provision import php_quote, write_file
from moodle_wizard.lab.topology import HOST_NAMES, Topology, TopologyError, veth_name


def test_default_addresses_follow_the_plan() -> None:
    topo = Topology.from_cidr()
    assert {h: topo.host_address(h) for h in HOST_NAMES} == {
        "jump": "10.77.0.5", "app": "10.77.0.10", "db1": "10.77.0.11", "db2": "10.77.0.12",
        "db3": "10.77.0.13", "px1": "10.77.0.21", "px2": "10.77.0.22",
    }
    assert topo.vip == "10.77.0.100"
    assert topo.machine_address == "10.77.0.1"


def test_another_subnet_moves_every_address() -> None:
    topo = Topology.from_cidr("192.168.50.0/24")
    assert topo.host_address("db2") == "192.168.50.12"
    assert topo.vip == "192.168.50.100"


@pytest.mark.parametrize(("cidr", "message"), [
    ("10.77.0.1/24", "not a network address"),
    ("nonsense", "not a network address"),
    ("10.77.0.0/26", "too small"),
    ("fd00::/64", "IPv4"),
])
def test_bad_subnets_are_refused_with_the_fix(cidr: str, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology.from_cidr(cidr)


def test_unknown_host_lists_the_lab_hosts() -> None:
    with pytest.raises(TopologyError, match="jump, app, db1"):
        Topology.from_cidr().host("db9")


def test_interface_names_fit_the_kernel_limit() -> None:
    assert all(len(veth_name(h)) <= 15 for h in HOST_NAMES)


def test_data_plan_grows_with_the_size() -> None:
    small, big = DataPlan.for_megabytes(50), DataPlan.for_megabytes(1024)
    assert big.logs > 15 * small.logs
    assert big.users > small.users
    sql = schema_sql() + data_sql(small)
    assert f"seq_1_to_{small.logs}" in sql
    assert sql.count("CREATE TABLE IF NOT EXISTS") == 9


def test_php_quote_escapes_quotes_and_backslashes() -> None:
    assert php_quote("it's a \\ test") == "'it\\'s a \\\\ test'"


def test_write_file_uses_a_quoted_heredoc() -> None:
    script = write_file("/etc/x y", "$(rm -rf /) `id`\n")
    assert "<<'MWLAB_EOF_7f3a'" in script
    assert "'/etc/x y'" in script
