"""Reading the (errno, message) that PyMySQL/aiomysql errors carry."""

from __future__ import annotations

#: Error numbers from 2000 on are the client library's (cannot connect, lost
#: connection ...); below are the server's answers (access denied ...).
CLIENT_ERROR_MIN = 2000


def error_code(error: BaseException) -> int | None:
    args = error.args
    return args[0] if args and isinstance(args[0], int) else None


def error_text(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return str(error) or "timeout"
    args = error.args
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return str(error) or type(error).__name__


def is_server_error(error: BaseException) -> bool:
    """True when the server answered with an error (it is up, it said no)."""
    code = error_code(error)
    return code is not None and code < CLIENT_ERROR_MIN
