"""The lab's other shapes (issue 12), built for real and checked from inside the hosts.

Two builds cover the four options: single-server + fresh-package replicas + port 3307, then
the standard layout + bare replicas + two app hosts + port 3307. The module leaves the default
lab up (50 MB, as the other lab tests' fixture builds it), whatever shape it found.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.remote.packages import install_command
from moodle_wizard.lab import lab, replicas
from moodle_wizard.lab.topology import Shape, Topology
from tests.lab.conftest import Lab
from tests.lab.shapes import build, restore_default_lab

# The lab's own shapes, not the wizard's (each shape's migration has its test in `make test`):
# two rebuilds of the whole lab, some 6 minutes, so `make test-lab-shapes`, not `make test`.
pytestmark = pytest.mark.lab_shapes

WIZARD = str(Path(sys.executable).parent / "moodle-wizard")
SINGLE = Shape("single-server", "fresh-package", 1, 3307)
SPREAD = Shape("standard", "bare", 2, 3307)
SYSTEM_SCHEMAS = {"mysql", "performance_schema", "sys"}
# The packages the wizard installs on a MariaDB replica (core/steps/replicas/common.py).
WIZARD_PACKAGES = ["mariadb-server", "mariadb-backup", "mariadb-client"]


@pytest.fixture(scope="module", autouse=True)
def default_lab_afterwards() -> Iterator[None]:
    yield
    restore_default_lab()


def wizard(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WIZARD, *argv], capture_output=True, text=True, timeout=120)


def tcp(lab_: Lab, host: str, address: str, port: int) -> subprocess.CompletedProcess[str]:
    """A TCP connection from inside `host` (bash's /dev/tcp: no client program needed)."""
    return lab_.exec(host, "timeout", "5", "bash", "-c", f"exec 3<>/dev/tcp/{address}/{port}",
                     check=False)


def inventory(lab_: Lab) -> dict[str, object]:
    proc = wizard("lab", "inventory")
    assert proc.returncode == 0, proc.stderr
    return tomllib.loads(Path(proc.stdout.strip()).read_text())


def probe(lab_: Lab, host: str) -> dict[str, object]:
    result = json.loads(lab_.exec(host, "moodle-probe").stdout)
    assert isinstance(result, dict)
    back = lab_.exec("db1", "mariadb", "-N", "-e", "SELECT apphost FROM moodle.mdl_mwlab_probe "
                     f"WHERE token='{result['token']}'").stdout.strip()
    assert back == host
    return result


def moodle_user_hosts(lab_: Lab) -> set[str]:
    return set(lab_.exec("db1", "mariadb", "-N", "-e",
                         "SELECT host FROM mysql.user WHERE user='moodleuser'").stdout.split())


def package_status(lab_: Lab, host: str, packages: list[str]) -> dict[str, str]:
    out = lab_.exec(host, "sh", "-c", "dpkg-query -W -f '${Package} ${Status}\\n' "
                    + " ".join(packages) + " 2>/dev/null || true").stdout
    found = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines()}
    return {p: found.get(p, "unknown to dpkg") for p in packages}


def machine_untouched() -> None:
    """What the bare and fresh-package hosts did to their /usr stayed theirs."""
    assert not Path(replicas.PRIVATE_USR_MARKER).exists()
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", *WIZARD_PACKAGES],
                         capture_output=True, text=True, check=True).stdout
    assert out == "install ok installed" * len(WIZARD_PACKAGES)
    assert Path("/usr/sbin/mariadbd").exists()


def footprint() -> tuple[object, ...]:
    state = lab.LabState.load(lab.LABDIR)
    return (state, sorted(lab.netns.lab_netns()), lab.netns.leftover_links())


def test_a_shape_the_lab_cannot_build_is_one_line_and_changes_nothing() -> None:
    before = footprint()
    for args, message in {
        ("--shape", "cluster"): "--shape 'cluster': choose one of standard, single-server",
        ("--replicas", "full"): "--replicas 'full': choose one of",
        ("--app-hosts", "3"): "--app-hosts 3: the lab builds 1 to 2 app servers",
        ("--db-port", "22"): "--db-port 22: give a free TCP port",
        ("--shape", "single-server", "--app-hosts", "2"): "could not reach db1's MariaDB",
    }.items():
        proc = wizard("lab", "up", *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert footprint() == before


def test_single_server_fresh_package_replicas_on_port_3307() -> None:
    lab_ = build(SINGLE)
    topo = lab_.topo
    db1 = topo.host_address("db1")

    status = wizard("lab", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert SINGLE.describe() in status.stdout
    refused = wizard("lab", "up")  # the default shape, asked while another one runs
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert ("the lab is already up in `lab up --shape single-server --replicas fresh-package "
            "--db-port 3307`; run `moodle-wizard lab down`") in refused.stderr

    # MariaDB on db1 listens on 127.0.0.1:3307 only, bound by Debian's own 50-server.cnf.
    bind, port = lab_.exec("db1", "mariadb", "-N", "-e", "SELECT @@bind_address, @@port"
                           ).stdout.split()
    assert (bind, port) == ("127.0.0.1", "3307")
    assert "bind-address            = 127.0.0.1" in lab_.exec(
        "db1", "cat", "/etc/mysql/mariadb.conf.d/50-server.cnf").stdout
    assert tcp(lab_, "db1", "127.0.0.1", 3307).returncode == 0
    for host in ("db2", "db1"):
        for p in (3307, 3306):
            refused_tcp = tcp(lab_, host, db1, p)
            assert refused_tcp.returncode != 0
            assert "Connection refused" in refused_tcp.stderr, (host, p, refused_tcp.stderr)

    # Moodle on db1: config.php says localhost, the probe goes through the socket.
    cfg = lab_.exec("db1", "php", "-r", "define('CLI_SCRIPT', true); require "
                    "'/var/www/moodle/config.php'; echo json_encode($CFG);").stdout
    assert json.loads(cfg)["dbhost"] == "localhost"
    result = probe(lab_, "db1")
    assert result["host"] == "db1" and result["via"] == "localhost:3307"
    assert moodle_user_hosts(lab_) == {"localhost"}

    inv = inventory(lab_)
    hosts = inv["hosts"]
    assert isinstance(hosts, dict) and isinstance(inv["migration"], dict)
    assert inv["migration"]["db_port"] == 3307
    assert hosts["db1"]["roles"] == ["source", "app"]
    assert "app" not in hosts and "app" not in topo.host_names
    assert lab.pid_of("db1") and lab.host_pid(lab.LABDIR, "app") is None

    # db2/db3 as `apt-get install mariadb-server` leaves them in a container.
    for host in ("db2", "db3"):
        assert set(package_status(lab_, host, WIZARD_PACKAGES).values()) == {
            "install ok installed"}
        entries = set(lab_.exec(host, "ls", "-A", "/var/lib/mysql").stdout.split())
        dirs = set(lab_.exec(host, "find", "/var/lib/mysql", "-mindepth", "1", "-maxdepth", "1",
                             "-type", "d", "-printf", "%f\\n").stdout.split())
        assert dirs == SYSTEM_SCHEMAS, f"{host}: a user schema or none: {dirs}"
        assert {"ibdata1", "debian-10.11.flag"} <= entries
        assert not [e for e in entries if "-bin." in e], f"{host}: binary logs: {entries}"
        lab_.exec(host, "test", "-e", "/var/lib/mysql/mysql/global_priv.frm")
        assert lab_.exec(host, "pidof", "mariadbd", check=False).returncode == 1
        assert "denied execution of start" in lab_.exec(
            host, "cat", "/var/log/mwlab-postinst.log").stdout
    machine_untouched()


def test_two_app_hosts_bare_replicas_on_port_3307() -> None:
    lab_ = build(SPREAD)
    topo = lab_.topo
    db1, app, app2 = (topo.host_address(h) for h in ("db1", "app", "app2"))
    assert app2 == Topology.from_cidr(lab_.state.subnet).address(20)

    status = wizard("lab", "status")
    assert status.returncode == 0 and SPREAD.describe() in status.stdout, status.stdout
    assert "app2" in status.stdout

    # db1 on its address, port 3307 only; both app servers write through the same config.php.
    assert tcp(lab_, "app2", db1, 3307).returncode == 0
    assert "Connection refused" in tcp(lab_, "app", db1, 3306).stderr
    sums = {h: hashlib.sha256(lab_.exec(h, "cat", "/var/www/moodle/config.php").stdout.encode()
                              ).hexdigest() for h in ("app", "app2")}
    assert sums["app"] == sums["app2"]
    for host in ("app", "app2"):
        result = probe(lab_, host)
        assert result["host"] == "db1" and result["via"] == f"{db1}:3307"
    assert moodle_user_hosts(lab_) == {app, app2}
    hostname = lab_.exec("jump", "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                         "app2", "hostname").stdout.strip()
    assert hostname == "app2"
    inv = inventory(lab_)
    assert isinstance(inv["hosts"], dict) and isinstance(inv["migration"], dict)
    assert inv["hosts"]["app2"]["role"] == "app" and inv["hosts"]["app2"]["address"] == app2
    assert inv["migration"]["db_port"] == 3307

    # db2/db3 without the server packages, their only apt source the lab's repository.
    for host in ("db2", "db3"):
        assert set(package_status(lab_, host, list(replicas.PURGED)).values()) == {
            "unknown to dpkg"}
        gone = lab_.exec(host, "sh", "-c", "command -v mariadbd || command -v mbstream || "
                         "ls /usr/sbin/mariadbd /usr/bin/mbstream", check=False)
        assert gone.returncode != 0 and gone.stdout == "", gone.stdout
        assert lab_.exec(host, "test", "-e", "/var/lib/mysql", check=False).returncode == 1
        assert lab_.exec(host, "ls", "/etc/apt/sources.list.d").stdout.split() == ["mwlab.list"]
    # The wizard's own install command works there, inside the lab, without internet.
    install = lab_.exec("db2", "sh", "-c", "DEBIAN_FRONTEND=noninteractive "
                        + install_command(WIZARD_PACKAGES) + " </dev/null", check=False)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    assert set(package_status(lab_, "db2", WIZARD_PACKAGES).values()) == {
        "install ok installed"}
    assert "10.11" in lab_.exec("db2", "mariadbd", "--version").stdout
    lab_.exec("db2", "test", "-d", "/var/lib/mysql/mysql")
    assert lab_.exec("db2", "pidof", "mariadbd", check=False).returncode == 1  # policy-rc.d
    assert set(package_status(lab_, "db3", WIZARD_PACKAGES).values()) == {"unknown to dpkg"}
    machine_untouched()
