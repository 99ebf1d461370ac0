"""The MySQL wire protocol, from mysql-mimic (3.0.5): the one place that imports it.

mysql-mimic ships no type information, so its names arrive here as ``Any``;
keeping the imports in one module keeps the ``type: ignore`` comments in one
place too. No packet is built by hand anywhere in the stand-in.
"""

from __future__ import annotations

from typing import Any

from mysql_mimic import utils as _utils  # type: ignore[import-untyped]
from mysql_mimic.auth import Forbidden, Success  # type: ignore[import-untyped]
from mysql_mimic.connection import Connection  # type: ignore[import-untyped]
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES  # type: ignore[import-untyped]
from mysql_mimic.control import LocalControl  # type: ignore[import-untyped]
from mysql_mimic.errors import ErrorCode, MysqlError  # type: ignore[import-untyped]
from mysql_mimic.packets import parse_com_query  # type: ignore[import-untyped]
from mysql_mimic.results import ResultColumn, ResultSet  # type: ignore[import-untyped]
from mysql_mimic.stream import ConnectionClosed, MysqlStream  # type: ignore[import-untyped]
from mysql_mimic.types import (  # type: ignore[import-untyped]
    Capabilities,
    ColumnType,
    Commands,
    ServerStatus,
)
from mysql_mimic.variables import (  # type: ignore[import-untyped]
    GlobalVariables,
    SessionVariables,
)

__all__ = [
    "DEFAULT_SERVER_CAPABILITIES",
    "Capabilities",
    "ColumnType",
    "Commands",
    "Connection",
    "ConnectionClosed",
    "ErrorCode",
    "Forbidden",
    "LocalControl",
    "MysqlError",
    "MysqlStream",
    "ResultColumn",
    "ResultSet",
    "ServerStatus",
    "Success",
    "new_nonce",
    "parse_com_query",
    "session_variables",
    "text_result",
]


def new_nonce() -> bytes:
    """A 20-byte handshake nonce of printable characters (what Connector/J needs)."""
    nonce: bytes = _utils.nonce(20)
    return nonce


def session_variables(version: str, version_comment: str) -> Any:
    """Session variables whose ``version`` the handshake announces."""
    variables = SessionVariables(GlobalVariables())
    variables.set("version", version, force=True)
    variables.set("version_comment", version_comment, force=True)
    return variables


def text_result(columns: list[str], rows: list[tuple[Any, ...]]) -> Any:
    """A result set of strings (NULL stays NULL), as ProxySQL's admin returns everything."""
    return ResultSet(
        rows=[tuple(None if v is None else str(v) for v in row) for row in rows],
        columns=[ResultColumn(name=name, type=ColumnType.VAR_STRING) for name in columns],
    )
