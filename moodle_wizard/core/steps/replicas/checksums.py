"""Table checksums for the replicas step's verify: what is checksummed, the SQL for it, and one
pass over a host with several connections at once.

Full (the default, `[migration] verify = "full"`): CHECKSUM TABLE of every table of Moodle's
database, one table per statement, so that a host's tables spread over its connections.
Sampled (`verify = "sampled"`, for very large sites): each table with a single-column integer
primary key is cut into key ranges of about CHUNK_ROWS rows, the way pt-table-checksum chunks
a table, and a share of those ranges is checksummed (the rows' count and the BIT_XOR of a CRC32
of each row); the same ranges on every host. A table without such a key is checksummed whole.
Where the results are compared, and at which position, is `consistency`'s business.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from moodle_wizard.core.remote.mysql import Database
from moodle_wizard.core.sql.quoting import quote_identifier

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

FULL = "full"
SAMPLED = "sampled"
# Connections per host: a few are enough to overlap tables; more only queue on the disk. The
# source serves Moodle meanwhile and gets half of what its cores would allow.
POOL_MAX = 4
# Below this much data a host's one connection is done before more could log in (each costs an
# SSH forward and a login, about 0.1 s; CHECKSUM TABLE reads a few hundred MB a second).
PARALLEL_MIN_BYTES = 200_000_000
CHUNK_ROWS = 10_000
SAMPLE_SHARE = 0.05
INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})

T = TypeVar("T")


@dataclass(frozen=True)
class Unit:
    """One checksum, the same statement on every host: a table whole, or one key range."""

    table: str
    sql: str
    args: tuple[int, ...] = ()
    chunk: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        if self.chunk is None:
            return self.table
        return f"{self.table}[{self.chunk[0]}..{self.chunk[1]}]"


@dataclass(frozen=True)
class Plan:
    """What one verify checksums: its units, biggest first (a big table started last would
    keep one connection busy after the others are done)."""

    mode: str
    tables: int
    units: tuple[Unit, ...]
    chunks: int = 0
    whole: int = 0
    # The tables' size on the source, by the server's estimate.
    bytes: int = 0

    def describe(self) -> str:
        if self.mode == FULL:
            return f"full: {self.tables} tables"
        sampled = sum(1 for u in self.units if u.chunk is not None)
        text = f"sampled: {sampled} of {self.chunks} chunks of {self.tables} tables"
        if self.whole:
            text += f" ({self.whole} without an integer key, checksummed whole)"
        return text


def checksum_sql(dbname: str, tables: list[str]) -> str:
    """CHECKSUM TABLE for Moodle's tables; names come from config.php and the server, so they
    are quoted as identifiers (a backtick in one cannot end the name)."""
    db = quote_identifier(dbname)
    return "CHECKSUM TABLE " + ", ".join(f"{db}.{quote_identifier(t)}" for t in tables)


def chunk_sql(dbname: str, table: str, key: str, columns: Sequence[tuple[str, bool]]) -> str:
    """pt-table-checksum's checksum of one key range: the count of rows and the BIT_XOR of a
    CRC32 of each row. Every column is cast to its bytes (columns of two character sets in one
    CONCAT_WS could otherwise be refused as an illegal mix of collations); CONCAT_WS skips a
    NULL, so the nullable columns' ISNULL flags are added to tell NULL from ''."""
    cols = [f"CAST({quote_identifier(c)} AS BINARY)" for c, _ in columns]
    flags = [f"ISNULL({quote_identifier(c)})" for c, nullable in columns if nullable]
    if flags:
        cols.append(f"CONCAT({', '.join(flags)})")
    k = quote_identifier(key)
    return ("SELECT COUNT(*) AS cnt, COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', "
            f"{', '.join(cols)})) AS UNSIGNED)), 10, 16)), 0) AS crc "
            f"FROM {quote_identifier(dbname)}.{quote_identifier(table)} "
            f"WHERE {k} >= %s AND {k} <= %s")


def chunk_bounds(lo: int, hi: int, rows: int,
                 chunk_rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """[lo, hi] cut into ranges of equal width, about `chunk_rows` rows each by the server's
    row estimate; together they cover every key from lo to hi."""
    n = max(1, math.ceil(max(rows, 1) / chunk_rows))
    width = max(1, math.ceil((hi - lo + 1) / n))
    return [(a, min(a + width - 1, hi)) for a in range(lo, hi + 1, width)]


def sample(n: int, rng: random.Random, share: float = SAMPLE_SHARE) -> list[int]:
    """Which of a table's n chunks are checksummed: a share of them chosen at random, always
    with the last one (the newest rows, where replication goes wrong first)."""
    k = min(n, max(1, math.ceil(n * share)))
    return sorted({n - 1, *rng.sample(range(n - 1), k - 1)})


async def plan(db: Database, dbname: str, mode: str,
               rng: random.Random | None = None) -> Plan:
    """The units of a verify in `mode`, read from the source."""
    tables = await db.query(
        "SELECT table_name AS t, COALESCE(table_rows, 0) AS n, "
        "COALESCE(data_length, 0) + COALESCE(index_length, 0) AS b "
        "FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name", (dbname,))
    by_size = sorted(tables, key=lambda r: -int(r["b"]))
    size = sum(int(r["b"]) for r in tables)
    if mode == FULL:
        return Plan(FULL, len(tables), tuple(
            Unit(str(r["t"]), checksum_sql(dbname, [str(r["t"])])) for r in by_size),
            bytes=size)
    rng = rng or random.Random()
    columns: dict[str, list[tuple[str, bool, bool, str]]] = {}
    for c in await db.query(
            "SELECT table_name AS t, column_name AS c, is_nullable AS nullable, "
            "column_key AS k, data_type AS type FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (dbname,)):
        columns.setdefault(str(c["t"]), []).append(
            (str(c["c"]), c["nullable"] == "YES", c["k"] == "PRI", str(c["type"]).lower()))
    units: list[Unit] = []
    chunks = whole = 0
    for r in by_size:
        table, cols = str(r["t"]), columns.get(str(r["t"]), [])
        keys = [c for c in cols if c[2]]
        if len(keys) != 1 or keys[0][3] not in INTEGER_TYPES:
            whole += 1
            units.append(Unit(table, checksum_sql(dbname, [table])))
            continue
        key = keys[0][0]
        span = await db.one(f"SELECT MIN({quote_identifier(key)}) AS lo, "
                            f"MAX({quote_identifier(key)}) AS hi FROM "
                            f"{quote_identifier(dbname)}.{quote_identifier(table)}")
        # An empty table is one chunk of nothing: its count (0) is still compared.
        lo, hi = (int(span["lo"]), int(span["hi"])) if span["lo"] is not None else (0, 0)
        bounds = chunk_bounds(lo, hi, int(r["n"]))
        chunks += len(bounds)
        sql = chunk_sql(dbname, table, key, [(c[0], c[1]) for c in cols])
        units += [Unit(table, sql, bounds[i], bounds[i]) for i in sample(len(bounds), rng)]
    return Plan(SAMPLED, len(tables), tuple(units), chunks, whole, size)


async def measure(db: Database, unit: Unit) -> Any:
    """The unit's checksum on one host, comparable with another host's."""
    rows = await db.query(unit.sql, unit.args or None)
    if unit.chunk is None:
        # A table missing on this host: the server answers NULL (and warns).
        return rows[0]["Checksum"] if rows else None
    return (int(rows[0]["cnt"]), str(rows[0]["crc"]))


async def together(*aws: Awaitable[T]) -> list[T]:
    """All at once; the first failure cancels the rest (none is left running on a host) and
    is raised as it is (an OperatorError stays one, not an ExceptionGroup)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def checksum_all(conns: Sequence[Database], units: Sequence[Unit]) -> dict[Unit, Any]:
    """Every unit on one host, each connection taking the next unit when it is free."""
    results: dict[Unit, Any] = {}
    todo = iter(units)

    async def worker(db: Database) -> None:
        for unit in todo:
            results[unit] = await measure(db, unit)

    await together(*(worker(db) for db in conns))
    return results


def differing(want: dict[Unit, Any], got: dict[str, dict[Unit, Any]]) -> list[Unit]:
    """The units whose checksum on some replica is not the source's (each once, in order)."""
    return [u for u in want if any(res.get(u) != want[u] for res in got.values())]


def pool_size(cores: int, source: bool) -> int:
    size = min(POOL_MAX, max(1, cores))
    return max(1, size // 2) if source else size


async def host_cores(ctx: Context, name: str) -> int:
    """The host's processors (1 when it cannot tell)."""
    out = await (await ctx.host(name)).run(["nproc"], check=False)
    return int(out.stdout.strip()) if out.stdout.strip().isdigit() else 1
