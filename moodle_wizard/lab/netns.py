"""The lab's network: one bridge, one namespace and veth pair per host, no way out."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Callable

from moodle_wizard.lab.system import LabError, pids_in_netns, run
from moodle_wizard.lab.topology import BRIDGE, NETNS_PREFIX, Topology, netns_name, veth_name


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def lab_netns() -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(NETNS_PREFIX))
    except FileNotFoundError:
        return []


def check_subnet_free(topo: Topology) -> None:
    """Refuse a subnet that overlaps a route the machine already has (other than ours)."""
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or b"[]")
    for route in routes:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dev == BRIDGE or not dst or dst == "default" or route.get("type") in (
            "broadcast", "local"
        ):
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if net.overlaps(topo.subnet):
            raise LabError(
                f"subnet {topo.subnet} overlaps the machine's route {dst} on {dev}; "
                "choose another with --subnet (e.g. 10.78.0.0/24)"
            )


def ensure_bridge(topo: Topology) -> None:
    if not link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    cidr = f"{topo.machine_address}/{topo.prefixlen}"
    addrs = run(["ip", "-j", "addr", "show", "dev", BRIDGE]).stdout
    if cidr.split("/")[0] not in addrs.decode():
        run(["ip", "addr", "add", cidr, "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def ensure_host_net(topo: Topology, host: str) -> None:
    ns, veth = netns_name(host), veth_name(host)
    if not netns_exists(ns):
        run(["ip", "netns", "add", ns])
    if not link_exists(veth):
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    cidr = f"{topo.host_address(host)}/{topo.prefixlen}"
    addrs = run(["ip", "-n", ns, "-j", "addr", "show", "dev", "eth0"]).stdout.decode()
    if f'"{topo.host_address(host)}"' not in addrs:
        run(["ip", "-n", ns, "addr", "add", cidr, "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    # No default route is ever added: a lab host can reach its own subnet and nothing else.


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except FileNotFoundError:
        return None


def delete_netns(name: str) -> None:
    if netns_exists(name):
        _gone_or_raise(run(["ip", "netns", "del", name], check=False), netns_exists, name)


def delete_link(name: str) -> None:
    # A veth's host end goes by itself when its namespace is deleted, possibly between the
    # check and the delete: what is already gone is not a failure.
    if link_exists(name):
        _gone_or_raise(run(["ip", "link", "del", name], check=False), link_exists, name)


def _gone_or_raise(proc: subprocess.CompletedProcess[bytes], exists: Callable[[str], bool],
                   name: str) -> None:
    if proc.returncode != 0 and exists(name):
        err = proc.stderr.decode(errors="replace").strip()
        raise LabError(f"could not remove {name} (exit {proc.returncode}): {err[-400:]}")


def leftover_links() -> list[str]:
    out = json.loads(run(["ip", "-j", "link", "show"]).stdout or b"[]")
    return sorted(
        link["ifname"] for link in out
        if link["ifname"] == BRIDGE or link["ifname"].startswith("mwv-")
    )


def ensure_no_netns_left() -> None:
    left = lab_netns()
    if left:
        raise LabError(f"network namespaces still present: {', '.join(left)}")


def lab_memory_kb() -> int:
    """Resident memory of every process in the lab's namespaces, in KiB."""
    total = 0
    for ns in lab_netns():
        inode = netns_inode(ns)
        for pid in pids_in_netns(inode) if inode else []:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                # The process ended between the listing and the read (ESRCH mid-read).
                continue
    return total
