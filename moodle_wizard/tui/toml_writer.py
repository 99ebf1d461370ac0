"""TOML text from the inventory draft's dict (tomllib only reads)."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        # JSON's escapes (\" \\ \n \uXXXX) are all valid in a TOML basic string.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()
                                if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(lines: list[str], path: list[str], table: dict[str, Any], array: bool = False) -> None:
    scalars = {k: v for k, v in table.items()
               if v is not None and not isinstance(v, dict) and not _is_table_list(v)}
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in table.items() if _is_table_list(v)}
    if path and (scalars or array or not (subtables or arrays)):
        name = ".".join(_key(p) for p in path)
        lines.append(f"[[{name}]]" if array else f"[{name}]")
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    if path and (scalars or array):
        lines.append("")
    for k, v in subtables.items():
        _table(lines, [*path, k], v)
    for k, items in arrays.items():
        for item in items:
            _table(lines, [*path, k], item, array=True)


def dumps(data: dict[str, Any]) -> str:
    """TOML text for a dict of tables, scalars, lists and arrays of tables (None is left out)."""
    lines: list[str] = []
    top = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)}
    for k, v in top.items():
        if v is not None:
            lines.append(f"{_key(k)} = {_value(v)}")
    if lines:
        lines.append("")
    _table(lines, [], {k: v for k, v in data.items() if k not in top})
    return "\n".join(lines).rstrip("\n") + "\n"
