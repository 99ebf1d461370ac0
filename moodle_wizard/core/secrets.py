"""Secrets: resolved from the environment, a 0600 secrets file or a prompt; kept in memory only.

Every value the wizard learns is registered here so that logs, the audit trail, the runbook and
error messages can be masked with one call. Nothing in this module writes a secret anywhere.
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

MASK = "********"

# Every secret the migration may need, and what it is for (shown when one is missing).
KNOWN_SECRETS = {
    "replication_password": "password of the replication user the wizard creates on the source",
    "monitor_password": "password of the ProxySQL monitor user the wizard creates",
    "db_admin_password": "password of migration.db_admin_user on the source",
}


class SecretError(ValueError):
    pass


class SecretStore:
    def __init__(
        self,
        file: Path | None = None,
        env_prefix: str = "MOODLE_WIZARD_",
        prompt: Callable[[str], str] | None = None,
    ) -> None:
        self._file = file
        self._env_prefix = env_prefix
        self._prompt = prompt
        self._values: dict[str, str] = {}
        self._file_values: dict[str, str] | None = None

    def env_name(self, name: str) -> str:
        return self._env_prefix + name.upper()

    def register(self, name: str, value: str) -> None:
        """A secret learned on the way (e.g. the Moodle password read from config.php)."""
        if value:
            self._values[name] = value

    def known(self, name: str) -> str | None:
        """A secret already in memory (learned or resolved), without asking anyone."""
        return self._values.get(name)

    def get(self, name: str) -> str:
        if name in self._values:
            return self._values[name]
        value = os.environ.get(self.env_name(name))
        if value is None:
            value = self._from_file().get(name)
        if value is None and self._prompt is not None:
            value = self._prompt(f"{KNOWN_SECRETS.get(name, name)}: ")
        if not value:
            where = f" or in the secrets file {self._file}" if self._file else ""
            raise SecretError(
                f"secret {name!r} ({KNOWN_SECRETS.get(name, 'needed by this step')}) is not set; "
                f"put it in the environment variable {self.env_name(name)}{where}"
            )
        self._values[name] = value
        return value

    def _from_file(self) -> dict[str, str]:
        if self._file_values is not None:
            return self._file_values
        self._file_values = {}
        if self._file is None:
            return self._file_values
        try:
            st = self._file.stat()
        except FileNotFoundError:
            raise SecretError(
                f"secrets file {self._file} does not exist; create it (mode 0600) "
                "or remove [secrets] file from the inventory"
            ) from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"secrets file {self._file} is readable by others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); run chmod 600 {self._file}"
            )
        if st.st_uid != os.geteuid():
            raise SecretError(
                f"secrets file {self._file} belongs to another user; it must be yours and mode 0600"
            )
        text = self._file.read_text()
        try:
            data = json.loads(text) if self._file.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError):
            # The parser's message may quote the file's content: never show it.
            raise SecretError(
                f"secrets file {self._file} is not valid "
                f"{'JSON' if self._file.suffix == '.json' else 'TOML'}"
            ) from None
        self._file_values = {str(k): str(v) for k, v in data.items()}
        return self._file_values

    def values(self) -> list[str]:
        return sorted(self._values.values(), key=len, reverse=True)

    def mask(self, text: str) -> str:
        for value in self.values():
            text = text.replace(value, MASK)
        return text


def terminal_prompt(question: str) -> str:
    if not sys.stdin.isatty():
        return ""
    return getpass.getpass(question)
