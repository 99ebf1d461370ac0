"""Which hosts the lab has, and their addresses. Pure: no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from moodle_wizard.core.errors import OperatorError

DEFAULT_SUBNET = "10.77.0.0/24"
BRIDGE = "mwlab0"
NETNS_PREFIX = "mwlab-"
VETH_PREFIX = "mwv-"


@dataclass(frozen=True)
class LabHost:
    name: str
    octet: int
    role: str
    description: str


HOSTS: tuple[LabHost, ...] = (
    LabHost("jump", 5, "jump", "the operator's jump host; run the wizard from here"),
    LabHost("app", 10, "app", "Moodle app server: PHP, config.php, moodle-probe"),
    LabHost("db1", 11, "source", "standalone Moodle database (MariaDB, binlog off)"),
    LabHost("db2", 12, "replica", "empty host for a replica (server packages available)"),
    LabHost("db3", 13, "replica", "empty host for a replica (server packages available)"),
    LabHost("px1", 21, "proxy", "proxy host: keepalived, ProxySQL"),
    LabHost("px2", 22, "proxy", "proxy host: keepalived, ProxySQL"),
)
HOST_NAMES = tuple(h.name for h in HOSTS)
VIP_OCTET = 100
MACHINE_OCTET = 1


class TopologyError(OperatorError, ValueError):
    pass


@dataclass(frozen=True)
class Topology:
    subnet: ipaddress.IPv4Network

    @classmethod
    def from_cidr(cls, cidr: str = DEFAULT_SUBNET) -> Topology:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise TopologyError(
                f"--subnet {cidr!r} is not a network address in CIDR form ({exc}); "
                f"use e.g. {DEFAULT_SUBNET}"
            ) from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise TopologyError(f"--subnet {cidr}: the lab needs an IPv4 subnet")
        if net.prefixlen > 24:
            raise TopologyError(
                f"--subnet {cidr} is too small: the lab uses host numbers up to .{VIP_OCTET}; "
                "use a /24 or larger"
            )
        return cls(net)

    def address(self, octet: int) -> str:
        return str(self.subnet.network_address + octet)

    def host(self, name: str) -> LabHost:
        for h in HOSTS:
            if h.name == name:
                return h
        raise TopologyError(
            f"no lab host named {name!r}; the lab has: {', '.join(HOST_NAMES)}"
        )

    def host_address(self, name: str) -> str:
        return self.address(self.host(name).octet)

    @property
    def machine_address(self) -> str:
        return self.address(MACHINE_OCTET)

    @property
    def vip(self) -> str:
        return self.address(VIP_OCTET)

    @property
    def prefixlen(self) -> int:
        return self.subnet.prefixlen


def netns_name(host: str) -> str:
    return NETNS_PREFIX + host


def veth_name(host: str) -> str:
    # Interface names are limited to 15 characters.
    return VETH_PREFIX + host
