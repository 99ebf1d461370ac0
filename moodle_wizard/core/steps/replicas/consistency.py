"""Consistency checks of the replicas step (its verify): every replica replicates with no lag,
a marker row written on the source arrives on each, and Moodle's tables have the same
checksums on the source and the replicas, compared at one source position (a table Moodle
keeps writing is compared with the replicas stopped exactly there).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.sql.quoting import quote_identifier
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.prepare_source import HEARTBEAT_DB, HEARTBEAT_TABLE
from moodle_wizard.core.steps.replicas.common import LAG_TIMEOUT_S, ReplicasBase

MARKER_TIMEOUT_S = 30.0
POSITION_TIMEOUT_S = 60.0


def checksum_sql(dbname: str, tables: list[str]) -> str:
    """CHECKSUM TABLE for Moodle's tables; names come from config.php and the server, so they
    are quoted as identifiers (a backtick in one cannot end the name)."""
    db = quote_identifier(dbname)
    return "CHECKSUM TABLE " + ", ".join(f"{db}.{quote_identifier(t)}" for t in tables)


async def table_checksums(db: Any, dbname: str, tables: list[str]) -> dict[str, Any]:
    rows = await db.query(checksum_sql(dbname, tables))
    # The server answers `db.table` unquoted; the table is what follows the database's name.
    return {str(r["Table"])[len(dbname) + 1:]: r["Checksum"] for r in rows}


class Consistency(ReplicasBase):
    async def verify(self) -> None:
        inv = self.ctx.inventory
        # One deadline for all replicas: they catch up at the same time.
        deadline = time.monotonic() + LAG_TIMEOUT_S
        for r in inv.replicas:
            await self._caught_up(r, deadline)
        await self._verify_marker()
        await self._verify_checksums()

    async def _caught_up(self, r: str, deadline: float) -> None:
        seen: list[ReplicaStatus] = []

        async def check() -> bool | None:
            db = await self.ctx.db(r)
            rows = await db.run(db.dialect.show_replica_status())
            status = normalize_replica_status(rows[0] if rows else None)
            if status is None:
                raise StepError(f"{r}: not configured as a replica")
            if status.errors:
                raise StepError(f"{r}: replication error: {'; '.join(status.errors)}")
            seen.append(status)
            return True if status.healthy and status.seconds_behind == 0 else None

        def late() -> str:
            s = seen[-1]
            return (f"{r}: replication not caught up after {LAG_TIMEOUT_S:.0f} s "
                    f"(io={s.io_running} sql={s.sql_running} lag={s.seconds_behind})")

        await poll_until(check, timeout_s=deadline - time.monotonic(), interval_s=0.5,
                         what=late)

    async def _verify_marker(self) -> None:
        inv = self.ctx.inventory
        token = secrets.token_hex(8)
        source = await self.ctx.db(inv.source)
        await source.query(f"INSERT INTO `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` (token) "
                           "VALUES (%s)", (token,))
        for r in inv.replicas:
            db = await self.ctx.db(r)

            async def arrived(db: Any = db) -> bool | None:
                rows = await db.query(f"SELECT 1 FROM `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` "
                                      "WHERE token = %s", (token,))
                return True if rows else None

            await poll_until(arrived, timeout_s=MARKER_TIMEOUT_S, interval_s=0.2,
                             what=f"{r}: a marker row written on {inv.source} did not "
                                  f"arrive within {MARKER_TIMEOUT_S:.0f} s")

    async def _verify_checksums(self) -> None:
        inv = self.ctx.inventory
        dbname = self.databases()[0]
        source = await self.ctx.db(inv.source)
        tables = [str(r["t"]) for r in await source.query(
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name", (dbname,))]
        for attempt in range(3):
            # Moodle may be writing: catch every replica up to one source position, then
            # compare; a table that changed in between is compared again.
            pos = await self._source_position()
            want = await self._checksums(source, dbname, tables)
            mismatched = []
            for r in inv.replicas:
                db = await self.ctx.db(r)
                await self._wait_for_position(db, pos)
                got = await self._checksums(db, dbname, tables)
                mismatched += [f"{r}:{t}" for t in tables if got.get(t) != want.get(t)]
            if not mismatched:
                self.facts.checksummed_tables = len(tables)
                self.ctx.save()
                return
            if attempt == 2:
                # Tables Moodle keeps writing never match at a moving position: compare each
                # at one exact position instead (the replicas stopped right there).
                still = await self._checksums_at_one_position(
                    source, dbname, sorted({m.split(":", 1)[1] for m in mismatched}))
                if still:
                    raise StepError("table checksums differ between the source and replicas: "
                                    + ", ".join(still[:10]))
                self.facts.checksummed_tables = len(tables)
                self.ctx.save()

    async def _checksums_at_one_position(self, source: Any, dbname: str,
                                         tables: list[str]) -> list[str]:
        """Per table: its checksum on the source between two equal readings of the source's
        GTID position P (nothing was written meanwhile), and on each replica with its SQL
        thread stopped exactly at P (START SLAVE UNTIL), so writes going on at the same time
        cannot make equal tables look different. MariaDB only; mismatches as 'host:table'."""
        inv = self.ctx.inventory
        if not source.version.is_mariadb:
            return [f"{r}:{t}" for r in inv.replicas for t in tables]
        mismatched = []
        replicas = {r: await self.ctx.db(r) for r in inv.replicas}
        for table in tables:
            # Stopped first, the replicas are behind whatever position the source has next.
            for db in replicas.values():
                await db.query("STOP SLAVE")
            try:
                want, pos = await self._quiet_checksum(source, dbname, table)
                for r, db in replicas.items():
                    await db.query("START SLAVE UNTIL master_gtid_pos = %s", (pos,))

                    async def stopped(db: Any = db) -> bool | None:
                        status = await db.one("SHOW SLAVE STATUS")
                        return True if status["Slave_SQL_Running"] != "Yes" else None

                    await poll_until(stopped, timeout_s=POSITION_TIMEOUT_S, interval_s=0.05,
                                     what=f"{r}: replication did not reach the source's "
                                          f"position {pos} in {POSITION_TIMEOUT_S:.0f} s")
                    got = (await self._checksums(db, dbname, [table])).get(table)
                    if got != want:
                        mismatched.append(f"{r}:{table}")
            finally:
                for db in replicas.values():
                    await db.query("STOP SLAVE")
                    await db.query("START SLAVE")
        return mismatched

    async def _quiet_checksum(self, source: Any, dbname: str, table: str) -> tuple[Any, str]:
        """The table's checksum on the source and the GTID position it belongs to: read
        between two equal readings of the position."""
        async def check() -> tuple[Any, str] | None:
            before = await self._source_position()
            want = (await self._checksums(source, dbname, [table])).get(table)
            pos = await self._source_position()
            return (want, pos) if before == pos else None

        return await poll_until(
            check, timeout_s=POSITION_TIMEOUT_S, interval_s=0.05,
            what=f"{self.ctx.inventory.source}: {dbname}.{table} was written to during every "
                 f"checksum for {POSITION_TIMEOUT_S:.0f} s; run the verification again when "
                 "Moodle is quieter (`resume`)")

    async def _source_position(self) -> str:
        db = await self.ctx.db(self.ctx.inventory.source)
        if db.version.is_mariadb:
            return str((await db.one("SELECT @@gtid_binlog_pos AS p"))["p"])
        return str((await db.one("SELECT @@gtid_executed AS p"))["p"])

    async def _wait_for_position(self, db: Any, pos: str) -> None:
        if db.version.is_mariadb:
            row = await db.one("SELECT MASTER_GTID_WAIT(%s, 60) AS r", (pos,))
        else:
            row = await db.one("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, 60) AS r", (pos,))
        if int(row["r"]) != 0:
            raise StepError(f"{db.host_name}: did not reach the source's position {pos} in 60 s")

    async def _checksums(self, db: Any, dbname: str, tables: list[str]) -> dict[str, Any]:
        return await table_checksums(db, dbname, tables)
