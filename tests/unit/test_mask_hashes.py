"""Password hashes never reach the audit log or the runbook (issue 10, item 10).

Each form a MariaDB or MySQL server prints (SHOW CREATE USER, SHOW GRANTS) or the dialects
produce goes through the real AuditLog and the real runbook renderer; the hash must be gone
and the text around it must stay readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from moodle_wizard.core import runbook as runbook_mod
from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.secrets import MASK, SecretStore, mask_password_hashes
from moodle_wizard.core.sql.accounts import copy_account_statements
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.version import Flavor, ServerVersion
from moodle_wizard.core.state import MigrationOrder, StepName, new_state
from moodle_wizard.core.steps.base import Action, Problem, Step

NATIVE = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
OLD_NATIVE = "6f8c114b58f2ce9e"  # MySQL 4.1's 16-hex-digit hash
ED25519 = "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"
CACHING_SHA2_HEX = "0x2441243030352419157B1F4A5B0E3A6F6D4C1A0B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F"
CACHING_SHA2_TEXT = "$A$005$ZNo9*fx.Y4cCNL1ak8s1DTl0zrO1Gd5sZ8o8OfmeJhNd4Oi6yZQJf5f5"
SHA256 = "$5$X:7b&e:^TXfj,lkk$vTnp1NU9FIPaYx4fw/bk3KMQmeYW6XPDY5kfm3N4Ls1"
PARSEC = "P0:lhXQx8SsBO7eP9kIgb9D8e3A:ZN6mSQ82fQNx0Khks2zHM9iCJhDTNgKL1oEZzTLJLIQ"
CLEAR = "Cleartext-Pa55"

# (form, statement as the server prints it or the wizard sends it, the secret part)
FORMS: list[tuple[str, str, str]] = [
    ("mariadb native", f"CREATE USER `moodle`@`10.0.0.3` IDENTIFIED BY PASSWORD '{NATIVE}'",
     NATIVE),
    ("mariadb show grants", "GRANT USAGE ON *.* TO `moodle`@`10.0.0.3` IDENTIFIED BY "
     f"PASSWORD '{NATIVE}'", NATIVE),
    ("mysql 5.7 old hash", f"GRANT USAGE ON *.* TO 'u'@'h' IDENTIFIED BY PASSWORD '{OLD_NATIVE}'",
     OLD_NATIVE),
    ("mariadb via native", "CREATE USER `u`@`h` IDENTIFIED VIA mysql_native_password USING "
     f"'{NATIVE}' OR unix_socket", NATIVE),
    ("mariadb chained", "CREATE USER `u`@`h` IDENTIFIED VIA unix_socket OR "
     f"mysql_native_password USING '{NATIVE[1:]}'", NATIVE[1:]),
    ("ed25519 hash", f"CREATE USER `u`@`h` IDENTIFIED VIA ed25519 USING '{ED25519}'", ED25519),
    ("ed25519 password()", f"CREATE USER `u`@`h` IDENTIFIED VIA ed25519 USING PASSWORD('{CLEAR}')",
     CLEAR),
    ("parsec", f"CREATE USER `u`@`h` IDENTIFIED VIA parsec USING '{PARSEC}'", PARSEC),
    ("caching_sha2 hex", "CREATE USER `u`@`h` IDENTIFIED WITH 'caching_sha2_password' AS "
     f"{CACHING_SHA2_HEX} REQUIRE NONE PASSWORD EXPIRE DEFAULT", CACHING_SHA2_HEX),
    ("caching_sha2 text", "CREATE USER 'u'@'h' IDENTIFIED WITH 'caching_sha2_password' AS "
     f"'{CACHING_SHA2_TEXT}'", CACHING_SHA2_TEXT),
    ("sha256_password", f"CREATE USER 'u'@'h' IDENTIFIED WITH sha256_password AS '{SHA256}'",
     SHA256),
    ("mysql native as", "CREATE USER 'u'@'h' IDENTIFIED WITH \"mysql_native_password\" AS "
     f"'{NATIVE}'", NATIVE),
    ("binary introducer", f"CREATE USER 'u'@'h' IDENTIFIED WITH caching_sha2_password AS "
     f"_binary'{CACHING_SHA2_TEXT}'", CACHING_SHA2_TEXT),
    ("x'' literal", "CREATE USER 'u'@'h' IDENTIFIED WITH caching_sha2_password AS "
     "X'24412430303524abcdef'", "24412430303524abcdef"),
    ("mysql mfa", "CREATE USER 'u'@'h' IDENTIFIED WITH caching_sha2_password AS "
     f"'{CACHING_SHA2_TEXT}' AND IDENTIFIED WITH authentication_ldap_sasl AS 'uid=u'",
     CACHING_SHA2_TEXT),
    ("identified by clear", f"ALTER USER 'u'@'h' IDENTIFIED BY '{CLEAR}' REPLACE 'OldPa55'",
     CLEAR),
    ("replace current", f"ALTER USER 'u'@'h' IDENTIFIED BY '{CLEAR}' REPLACE 'OldPa55'",
     "OldPa55"),
    ("set password hash", f"SET PASSWORD FOR `u`@`h` = '{NATIVE}'", NATIVE),
    ("set password()", f"SET PASSWORD FOR 'u'@'%' = PASSWORD('{CLEAR}')", CLEAR),
    ("old_password()", f"SET PASSWORD = OLD_PASSWORD('{CLEAR}')", CLEAR),
    ("master_password", f"CHANGE MASTER TO MASTER_HOST='10.0.0.1', MASTER_PASSWORD='{CLEAR}', "
     "MASTER_USE_GTID=slave_pos", CLEAR),
    ("source_password", f"CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = \"{CLEAR}\"", CLEAR),
    ("proxysql mysql_users", "INSERT INTO mysql_users (username, password) VALUES "
     f"('moodle', '{NATIVE}')", NATIVE),
    ("hex anywhere", f"-- hash {CACHING_SHA2_HEX} seen", CACHING_SHA2_HEX),
    ("lowercase keywords", f"create user u@h identified via ed25519 using '{ED25519}'", ED25519),
]

# Ordinary runbook text that must come out as it went in.
READABLE = [
    "SELECT @@GLOBAL.gtid_binlog_pos AS v",
    "SET GLOBAL gtid_slave_pos = '0-1-123,1-2-9'",
    "checksum sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ok",
    "Create the replication user mw_repl@10.0.0.2 identified by the replication password",
    "GRANT REPLICATION REPLICA ON *.* TO 'mw_repl'@'10.0.0.2'",
    "SELECT 0x1234 AS position, '*' AS star, @@server_id",
    "UPDATE global_variables SET variable_value = '0.0.0.0:6032' WHERE variable_name = 'x'",
]


@pytest.mark.parametrize(("form", "text", "secret"), FORMS, ids=[f[0] for f in FORMS])
def test_every_hash_form_is_masked_in_the_audit_log(
    tmp_path: Path, form: str, text: str, secret: str
) -> None:
    audit = AuditLog(tmp_path / "audit.log", SecretStore())
    audit.sql("db1", text)
    written = (tmp_path / "audit.log").read_text()
    assert secret not in written
    assert secret not in audit.lines[0]
    assert MASK in written


@pytest.mark.parametrize("text", READABLE)
def test_ordinary_text_stays_readable(text: str) -> None:
    assert mask_password_hashes(text) == text
    assert SecretStore().mask(text) == text


def test_copied_accounts_reach_the_audit_log_without_their_hash(tmp_path: Path) -> None:
    """The statements the account copy really runs, as Database.run() audits them."""
    audit = AuditLog(tmp_path / "audit.log", SecretStore())
    for create, grants, secret in [
        (f"CREATE USER `moodle`@`10.0.0.3` IDENTIFIED BY PASSWORD '{NATIVE}'",
         [f"GRANT USAGE ON *.* TO `moodle`@`10.0.0.3` IDENTIFIED BY PASSWORD '{NATIVE}'",
          "GRANT ALL PRIVILEGES ON `moodle`.* TO `moodle`@`10.0.0.3`"], NATIVE),
        ("CREATE USER `moodle`@`10.0.0.3` IDENTIFIED WITH 'caching_sha2_password' AS "
         f"{CACHING_SHA2_HEX} REQUIRE NONE", ["GRANT USAGE ON *.* TO `moodle`@`10.0.0.3`"],
         CACHING_SHA2_HEX),
        (f"CREATE USER `moodle`@`10.0.0.3` IDENTIFIED VIA ed25519 USING '{ED25519}'",
         ["GRANT USAGE ON *.* TO `moodle`@`10.0.0.3`"], ED25519),
    ]:
        for stmt in copy_account_statements(grants, create, "moodle", "10.0.0.3", "10.0.0.9"):
            assert secret in stmt.sql or "GRANT" in stmt.sql  # the statement does carry it
            audit.sql("db1", stmt.display())
    text = (tmp_path / "audit.log").read_text()
    for secret in (NATIVE, CACHING_SHA2_HEX, ED25519):
        assert secret not in text
    assert "`moodle`@`10.0.0.9`" in text  # the rest is readable


def test_the_dialects_own_statements_are_masked(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log", SecretStore())
    mariadb = Dialect(ServerVersion(Flavor.MARIADB, 10, 11, 6))
    mysql = Dialect(ServerVersion(Flavor.MYSQL, 8, 4, 0))
    for d in (mariadb, mysql):
        for stmt in (d.create_user("u", "h", CLEAR), d.alter_user_password("u", "h", CLEAR),
                     d.create_user("u", "h", CLEAR, auth_plugin="ed25519"),
                     d.change_source("10.0.0.1", 3306, "r", CLEAR)):
            audit.sql("db1", stmt.display())
            audit.sql("db1", stmt.sql % tuple(repr(p) for p in stmt.params))  # as query() shows
    text = (tmp_path / "audit.log").read_text()
    assert CLEAR not in text and NATIVE not in text and "2470C0C06DEE" not in text


class _Discover(Step):
    name: ClassVar[StepName] = StepName.DISCOVER
    title: ClassVar[str] = "Discover"
    summary: ClassVar[str] = "Look."

    async def preflight(self) -> list[Problem]:
        return []

    def plan(self) -> list[Action]:
        return []

    async def verify(self) -> None:
        return None

    def rollback_plan(self) -> list[Action]:
        return []


class _Copy(_Discover):
    name: ClassVar[StepName] = StepName.PREPARE_SOURCE
    title: ClassVar[str] = "Copy accounts"
    summary: ClassVar[str] = "Every hash form, as a runbook line."

    def plan(self) -> list[Action]:
        async def nothing() -> None:
            return None

        lines = [f"on db1: {text}" for _, text, _ in FORMS] + [f"on db1: {t}" for t in READABLE]
        return [Action("copy", "Copy the Moodle account", nothing, lines, host="db1")]


class _Ctx:
    def __init__(self) -> None:
        self.inventory = Inventory.model_validate({
            "migration": {"name": "t"},
            "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
                      "db2": {"address": "10.0.0.2", "role": "replica"},
                      "app": {"address": "10.0.0.3", "role": "app"}},
        })
        self.secrets = SecretStore()
        self.state = new_state("t", "inv.toml")
        self.state.order = MigrationOrder.CLASSIC


async def test_every_hash_form_is_masked_in_the_runbook(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: dict[StepName, Any] = {StepName.DISCOVER: _Discover, StepName.PREPARE_SOURCE: _Copy}
    monkeypatch.setattr(runbook_mod, "STEP_CLASSES", steps)
    monkeypatch.setattr("moodle_wizard.core.steps.registry.STEP_CLASSES", steps)
    text = await runbook_mod.runbook_markdown(_Ctx())  # type: ignore[arg-type]
    for form, _, secret in FORMS:
        assert secret not in text, form
    for line in READABLE:
        assert f"on db1: {line}" in text
