"""More bad input (issue 6): SSH identity, database privileges, the source's restart policy,
replica versions and server ids, the VIP's subnet and router id, config.php. Each case: one
clear message naming the problem and the fix, and no host changed (compared before/after)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_bad_input_cluster import edited
from tests.lab.test_bad_input_cluster import refused as refused_cluster
from tests.lab.test_bad_input_replicas import refused as refused_first_half
from tests.lab.test_migration_cluster import CONFIG
from tests.lab.wizard import LAB_INVENTORY, Wizard

SSH_CONFIG = "/root/.ssh/config"
DB2 = 'address = "10.77.0.12"\nrole = "replica"\nssh_user = "root"'
PX2 = 'address = "10.77.0.22"\nrole = "proxy"\nssh_user = "root"'


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w
        # A case that was not refused must not leave a migrated lab behind.
        if running_lab.exec("jump", "test", "-e", f"{w.state_dir}/mwlab.json",
                            check=False).returncode == 0:
            w("rollback", "--yes")


# -- SSH -------------------------------------------------------------------------------------

def test_wrong_ssh_user(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("ssh-user", **{PX2: PX2.replace('"root"', '"mwnobody"')})
    refused_first_half(running_lab, wizard, inventory,
                       "px2: mwnobody@10.77.0.22 refused our SSH keys")


def test_a_database_host_reached_as_another_user_than_root(running_lab: Lab,
                                                           wizard: Wizard) -> None:
    """Not supported in this version (README, SSH config and non-root users): refused before
    anything connects to it, with the fix."""
    inventory = wizard.inventory("db-user", **{DB2: DB2.replace('"root"', '"mwnobody"')})
    out = refused_first_half(running_lab, wizard, inventory,
                             "db2: it is a database host reached as mwnobody, not root")
    assert 'set ssh_user = "root" for db2' in out, out


def test_wrong_ssh_key(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    key = "/root/.ssh/mw_test_wrong_key"
    lab.exec("jump", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
    wizard.files.extend([key, key + ".pub"])

    def other_key_for_db2(text: str) -> str:
        # The wizard reads ~/.ssh/config as `ssh db2` does: the lab's `Host db2` block (and one
        # for its address) gives the key. IdentityFile lines add up in ssh, so db2's own is
        # replaced, not shadowed by an earlier block.
        block = "Host db2\n    HostName 10.77.0.12\n    User root\n    IdentityFile "
        assert block + "/root/.ssh/id_ed25519\n" in text, text
        return text.replace(block + "/root/.ssh/id_ed25519\n", f"{block}{key}\n")

    with edited(lab, "jump", SSH_CONFIG, other_key_for_db2):
        refused_first_half(lab, wizard, LAB_INVENTORY,
                           "db2: root@10.77.0.12 refused our SSH keys")


# -- the source database ---------------------------------------------------------------------

def test_db_admin_user_without_privileges(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "CREATE USER mwweak@localhost IDENTIFIED BY 'weak-one'")
    try:
        inventory = wizard.inventory(
            "weak", **{"[migration]": '[migration]\ndb_admin_user = "mwweak"'})
        refused_first_half(lab, wizard, inventory, "db1: the database account mwweak@localhost "
                           "lacks global privileges the migration needs (SELECT, CREATE USER, "
                           "RELOAD, REPLICATION SLAVE, GRANT OPTION); grant them",
                           env={"MOODLE_WIZARD_DB_ADMIN_PASSWORD": "weak-one"})
    finally:
        lab.exec("db1", "mariadb", "-e", "DROP USER mwweak@localhost")


def test_binlog_off_and_no_restart_allowed(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("never", **{'source_restart = "ask"':
                                             'source_restart = "never"'})
    out = refused_first_half(running_lab, wizard, inventory, "source_restart")
    assert "never" in out


def test_two_replicas_with_the_same_server_id(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("dup-id", **{
        'address = "10.77.0.12"': 'address = "10.77.0.12"\nserver_id = 7',
        'address = "10.77.0.13"': 'address = "10.77.0.13"\nserver_id = 7'})
    out = refused_first_half(running_lab, wizard, inventory, "server_id 7")
    assert "db2" in out and "db3" in out


@contextmanager
def pretend_installed(lab: Lab, host: str, version: str) -> Iterator[None]:
    """dpkg's database on `host` says MariaDB `version` is installed: a changed copy of
    /var/lib/dpkg/status bind-mounted over the original inside that host's own mount
    namespace only (its private /run holds the copy); nothing else sees it."""
    copy = "/run/mw-test-dpkg-status"
    lab.exec(host, "sh", "-c", f"sed 's/^Version: 1:10\\.11\\..*/Version: 1:{version}/' "
             f"/var/lib/dpkg/status > {copy}")
    lab.exec(host, "mount", "--bind", copy, "/var/lib/dpkg/status")
    try:
        yield
    finally:
        lab.exec(host, "umount", "/var/lib/dpkg/status")
        lab.exec(host, "rm", "-f", copy)


def test_other_major_version_installed_on_a_replica(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    with pretend_installed(lab, "db3", "11.4.5-1"):
        assert "11.4.5" in lab.exec("db3", "dpkg-query", "-W", "mariadb-server").stdout
        out = refused_first_half(lab, wizard, LAB_INVENTORY, "db3: the source runs MariaDB "
                                 "10.11")
        assert "mariadb-server 1:11.4.5-1 is installed (11.4)" in out
        assert "a physical seed needs the same version on both sides" in out
    assert "10.11" in lab.exec("db3", "dpkg-query", "-W", "mariadb-server").stdout


# -- the VIP ---------------------------------------------------------------------------------

def test_vip_outside_the_interface_subnet(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("vip-subnet", **{'address = "10.77.0.100"':
                                                  'address = "10.78.0.100"'})
    refused_cluster(running_lab, wizard, inventory,
                    "px1: the VIP 10.78.0.100 is not in the subnet of eth0",
                    "choose a VIP in that subnet")


OTHER_VIP = "10.77.0.150"


def test_proxysql_admin_password_that_proxysql_cannot_hold(running_lab: Lab,
                                                           wizard: Wizard) -> None:
    out = refused_cluster(running_lab, wizard, LAB_INVENTORY,
                          "the secret proxysql_admin_password contains ':', ';' or a space",
                          env={"MOODLE_WIZARD_PROXYSQL_ADMIN_PASSWORD": "has-a-space here"})
    assert "has-a-space" not in out


@contextmanager
def vrrp_group_on(lab: Lab, host: str, vrid: int) -> Iterator[None]:
    """Another team's VRRP group on the segment: keepalived on `host` advertising `vrid` by
    multicast for an address of its own. Stopped by pid; afterwards the host is as before."""
    conf, ka = "/run/mw-test-keepalived.conf", "/run/mw-test-ka"
    text = (f"vrrp_instance other {{\n  state MASTER\n  interface eth0\n"
            f"  virtual_router_id {vrid}\n  priority 200\n  advert_int 1\n"
            f"  virtual_ipaddress {{\n    {OTHER_VIP}/32 dev eth0\n  }}\n}}\n")
    lab.exec(host, "sh", "-c", f"cat > {conf}", input=text.encode())
    lab.exec(host, "sh", "-c", f"setsid keepalived -n -f {conf} -p {ka}.pid -r {ka}-vrrp.pid "
             f"</dev/null >/dev/null 2>&1 & echo $! > {ka}")
    pid = lab.exec(host, "cat", ka).stdout.strip()

    def has_vip() -> bool:
        return f"inet {OTHER_VIP}/" in lab.exec(host, "ip", "-o", "-4", "addr", "show",
                                                "dev", "eth0").stdout
    try:
        deadline = time.monotonic() + 15
        while not has_vip():  # MASTER: it advertises from now on
            assert time.monotonic() < deadline, f"keepalived became MASTER on {host}"
            time.sleep(0.1)
        yield
    finally:
        lab.exec(host, "kill", pid, check=False)
        deadline = time.monotonic() + 15
        while lab.exec(host, "sh", "-c", f"ps -o stat= -p {pid} | grep -qv Z",
                       check=False).returncode == 0 or has_vip():
            assert time.monotonic() < deadline, f"keepalived stopped on {host}"
            time.sleep(0.1)
        lab.exec(host, "rm", "-f", conf, ka, f"{ka}.pid", f"{ka}-vrrp.pid")


def test_virtual_router_id_clash(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    inventory = wizard.inventory("vrid", **{'interface = "eth0"':
                                            'interface = "eth0"\nvirtual_router_id = 77'})
    with vrrp_group_on(lab, "db3", 77):
        refused_cluster(lab, wizard, inventory,
                        "virtual_router_id 77 (vip.virtual_router_id) is already used by "
                        "another VRRP group on the segment")


# -- config.php ------------------------------------------------------------------------------

def test_config_php_missing(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("no-config", **{
        'moodle_config = "/var/www/moodle/config.php"':
        'moodle_config = "/var/www/moodle2/config.php"'})
    refused_first_half(running_lab, wizard, inventory, "app: there is no Moodle config.php at "
                       "/var/www/moodle2/config.php; set migration.moodle_config to the path")


def test_config_php_that_php_cannot_read(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    with edited(lab, "app", CONFIG, lambda t: t.replace("$CFG->dbhost", "$CFG->dbhost ((", 1)):
        out = refused_first_half(lab, wizard, LAB_INVENTORY,
                                 f"app: Moodle's config at {CONFIG} is not valid PHP (PHP Parse "
                                 f"error:")
        assert f"fix it (check with `php -l {CONFIG}`)" in out
        assert "moodle-wizard-" not in out  # PHP's private copy is not what the operator knows


def test_config_php_with_dbhost_set_twice(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab

    def twice(text: str) -> str:
        return text.replace("$CFG->dbname", "$CFG->dbhost = '10.77.0.11';\n$CFG->dbname", 1)

    with edited(lab, "app", CONFIG, twice):
        refused_cluster(lab, wizard, LAB_INVENTORY, "$CFG->dbhost is assigned more than once")

