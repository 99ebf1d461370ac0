"""Reading what `ip`, the ARP probe and the VRRP listener print, and choosing a VRID."""

from __future__ import annotations

import ipaddress

import pytest

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.remote.netcheck import (
    Interfaces,
    choose_vrid,
    holds_address,
    parse_addr,
    parse_arp_probe,
    parse_links,
    parse_vrrp,
)
from moodle_wizard.core.remote.proxysql_node import parse_probe
from moodle_wizard.core.steps.vip_node import check_script

LINKS = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\\    "
    "link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "2: eth0@if110: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\\    "
    "link/ether fa:67:48:89:03:85 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
    "3: bond0.12: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN\n"
)
ADDRS = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: eth0    inet 10.77.0.21/24 scope global eth0\\       valid_lft forever\n"
    "2: eth0    inet 10.77.0.100/24 scope global secondary eth0\\       valid_lft forever\n"
    "2: eth0    inet 192.168.5.3/28 scope global eth0\\       valid_lft forever\n"
)


def test_interfaces_and_addresses() -> None:
    assert parse_links(LINKS) == ("lo", "eth0", "bond0.12")
    addrs = parse_addr(ADDRS)
    assert [str(a) for a in addrs["eth0"]] == ["10.77.0.21/24", "10.77.0.100/24",
                                               "192.168.5.3/28"]
    found = Interfaces(parse_links(LINKS), addrs)
    # The node's own address in the VIP's subnet (not the VIP itself, not another subnet).
    assert found.address_for("eth0", "10.77.0.100") == ipaddress.IPv4Interface("10.77.0.21/24")
    assert found.address_for("eth0", "10.77.1.100") is None
    assert found.address_for("bond0.12", "10.77.0.100") is None
    assert holds_address(ADDRS, "eth0", "10.77.0.100")
    assert not holds_address(ADDRS, "eth0", "10.77.0.101")
    assert not holds_address(ADDRS, "lo", "10.77.0.100")


@pytest.mark.parametrize(("output", "in_use", "mac"), [
    ("neigh=10.77.0.100 lladdr ce:73:18:00:8e:33 REACHABLE\n", True, "ce:73:18:00:8e:33"),
    ("neigh=10.77.0.100 lladdr CE:73:18:00:8E:33 STALE\n", True, "ce:73:18:00:8e:33"),
    ("neigh=10.77.0.100 FAILED\n", False, None),
    ("neigh=INCOMPLETE\n", False, None),
    ("neigh=\n", False, None),
    ("ping=yes\nneigh=\n", True, None),
])
def test_arp_probe_answers(output: str, in_use: bool, mac: str | None) -> None:
    answer = parse_arp_probe(output)
    assert (answer.in_use, answer.mac) == (in_use, mac)


def test_vrrp_listener_output() -> None:
    assert parse_vrrp("vrid 51 10.77.0.31\nvrid 7 10.77.0.40\ndone\n") == {
        (51, "10.77.0.31"), (7, "10.77.0.40")}
    assert parse_vrrp("done\n") == set()
    assert parse_vrrp("") is None  # no python3 there: nothing was heard, nothing is known


def test_a_vrid_is_chosen_from_the_vip_and_skips_used_ones() -> None:
    assert choose_vrid("10.77.0.100", set()) == 100
    assert choose_vrid("10.77.0.100", {100, 101}) == 102
    assert choose_vrid("10.77.0.255", {255}) == 1
    assert choose_vrid("10.77.0.0", set()) == 1
    assert choose_vrid("10.77.0.100", {100}, given=42) == 42
    with pytest.raises(OperatorError, match="every virtual_router_id"):
        choose_vrid("10.0.0.1", set(range(1, 256)))


def test_proxysql_probe_output() -> None:
    probe = parse_probe("installed=yes\nrunning=no\ndbfiles=proxysql.db proxysql_stats.db \n"
                        "files=proxysql.log proxysql.db proxysql_stats.db \nsqlite3=no\n")
    assert probe == {"installed": True, "running": False,
                     "db_files": ["proxysql.db", "proxysql_stats.db"],
                     "files": ["proxysql.db", "proxysql.log", "proxysql_stats.db"],
                     "sqlite3": False}
    assert parse_probe("installed=no\nrunning=no\ndbfiles=\nsqlite3=yes\n")["db_files"] == []


def test_the_track_script_checks_the_client_port_without_connecting() -> None:
    script = check_script(6033)
    assert script.startswith("#!/bin/sh\n")
    assert "ss -Hltn 'sport = :6033'" in script
