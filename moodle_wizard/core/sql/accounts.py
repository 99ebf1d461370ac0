"""Copying an account to another host from the server's own SHOW GRANTS / SHOW CREATE USER.

Only the host part of the account is rewritten; a small lexer finds the keyword that precedes
the account outside quoted text, so a password hash or a quoted name cannot be mistaken for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from moodle_wizard.core.sql.statement import Statement

__all__ = ["copy_account_statements", "password_hashes"]


_ACCOUNT_PART = r"(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|[A-Za-z0-9_.$%-]+)"
_ACCOUNT_RE = re.compile(rf"(?P<user>{_ACCOUNT_PART})@(?P<host>{_ACCOUNT_PART})")


def _unquote_account_part(part: str) -> str:
    if part.startswith("`"):
        return part[1:-1].replace("``", "`")
    if part.startswith("'"):
        inner = part[1:-1].replace("''", "'")
        return re.sub(r"\\(.)", r"\1", inner)
    return part


def _quote_account_part(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


def _top_level_keyword(sql: str, keyword: str) -> int:
    """Index of `keyword` (a whole word, any case) outside quotes, or -1."""
    i, n = 0, len(sql)
    kw = keyword.upper()
    while i < n:
        ch = sql[i]
        if ch in "`'\"":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if (
            sql[i : i + len(kw)].upper() == kw
            and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_"))
            and (i + len(kw) == n or not (sql[i + len(kw)].isalnum() or sql[i + len(kw)] == "_"))
        ):
            return i
        i += 1
    return -1


def _rehost(line: str, keyword: str, user: str, old_host: str, new_host: str) -> str:
    at = _top_level_keyword(line, keyword)
    if at < 0:
        raise ValueError(f"no {keyword} clause in {line!r}")
    pos = at + len(keyword)
    skip = re.compile(r"\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE)
    gap = skip.match(line, pos)
    match = _ACCOUNT_RE.match(line, gap.end()) if gap else None
    if match is None:
        raise ValueError(f"no account after {keyword} in {line!r}")
    found_user = _unquote_account_part(match.group("user"))
    found_host = _unquote_account_part(match.group("host"))
    if (found_user, found_host) != (user, old_host):
        raise ValueError(
            f"{line!r} is for {found_user!r}@{found_host!r}, expected {user!r}@{old_host!r}"
        )
    account = f"{_quote_account_part(user)}@{_quote_account_part(new_host)}"
    return line[: match.start()] + account + line[match.end() :]


def copy_account_statements(
    show_grants: Sequence[str],
    create_user: str,
    user: str,
    old_host: str,
    new_host: str,
) -> list[Statement]:
    """Statements that give `user`@`new_host` exactly what `user`@`old_host` has.

    Input: the rows of `SHOW GRANTS FOR user@old_host` and the row of
    `SHOW CREATE USER user@old_host` (on MySQL after `prepare_show_create_user`). The password
    travels as the server's own hash (MariaDB `IDENTIFIED BY PASSWORD '*HEX'`, MySQL
    `IDENTIFIED WITH 'caching_sha2_password' AS 0x...`), so the wizard never needs the
    cleartext. Only the host part of the account changes; the statements have no parameters.
    """
    if not new_host or "\x00" in new_host:
        raise ValueError(f"invalid host {new_host!r}")
    create = create_user.strip()
    if not re.match(r"CREATE\s+USER\b", create, re.IGNORECASE):
        raise ValueError(f"not a CREATE USER statement: {create_user!r}")
    if re.search(r"\bAS\s+'\$", create):
        # caching_sha2_password / sha256_password hashes ('$A$005$...') contain raw bytes
        # that do not survive the trip through the driver as text.
        raise ValueError(
            "the password hash in SHOW CREATE USER is binary and printed as text; run "
            "SET SESSION print_identified_with_as_hex = ON first (prepare_show_create_user)"
        )
    statements: list[Statement] = []
    create = _rehost(create, "USER", user, old_host, new_host)
    create = re.sub(
        r"^\s*CREATE\s+USER\s+(?!IF\s+NOT\s+EXISTS\b)",
        "CREATE USER IF NOT EXISTS ",
        create,
        count=1,
        flags=re.IGNORECASE,
    )
    statements.append(Statement(create))
    for line in show_grants:
        line = line.strip()
        if not line:
            continue
        if not line.upper().startswith("GRANT "):
            raise ValueError(f"not a GRANT line: {line!r}")
        statements.append(Statement(_rehost(line, "TO", user, old_host, new_host)))
    return statements


def password_hashes(sql: str) -> list[str]:
    """The password hashes in a CREATE USER statement (mysql_native_password's *HEX, or a
    caching_sha2 hash written as 0x...): masked like passwords wherever they would show."""
    found = re.findall(r"PASSWORD\s+'(\*[0-9A-F]{40})'|AS\s+(0x[0-9A-Fa-f]+)", sql)
    return [value for match in found for value in match if value]
