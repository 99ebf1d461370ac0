"""A Context for the steps' plans without connecting anywhere, for three source servers.

The lab's discovery facts (tests/tui/fixtures) are MariaDB 10.11; the MySQL flavours are the
same facts with what discovery would have read from a MySQL source instead (flavor, version,
VERSION(), binary log settings, GTID state, the replicas' server package). Secrets are
distinctive fake values in the environment, so a test can prove none reaches a runbook.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.secrets import KNOWN_SECRETS, SecretStore
from moodle_wizard.core.state import MigrationState, StepName

FIXTURES = Path(__file__).parents[1] / "tui" / "fixtures"

# Each secret's fake value: long and unlike anything else in a runbook. auth_pass is 8
# characters at most (keepalived's limit).
FAKE_SECRETS = {name: f"Fake{name.replace('_', '')}Zq9" for name in KNOWN_SECRETS}
FAKE_SECRETS["keepalived_auth_pass"] = "Kq7wZx3v"
# Moodle's own password, as discovery would have learned it from config.php.
MOODLE_PASSWORD = "FakeMoodleDbPassZq9"

# What discovery records for the source and the replica hosts, per flavour (the MariaDB one
# is the lab's own, unchanged).
_MYSQL = {
    "mysql-8.0": ("8.0.36", "8.0.36-0ubuntu0.22.04.1", "1:8.0.36-0ubuntu0.22.04.1"),
    "mysql-8.4": ("8.4.3", "8.4.3", "8.4.3-1debian12"),
}
FLAVOURS = ("mariadb-10.11", *_MYSQL)


def _mysql_source(src: dict[str, Any], version: str, server_version: str) -> dict[str, Any]:
    return {
        **src,
        "flavor": "mysql",
        "version": version,
        "version_string": f"MySQL {version}",
        "server_version": server_version,
        # MySQL 8 has the binary log on, in ROW format, from its first start.
        "log_bin": True,
        "binlog_format": "ROW",
        "log_bin_basename": "/var/lib/mysql/binlog",
        "binlog_retention_seconds": 2592000,
        "log_slave_updates": True,
        "gtid": {"mode": "OFF", "enforce": "OFF", "executed": ""},
    }


def state_data(flavour: str) -> dict[str, Any]:
    """The saved state's JSON after discovery on this flavour (edited as JSON, so it reads
    the same whatever the facts' Python types become)."""
    data: dict[str, Any] = json.loads((FIXTURES / "discovered-state.json").read_text())
    if flavour == "mariadb-10.11":
        return data
    version, server_version, package = _MYSQL[flavour]
    facts = data["steps"][StepName.DISCOVER.value]["facts"]
    facts["source"] = _mysql_source(facts["source"], version, server_version)
    moodle = facts["moodle"]
    for cfg in (moodle, *moodle["apps"].values()):
        cfg["dbtype"] = "mysqli"
        cfg["connect"]["server"]["version"] = server_version
    for replica in facts["replicas"].values():
        replica["packages"] = {"mysql-server": package}
    return data


def applied_facts(step: StepName, flavour: str) -> dict[str, Any]:
    """What a step's apply records on the lab when every action ran (the rollback plan is
    built from these): nothing was there before, the wizard installed and created it all."""
    conf = "mariadb.conf.d" if flavour.startswith("mariadb") else "mysql.conf.d"
    proxies, replicas = ("10.77.0.21", "10.77.0.22"), ("10.77.0.12", "10.77.0.13")
    if step == StepName.PREPARE_SOURCE:
        return {"cnf": {"path": f"/etc/mysql/{conf}/90-moodle-wizard.cnf", "previous": None},
                "binlogs_before": [], "log_dir_created": flavour.startswith("mariadb"),
                "heartbeat_created": True,
                # Settings a source that did not restart had changed at runtime: set back.
                "runtime_before": {"binlog_format": "MIXED",
                                   "binlog_expire_logs_seconds": "864000"},
                "accounts_created": [*(["mw_repl", a] for a in replicas),
                                     *(["mw_monitor", a] for a in proxies)]}
    if step == StepName.PROXYSQL:
        # px2 ran a ProxySQL of its own with a config database: copied aside, put back.
        px2 = {"was_running": True, "db_files": ["proxysql.db"],
               "files": ["proxysql.db", "proxysql.log"],
               "backup": "/var/backups/moodle-wizard/proxysql-px2-20261127061200",
               "admin_ifaces_read": True, "admin_ifaces": "127.0.0.1:6032"}
        return {"installed": ["px1"],
                "nodes": {"px1": {"was_running": False, "db_files": [], "files": [],
                                  "backup": None, "admin_ifaces_read": True,
                                  "admin_ifaces": "0.0.0.0:6032"},
                          "px2": px2},
                "accounts_created": [["moodle_ro", a] for a in proxies]}
    if step == StepName.VIP:
        # px2 had a config and a check script of its own before: both are put back.
        return {"installed": ["px1"], "virtual_router_id": 100,
                "nodes": {"px1": {"conf_backup": None, "script_existed": False},
                          "px2": {"conf_backup": "/var/backups/moodle-wizard/"
                                                 "keepalived.conf.px2.20261127061200",
                                  "script_existed": True}}}
    if step == StepName.CUTOVER:
        return {"apps": {"app": {
            "path": "/var/www/moodle/config.php", "mode": "0640",
            "backup": "/var/backups/moodle-wizard/config.php.app.20261127T061200Z",
            "sha256_before": "1" * 64, "sha256_after": "2" * 64}}}
    return {}


def journal(data: dict[str, Any], done: dict[StepName, list[str]], flavour: str) -> None:
    """Mark these actions done, with the facts their apply records."""
    for step, ids in done.items():
        saved = data["steps"][step.value]
        saved["actions"] = [{"id": i, "status": "done"} for i in ids]
        saved["facts"].update(applied_facts(step, flavour))


async def _never(message: str, risky: bool) -> bool:
    return False


def context(flavour: str, monkeypatch: pytest.MonkeyPatch,
            done: dict[StepName, list[str]] | None = None,
            edit: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> Context:
    """A Context with no pool and no state file: any attempt to connect fails. `edit`
    changes the inventory's and the saved state's data (in that order) before they are read."""
    data = tomllib.loads((FIXTURES / "lab-inventory.toml").read_text())
    data["secrets"] = {}
    saved = state_data(flavour)
    if edit is not None:
        edit(data, saved)
    inventory = Inventory.model_validate(data)
    data = saved
    journal(data, done or {}, flavour)
    state = MigrationState.model_validate(data)
    secrets = SecretStore(None, inventory.secrets.env_prefix, prompt=None)
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(secrets.env_name(name), value)
    secrets.register("moodle_db_password", MOODLE_PASSWORD)
    return Context(inventory, state, None, secrets, None,  # type: ignore[arg-type]
                   AuditLog(None, secrets), lambda event: None, _never)


def all_secrets() -> list[str]:
    return [*FAKE_SECRETS.values(), MOODLE_PASSWORD]
