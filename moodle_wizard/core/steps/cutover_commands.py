"""What the cutover runs on an app host, as command objects (core/command.py): apply and
rollback run them, the plans render them, so the runbook is what runs. config.php's bytes are
known only when the step reads them: the plan shows placeholders where they go.
"""

from __future__ import annotations

from moodle_wizard.core.command import Command, Shell, WriteFile, placeholder

BACKUP_BASE = "/var/backups/moodle-wizard"


def backup_path(app: str, stamp: str) -> str:
    return f"{BACKUP_BASE}/config.php.{app}.{stamp}"


def backup(app: str, original: bytes | None, stamp: str) -> list[Command]:
    """config.php's bytes copied aside, 0600 in a 0700 directory (None: the plan's
    placeholder)."""
    content = original if original is not None else placeholder("config.php as it is now")
    return [Shell(app, ("install", "-d", "-m", "0700", BACKUP_BASE)),
            WriteFile(app, backup_path(app, stamp), content, 0o600)]


def write(app: str, path: str, edited: bytes | None, mode: int | None) -> WriteFile:
    """The edited config.php over the original, its mode kept (None: not read yet)."""
    content = edited if edited is not None else placeholder("the edited config.php")
    return WriteFile(app, path, content, mode, note="atomically; owner and group kept")


def put_back(app: str, path: str, original: bytes | None, mode: int) -> WriteFile:
    """The original bytes back (None: the plan's placeholder)."""
    content = original if original is not None else placeholder("the bytes of the copy")
    return WriteFile(app, path, content, mode, note="unless it is the original already")


def remove_copy(app: str, copy: str) -> list[Command]:
    """The copy and the backup directory (if empty then) removed."""
    return [Shell(app, ("rm", "-f", "--", copy)),
            Shell.sh(app, f"rmdir {BACKUP_BASE} 2>/dev/null || true")]


def restore(app: str, path: str, mode: int, copy: str) -> list[Command]:
    """The rollback as its runbook shows it (restore() runs the same pieces)."""
    return [put_back(app, path, None, mode), *remove_copy(app, copy)]
