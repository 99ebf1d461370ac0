"""What the network looks like from a proxy host: interfaces, who answers for an address,
which VRRP groups are on the segment, who holds the VIP. Each check is one remote command;
the parsing is pure (and unit-tested).

Nothing here changes a host's configuration. The ARP probe flushes the kernel's *cache* entry
for the VIP first (a cache, refilled by any traffic), so the answer is fresh, not remembered.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from moodle_wizard.core.errors import StepError
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = [
    "ArpAnswer",
    "Interfaces",
    "arp_probe",
    "choose_vrid",
    "holds_address",
    "interfaces",
    "parse_addr",
    "parse_arp_probe",
    "parse_links",
    "parse_vrrp",
    "vrrp_groups",
]

# Interface name: "2: eth0    inet 10.0.0.1/24 ..." (`ip -o -4 addr`); "2: eth0@if12: <...>"
# (`ip -o link`).
_ADDR_LINE = re.compile(r"^\d+:\s+(?P<dev>[^\s:]+)\s+inet\s+(?P<cidr>[0-9.]+/\d+)")
_LINK_LINE = re.compile(r"^\d+:\s+(?P<dev>[^\s:@]+)(?:@[^\s:]+)?:")


@dataclass(frozen=True)
class Interfaces:
    names: tuple[str, ...]
    addresses: dict[str, tuple[ipaddress.IPv4Interface, ...]]

    def on(self, dev: str) -> tuple[ipaddress.IPv4Interface, ...]:
        return self.addresses.get(dev, ())

    def address_for(self, dev: str, ip: str) -> ipaddress.IPv4Interface | None:
        """This host's address on `dev` whose subnet holds `ip` (the VRRP source address)."""
        target = ipaddress.IPv4Address(ip)
        for iface in self.on(dev):
            if target in iface.network and iface.ip != target:
                return iface
        return None


def parse_links(text: str) -> tuple[str, ...]:
    return tuple(m.group("dev") for line in text.splitlines()
                 if (m := _LINK_LINE.match(line.strip())))


def parse_addr(text: str) -> dict[str, tuple[ipaddress.IPv4Interface, ...]]:
    out: dict[str, list[ipaddress.IPv4Interface]] = {}
    for line in text.splitlines():
        m = _ADDR_LINE.match(line.strip())
        if m:
            out.setdefault(m.group("dev"), []).append(ipaddress.IPv4Interface(m.group("cidr")))
    return {dev: tuple(addrs) for dev, addrs in out.items()}


async def interfaces(host: RemoteHost) -> Interfaces:
    out = await host.run(["sh", "-c", "ip -o link show; echo --; ip -o -4 addr show"],
                         display="ip -o link show; ip -o -4 addr show")
    links, _, addrs = out.stdout.partition("--\n")
    return Interfaces(parse_links(links), parse_addr(addrs))


def holds_address(text: str, dev: str, ip: str) -> bool:
    """Whether `ip -o -4 addr show` output has `ip` on `dev`."""
    return any(a.ip == ipaddress.IPv4Address(ip) for a in parse_addr(text).get(dev, ()))


# -- does anything answer for an address? ----------------------------------------------------

_ARP_PROBE = r"""
vip=$1 dev=$2
ip neigh flush to "$vip" dev "$dev" 2>/dev/null || true
if command -v ping >/dev/null 2>&1; then
    if ping -n -c 1 -W 1 -I "$dev" "$vip" >/dev/null 2>&1; then echo "ping=yes"; fi
else
    bash -c 'echo x > "/dev/udp/$0/9"' "$vip" 2>/dev/null || true
fi
i=0
while [ "$i" -lt 40 ]; do
    st=$(ip neigh show to "$vip" dev "$dev")
    case "$st" in
        *INCOMPLETE*) ;;
        *lladdr*) echo "neigh=$st"; exit 0 ;;
        *) echo "neigh=$st"; exit 0 ;;
    esac
    i=$((i + 1))
    sleep 0.1
done
echo "neigh=INCOMPLETE"
"""


@dataclass(frozen=True)
class ArpAnswer:
    in_use: bool
    mac: str | None
    detail: str


def parse_arp_probe(text: str) -> ArpAnswer:
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    neigh = fields.get("neigh", "").strip()
    mac = re.search(r"lladdr\s+([0-9a-fA-F:]{11,17})", neigh)
    # FAILED/INCOMPLETE/no entry: nobody answered ARP. A MAC in any state after the flush
    # means somebody did (or still answers: REACHABLE/STALE/DELAY/PROBE).
    if mac is not None and "FAILED" not in neigh:
        return ArpAnswer(True, mac.group(1).lower(), neigh)
    if fields.get("ping") == "yes":
        return ArpAnswer(True, None, "answers ping")
    return ArpAnswer(False, None, neigh or "no answer")


async def arp_probe(host: RemoteHost, ip: str, dev: str) -> ArpAnswer:
    out = await host.run(["sh", "-c", _ARP_PROBE, "sh", ip, dev], timeout=30,
                         display=f"does anything answer for {ip} on {dev}? (ping, ARP)")
    return parse_arp_probe(out.stdout)


# -- which VRRP groups are on the segment? -----------------------------------------------------

# Joins the VRRP multicast group (224.0.0.18) on the interface's address for the duration of
# the socket and prints "vrid source" for every advertisement seen (multicast or unicast to us).
_VRRP_LISTEN = r"""
import select, socket, struct, sys, time
seconds, local = float(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("224.0.0.18") + socket.inet_aton(local))
seen = set()
end = time.monotonic() + seconds
while True:
    left = end - time.monotonic()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, addr = s.recvfrom(4096)
    ihl = (data[0] & 0x0F) * 4
    if len(data) > ihl + 1:
        seen.add((data[ihl + 1], addr[0]))
for vrid, src in sorted(seen):
    print("vrid", vrid, src)
print("done")
"""


def parse_vrrp(text: str) -> set[tuple[int, str]] | None:
    """(vrid, source address) pairs; None when the listener could not run."""
    if "done" not in text.split():
        return None
    out = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "vrid" and parts[1].isdigit():
            out.add((int(parts[1]), parts[2]))
    return out


async def vrrp_groups(host: RemoteHost, local_ip: str,
                      seconds: float) -> set[tuple[int, str]] | None:
    """VRRP advertisements heard for `seconds`; None if the host has no python3 to listen."""
    out = await host.run(["sh", "-c", 'command -v python3 >/dev/null 2>&1 || exit 0; '
                          'exec python3 -c "$0" "$@"', _VRRP_LISTEN, str(seconds), local_ip],
                         check=False, timeout=seconds + 30,
                         display=f"listen for VRRP advertisements for {seconds:g} s")
    return parse_vrrp(out.stdout)


def choose_vrid(vip: str, taken: Iterable[int], given: int | None = None) -> int:
    """The VIP's last octet (stable and easy to recognise), else the next free id; a given id
    is returned as it is (the caller reports a clash)."""
    if given is not None:
        return given
    used = set(taken)
    start = (int(ipaddress.IPv4Address(vip)) & 0xFF) or 1
    for k in range(255):
        candidate = (start - 1 + k) % 255 + 1
        if candidate not in used:
            return candidate
    raise StepError("every virtual_router_id 1..255 is in use on the segment; the VIP needs "
                    "a segment with a free one")
