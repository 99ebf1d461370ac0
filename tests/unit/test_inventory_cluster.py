"""The inventory's [proxysql] and [vip] sections: defaults, and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodle_wizard.core.inventory import InventoryError, load_inventory

CLUSTER = """
[migration]
name = "site1"

[proxysql]
readonly_user = "moodle_ro"

[vip]
address = "10.0.0.100"

[hosts.db1]
address = "10.0.0.11"
role = "source"

[hosts.db2]
address = "10.0.0.12"
role = "replica"

[hosts.app]
address = "10.0.0.10"
role = "app"

[hosts.px1]
address = "10.0.0.21"
role = "proxy"

[hosts.px2]
address = "10.0.0.22"
role = "proxy"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_defaults_fit_a_fresh_proxysql_package_and_eth0(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, CLUSTER))
    px = inv.proxysql
    assert (px.initial_admin_user, px.admin_user, px.admin_port, px.client_port) == \
        ("admin", "mw_admin", 6032, 6033)
    assert (px.writer_hostgroup, px.reader_hostgroup, px.readonly_user) == (10, 20, "moodle_ro")
    assert inv.vip is not None
    assert (inv.vip.address, inv.vip.interface, inv.vip.virtual_router_id) == \
        ("10.0.0.100", "eth0", None)
    assert inv.proxies == ["px1", "px2"]


def test_without_vip_and_proxysql_sections_the_first_half_still_loads(tmp_path: Path) -> None:
    text = CLUSTER.replace('[vip]\naddress = "10.0.0.100"\n', "").replace(
        '[proxysql]\nreadonly_user = "moodle_ro"\n', "")
    inv = load_inventory(write(tmp_path, text))
    assert inv.vip is None and inv.proxysql.readonly_user is None


@pytest.mark.parametrize(("change", "message"), [
    (('address = "10.0.0.100"', 'address = "10.0.0.21"'),
     "vip.address 10.0.0.21 is the address of host px1"),
    (('address = "10.0.0.100"', 'address = "vip.example.org"'),
     "vip.address: 'vip.example.org' is not an IPv4 address"),
    (('address = "10.0.0.100"', 'address = "10.0.0.100"\ninterface = "eth0; reboot"'),
     "vip.interface: 'eth0; reboot' is not a network interface name"),
    (('address = "10.0.0.100"', 'address = "10.0.0.100"\nvirtual_router_id = 256'),
     "vip.virtual_router_id"),
    (('[hosts.px2]\naddress = "10.0.0.22"\nrole = "proxy"',
      '[hosts.px2]\naddress = "10.0.0.22"\nrole = "jump"'),
     'a VIP needs at least two hosts with role = "proxy" (found 1)'),
    (('readonly_user = "moodle_ro"', 'readonly_user = "moodle_ro"\nreader_hostgroup = 10'),
     "writer_hostgroup and reader_hostgroup are both 10"),
    (('readonly_user = "moodle_ro"', 'readonly_user = "mw_monitor"'),
     "proxysql.readonly_user 'mw_monitor' is also the replication or monitor user"),
    (('readonly_user = "moodle_ro"', 'readonly_user = "moodle_ro"\nadmin_user = "a:b"'),
     "proxysql.admin_user: 'a:b': use letters"),
    (('readonly_user = "moodle_ro"', 'readonly_user = "moodle_ro"\nclient_port = 6032'),
     "admin_port and client_port are both 6032"),
    (('readonly_user = "moodle_ro"', 'readonly_user = "moodle_ro"\nadmin_pass = "x"'),
     "proxysql.admin_pass: unknown setting"),
])
def test_bad_cluster_settings_are_refused_with_one_clear_message(
        tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in CLUSTER
    with pytest.raises(InventoryError, match=r"^inventory ") as err:
        load_inventory(write(tmp_path, CLUSTER.replace(*change, 1)))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
