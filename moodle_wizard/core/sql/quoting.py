"""SQL identifiers and literals as the wizard writes them, and the mask shown for secrets."""

from __future__ import annotations

import hashlib

__all__ = ["MASK", "native_password_hash", "quote_identifier", "string_literal"]

MASK = "********"


def quote_identifier(name: str) -> str:
    """Quote a database/table name for SQL: backticks, with backticks doubled."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return "`" + name.replace("`", "``") + "`"


def string_literal(value: str) -> str:
    """A string as a single-quoted SQL literal, for display (plans, runbook). Execution passes
    values as parameters for the driver to escape."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def native_password_hash(password: str) -> str:
    """mysql_native_password's hash of `password` (as PASSWORD() computes it over UTF-8)."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # the protocol's own hash
    return "*" + hashlib.sha1(inner).hexdigest().upper()
