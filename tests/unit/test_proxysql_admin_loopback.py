"""ProxySQL's admin interface ends on loopback only (issue 10, item 11), against the stand-in
started as a fresh ProxySQL starts (admin-mysql_ifaces 0.0.0.0:PORT).

127.0.0.2 is a loopback address that is not 127.0.0.1: a listener on 0.0.0.0 accepts it, one
on 127.0.0.1 refuses it, so it plays "another host" without leaving this machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.remote.proxysql import ProxySqlAdmin
from moodle_wizard.core.render.proxysql import (
    Backend,
    FrontendUser,
    ProxySqlConfig,
    admin_statements,
    mysql_statements,
)
from moodle_wizard.lab.proxysql_standin.variables import ADMIN_VARIABLES
from tests.unit.conftest_proxysql_standin import StandIn
from tests.unit.test_proxysql_admin_client import Forward


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[StandIn]:
    standin = StandIn(tmp_path)
    text = standin.config_file.read_text()
    standin.config_file.write_text(text.replace('mysql_ifaces="127.0.0.1:',
                                                'mysql_ifaces="0.0.0.0:'))
    standin.start()
    yield standin
    assert standin.stop() == 0, standin.log()


def test_the_standin_starts_where_proxysql_does() -> None:
    assert ADMIN_VARIABLES["admin-mysql_ifaces"].default == "0.0.0.0:6032"


async def test_the_wizard_binds_admin_to_loopback_and_keeps_its_session(
        fresh: StandIn) -> None:
    port = fresh.admin_port
    assert reachable("127.0.0.2", port), "a fresh ProxySQL's admin port is open to others"
    cfg = ProxySqlConfig(
        writer_hostgroup=10, reader_hostgroup=20, servers=(Backend(10, "127.0.0.1", 3306),),
        users=(FrontendUser("moodle", "pw", 10, "moodle"),), monitor_user="mw_monitor",
        monitor_password="m", server_version="10.11.6-MariaDB", admin_user="mw_admin",
        admin_password="Gen3ratedPw", admin_ifaces=f"127.0.0.1:{port}")
    admin = await ProxySqlAdmin.connect(Forward(port), port=port, user="admin",  # type: ignore[arg-type]
                                        password="admin", audit=lambda host, text: None)
    for stmt in [*mysql_statements(cfg), *admin_statements(cfg)]:
        await admin.run(stmt)  # SAVE ADMIN VARIABLES runs on the session that rebound
    rows = await admin.query("SELECT variable_value AS v FROM runtime_global_variables "
                             "WHERE variable_name = 'admin-mysql_ifaces'")
    assert rows == [{"v": f"127.0.0.1:{port}"}]
    disk = await admin.query("SELECT variable_value AS v FROM disk.global_variables "
                             "WHERE variable_name = 'admin-mysql_ifaces'")
    assert disk == [{"v": f"127.0.0.1:{port}"}]
    await admin.close()
    assert not reachable("127.0.0.2", port), "the admin port still answers other addresses"
    again = await ProxySqlAdmin.connect(Forward(port), port=port, user="mw_admin",  # type: ignore[arg-type]
                                        password="Gen3ratedPw", audit=lambda host, text: None)
    await again.close()
