"""`proxysql sync`'s statements and reads against the lab's ProxySQL stand-in, without the lab:
the node reads as out of step with another password (memory and runtime), the statements make
it in step, the mysql_users checksum changes with them, and running them again changes
nothing (the checksum stays)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.operate.sync_rows import TABLES, USER_COLUMNS, node_state, user_statements
from moodle_wizard.core.remote.proxysql import admin_sql
from moodle_wizard.core.render.proxysql import FrontendUser
from moodle_wizard.core.sql.statement import Statement
from tests.unit.conftest_proxysql_standin import StandIn, connect

OLD = FrontendUser("moodleuser", "0ld-Pass", 10, "moodle")
NEW = FrontendUser("moodleuser", "N3w 'pass\\ é", 10, "moodle")


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    process = StandIn(tmp_path).start()
    yield process
    assert process.stop() == 0, process.log()


def test_sync_statements_on_the_standin(standin: StandIn) -> None:
    conn = connect(standin.admin_port, "admin", "admin", charset="utf8mb4")

    def run(stmt: Statement) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(admin_sql(conn, stmt))  # quoted as the wizard's admin client does
            return list(cur.fetchall()) if cur.description else []

    def state(user: FrontendUser) -> tuple[str, ...]:
        tables = {t: [dict(zip(USER_COLUMNS, row, strict=True)) for row in run(Statement(
            f"SELECT {', '.join(USER_COLUMNS)} FROM {t} WHERE username = %s",
            (user.username,)))] for t in TABLES}
        return node_state("px1", user, tables).differs

    def checksum() -> str:
        rows = run(Statement("SELECT checksum FROM runtime_checksums_values WHERE name = %s",
                             ("mysql_users",)))
        return str(rows[0][0])

    try:
        assert state(NEW) == ("mysql_users: no row for moodleuser",
                              "runtime_mysql_users: no row for moodleuser")
        for stmt in user_statements(OLD):
            run(stmt)
        assert state(OLD) == ()
        assert state(NEW) == ("mysql_users: another password",
                              "runtime_mysql_users: another password")
        before = checksum()
        for stmt in user_statements(NEW):
            run(stmt)
        assert state(NEW) == ()
        after = checksum()
        assert after != before
        for stmt in user_statements(NEW):
            run(stmt)
        assert checksum() == after
    finally:
        conn.close()
