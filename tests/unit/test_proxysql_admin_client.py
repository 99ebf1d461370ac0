"""The wizard's ProxySQL admin client against the lab's stand-in (a local process): logins told
apart, values that survive the trip, the wizard's whole config applied and read back.

The client normally reaches 127.0.0.1:6032 on a proxy host through an SSH forward; here a
stand-in for the forward hands it the stand-in's local port directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from moodle_wizard.core.remote.proxysql import (
    AdminLoginRefused,
    AdminUnreachable,
    ProxySqlAdmin,
    ProxySqlError,
)
from moodle_wizard.core.render.proxysql import (
    Backend,
    FrontendUser,
    ProxySqlConfig,
    admin_statements,
    mysql_statements,
)
from tests.unit.conftest_proxysql_standin import StandIn, free_port

NASTY = "q'd\"b\\s $(x) é  two  spaces"


@dataclass(frozen=True)
class Target:
    name: str


class Forward:
    """What ProxySqlAdmin needs of a RemoteHost: a name, and a local port for 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.target = Target("px1")
        self.port = port

    async def forward_local_to_port(self, host: str, port: int) -> tuple[str, int]:
        assert host == "127.0.0.1"
        return "127.0.0.1", self.port


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    process = StandIn(tmp_path).start()
    yield process
    assert process.stop() == 0, process.log()


async def connect(port: int, user: str = "admin", password: str = "admin",
                  audit: list[str] | None = None) -> ProxySqlAdmin:
    lines = audit if audit is not None else []
    return await ProxySqlAdmin.connect(Forward(port), port=6032, user=user,  # type: ignore[arg-type]
                                       password=password,
                                       audit=lambda host, text: lines.append(text))


async def test_a_wrong_password_is_told_from_an_admin_error(standin: StandIn) -> None:
    with pytest.raises(AdminLoginRefused, match="refused 'admin' with the given password"):
        await connect(standin.admin_port, password="wrong")
    admin = await connect(standin.admin_port)
    assert admin.version.startswith("2.")
    with pytest.raises(ProxySqlError, match="ProxySQL Admin Error: no such column") as err:
        await admin.query("SELECT nonsense FROM global_variables")
    assert not isinstance(err.value, AdminLoginRefused)
    await admin.close()


async def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(AdminUnreachable, match="nothing answers"):
        await connect(free_port())


async def test_values_survive_and_secrets_stay_out_of_the_audit(standin: StandIn) -> None:
    audit: list[str] = []
    admin = await connect(standin.admin_port, audit=audit)
    await admin.set_variables({"mysql-monitor_password": NASTY,
                               "mysql-monitor_username": "mw_monitor"},
                              secret={"mysql-monitor_password"})
    assert (await admin.variables(["mysql-monitor_password"])) == {
        "mysql-monitor_password": NASTY}
    assert not any(NASTY in line for line in audit)
    assert any("'mw_monitor'" in line for line in audit)
    with pytest.raises(ProxySqlError, match="did not take the variable"):
        await admin.set_variables({"mysql-no_such_variable": "1"})
    await admin.close()


async def test_the_wizard_config_applies_and_replaces_admin_admin(standin: StandIn) -> None:
    cfg = ProxySqlConfig(
        writer_hostgroup=10, reader_hostgroup=20,
        servers=(Backend(10, "127.0.0.1", free_port()), Backend(20, "127.0.0.2", 3306)),
        users=(FrontendUser("moodle", NASTY, 10, "moodle"),
               FrontendUser("moodle_ro", "ro-pw", 20, "moodle")),
        monitor_user="mw_monitor", monitor_password=NASTY, server_version="10.11.6-MariaDB",
        admin_user="mw_admin", admin_password="Gen3ratedPw",
        admin_ifaces=f"127.0.0.1:{standin.admin_port}")  # the test's port, on loopback
    admin = await connect(standin.admin_port)
    for stmt in [*mysql_statements(cfg), *admin_statements(cfg)]:
        await admin.run(stmt)
    await admin.close()
    with pytest.raises(AdminLoginRefused):
        await connect(standin.admin_port)
    admin = await connect(standin.admin_port, "mw_admin", "Gen3ratedPw")
    users = await admin.query("SELECT username, default_hostgroup FROM runtime_mysql_users "
                              "WHERE frontend = 1 ORDER BY username")
    assert [(u["username"], u["default_hostgroup"]) for u in users] == [
        ("moodle", "10"), ("moodle_ro", "20")]
    disk = await admin.query("SELECT password FROM disk.mysql_users WHERE username = 'moodle'")
    assert disk == [{"password": NASTY}]
    pairs = await admin.query("SELECT writer_hostgroup, reader_hostgroup, check_type FROM "
                              "runtime_mysql_replication_hostgroups")
    assert pairs == [{"writer_hostgroup": "10", "reader_hostgroup": "20",
                      "check_type": "read_only"}]
    version = await admin.variables(["mysql-server_version"])
    assert version == {"mysql-server_version": "10.11.6-MariaDB"}
    await admin.close()
