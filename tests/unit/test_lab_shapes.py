"""The lab's shapes (`lab up --shape/--replicas/--app-hosts/--db-port`), pure parts: which
hosts, their roles in the inventory, config.php, db1's settings and the replica scripts."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from moodle_wizard.lab import hostinit, provision, replicas
from moodle_wizard.lab.inventory_file import inventory_text
from moodle_wizard.lab.lab import LabState, check_same_shape
from moodle_wizard.lab.system import LabError
from moodle_wizard.lab.topology import HOSTS, Shape, Topology, TopologyError

LABDIR = Path("/srv/mwlab-unit")
SINGLE = Shape(layout="single-server")
BIND_LINE = re.compile(r"^bind-address\s*=", re.MULTILINE)


def inventory(shape: Shape) -> dict[str, object]:
    return tomllib.loads(inventory_text(Topology.from_cidr(shape=shape), LABDIR))


def hosts_of(shape: Shape) -> dict[str, dict[str, object]]:
    hosts = inventory(shape)["hosts"]
    assert isinstance(hosts, dict)
    return hosts


def php_cfg(config: str, tmp_path: Path) -> dict[str, object]:
    """config.php evaluated by PHP, as Moodle (and moodle-probe) read it."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "setup.php").write_text(provision.lab_file("setup.php"))
    (tmp_path / "config.php").write_text(config)
    code = ("define('CLI_SCRIPT', true); require $argv[1]; echo json_encode($CFG);")
    out = subprocess.run(["php", "-r", code, str(tmp_path / "config.php")], check=True,
                         capture_output=True, text=True).stdout
    cfg = json.loads(out)
    assert isinstance(cfg, dict)
    return cfg


def test_the_default_shape_is_the_lab_of_before() -> None:
    assert Shape().hosts() == HOSTS
    assert Shape().is_default and Shape().options() == ""
    topo = Topology.from_cidr()
    text = inventory_text(topo, LABDIR)
    assert "roles" not in text and "db_port = 3306" in text
    assert {n: h["role"] for n, h in hosts_of(Shape()).items()} == {
        "jump": "jump", "app": "app", "db1": "source", "db2": "replica", "db3": "replica",
        "px1": "proxy", "px2": "proxy"}
    assert provision.moodle_grant_hosts(topo) == ["10.77.0.10"]
    assert "bind-address = 10.77.0.11\n" in provision.db1_script(topo)
    assert "port" not in provision.db_server_cnf("10.77.0.11")


def test_a_lab_json_from_before_shapes_is_the_default_shape(tmp_path: Path) -> None:
    (tmp_path / "lab.json").write_text(json.dumps(
        {"subnet": "10.77.0.0/24", "data_mb": 50, "proxysql": "stand-in", "hosts": {},
         "built_at": 1.0}))
    state = LabState.load(tmp_path)
    assert state is not None and state.shape == Shape()
    state = LabState("10.77.0.0/24", 50, "stand-in", layout="single-server", db_port=3307)
    state.save(tmp_path)
    again = LabState.load(tmp_path)
    assert again is not None and again.shape == Shape("single-server", db_port=3307)


def test_single_server_puts_moodle_on_db1_and_has_no_app_host(tmp_path: Path) -> None:
    topo = Topology.from_cidr(shape=SINGLE)
    assert "app" not in topo.host_names
    assert topo.host("db1").roles == ("source", "app")
    hosts = hosts_of(SINGLE)
    assert hosts["db1"]["roles"] == ["source", "app"] and "role" not in hosts["db1"]
    assert 'roles = ["source", "app"]' in inventory_text(topo, LABDIR)
    assert [n for n, h in hosts.items() if "app" in h.get("roles", [h.get("role")])] == ["db1"]
    assert provision.moodle_grant_hosts(topo) == ["localhost"]
    cfg = php_cfg(provision.config_php(topo, "pw"), tmp_path)
    assert cfg["dbhost"] == "localhost"
    assert cfg["wwwroot"] == "http://10.77.0.11/moodle"


def test_single_server_db1_keeps_debians_bind_address(tmp_path: Path) -> None:
    script = provision.db1_script(Topology.from_cidr(shape=SINGLE))
    assert not BIND_LINE.search(provision.db_server_cnf(None))
    assert provision.DEBIAN_BIND_CHECK in script
    # The check passes on Debian's line and refuses anything else.
    for line, ok in (("bind-address            = 127.0.0.1", True),
                     ("bind-address = 0.0.0.0", False), ("#bind-address = 127.0.0.1", False)):
        cnf = tmp_path / "50-server.cnf"
        cnf.write_text(f"[mysqld]\n{line}\n")
        check = provision.DEBIAN_BIND_CHECK.replace(
            "/etc/mysql/mariadb.conf.d/50-server.cnf", str(cnf))
        proc = subprocess.run(["sh", "-eu"], input=check, capture_output=True, text=True)
        assert (proc.returncode == 0) == ok, (line, proc.stderr)
        assert ok or "needs Debian's bind-address = 127.0.0.1" in proc.stderr


def test_two_app_hosts_share_one_config_php(tmp_path: Path) -> None:
    shape = Shape(app_hosts=2)
    topo = Topology.from_cidr("10.77.0.0/24", shape)
    assert topo.host_names == ("jump", "app", "app2", "db1", "db2", "db3", "px1", "px2")
    assert topo.host_address("app2") == "10.77.0.20"
    assert len({topo.host_address(n) for n in topo.host_names} | {topo.vip}) == 9
    assert hosts_of(shape)["app2"] == {"address": "10.77.0.20", "role": "app",
                                       "ssh_user": "root", "ssh_port": 22}
    assert provision.moodle_grant_hosts(topo) == ["10.77.0.10", "10.77.0.20"]
    assert "10.77.0.20\tapp2\n" in provision.etc_hosts(topo)
    assert "Host app2\n    HostName 10.77.0.20\n" in provision.jump_script(topo, "k", "h", "w")
    # config_php takes no host: the file cannot differ between app and app2.
    assert php_cfg(provision.config_php(topo, "pw"), tmp_path)["dbhost"] == "10.77.0.11"


def test_another_db_port_is_in_mycnf_config_php_and_inventory(tmp_path: Path) -> None:
    topo = Topology.from_cidr(shape=Shape(db_port=3307))
    assert "port = 3307\n" in provision.db1_script(topo)
    cfg = php_cfg(provision.config_php(topo, "pw"), tmp_path)
    assert cfg["dboptions"] == {"dbpersist": 0, "dbport": 3307, "dbsocket": "",
                                "dbcollation": "utf8mb4_unicode_ci"}
    migration = inventory(Shape(db_port=3307))["migration"]
    assert isinstance(migration, dict) and migration["db_port"] == 3307


def test_shapes_combine() -> None:
    shape = Shape("single-server", "bare", 1, 3307)
    topo = Topology.from_cidr(shape=shape)
    assert inventory(shape)["migration"]["db_port"] == 3307  # type: ignore[index]
    assert "port = 3307\n" in provision.db1_script(topo)
    assert not BIND_LINE.search(provision.db1_script(topo))
    assert "dpkg --purge" in provision.replica_script(topo, LABDIR)
    assert shape.options() == "--shape single-server --replicas bare --db-port 3307"
    topo2 = Topology.from_cidr(shape=Shape(replicas="fresh-package", app_hosts=2, db_port=3310))
    assert "app2" in topo2.host_names and "postinst" in provision.replica_script(topo2, LABDIR)


@pytest.mark.parametrize(("shape", "message"), [
    (Shape(layout="cluster"), "--shape 'cluster': choose one of standard, single-server"),
    (Shape(replicas="full"), "--replicas 'full': choose one of empty, fresh-package, bare"),
    (Shape(app_hosts=3), "--app-hosts 3: the lab builds 1 to 2"),
    (Shape(app_hosts=0), "--app-hosts 0"),
    (Shape(db_port=22), "--db-port 22: give a free TCP port"),
    (Shape(db_port=70000), "--db-port 70000"),
    (Shape("single-server", app_hosts=2), "could not reach db1's MariaDB"),
])
def test_shapes_the_lab_cannot_build_are_refused_in_one_line(shape: Shape, message: str) -> None:
    with pytest.raises(TopologyError, match=message) as err:
        Topology.from_cidr(shape=shape)
    assert "\n" not in str(err.value)


def test_up_refuses_another_shape_than_the_running_one() -> None:
    check_same_shape(SINGLE, Shape("single-server"))
    with pytest.raises(LabError) as err:
        check_same_shape(SINGLE, Shape())
    assert str(err.value) == (
        "the lab is already up in `lab up --shape single-server`; run `moodle-wizard lab down` "
        "before building it in the default shape (`lab up` without shape options)")
    with pytest.raises(LabError, match=r"already up in the default shape; .* building it in "
                                       "`lab up --db-port 3307`"):
        check_same_shape(Shape(), Shape(db_port=3307))


def test_unknown_host_in_a_shape_lists_that_shapes_hosts() -> None:
    with pytest.raises(TopologyError, match="the lab has: jump, db1, db2"):
        Topology.from_cidr(shape=SINGLE).host("app")


def test_replica_scripts_refuse_a_usr_that_is_not_the_hosts_own() -> None:
    # Run here, on the machine, whose /usr is not a lab overlay: the guard stops the script
    # before anything after it (the purge, the postinst) could run.
    for script in (replicas.bare_script(LABDIR), replicas.fresh_package_script()):
        guard_end = script.index(replicas.PRIVATE_USR_GUARD) + len(replicas.PRIVATE_USR_GUARD)
        assert script.index("service mariadb stop") > guard_end
    proc = subprocess.run(["sh", "-eu"], input=replicas.PRIVATE_USR_GUARD + "echo PAST\n",
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "PAST" not in proc.stdout
    assert "not its own overlay" in proc.stderr


def test_the_private_usr_marker_is_the_one_hostinit_writes() -> None:
    assert replicas.PRIVATE_USR_MARKER == hostinit.PRIVATE_USR_MARKER
    assert Shape(replicas="bare").private_usr and Shape(replicas="fresh-package").private_usr
    assert not Shape().private_usr


def test_bare_purges_what_the_wizard_installs_and_points_apt_at_the_local_repo() -> None:
    script = replicas.bare_script(LABDIR)
    assert {"mariadb-server", "mariadb-backup", "mariadb-client"} <= set(replicas.PURGED)
    assert "dpkg --purge " + " ".join(replicas.PURGED) in script
    assert f"cp -r {LABDIR / 'apt'} {replicas.HOST_REPO}" in script
    assert f"deb [trusted=yes] file:{replicas.HOST_REPO} ./\n" in script


def test_repository_index_names_each_deb_with_its_size_and_hashes(tmp_path: Path) -> None:
    deb = tmp_path / "pkg_1.0_amd64.deb"
    deb.write_bytes(b"not really a deb \x00\xff")
    stanza = replicas.packages_stanza(deb, "Package: pkg\nVersion: 1.0\n")
    data = deb.read_bytes()
    assert stanza == ("Package: pkg\nVersion: 1.0\nFilename: ./pkg_1.0_amd64.deb\n"
                      f"Size: {len(data)}\nMD5sum: {hashlib.md5(data).hexdigest()}\n"
                      f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
    release = replicas.release_text(b"Packages text")
    assert f" {hashlib.sha256(b'Packages text').hexdigest()} 13 Packages\n" in release


def test_status_line_names_the_shape() -> None:
    assert Shape().describe() == "shape standard, replicas empty, app on app, db1 port 3306"
    assert Shape(app_hosts=2).describe().endswith("app on app, app2, db1 port 3306")
    assert "app on db1 (with MariaDB)" in SINGLE.describe()
