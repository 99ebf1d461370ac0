"""Validators reject a trailing newline (issue 10, item 12).

`^...$` with re.match accepts 'mw_repl\\n' ('$' matches before a final newline), and the
value went on into a GRANT, an option file or keepalived.conf. Each case first shows the
value without the newline is accepted, so the newline alone is what is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from moodle_wizard.core.inventory import (
    HOSTNAME_RE,
    NAME_RE,
    PATH_RE,
    SQL_USER_RE,
    USER_RE,
    Inventory,
)
from moodle_wizard.core.render.keepalived import (
    HealthCheck,
    KeepalivedConfigError,
    VirtualIP,
    VrrpInstance,
    pid_file_args,
    render_keepalived_conf,
)
from moodle_wizard.core.render.mycnf import OptionFileError, render_replica_cnf, render_source_cnf
from moodle_wizard.core.sql.version import Flavor, ServerVersion
from moodle_wizard.lab.proxysql_standin.passwords import is_native_hash

BASE: dict[str, Any] = {
    "migration": {"name": "t"},
    "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
              "db2": {"address": "10.0.0.2", "role": "replica"},
              "app": {"address": "10.0.0.3", "role": "app"},
              "px1": {"address": "10.0.0.11", "role": "proxy"},
              "px2": {"address": "10.0.0.12", "role": "proxy"}},
    "vip": {"address": "10.0.0.100"},
}


def inventory(section: str, key: str, value: Any) -> Inventory:
    data: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    if section == "hosts.db2":
        data["hosts"] = dict(data["hosts"])
        data["hosts"]["db2"] = {**data["hosts"]["db2"], key: value}
    elif section == "host name":
        data["hosts"] = dict(data["hosts"])
        data["hosts"][value] = data["hosts"].pop("db2")
    else:
        data[section] = {**data.get(section, {}), key: value}
    return Inventory.model_validate(data)


INVENTORY_CASES = [
    ("migration", "name", "moodle1"),
    ("migration", "moodle_config", "/var/www/moodle/config.php"),
    ("migration", "db_socket", "/run/mysqld/mysqld.sock"),
    ("migration", "replication_user", "mw_repl"),
    ("migration", "monitor_user", "mw_monitor"),
    ("migration", "db_admin_user", "wizard_admin"),
    ("hosts.db2", "address", "db2.example.org"),
    ("hosts.db2", "address", "10.0.0.9"),
    ("hosts.db2", "ssh_user", "deploy"),
    ("host name", "", "db9"),
    ("proxysql", "initial_admin_user", "admin"),
    ("proxysql", "admin_user", "mw_admin"),
    ("proxysql", "readonly_user", "moodle_ro"),
    ("vip", "interface", "eth0"),
]


@pytest.mark.parametrize(("section", "key", "value"), INVENTORY_CASES,
                         ids=[f"{s}.{k or v}" for s, k, v in INVENTORY_CASES])
def test_inventory_rejects_a_trailing_newline(section: str, key: str, value: str) -> None:
    inventory(section, key, value)  # the value itself is fine
    with pytest.raises(ValidationError):
        inventory(section, key, value + "\n")


@pytest.mark.parametrize(("pattern", "value"), [
    (HOSTNAME_RE, "db1.example.org"), (NAME_RE, "moodle1"), (USER_RE, "root"),
    (PATH_RE, "/var/www/config.php"), (SQL_USER_RE, "mw_repl"),
])
def test_the_patterns_themselves_are_anchored(pattern: Any, value: str) -> None:
    """Callers outside core (the TUI's draft) use .match(): the pattern must hold by itself."""
    assert pattern.match(value) and pattern.fullmatch(value)
    assert pattern.match(value + "\n") is None and pattern.fullmatch(value + "\n") is None


MARIADB = ServerVersion(Flavor.MARIADB, 10, 11, 6)


def test_option_file_values_reject_a_trailing_newline() -> None:
    render_replica_cnf(MARIADB, 2, "db2", log_bin="/var/log/mysql/mysql-bin")
    with pytest.raises(OptionFileError):
        render_replica_cnf(MARIADB, 2, "db2\n")
    with pytest.raises(OptionFileError):
        render_replica_cnf(MARIADB, 2, "db2", log_bin="/var/log/mysql/mysql-bin\n")
    render_source_cnf(MARIADB, 1, log_bin="/var/log/mysql/mysql-bin")
    with pytest.raises(OptionFileError):
        render_source_cnf(MARIADB, 1, log_bin="/var/log/mysql/mysql-bin\n")


CHECK = HealthCheck(command=("/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/6033"))
NODE = VrrpInstance(virtual_router_id=51, priority=150, interface_cidr="10.0.0.11/24",
                    unicast_src_ip="10.0.0.11", unicast_peers=("10.0.0.12",),
                    auth_pass="Mw2x9Q", vip=VirtualIP("10.0.0.100", 24, "eth0"))


@pytest.mark.parametrize("field", ["name", "auth_pass"])
def test_keepalived_instance_fields_reject_a_trailing_newline(field: str) -> None:
    good = getattr(NODE, field)
    replace(NODE, **{field: good})
    with pytest.raises(KeepalivedConfigError):
        replace(NODE, **{field: good + "\n"})


def test_keepalived_names_reject_a_trailing_newline() -> None:
    VirtualIP("10.0.0.100", 24, "eth0")
    with pytest.raises(KeepalivedConfigError):
        VirtualIP("10.0.0.100", 24, "eth0\n")
    HealthCheck(command=CHECK.command, name="chk_proxysql")
    with pytest.raises(KeepalivedConfigError):
        HealthCheck(command=CHECK.command, name="chk_proxysql\n")
    with pytest.raises(KeepalivedConfigError):
        replace(NODE, track_scripts=("chk_proxysql\n",))
    pid_file_args("moodle")
    with pytest.raises(KeepalivedConfigError):
        pid_file_args("moodle\n")
    render_keepalived_conf(NODE, CHECK, router_id="px1")
    with pytest.raises(KeepalivedConfigError):
        render_keepalived_conf(NODE, CHECK, router_id="px1\n")


def test_the_standin_does_not_take_a_hash_with_a_newline_for_a_hash() -> None:
    hashed = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    assert is_native_hash(hashed)
    assert not is_native_hash(hashed + "\n")


def test_the_wizards_toml_writer_quotes_a_key_with_a_trailing_newline() -> None:
    import tomllib

    from moodle_wizard.tui.draft import dumps

    text = dumps({"hosts": {"db2\n": {"address": "10.0.0.2"}}})
    assert tomllib.loads(text) == {"hosts": {"db2\n": {"address": "10.0.0.2"}}}
