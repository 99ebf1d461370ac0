"""keepalived.conf rendering: content, validation, and keepalived's own config test."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.render.keepalived import (
    HealthCheck,
    KeepalivedConfigError,
    VirtualIP,
    VrrpInstance,
    pid_file_args,
    render_keepalived_conf,
    vip_in_subnet,
)

KEEPALIVED = shutil.which("keepalived") or (
    "/usr/sbin/keepalived" if Path("/usr/sbin/keepalived").exists() else None
)
needs_keepalived = pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed")

CHECK = HealthCheck(command=("/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/6033"))


def node(src: str = "10.0.0.11", peer: str = "10.0.0.12", **changes: Any) -> VrrpInstance:
    base = VrrpInstance(
        virtual_router_id=51,
        priority=150,
        interface_cidr=f"{src}/24",
        unicast_src_ip=src,
        unicast_peers=(peer,),
        auth_pass="Mw2x9Q",
        vip=VirtualIP("10.0.0.100", 24, "eth0"),
    )
    return replace(base, **changes)


def blocks(conf: str) -> dict[str, str]:
    """Top-level blocks by their header line ('vrrp_instance VI_MOODLE' -> body)."""
    found: dict[str, str] = {}
    for m in re.finditer(r"^(\S[^{\n]*?)\s*\{\n(.*?)^\}", conf, re.MULTILINE | re.DOTALL):
        found[m.group(1)] = m.group(2)
    return found


def test_both_nodes_render_backup_with_mirrored_peers() -> None:
    one = render_keepalived_conf(node("10.0.0.11", "10.0.0.12", priority=150), CHECK)
    two = render_keepalived_conf(node("10.0.0.12", "10.0.0.11", priority=100), CHECK)
    for conf, src, peer, prio in ((one, "11", "12", 150), (two, "12", "11", 100)):
        inst = blocks(conf)["vrrp_instance VI_MOODLE"]
        assert re.search(r"^\s+state BACKUP$", inst, re.M)
        assert re.search(rf"^\s+unicast_src_ip 10\.0\.0\.{src}$", inst, re.M)
        assert re.search(rf"unicast_peer \{{\s+10\.0\.0\.{peer}\s+\}}", inst)
        assert re.search(rf"^\s+priority {prio}$", inst, re.M)
        assert re.search(r"virtual_ipaddress \{\s+10\.0\.0\.100/24 dev eth0\s+\}", inst)
        assert re.search(r"track_script \{\s+chk_proxysql\s+\}", inst)
        assert re.search(r"auth_type PASS\s+auth_pass Mw2x9Q", inst)
        glob = blocks(conf)["global_defs"]
        assert "enable_script_security" in glob and "script_user root" in glob
    # Everything but the node's own addresses and priority is identical on both nodes.
    strip = re.compile(r"10\.0\.0\.1[12]|priority \d+")
    assert strip.sub("", one) == strip.sub("", two)


def test_vrrp_script_block() -> None:
    check = HealthCheck(command=("/usr/bin/nc", "-z", "127.0.0.1", "6032"), interval=3, fall=4)
    script = blocks(render_keepalived_conf(node(), check))["vrrp_script chk_proxysql"]
    assert 'script "/usr/bin/nc -z 127.0.0.1 6032"' in script
    assert re.search(r"interval 3\s+timeout 2\s+fall 4\s+rise 2", script)
    spaced = blocks(render_keepalived_conf(node(), CHECK))["vrrp_script chk_proxysql"]
    assert "script \"/bin/sh -c 'exec 3<>/dev/tcp/127.0.0.1/6033'\"" in spaced


def test_nopreempt_only_with_backup() -> None:
    conf = render_keepalived_conf(node(nopreempt=True), CHECK)
    assert re.search(r"^\s+nopreempt$", conf, re.M)
    assert "nopreempt" not in render_keepalived_conf(node(), CHECK)
    with pytest.raises(KeepalivedConfigError, match="nopreempt only works with state BACKUP"):
        node(nopreempt=True, state="MASTER")


def test_auth_pass_longer_than_eight_is_refused() -> None:
    node(auth_pass="12345678")
    with pytest.raises(KeepalivedConfigError, match="only uses the first 8"):
        node(auth_pass="123456789")
    for bad in ("", "a b", 'a"b', "a{b", "a#b", "a!b", "a'b"):
        with pytest.raises(KeepalivedConfigError):
            node(auth_pass=bad)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"virtual_router_id": 0}, "virtual_router_id 0"),
        ({"virtual_router_id": 256}, "virtual_router_id 256"),
        ({"priority": 255}, "priority 255"),
        ({"priority": 0}, "priority 0"),
        ({"unicast_peers": ()}, "at least one unicast peer"),
        ({"unicast_peers": ("10.0.0.11",)}, "also listed as a peer"),
        ({"unicast_peers": ("10.0.0.300",)}, "not an IPv4 address"),
        ({"vip": VirtualIP("10.0.1.100", 24, "eth0")}, "not inside the subnet"),
        ({"vip": VirtualIP("10.0.0.255", 24, "eth0")}, "broadcast"),
        ({"vip": VirtualIP("10.0.0.12", 24, "eth0")}, "already a node address"),
        ({"vip": VirtualIP("10.0.0.100", 16, "eth0")}, "differs from the interface prefix"),
        ({"unicast_src_ip": "10.0.9.11"}, "not on the interface subnet"),
        ({"name": "VI MOODLE"}, "not safe"),
        ({"name": "VI{1}"}, "not safe"),
    ],
)
def test_invalid_instances(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(KeepalivedConfigError, match=message):
        node(**changes)


@pytest.mark.parametrize("iface", ["eth 0", "eth0;", 'e"0', "averyveryverylongname0"])
def test_interface_names_are_checked(iface: str) -> None:
    with pytest.raises(KeepalivedConfigError):
        VirtualIP("10.0.0.100", 24, iface)


def test_health_check_arguments_are_checked() -> None:
    for command in [(), ("nc", "-z"), ("/bin/sh", "-c", "a 'b'"), ("/bin/sh", 'x"y'), ("/x", "")]:
        with pytest.raises(KeepalivedConfigError):
            HealthCheck(command=command)
    with pytest.raises(KeepalivedConfigError, match="not tracked"):
        render_keepalived_conf(node(track_scripts=("other",)), CHECK)


def test_vip_in_subnet() -> None:
    assert vip_in_subnet("10.0.0.100", "10.0.0.11/24")
    assert vip_in_subnet("10.0.1.1", "10.0.0.11/23")
    assert not vip_in_subnet("10.0.1.1", "10.0.0.11/24")
    assert not vip_in_subnet("192.168.0.5", "10.0.0.11/8")
    with pytest.raises(KeepalivedConfigError):
        vip_in_subnet("10.0.0.x", "10.0.0.11/24")
    with pytest.raises(KeepalivedConfigError, match="with prefix"):
        vip_in_subnet("10.0.0.1", "10.0.0.11")


def test_pid_file_args_are_distinct_per_instance() -> None:
    a, b = pid_file_args("moodle"), pid_file_args("other")
    assert len(set(a) | set(b)) == 6
    assert all(arg.split("=", 1)[1].startswith("/run/") for arg in a)
    with pytest.raises(KeepalivedConfigError):
        pid_file_args("../x y")


@needs_keepalived
@pytest.mark.parametrize("nopreempt", [False, True])
def test_keepalived_accepts_the_rendered_file(tmp_path: Path, nopreempt: bool) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(render_keepalived_conf(node(nopreempt=nopreempt), CHECK, router_id="px1"))
    assert KEEPALIVED is not None
    run = subprocess.run(
        [KEEPALIVED, "--config-test", "-f", str(conf)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


@needs_keepalived
def test_keepalived_config_test_is_a_real_check(tmp_path: Path) -> None:
    # The oracle above must be able to say no: break the rendered file and it does.
    conf = tmp_path / "keepalived.conf"
    text = render_keepalived_conf(node(), CHECK).replace(
        "virtual_router_id 51", "virtual_router_id 300"
    )
    conf.write_text(text)
    assert KEEPALIVED is not None
    run = subprocess.run(
        [KEEPALIVED, "--config-test", "-f", str(conf)], capture_output=True, text=True, check=False
    )
    assert run.returncode != 0
