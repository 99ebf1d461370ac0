"""Recognising admin statements, the way ProxySQL's admin module does.

ProxySQL collapses runs of whitespace, strips the trailing ``;`` and compares
case-insensitively against its list of commands; anything it does not know
goes to SQLite as it is (so a misspelt LOAD yields SQLite's syntax error).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from moodle_wizard.lab.proxysql_standin.modules import Layer, Module


class Direction(enum.Enum):
    MEMORY_TO_RUNTIME = (Layer.MEMORY, Layer.RUNTIME)
    RUNTIME_TO_MEMORY = (Layer.RUNTIME, Layer.MEMORY)
    MEMORY_TO_DISK = (Layer.MEMORY, Layer.DISK)
    DISK_TO_MEMORY = (Layer.DISK, Layer.MEMORY)


@dataclass(frozen=True)
class LayerCopy:
    module: Module
    direction: Direction


@dataclass(frozen=True)
class Ignored:
    """Accepted with an OK packet, nothing happens (BEGIN, SET NAMES ...)."""


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True)
class SelectVariables:
    """``SELECT @@version, @@admin-version AS v LIMIT 1``: (column label, variable) pairs."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ShowDatabases:
    pass


@dataclass(frozen=True)
class ShowTables:
    schema: str
    like: str | None


@dataclass(frozen=True)
class ShowVariables:
    like: str | None


@dataclass(frozen=True)
class ShowCreateTable:
    schema: str
    table: str


@dataclass(frozen=True)
class ShowColumns:
    schema: str
    table: str


@dataclass(frozen=True)
class ShowWarnings:
    pass


@dataclass(frozen=True)
class Passthrough:
    """Anything else: handed to SQLite unchanged."""

    sql: str


Command = (
    LayerCopy | Ignored | SetVariable | SelectVariables | ShowDatabases | ShowTables
    | ShowVariables | ShowCreateTable | ShowColumns | ShowWarnings | Passthrough
)

_SUFFIXES: dict[str, tuple[tuple[str, Direction], ...]] = {
    "LOAD": (
        ("TO RUNTIME", Direction.MEMORY_TO_RUNTIME),
        ("TO RUN", Direction.MEMORY_TO_RUNTIME),
        ("FROM MEMORY", Direction.MEMORY_TO_RUNTIME),
        ("FROM MEM", Direction.MEMORY_TO_RUNTIME),
        ("FROM DISK", Direction.DISK_TO_MEMORY),
        ("TO MEMORY", Direction.DISK_TO_MEMORY),
        ("TO MEM", Direction.DISK_TO_MEMORY),
    ),
    "SAVE": (
        ("TO DISK", Direction.MEMORY_TO_DISK),
        ("FROM MEMORY", Direction.MEMORY_TO_DISK),
        ("FROM MEM", Direction.MEMORY_TO_DISK),
        ("FROM RUNTIME", Direction.RUNTIME_TO_MEMORY),
        ("FROM RUN", Direction.RUNTIME_TO_MEMORY),
        ("TO MEMORY", Direction.RUNTIME_TO_MEMORY),
        ("TO MEM", Direction.RUNTIME_TO_MEMORY),
    ),
}

#: Every LOAD/SAVE spelling ProxySQL accepts, normalised, to what it does.
LAYER_COMMANDS: dict[str, LayerCopy] = {
    f"{verb} {module.value} {suffix}": LayerCopy(module, direction)
    for verb, suffixes in _SUFFIXES.items()
    for module in Module
    for suffix, direction in suffixes
}

_IGNORED = re.compile(
    r"^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|USE \S+"
    r"|SET NAMES\b.*|SET CHARACTER SET\b.*"
    r"|SET (?:SESSION |@@SESSION\.|@@)?"
    r"(?:AUTOCOMMIT|CHARACTER_SET_RESULTS|SQL_AUTO_IS_NULL)\s*=.*)$",
    re.IGNORECASE,
)
_SET = re.compile(r"^SET\s+(?P<name>[^=\s]+)\s*=\s*(?P<value>.*)$", re.IGNORECASE | re.DOTALL)
_SELECT_VARIABLES = re.compile(
    r"^SELECT\s+(?P<items>@@.*?)(?:\s+LIMIT\s+\d+)?$", re.IGNORECASE | re.DOTALL
)
_VARIABLE_ITEM = re.compile(
    r"^@@(?:SESSION\.|GLOBAL\.|LOCAL\.)?(?P<name>[\w.-]+)(?:\s+AS\s+(?P<alias>\S+))?$",
    re.IGNORECASE,
)
_SHOW_DATABASES = re.compile(r"^SHOW (DATABASES|SCHEMAS)$", re.IGNORECASE)
_SHOW_TABLES = re.compile(
    r"^SHOW TABLES(?: (?:FROM|IN) (?P<schema>\w+))?(?: LIKE (?P<like>'[^']*'|\"[^\"]*\"))?$",
    re.IGNORECASE,
)
_SHOW_VARIABLES = re.compile(
    r"^SHOW (?:GLOBAL |SESSION )?VARIABLES(?: LIKE (?P<like>'[^']*'|\"[^\"]*\"))?$",
    re.IGNORECASE,
)
_QUALIFIED = r"`?(?:(?P<schema>\w+)`?\.`?)?(?P<table>\w+)`?"
_SHOW_CREATE_TABLE = re.compile(rf"^SHOW CREATE TABLE {_QUALIFIED}$", re.IGNORECASE)
_SHOW_COLUMNS = re.compile(
    rf"^SHOW (?:FULL )?(?:COLUMNS|FIELDS) (?:FROM|IN) {_QUALIFIED}$", re.IGNORECASE
)
_SHOW_WARNINGS = re.compile(r"^SHOW (WARNINGS|ERRORS)(?: LIMIT .*)?$", re.IGNORECASE)
#: A Cluster peer announcing itself (stats_proxysql_servers_clients_status: not imitated).
_CLUSTER_NODE_UUID = re.compile(r"^PROXYSQL CLUSTER_NODE_UUID \S+", re.IGNORECASE)
#: The Cluster's fetch queries: a plain SELECT for admin sessions (ProxySQL intercepts them
#: only there; the stand-in has no stats sessions on 6032 at all).
_PROXY_SELECT = re.compile(r"^PROXY_SELECT\s", re.IGNORECASE)


def normalize(sql: str) -> str:
    """Collapse whitespace runs, strip the ends and the trailing semicolons."""
    return " ".join(sql.split()).rstrip("; ").strip()


def unquote(value: str) -> str:
    """``'it''s'`` -> ``it's``; unquoted values come back as they are."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        quote = text[0]
        inner = text[1:-1].replace(quote * 2, quote)
        return re.sub(r"\\(.)", r"\1", inner)
    return text


def parse(sql: str) -> Command:
    statement = normalize(sql)
    layer_copy = LAYER_COMMANDS.get(statement.upper())
    if layer_copy is not None:
        return layer_copy
    if _IGNORED.match(statement):
        return Ignored()
    if (match := _SET.match(statement)) is not None:
        return SetVariable(match["name"], unquote(match["value"]))
    if (match := _SELECT_VARIABLES.match(statement)) is not None:
        items = _variable_items(match["items"])
        if items is not None:
            return SelectVariables(items)
    if _SHOW_DATABASES.match(statement):
        return ShowDatabases()
    if (match := _SHOW_TABLES.match(statement)) is not None:
        like = unquote(match["like"]) if match["like"] else None
        return ShowTables(match["schema"] or "main", like)
    if (match := _SHOW_VARIABLES.match(statement)) is not None:
        return ShowVariables(unquote(match["like"]) if match["like"] else None)
    if (match := _SHOW_CREATE_TABLE.match(statement)) is not None:
        return ShowCreateTable(match["schema"] or "main", match["table"])
    if (match := _SHOW_COLUMNS.match(statement)) is not None:
        return ShowColumns(match["schema"] or "main", match["table"])
    if _SHOW_WARNINGS.match(statement):
        return ShowWarnings()
    if _CLUSTER_NODE_UUID.match(statement):
        return Ignored()
    if _PROXY_SELECT.match(statement):
        return Passthrough("SELECT " + statement[len("PROXY_SELECT "):])
    return Passthrough(sql.strip().rstrip(";").strip())


def _variable_items(text: str) -> tuple[tuple[str, str], ...] | None:
    items: list[tuple[str, str]] = []
    for part in text.split(","):
        match = _VARIABLE_ITEM.match(part.strip())
        if match is None:
            return None
        label = match["alias"] or part.strip()
        items.append((unquote(label.strip("`")), match["name"].lower()))
    return tuple(items)
