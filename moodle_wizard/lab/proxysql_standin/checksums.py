"""``runtime_checksums_values``: one checksum per module of the running config.

The checksum depends only on the content, so two stand-ins running the same
configuration show the same value (what a ProxySQL Cluster compares);
``version`` and ``epoch`` say when and how often it was (re)loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EMPTY_CHECKSUM = "0x0000000000000000"


def config_checksum(rows: Iterable[Mapping[str, Any]]) -> str:
    """``0x`` + 16 hex digits, like ProxySQL's; equal for equal sets of rows."""
    encoded = sorted(json.dumps(dict(row), sort_keys=True, default=str) for row in rows)
    if not encoded:
        return EMPTY_CHECKSUM
    digest = hashlib.sha256("\n".join(encoded).encode()).digest()
    return "0x" + digest[:8].hex().upper()


@dataclass
class ModuleChecksum:
    version: int = 0
    epoch: int = 0
    checksum: str = EMPTY_CHECKSUM


class ChecksumBook:
    """The checksum rows, updated whenever a module's runtime config is (re)computed."""

    def __init__(self) -> None:
        self._entries: dict[str, ModuleChecksum] = {}

    def record(self, name: str, checksum: str, *, loaded: bool,
               epoch: int | None = None) -> bool:
        """Store a module's new checksum; True if the value changed.

        A LOAD always bumps version and epoch (as ProxySQL does, even when the
        content is unchanged); a change seen by the monitor bumps them only if
        the checksum moved. ``epoch``: the peer's, for a config a Cluster pull loaded.
        """
        entry = self._entries.setdefault(name, ModuleChecksum())
        changed = entry.checksum != checksum or entry.version == 0
        if loaded or changed:
            entry.version += 1
            entry.epoch = int(time.time()) if epoch is None else epoch
            entry.checksum = checksum
        return changed

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "version": e.version, "epoch": e.epoch, "checksum": e.checksum}
            for name, e in sorted(self._entries.items())
        ]

    def get(self, name: str) -> ModuleChecksum:
        return self._entries.get(name, ModuleChecksum())
