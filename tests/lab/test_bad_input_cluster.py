"""Bad input for the second half of the migration: one clear message, before anything changes
on any host (databases, proxy hosts, the app host: all compared before and after)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import CONFIG, VIP, cluster_snapshot
from tests.lab.wizard import LAB_INVENTORY, Wizard


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w


def refused(lab: Lab, wizard: Wizard, inventory: str, *messages: str,
            env: dict[str, str] | None = None) -> str:
    """The whole migration must stop with `messages` and change nothing on any host."""
    before = cluster_snapshot(lab)
    run = wizard("run", "--inventory", inventory, "--yes", env=env)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    errors = [line for line in run.stderr.splitlines() if line.startswith("moodle-wizard:")]
    assert len(errors) == 1, run.stderr
    assert "nothing was changed" in run.stderr, run.stderr
    for message in messages:
        assert message in output, output
    assert "Traceback" not in output
    assert cluster_snapshot(lab) == before
    return output


@contextmanager
def edited(lab: Lab, host: str, path: str, edit: Callable[[str], str]) -> Iterator[None]:
    original = lab.exec(host, "cat", path).stdout
    lab.exec(host, "sh", "-c", 'cat > "$0"', path, input=edit(original).encode())
    try:
        yield
    finally:
        lab.exec(host, "sh", "-c", 'cat > "$0"', path, input=original.encode())


@contextmanager
def proxysql_running(lab: Lab, host: str) -> Iterator[None]:
    """ProxySQL started on `host` as an operator might have left it; afterwards the host is
    as before (stopped, no config database)."""
    before = lab.exec(host, "ls", "-A", "/var/lib/proxysql").stdout.split()
    lab.exec(host, "service", "proxysql", "start")
    try:
        yield
    finally:
        lab.exec(host, "service", "proxysql", "stop")
        new = [f for f in lab.exec(host, "ls", "-A", "/var/lib/proxysql").stdout.split()
               if f not in before]
        if new:
            lab.exec(host, "sh", "-c", 'cd /var/lib/proxysql && rm -f -- "$@"', "sh", *new)


def test_vip_already_in_use(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    # db3 answers ARP for the VIP, as a forgotten alias on some server would.
    lab.exec("db3", "ip", "addr", "add", f"{VIP}/24", "dev", "eth0")
    try:
        mac = lab.exec("db3", "cat", "/sys/class/net/eth0/address").stdout.strip()
        refused(lab, wizard, LAB_INVENTORY, f"the VIP {VIP} is already in use on the network "
                f"({mac} answered ARP for it", "choose a free address for vip.address")
    finally:
        lab.exec("db3", "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")


def test_proxy_host_unreachable(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("px-gone", **{'"10.77.0.22"': '"10.77.0.99"'})
    out = refused(running_lab, wizard, inventory, "px2: ")
    assert "10.77.0.99" in out


def test_vip_interface_missing(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("iface", **{'interface = "eth0"': 'interface = "eth9"'})
    refused(running_lab, wizard, inventory,
            "px1: network interface eth9 does not exist (it has: eth0)",
            "px2: network interface eth9 does not exist", "set vip.interface")


def test_config_php_not_writable(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    # A read-only bind mount: root cannot write it either.
    lab.exec("app", "mount", "--bind", CONFIG, CONFIG)
    lab.exec("app", "mount", "-o", "remount,bind,ro", CONFIG)
    try:
        refused(lab, wizard, LAB_INVENTORY,
                f"app: {CONFIG} (or its directory) is not writable by root")
    finally:
        lab.exec("app", "umount", CONFIG)


def test_config_php_without_a_dbhost_assignment(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    # Moodle still works (PHP sets dbhost), but there is no `$CFG->dbhost = ...;` to change.
    with edited(lab, "app", CONFIG, lambda t: t.replace("$CFG->dbhost    =",
                                                        "$CFG->{'dbhost'} =")):
        assert lab.exec("app", "moodle-probe").returncode == 0
        refused(lab, wizard, LAB_INVENTORY, f"app: {CONFIG} cannot be changed safely: "
                "config.php has no `$CFG->dbhost = ...;` assignment")


def test_config_php_with_no_dbhost_at_all(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab

    def without_dbhost(text: str) -> str:
        return "".join(line for line in text.splitlines(keepends=True)
                       if not line.startswith("$CFG->dbhost"))

    with edited(lab, "app", CONFIG, without_dbhost):
        refused(lab, wizard, LAB_INVENTORY, "config.php on app sets no $CFG->dbhost")


def test_proxysql_admin_refuses_the_given_credentials(running_lab: Lab,
                                                      wizard: Wizard) -> None:
    lab = running_lab
    with proxysql_running(lab, "px1"):
        out = refused(lab, wizard, LAB_INVENTORY,
                      "px1: ProxySQL admin at 127.0.0.1:6032 refused 'admin' with the given "
                      "password (ProxySQL Error: Access denied",
                      # px2's stopped ProxySQL would take its credentials from the cnf.
                      "px2: ProxySQL's admin interface would not accept 'admin' with the "
                      "given password (its admin credentials come from /etc/proxysql.cnf)",
                      "proxysql_initial_admin_password",
                      env={"MOODLE_WIZARD_PROXYSQL_INITIAL_ADMIN_PASSWORD": "not-admin"})
        assert "not-admin" not in out


def test_proxysql_admin_unreachable(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    inventory = wizard.inventory("admin-port", **{"[proxysql]": "[proxysql]\nadmin_port = 6099"})
    with proxysql_running(lab, "px1"):
        refused(lab, wizard, inventory, "px1: nothing answers as ProxySQL admin at "
                "127.0.0.1:6099", "ProxySQL runs on px1 but its admin interface does not "
                "answer on 127.0.0.1:6099")
