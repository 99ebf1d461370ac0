"""ProxySQL's admin interface is closed to the network after the proxysql step (issue 10,
item 11), and the rollback puts back what was there.

The lab's ProxySQL starts as a freshly installed ProxySQL does (admin-mysql_ifaces
0.0.0.0:6032, from the package's proxysql.cnf), so the port is open to the other hosts until
the wizard closes it: the test first shows that, so it can fail.
"""

from __future__ import annotations

import json
import time

from tests.lab.conftest import Lab
from tests.lab.test_bad_input_cluster import proxysql_running
from tests.lab.test_migration_cluster import admin_query
from tests.lab.wizard import Wizard

PROXIES = {"px1": "10.77.0.21", "px2": "10.77.0.22"}
ADMIN_PORT = 6032


def connect(lab: Lab, source: str, address: str, port: int) -> str:
    """'open' or bash's error for one TCP connect from `source`."""
    out = lab.exec(source, "timeout", "5", "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', address,
                   str(port), check=False)
    return "open" if out.returncode == 0 else (out.stderr.strip() or f"rc {out.returncode}")


def wait_open(lab: Lab, source: str, address: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (seen := connect(lab, source, address, port)) != "open":
        assert time.monotonic() < deadline, f"{address}:{port} from {source}: {seen}"
        time.sleep(0.2)


def test_the_admin_port_is_closed_to_other_hosts_and_rollback_restores_it(
        running_lab: Lab) -> None:
    lab = running_lab
    # As installed: the admin port answers the network (what the wizard must close).
    with proxysql_running(lab, "px1"):
        wait_open(lab, "app", PROXIES["px1"], ADMIN_PORT)
    with Wizard(lab) as wizard:
        inventory = wizard.inventory(
            "admin-local", **{'source_restart = "ask"': 'source_restart = "allow"'})
        run = wizard("run", "--inventory", inventory, "--yes", "--until", "proxysql")
        try:
            assert run.returncode == 0, run.stdout + run.stderr
            password = json.loads(lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.secrets")
                                  .stdout)["proxysql_admin_password"]
            # The wizard's verify probed it too; here it is seen independently, from every
            # other lab host that could be an attacker's seat.
            for px, address in PROXIES.items():
                for source in ("app", "db1", *(p for p in PROXIES if p != px)):
                    seen = connect(lab, source, address, ADMIN_PORT)
                    assert "Connection refused" in seen, f"{px} from {source}: {seen}"
                # The wizard's own way in (SSH, then 127.0.0.1) still works.
                rows = admin_query(lab, px, password, "SELECT variable_value FROM "
                                   "runtime_global_variables WHERE variable_name = "
                                   "'admin-mysql_ifaces'")
                assert rows == [["127.0.0.1:6032"]]
                # Clients still reach ProxySQL's client port from the app host.
                assert connect(lab, "app", address, 6033) == "open"
        finally:
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, back.stdout + back.stderr
        # Rolled back: the node is as it was (stopped, no config database), so a start
        # reads the package's proxysql.cnf again and listens where it did before.
        for px in PROXIES:
            assert lab.exec(px, "service", "proxysql", "status", check=False).returncode != 0
            assert "proxysql.db" not in lab.exec(px, "ls", "-A", "/var/lib/proxysql").stdout
        with proxysql_running(lab, "px1"):
            wait_open(lab, "app", PROXIES["px1"], ADMIN_PORT)
