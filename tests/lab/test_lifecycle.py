"""lab up is idempotent, lab down leaves nothing, bad input changes nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moodle_wizard.lab import lab, netns
from moodle_wizard.lab.host import host_pid
from moodle_wizard.lab.system import process_alive
from moodle_wizard.lab.topology import HOST_NAMES, netns_name
from tests.asuser import readable_install

WIZARD = [sys.executable, "-m", "moodle_wizard"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WIZARD, *args], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL, cwd="/")


def lab_pids() -> dict[str, int]:
    return {h: p for h in HOST_NAMES if (p := host_pid(lab.LABDIR, h)) is not None}


def all_lab_processes() -> list[int]:
    found = []
    for ns in netns.lab_netns():
        inode = netns.netns_inode(ns)
        if inode:
            from moodle_wizard.lab.system import pids_in_netns

            found += pids_in_netns(inode)
    return found


def test_up_twice_then_down_leaves_nothing_behind() -> None:
    first = cli("lab", "up")
    assert first.returncode == 0, first.stderr
    pids = lab_pids()
    assert set(pids) == set(HOST_NAMES)
    processes = all_lab_processes()
    assert len(processes) > len(HOST_NAMES)  # sshd, mariadbd ... besides each PID 1

    again = cli("lab", "up")
    assert again.returncode == 0, again.stderr
    assert lab_pids() == pids, "a second lab up must repair, not rebuild"
    for host in HOST_NAMES:
        addrs = subprocess.run(["ip", "-n", netns_name(host), "-4", "-o", "addr", "show", "eth0"],
                               capture_output=True, text=True, check=True).stdout
        assert addrs.count("inet ") == 1, f"{host} has duplicate addresses: {addrs}"
    status = cli("lab", "status")
    assert status.returncode == 0, status.stdout + status.stderr

    down = cli("lab", "down")
    assert down.returncode == 0, down.stderr
    assert "nothing left" in down.stdout
    assert [p for p in processes if process_alive(p)] == []
    assert netns.lab_netns() == []
    assert netns.leftover_links() == []
    assert not lab.LABDIR.exists()
    with open("/proc/self/mountinfo") as f:
        assert str(lab.LABDIR) not in f.read()
    assert cli("lab", "status").returncode == 1
    assert cli("lab", "down").returncode == 0, "down on a lab that is not up is fine"


def test_down_cleans_up_after_a_half_built_lab() -> None:
    lab.down(out=io.StringIO())
    # What a crashed `lab up` leaves: a namespace with a process in it, a veth, a directory.
    subprocess.run(["ip", "netns", "add", netns_name("db1")], check=True)
    subprocess.run(["ip", "link", "add", "mwv-db1", "type", "veth", "peer", "name", "eth0",
                    "netns", netns_name("db1")], check=True)
    stray = subprocess.Popen(["ip", "netns", "exec", netns_name("db1"), "sleep", "600"],
                             start_new_session=True)
    lab.LABDIR.mkdir(parents=True)
    (lab.LABDIR / "run").mkdir()
    try:
        down = cli("lab", "down")
        assert down.returncode == 0, down.stderr
        stray.wait(timeout=20)
        assert lab.verify_gone() == []
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


@pytest.fixture()
def dummy_route() -> object:
    subprocess.run(["ip", "link", "add", "mwtest0", "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", "10.99.0.1/24", "dev", "mwtest0"], check=True)
    subprocess.run(["ip", "link", "set", "mwtest0", "up"], check=True)
    yield "10.99.0.0/24"
    subprocess.run(["ip", "link", "del", "mwtest0"], check=True)


def test_bad_input_is_one_clear_line_and_builds_nothing(dummy_route: str) -> None:
    lab.down(out=io.StringIO())
    cases = {
        ("lab", "up", "--subnet", dummy_route): "overlaps the machine's route 10.99.0.0/24",
        ("lab", "up", "--subnet", "10.77.0.7/24"): "not a network address",
        ("lab", "up", "--subnet", "10.77.0.0/28"): "too small",
        ("lab", "up", "--proxysql-bin", "/nonexistent/proxysql"): "not an executable file",
        ("lab", "up", "--data-mb", "0"): "--data-mb 0",
        ("lab", "shell", "db1"): "the lab is not up",
    }
    for args, message in cases.items():
        proc = cli(*args)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)
        assert lab.verify_gone() == [], f"{args} left something behind"


def lab_footprint() -> tuple[object, ...]:
    return (lab_pids(), netns.lab_netns(), netns.leftover_links(), lab.LABDIR.exists())


def test_lab_up_as_an_ordinary_user_says_it_needs_root_and_changes_nothing() -> None:
    """The real entry point (python -m moodle_wizard) run as uid 65534, from a copy of the
    package that user can read: the checkout itself may be private (a clone under /root)."""
    before = lab_footprint()
    with readable_install() as nobody:
        proc = nobody.run(["-m", "moodle_wizard", "lab", "up"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "needs root" in lines[0], proc.stderr
    assert lab_footprint() == before


def test_unknown_host_name_is_refused_with_the_list_of_hosts() -> None:
    up = cli("lab", "up")
    assert up.returncode == 0, up.stderr
    proc = cli("lab", "exec", "db9", "--", "true")
    assert proc.returncode == 2
    assert "no lab host named 'db9'" in proc.stderr and "db1" in proc.stderr
    ok = cli("lab", "exec", "db2", "--", "hostname")
    assert ok.returncode == 0 and ok.stdout.strip() == "db2"
    assert os.path.exists(lab.LABDIR / "lab.json")  # the lab stays up for the tests after this


def test_missing_packages_are_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lab.REQUIRED_TOOLS, "mwlab-no-such-tool", "mwlab-no-such-package")
    with pytest.raises(lab.LabError, match="packages missing for the lab: mwlab-no-such-package"):
        lab.check_packages()
    assert Path("/usr/bin/ip").exists()
