"""`proxysql sync`'s pure part: the mysql_users statements for Moodle's user (those the
proxysql step writes for it, render/proxysql.py's mysql_statements), and whether a node's
rows already say what they would write. Passwords are compared, never shown."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moodle_wizard.core.render.proxysql import FrontendUser, users_statements
from moodle_wizard.core.sql.statement import Statement

__all__ = ["USER_COLUMNS", "NodeState", "load_statements", "node_state", "password_matches",
           "stage_statements", "user_statements"]

# The columns read back for comparison (as the proxysql step's verify reads runtime_mysql_users).
USER_COLUMNS = ("username", "password", "active", "default_hostgroup", "default_schema",
                "transaction_persistent")
# Memory is what SAVE writes and the next LOAD serves; runtime is what serves now.
TABLES = ("mysql_users", "runtime_mysql_users")


def stage_statements(user: FrontendUser) -> list[Statement]:
    """Moodle's user replaced in MEMORY by the proxysql step's own statements for it
    (render/proxysql.py's users_statements)."""
    return users_statements([user])


def load_statements() -> list[Statement]:
    """MEMORY's users to RUNTIME, and saved to DISK."""
    return [Statement("LOAD MYSQL USERS TO RUNTIME"), Statement("SAVE MYSQL USERS TO DISK")]


def user_statements(user: FrontendUser) -> list[Statement]:
    """What one node runs, staged then loaded (sync runs the two halves on all nodes in turn)."""
    return [*stage_statements(user), *load_statements()]


def _native_hash(password: str) -> str:
    """mysql_native_password's stored form, `*` + SHA1(SHA1(pw)) in upper-case hex: what a
    ProxySQL with admin-hash_passwords shows at runtime instead of the cleartext."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def password_matches(stored: object, password: str) -> bool:
    """Whether ProxySQL's stored password is `password` (as given, or its native hash)."""
    value = "" if stored is None else str(stored)
    return value in (password, _native_hash(password))


@dataclass(frozen=True)
class NodeState:
    """One node against what the proxysql step would write for Moodle's user: `differs`
    names what is not (never a password's value); empty when the node is in step."""

    node: str
    differs: tuple[str, ...]

    @property
    def in_step(self) -> bool:
        return not self.differs


def _same(got: object, want: object) -> bool:
    return ("" if got is None else str(got)) == ("" if want is None else str(want))


def node_state(node: str, user: FrontendUser,
               tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> NodeState:
    """Compare each table's rows for Moodle's user (`tables`: mysql_users and
    runtime_mysql_users as read, USER_COLUMNS each) with what the statements write."""
    want = {"active": 1, "default_hostgroup": user.hostgroup,
            "default_schema": user.default_schema, "transaction_persistent": 1}
    differs: list[str] = []
    for table in TABLES:
        rows = [r for r in tables.get(table, ()) if r.get("username") == user.username]
        if not rows:
            differs.append(f"{table}: no row for {user.username}")
            continue
        if not all(password_matches(r.get("password"), user.password) for r in rows):
            differs.append(f"{table}: another password")
        for column, value in want.items():
            seen = sorted({str(r.get(column)) for r in rows if not _same(r.get(column), value)})
            if seen:
                differs.append(f"{table}: {column} {'/'.join(seen)}, not {value}")
    return NodeState(node, tuple(differs))
