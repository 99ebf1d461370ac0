"""Secrets the wizard generates: kept 0600 next to the state, the same after a crash, masked,
forgotten when their step is rolled back."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from moodle_wizard.core.remote.mysql import driver_password
from moodle_wizard.core.secrets import MASK, SecretError, SecretStore, generate_password
from moodle_wizard.core.session import generated_secrets_path
from moodle_wizard.core.state import SecretInStateError, SecretRegistry, new_state, save


def test_a_generated_secret_is_kept_0600_and_comes_back_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state" / "site.secrets"
    first = SecretStore(generated=path).generated("proxysql_admin_password", generate_password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"proxysql_admin_password": first}
    # A new process (the resumed wizard) gets the same value, never a new one.
    again = SecretStore(generated=path)
    assert again.generated("proxysql_admin_password", lambda: "other") == first
    assert again.generated_value("proxysql_admin_password") == first
    assert not list(path.parent.glob(".*.tmp"))


def test_generated_secrets_are_masked_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets"
    value = SecretStore(generated=path).generated("keepalived_auth_pass",
                                                  lambda: generate_password(8))
    store = SecretStore(generated=path)  # has not asked for it yet
    assert store.mask(f"auth_pass {value}") == f"auth_pass {MASK}"
    with pytest.raises(SecretInStateError):
        save(new_state("site", "inv.toml").model_copy(update={"inventory_path": value}),
             tmp_path / "site.json", secrets=SecretRegistry(store.values()))


def test_a_secret_the_operator_gives_is_used_and_kept(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "site.secrets"
    monkeypatch.setenv("MOODLE_WIZARD_PROXYSQL_ADMIN_PASSWORD", "given-by-operator")
    assert SecretStore(generated=path).generated("proxysql_admin_password",
                                                 generate_password) == "given-by-operator"
    monkeypatch.delenv("MOODLE_WIZARD_PROXYSQL_ADMIN_PASSWORD")
    # Rollback a week later, without the environment: the value is still known.
    assert SecretStore(generated=path).generated_value("proxysql_admin_password") == \
        "given-by-operator"


def test_forgotten_after_rollback(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets"
    store = SecretStore(generated=path)
    store.generated("a", lambda: "value-a")
    store.generated("b", lambda: "value-b")
    store.forget_generated(["a", "unknown"])
    assert json.loads(path.read_text()) == {"b": "value-b"}
    assert store.mask("value-a") == MASK  # still masked in this process


def test_optional_secrets_never_prompt(tmp_path: Path) -> None:
    asked: list[str] = []
    store = SecretStore(prompt=lambda q: asked.append(q) or "typed")
    assert store.optional("proxysql_initial_admin_password") is None
    assert asked == []


def test_a_dry_run_cannot_generate(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="dry run"):
        SecretStore().generated("proxysql_admin_password", generate_password)


def test_a_generated_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.secrets"
    path.write_text("{}")
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        SecretStore(generated=path)


def test_the_file_sits_next_to_the_state_and_is_not_a_migration(tmp_path: Path) -> None:
    path = generated_secrets_path(tmp_path / "mwlab.json")
    assert path == tmp_path / "mwlab.secrets"
    assert not path.name.endswith(".json")


def test_generated_passwords_are_plain() -> None:
    pw = generate_password()
    assert len(pw) == 24 and pw.isalnum()
    assert len(generate_password(8)) == 8


def test_driver_password_sends_utf8_bytes() -> None:
    # aiomysql/PyMySQL send password.encode("latin-1"): that must be the UTF-8 bytes.
    assert driver_password("é q'd").encode("latin-1") == "é q'd".encode()
    assert driver_password("plain") == "plain"
