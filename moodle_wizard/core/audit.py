"""The audit trail: every remote command and SQL statement, before it runs, secrets masked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from moodle_wizard.core.secrets import SecretStore


class AuditLog:
    def __init__(self, path: Path | None, secrets: SecretStore) -> None:
        self.path = path
        self._secrets = secrets
        self.lines: list[str] = []

    def record(self, host: str, kind: str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} {host} {kind}: {self._secrets.mask(text)}".replace("\n", "\\n")
        self.lines.append(line)
        if self.path is None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line + "\n")

    def command(self, host: str, text: str) -> None:
        self.record(host, "ssh", text)

    def sql(self, host: str, text: str) -> None:
        self.record(host, "sql", text)
