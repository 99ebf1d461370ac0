"""The initial configuration file (``/etc/proxysql.cnf``), read on a first start only.

Like ProxySQL, the stand-in reads it only when the datadir has no
``proxysql.db`` yet (or with ``--initial``); afterwards the disk database wins.
The file uses the libconfig syntax; this reads the subset ProxySQL configs
use: ``datadir``, the ``admin_variables`` / ``mysql_variables`` groups, and the
table lists (``mysql_servers``, ``mysql_users``, ``mysql_replication_hostgroups``
...), whose keys are column names (plus ProxySQL's aliases ``address`` and
``hostgroup``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodle_wizard.lab.proxysql_standin.schema import CONFIG_TABLES
from moodle_wizard.lab.proxysql_standin.topology import Row


class ConfigError(Exception):
    pass


@dataclass
class InitialConfig:
    datadir: str | None = None
    #: Full names (``admin-mysql_ifaces``) to values.
    variables: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[Row]] = field(default_factory=dict)


_VARIABLE_GROUPS = {"admin_variables": "admin-", "mysql_variables": "mysql-"}
_COLUMN_ALIASES = {"address": "hostname", "hostgroup": "hostgroup_id"}
_TABLE_LISTS = frozenset(CONFIG_TABLES) - {"global_variables"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|\d+)L{0,2})
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
    """,
    re.VERBOSE | re.DOTALL,
)


def load(path: Path) -> InitialConfig:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    try:
        settings = _Parser(text).settings(top_level=True)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return interpret(settings)


def interpret(settings: dict[str, Any]) -> InitialConfig:
    config = InitialConfig()
    if isinstance(settings.get("datadir"), str):
        config.datadir = settings["datadir"]
    for group, prefix in _VARIABLE_GROUPS.items():
        values = settings.get(group, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{group} must be a group {{ ... }}")
        for name, value in values.items():
            config.variables[prefix + name] = _as_text(value)
    for table in _TABLE_LISTS & set(settings):
        entries = settings[table]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(f"{table} must be a list of groups ( {{ ... }}, ... )")
        config.tables[table] = [
            {_COLUMN_ALIASES.get(key, key): value for key, value in entry.items()}
            for entry in entries
        ]
    return config


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                line = text.count("\n", 0, position) + 1
                raise ConfigError(f"line {line}: unexpected {text[position:position + 10]!r}")
            kind = match.lastgroup or ""
            if kind != "space":
                self._tokens.append((kind, match.group()))
            position = match.end()
        self._index = 0

    def settings(self, *, top_level: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self._peek() is not None and self._peek() != ("punct", "}"):
            kind, name = self._next()
            if kind != "name":
                raise ConfigError(f"expected a setting name, got {name!r}")
            if self._next()[1] not in ("=", ":"):
                raise ConfigError(f"expected = after {name}")
            result[name] = self._value()
            if self._peek() in (("punct", ";"), ("punct", ",")):
                self._next()
        if not top_level:
            self._expect("}")
        elif self._peek() is not None:
            raise ConfigError("unexpected }")
        return result

    def _value(self) -> Any:
        kind, text = self._next()
        if kind == "string":
            value = _unescape(text)
            while (token := self._peek()) is not None and token[0] == "string":
                value += _unescape(self._next()[1])
            return value
        if kind == "number":
            return _number(text)
        if kind == "name" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if (kind, text) == ("punct", "{"):
            return self.settings()
        if (kind, text) in (("punct", "("), ("punct", "[")):
            closing = ")" if text == "(" else "]"
            items: list[Any] = []
            while self._peek() != ("punct", closing):
                items.append(self._value())
                if self._peek() == ("punct", ","):
                    self._next()
            self._expect(closing)
            return items
        raise ConfigError(f"unexpected {text!r}")

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ConfigError("unexpected end of file")
        self._index += 1
        return token

    def _expect(self, punct: str) -> None:
        if self._next() != ("punct", punct):
            raise ConfigError(f"expected {punct!r}")


def _unescape(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)),
                  token[1:-1])


def _number(text: str) -> int | float:
    digits = text.rstrip("L")
    if digits.lower().lstrip("+-").startswith("0x"):
        return int(digits, 16)
    if "." in digits or "e" in digits.lower():
        return float(digits)
    return int(digits)
