"""Render keepalived.conf for one proxy node holding (or standing by for) the Moodle VIP.

Both proxy nodes get `state BACKUP`: the VRRP election, not the file, decides who holds the
VIP, so a node that restarts does not grab the address from a healthy peer. Peers talk unicast
(many networks filter VRRP multicast), and a `vrrp_script` checking ProxySQL is tracked so a
node whose ProxySQL is down releases the VIP.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from moodle_wizard.core.errors import OperatorError

__all__ = [
    "HealthCheck",
    "KeepalivedConfigError",
    "VirtualIP",
    "VrrpInstance",
    "pid_file_args",
    "render_keepalived_conf",
    "vip_in_subnet",
]

AUTH_PASS_MAX = 8

# keepalived splits on whitespace, treats '#' and '!' as comment starts anywhere on a line,
# and gives quotes and braces meaning: none of these may appear inside a bare token.
# \A...\Z and fullmatch: "$" would accept a trailing newline (a new config line).
_NAME_RE = re.compile(r"\A[A-Za-z0-9_.@:-]+\Z")
_IFACE_RE = re.compile(r"\A[A-Za-z0-9_.@:-]{1,15}\Z")
_AUTH_RE = re.compile(r"\A[\x21-\x7e]+\Z")
_AUTH_FORBIDDEN = set("\"'{}#!\\")
# Inside the double-quoted `script` string, args are split on unquoted spaces and an arg with
# spaces is wrapped in single quotes. Anything that would need escaping is refused instead.
_SCRIPT_ARG_FORBIDDEN = set("\"'\\#!{}\n\r\t")


class KeepalivedConfigError(OperatorError, ValueError):
    """An input that would produce a wrong or unsafe keepalived.conf."""


def _check_name(kind: str, value: str, pattern: re.Pattern[str] = _NAME_RE) -> None:
    if not pattern.fullmatch(value):
        raise KeepalivedConfigError(
            f"{kind} {value!r} is not safe in keepalived.conf: use only letters, digits and "
            f"'_.@:-' (no spaces, quotes, braces, '#' or '!')"
        )


def _ipv4(kind: str, value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise KeepalivedConfigError(f"{kind} {value!r} is not an IPv4 address") from None


def _iface_network(iface_cidr: str) -> ipaddress.IPv4Interface:
    try:
        if "/" not in iface_cidr:
            # A bare address would silently mean /32, with no subnet to check against.
            raise ValueError(iface_cidr)
        return ipaddress.IPv4Interface(iface_cidr)
    except ValueError:
        raise KeepalivedConfigError(
            f"interface address {iface_cidr!r} is not an IPv4 address with prefix, "
            f"e.g. '10.0.0.11/24'"
        ) from None


def vip_in_subnet(vip: str, iface_cidr: str) -> bool:
    """True when `vip` lies in the subnet of the interface address `iface_cidr` ('10.0.0.11/24').

    A VIP outside the interface's subnet would be added to the interface but not be reachable
    (no ARP answer on the segment), so preflight refuses it.
    """
    return _ipv4("VIP", vip) in _iface_network(iface_cidr).network


@dataclass(frozen=True)
class VirtualIP:
    """The floating address and the interface it lives on."""

    address: str
    prefix_len: int
    interface: str

    def __post_init__(self) -> None:
        _ipv4("VIP", self.address)
        if not 1 <= self.prefix_len <= 32:
            raise KeepalivedConfigError(f"VIP prefix length {self.prefix_len} is not in 1..32")
        _check_name("interface", self.interface, _IFACE_RE)

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefix_len}"


@dataclass(frozen=True)
class HealthCheck:
    """A `vrrp_script`: `command` is an argv (absolute path first), run without a shell."""

    command: tuple[str, ...]
    name: str = "chk_proxysql"
    interval: int = 2
    timeout: int = 2
    fall: int = 2
    rise: int = 2

    def __post_init__(self) -> None:
        _check_name("vrrp_script name", self.name)
        if not self.command:
            raise KeepalivedConfigError("the health check command is empty")
        if not self.command[0].startswith("/"):
            # enable_script_security resolves and checks the path; a bare name is ambiguous.
            raise KeepalivedConfigError(
                f"health check command {self.command[0]!r} must be an absolute path"
            )
        for arg in self.command:
            bad = sorted(set(arg) & _SCRIPT_ARG_FORBIDDEN)
            if bad or arg == "":
                raise KeepalivedConfigError(
                    f"health check argument {arg!r} cannot be written safely in keepalived.conf "
                    f"(forbidden characters: {''.join(bad) or 'empty argument'}); "
                    f"put the logic in a root-owned script and call that instead"
                )
        for key in ("interval", "timeout", "fall", "rise"):
            value = getattr(self, key)
            if not 1 <= value <= 3600:
                raise KeepalivedConfigError(f"health check {key} {value} is not in 1..3600")


@dataclass(frozen=True)
class VrrpInstance:
    """One `vrrp_instance` as seen from one node.

    `interface_cidr` is this node's own address on `vip.interface` with its prefix: it is used
    to check that the VIP and the unicast source are on the segment.

    `auth_pass` must be 1..8 printable characters: keepalived silently uses only the first 8,
    so two nodes configured with passwords that differ after the 8th character would still
    agree, and a longer value gives a false sense of strength. A longer value is refused
    rather than truncated so that what the operator typed is exactly what is in effect.
    """

    virtual_router_id: int
    priority: int
    interface_cidr: str
    unicast_src_ip: str
    unicast_peers: tuple[str, ...]
    auth_pass: str
    vip: VirtualIP
    name: str = "VI_MOODLE"
    advert_int: int = 1
    nopreempt: bool = False
    state: Literal["BACKUP", "MASTER"] = "BACKUP"
    track_scripts: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_name("vrrp_instance name", self.name)
        if not 1 <= self.virtual_router_id <= 255:
            raise KeepalivedConfigError(
                f"virtual_router_id {self.virtual_router_id} is not in 1..255"
            )
        if not 1 <= self.priority <= 254:
            # 255 is reserved for the address owner, which a floating VIP never has.
            raise KeepalivedConfigError(f"priority {self.priority} is not in 1..254")
        if not 1 <= self.advert_int <= 255:
            raise KeepalivedConfigError(f"advert_int {self.advert_int} is not in 1..255")
        if self.state not in ("BACKUP", "MASTER"):
            raise KeepalivedConfigError(f"state {self.state!r} is not BACKUP or MASTER")
        if self.nopreempt and self.state != "BACKUP":
            raise KeepalivedConfigError(
                "nopreempt only works with state BACKUP (keepalived ignores it otherwise)"
            )
        self._check_auth_pass()
        self._check_addresses()
        for script in self.track_scripts:
            _check_name("track_script name", script)

    def _check_auth_pass(self) -> None:
        if not self.auth_pass:
            raise KeepalivedConfigError("auth_pass is empty")
        if len(self.auth_pass) > AUTH_PASS_MAX:
            raise KeepalivedConfigError(
                f"auth_pass is {len(self.auth_pass)} characters long but keepalived only uses "
                f"the first {AUTH_PASS_MAX}; choose a password of at most {AUTH_PASS_MAX} "
                f"characters"
            )
        if not _AUTH_RE.fullmatch(self.auth_pass) or set(self.auth_pass) & _AUTH_FORBIDDEN:
            raise KeepalivedConfigError(
                "auth_pass may only contain printable ASCII without spaces, quotes, braces, "
                "backslash, '#' or '!'"
            )

    def _check_addresses(self) -> None:
        iface = _iface_network(self.interface_cidr)
        src = _ipv4("unicast_src_ip", self.unicast_src_ip)
        vip = _ipv4("VIP", self.vip.address)
        if not self.unicast_peers:
            raise KeepalivedConfigError("at least one unicast peer is needed")
        peers = [_ipv4("unicast peer", p) for p in self.unicast_peers]
        if len(set(peers)) != len(peers):
            raise KeepalivedConfigError("a unicast peer is listed twice")
        if src in peers:
            raise KeepalivedConfigError(f"unicast_src_ip {src} is also listed as a peer")
        if src not in iface.network:
            raise KeepalivedConfigError(
                f"unicast_src_ip {src} is not on the interface subnet {iface.network}"
            )
        if not vip_in_subnet(self.vip.address, self.interface_cidr):
            raise KeepalivedConfigError(
                f"VIP {vip} is not inside the subnet {iface.network} of interface "
                f"{self.vip.interface}; pick a free address in that subnet"
            )
        if iface.network.prefixlen < 31 and vip in (
            iface.network.network_address,
            iface.network.broadcast_address,
        ):
            raise KeepalivedConfigError(
                f"VIP {vip} is the network or broadcast address of {iface.network}"
            )
        if vip == src or vip in peers:
            raise KeepalivedConfigError(f"VIP {vip} is already a node address")
        if self.vip.prefix_len != iface.network.prefixlen:
            raise KeepalivedConfigError(
                f"VIP prefix /{self.vip.prefix_len} differs from the interface prefix "
                f"/{iface.network.prefixlen}"
            )


def _script_string(command: Sequence[str]) -> str:
    parts = [f"'{arg}'" if " " in arg else arg for arg in command]
    return '"' + " ".join(parts) + '"'


def pid_file_args(instance_name: str) -> list[str]:
    """keepalived command-line options giving one keepalived instance its own pid files.

    Two keepalived daemons on one machine otherwise both use /run/keepalived.pid and the
    second refuses to start (or a stop kills the wrong one). The options go into DAEMON_ARGS
    (/etc/default/keepalived) or the unit's command line. The `instance NAME` keyword of
    global_defs would do the same from the file, but keepalived 2.2's config test
    (`keepalived -t`, which preflight runs) rejects it as an unknown keyword, so it is not used.
    """
    _check_name("instance name", instance_name)
    base = f"/run/keepalived-{instance_name}"
    return [
        f"--pid={base}.pid",
        f"--vrrp_pid={base}-vrrp.pid",
        f"--checkers_pid={base}-checkers.pid",
    ]


def render_keepalived_conf(
    instance: VrrpInstance,
    check: HealthCheck,
    *,
    router_id: str | None = None,
) -> str:
    """Render a complete keepalived.conf for one node (see `pid_file_args` for running two
    keepalived daemons on one machine)."""
    if router_id is not None:
        _check_name("router_id", router_id)
    tracked = instance.track_scripts or (check.name,)
    if check.name not in tracked:
        raise KeepalivedConfigError(
            f"the health check {check.name!r} is not tracked by the instance, so a dead "
            f"ProxySQL would not release the VIP"
        )
    unknown = sorted(set(tracked) - {check.name})
    if unknown:
        raise KeepalivedConfigError(f"track_script names without a vrrp_script: {unknown}")

    lines = ["# Managed by moodle-wizard: changes here are overwritten.", "global_defs {"]
    if router_id is not None:
        lines.append(f"    router_id {router_id}")
    lines += [
        "    enable_script_security",
        "    script_user root",
        "}",
        "",
        # No `weight`: a failing check then puts the instance into FAULT, which releases the
        # VIP; with a weight it would only lower the priority and might keep the address.
        f"vrrp_script {check.name} {{",
        f"    script {_script_string(check.command)}",
        f"    interval {check.interval}",
        f"    timeout {check.timeout}",
        f"    fall {check.fall}",
        f"    rise {check.rise}",
        "}",
        "",
        f"vrrp_instance {instance.name} {{",
        f"    state {instance.state}",
        f"    interface {instance.vip.interface}",
        f"    virtual_router_id {instance.virtual_router_id}",
        f"    priority {instance.priority}",
        f"    advert_int {instance.advert_int}",
    ]
    if instance.nopreempt:
        lines.append("    nopreempt")
    lines += [
        f"    unicast_src_ip {instance.unicast_src_ip}",
        "    unicast_peer {",
        *(f"        {peer}" for peer in instance.unicast_peers),
        "    }",
        "    authentication {",
        "        auth_type PASS",
        f"        auth_pass {instance.auth_pass}",
        "    }",
        "    virtual_ipaddress {",
        f"        {instance.vip.cidr} dev {instance.vip.interface}",
        "    }",
        "    track_script {",
        *(f"        {name}" for name in tracked),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
