from __future__ import annotations

import os
from pathlib import Path

import pytest

from moodle_wizard.core.secrets import MASK, SecretError, SecretStore

NASTY = "it's \"q\" \\ $(rm -rf /) `id` é ;#"


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = secrets_file(tmp_path, 'replication_password = "from-file"\n')
    monkeypatch.setenv("MOODLE_WIZARD_REPLICATION_PASSWORD", "from-env")
    assert SecretStore(path).get("replication_password") == "from-env"
    monkeypatch.delenv("MOODLE_WIZARD_REPLICATION_PASSWORD")
    assert SecretStore(path).get("replication_password") == "from-file"


def test_a_json_file_works_too(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '{"monitor_password": "m"}', name="s.json")
    assert SecretStore(path).get("monitor_password") == "m"


def test_a_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, 'monitor_password = "m"\n', mode=0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        SecretStore(path).get("monitor_password")


def test_a_missing_secret_names_the_variable_and_the_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "")
    with pytest.raises(SecretError, match="MOODLE_WIZARD_MONITOR_PASSWORD") as err:
        SecretStore(path).get("monitor_password")
    assert str(path) in str(err.value)


def test_a_broken_file_never_shows_its_content(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, f'monitor_password = "{NASTY}\n')
    with pytest.raises(SecretError) as err:
        SecretStore(path).get("monitor_password")
    assert "rm -rf" not in str(err.value)


def test_mask_hides_every_known_value_longest_first() -> None:
    store = SecretStore()
    store.register("a", NASTY)
    store.register("b", "rm -rf")
    text = f"CHANGE MASTER TO MASTER_PASSWORD='{NASTY}'"
    assert store.mask(text) == f"CHANGE MASTER TO MASTER_PASSWORD='{MASK}'"
    assert NASTY not in store.mask(text)


def test_prompt_is_used_last(tmp_path: Path) -> None:
    asked = []
    store = SecretStore(None, prompt=lambda q: asked.append(q) or "typed")
    os.environ.pop("MOODLE_WIZARD_DB_ADMIN_PASSWORD", None)
    assert store.get("db_admin_password") == "typed"
    assert len(asked) == 1
    assert store.get("db_admin_password") == "typed"
    assert len(asked) == 1
