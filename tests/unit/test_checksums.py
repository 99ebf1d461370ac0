"""Issue 14 item 3: the replicas step's checksums — the SQL of a full and of a sampled verify,
how a table is cut into key ranges and which are sampled, and one host's pass over several
connections at once."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

from moodle_wizard.core.inventory import InventoryError, load_inventory
from moodle_wizard.core.steps.replicas import checksums
from moodle_wizard.core.steps.replicas.checksums import (
    FULL,
    SAMPLED,
    Unit,
    checksum_all,
    chunk_bounds,
    chunk_sql,
    differing,
    pool_size,
    sample,
    together,
)
from tests.unit.test_source_binlog import INVENTORY


def test_chunk_sql_is_pt_table_checksums_with_every_identifier_quoted() -> None:
    sql = chunk_sql("mood`le", "mdl_user", "id", [("id", False), ("na`me", True),
                                                  ("email", False), ("city", True)])
    assert sql == (
        "SELECT COUNT(*) AS cnt, COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', "
        "CAST(`id` AS BINARY), CAST(`na``me` AS BINARY), CAST(`email` AS BINARY), "
        "CAST(`city` AS BINARY), CONCAT(ISNULL(`na``me`), ISNULL(`city`)))) AS UNSIGNED)), "
        "10, 16)), 0) AS crc FROM `mood``le`.`mdl_user` WHERE `id` >= %s AND `id` <= %s")
    # No nullable column: no ISNULL flags.
    assert "ISNULL" not in chunk_sql("moodle", "t", "id", [("id", False)])


@pytest.mark.parametrize(("lo", "hi", "rows"), [
    (1, 100_000, 100_000), (7, 7, 1), (1, 1_000_000, 25_000), (50, 120_049, 3), (0, 0, 0),
    (1, 10_001, 10_001)])
def test_the_chunks_cover_every_key_once(lo: int, hi: int, rows: int) -> None:
    bounds = chunk_bounds(lo, hi, rows, chunk_rows=10_000)
    assert bounds[0][0] == lo and bounds[-1][1] == hi
    for (a, b), (c, _) in itertools.pairwise(bounds):
        assert a <= b and c == b + 1
    assert len(bounds) == max(1, -(-rows // 10_000))


def test_the_sample_is_a_share_and_always_has_the_newest_chunk() -> None:
    rng = random.Random(5)
    for n in (1, 2, 19, 20, 21, 400):
        picked = sample(n, rng, share=0.05)
        assert picked == sorted(set(picked))
        assert picked[-1] == n - 1 and all(0 <= i < n for i in picked)
        assert len(picked) == min(n, max(1, -(-n * 5 // 100)))
    # Chosen at random: two draws of a large table's chunks are not the same.
    assert sample(400, random.Random(1)) != sample(400, random.Random(2))


class Catalog:
    """information_schema of a source, as plan() reads it."""

    def __init__(self) -> None:
        self.tables = [("mdl_config", 40, 16_384), ("mdl_logstore_standard_log", 61_000, 5e7),
                       ("mdl_user", 1_000, 1e6), ("mdl_grade_keyless", 10, 16_384),
                       ("mdl_sessions", 0, 16_384)]
        self.columns = {
            "mdl_config": [("id", "NO", "PRI", "bigint"), ("name", "NO", "UNI", "varchar"),
                           ("value", "NO", "", "longtext")],
            "mdl_logstore_standard_log": [("id", "NO", "PRI", "bigint"),
                                          ("other", "YES", "", "longtext")],
            "mdl_user": [("id", "NO", "PRI", "bigint"), ("email", "NO", "MUL", "varchar")],
            # A composite key and a text key cannot be cut into integer ranges.
            "mdl_grade_keyless": [("a", "NO", "PRI", "bigint"), ("b", "NO", "PRI", "bigint")],
            "mdl_sessions": [("sid", "NO", "PRI", "varchar")],
        }
        self.spans = {"mdl_config": (1, 40), "mdl_logstore_standard_log": (1, 61_000),
                      "mdl_user": (3, 1_002)}

    async def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        if "information_schema.tables" in sql:
            return [{"t": t, "n": n, "b": b} for t, n, b in sorted(self.tables)]
        if "information_schema.columns" in sql:
            return [{"t": t, "c": c, "nullable": nl, "k": k, "type": ty}
                    for t, cols in sorted(self.columns.items()) for c, nl, k, ty in cols]
        raise AssertionError(sql)

    async def one(self, sql: str, args: Any = None) -> dict[str, Any]:
        table = sql.rsplit(".", 1)[1].strip("`")
        lo, hi = self.spans.get(table, (None, None))
        return {"lo": lo, "hi": hi}


async def test_a_full_plan_is_one_checksum_table_per_table_biggest_first() -> None:
    plan = await checksums.plan(Catalog(), "moodle", FULL)  # type: ignore[arg-type]
    assert [u.table for u in plan.units] == [
        "mdl_logstore_standard_log", "mdl_user", "mdl_config", "mdl_grade_keyless",
        "mdl_sessions"]
    assert plan.units[0].sql == "CHECKSUM TABLE `moodle`.`mdl_logstore_standard_log`"
    assert all(u.chunk is None for u in plan.units)
    assert plan.describe() == "full: 5 tables"


async def test_a_sampled_plan_chunks_integer_keys_and_checksums_the_rest_whole() -> None:
    plan = await checksums.plan(Catalog(), "moodle", SAMPLED,  # type: ignore[arg-type]
                                rng=random.Random(3))
    by_table: dict[str, list[Unit]] = {}
    for u in plan.units:
        by_table.setdefault(u.table, []).append(u)
    logs = by_table["mdl_logstore_standard_log"]
    # 61 000 rows in chunks of about 10 000: 7 chunks 8 715 keys wide, a sample of 1 (the
    # newest).
    assert [u.chunk for u in logs] == [(52_291, 61_000)]
    assert logs[0].args == (52_291, 61_000)
    assert "CRC32" in logs[0].sql and "`mdl_logstore_standard_log`" in logs[0].sql
    assert [u.chunk for u in by_table["mdl_user"]] == [(3, 1_002)]
    for whole in ("mdl_grade_keyless", "mdl_sessions"):
        assert [u.sql for u in by_table[whole]] == [f"CHECKSUM TABLE `moodle`.`{whole}`"]
    assert plan.chunks == 7 + 1 + 1
    assert plan.describe() == ("sampled: 3 of 9 chunks of 5 tables (2 without an integer key, "
                               "checksummed whole)")


def test_differing_names_each_unit_a_replica_disagrees_on_once() -> None:
    a, b, c = (Unit(t, f"CHECKSUM TABLE {t}") for t in "abc")
    want = {a: 1, b: 2, c: 3}
    assert differing(want, {"db2": {a: 1, b: 2, c: 3}, "db3": dict(want)}) == []
    assert differing(want, {"db2": {a: 1, b: 9, c: 3}, "db3": {a: 1, b: 9, c: None}}) == [b, c]
    # A unit a replica did not answer for differs.
    assert differing(want, {"db2": {a: 1, b: 2}}) == [c]


def test_the_source_gets_half_the_pool_a_replica_gets() -> None:
    assert [pool_size(n, source=False) for n in (0, 1, 2, 4, 64)] == [1, 1, 2, 4, 4]
    assert [pool_size(n, source=True) for n in (0, 1, 2, 4, 64)] == [1, 1, 1, 2, 2]


class SlowConn:
    """A connection whose statement takes a moment; counts how many run at once."""

    running = 0
    peak = 0

    def __init__(self, name: str) -> None:
        self.name, self.ran = name, []  # type: tuple[str, list[str]]

    async def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        SlowConn.running += 1
        SlowConn.peak = max(SlowConn.peak, SlowConn.running)
        try:
            await asyncio.sleep(0.01)
        finally:
            SlowConn.running -= 1
        self.ran.append(sql)
        return [{"Table": sql, "Checksum": len(sql)}]


async def test_one_pass_spreads_the_units_over_every_connection() -> None:
    SlowConn.peak = 0
    conns = [SlowConn(f"c{i}") for i in range(3)]
    units = [Unit(f"t{i}", f"CHECKSUM TABLE t{i}") for i in range(9)]
    got = await checksum_all(conns, units)  # type: ignore[arg-type]
    assert got == {u: len(u.sql) for u in units}
    assert SlowConn.peak == 3
    assert sorted(s for c in conns for s in c.ran) == sorted(u.sql for u in units)
    assert all(c.ran for c in conns)


async def test_together_cancels_the_rest_and_raises_the_first_failure_as_it_is() -> None:
    finished: list[str] = []

    async def fails() -> None:
        raise InventoryError("broken")

    async def slow() -> None:
        await asyncio.Event().wait()
        finished.append("slow")

    with pytest.raises(InventoryError, match="broken"):
        await together(slow(), fails())
    assert finished == []


def test_the_inventory_says_which_verify(tmp_path: Any) -> None:
    def inv(line: str) -> Any:
        path = tmp_path / "inv.toml"
        path.write_text(INVENTORY.format(migration=line, db2=""))
        return load_inventory(path)

    assert inv("").migration.verify == "full"
    assert inv('verify = "sampled"').migration.verify == "sampled"
    with pytest.raises(InventoryError, match=r'"full".*"sampled"'):
        inv('verify = "quick"')
