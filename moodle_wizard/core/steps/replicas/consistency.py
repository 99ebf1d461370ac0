"""Consistency checks of the replicas step (its verify): every replica replicates with no lag,
a marker row written on the source arrives on each, and Moodle's tables have the same
checksums on the source and the replicas, compared at one source position (a table Moodle
keeps writing is compared with the replicas stopped exactly there).

The checksums run on every host at once, several tables at a time on each (`checksums`); a
table that differs is checksummed again, alone, until it matches or has been compared with
the replicas stopped at the very position its checksum on the source belongs to.

The first pass begins while the step's last actions run (`early_checksums`): the verify takes
what it found and checksums only the hosts whose pass is still to do.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.mysql import Database
from moodle_wizard.core.sql.gtid import parse_position
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.prepare_source import HEARTBEAT_DB, HEARTBEAT_TABLE
from moodle_wizard.core.steps.replicas import catchup, checksums, proxy_first
from moodle_wizard.core.steps.replicas.checksums import Unit, checksum_sql
from moodle_wizard.core.steps.replicas.common import LAG_TIMEOUT_S, ReplicasBase
from moodle_wizard.core.steps.replicas.early_checksums import (
    EarlyChecksums,
    source_position,
    wait_for_position,
)

MARKER_TIMEOUT_S = 30.0
CATCH_UP_POLL_S = 0.5
POSITION_TIMEOUT_S = 60.0
# Passes over the units that still differ before the last one, at one exact position.
ATTEMPTS = 3

__all__ = ["Consistency", "checksum_sql"]


class Consistency(ReplicasBase):
    _early: EarlyChecksums | None = None

    def early(self) -> EarlyChecksums:
        if self._early is None:
            self._early = EarlyChecksums(self.ctx, self.databases()[0],
                                         self.ctx.inventory.migration.verify,
                                         self.src.data_bytes)
        return self._early

    def begin_source_checksums(self) -> None:
        self.early().begin_source()

    def begin_replica_checksums(self, r: str) -> None:
        self.early().begin_replica(r)

    async def settle(self) -> None:
        if self._early is not None:
            await self._early.stop()

    async def verify(self) -> None:
        inv = self.ctx.inventory
        # One deadline for all replicas: they catch up at the same time.
        deadline = time.monotonic() + LAG_TIMEOUT_S
        for r in inv.replicas:
            if self.method == "existing":
                await self._catch_up(r)
            else:
                await self._caught_up(r, deadline)
        await self._verify_marker()
        await self._verify_checksums()
        await tls_steps.replication_ciphers(self)
        await proxy_first.readers_online(self.ctx)

    async def _replicating_status(self, r: str) -> ReplicaStatus:
        """r's replication status; a replica that is not one, or whose replication stopped
        on an error, is a StepError naming it."""
        db = await self.ctx.db(r)
        rows = await db.run(db.dialect.show_replica_status())
        status = normalize_replica_status(rows[0] if rows else None)
        if status is None:
            raise StepError(f"{r}: not configured as a replica")
        if status.errors:
            raise StepError(f"{r}: replication error: {'; '.join(status.errors)}")
        return status

    async def _caught_up(self, r: str, deadline: float) -> None:
        seen: list[ReplicaStatus] = []

        async def check() -> bool | None:
            status = await self._replicating_status(r)
            seen.append(status)
            return True if status.healthy and status.seconds_behind == 0 else None

        def late() -> str:
            s = seen[-1]
            return (f"{r}: replication not caught up after {LAG_TIMEOUT_S:.0f} s "
                    f"(io={s.io_running} sql={s.sql_running} lag={s.seconds_behind})")

        await poll_until(check, timeout_s=deadline - time.monotonic(), interval_s=0.5,
                         what=late)

    async def _catch_up(self, r: str) -> None:
        """A replica seeded from an existing backup replays the source's binary log from the
        backup's position: waited for as long as it closes the gap, with a line every few
        seconds (how far behind, how fast, how long still); refused after LAG_TIMEOUT_S
        without progress."""
        inv = self.ctx.inventory
        tracker = catchup.CatchUp(r, inv.source)
        while True:
            status = await self._replicating_status(r)
            db = await self.ctx.db(r)
            source = parse_position(await self._source_position(), source=inv.source)
            mine = parse_position(str((await db.one("SELECT @@gtid_slave_pos AS p"))["p"]),
                                  source=r)
            behind = catchup.transactions_behind(source, mine)
            if behind == 0 and status.healthy and status.seconds_behind == 0:
                return
            now = time.monotonic()
            line = tracker.add(now, behind, f"{r} at {mine}, {inv.source} at {source}")
            if line:
                self.ctx.emit(OutputLine(self.name, r, line))
            if tracker.stalled(now, LAG_TIMEOUT_S):
                raise StepError(
                    f"{r}: no progress catching up with {inv.source} for "
                    f"{LAG_TIMEOUT_S:.0f} s ({behind} transactions behind; io="
                    f"{status.io_running} sql={status.sql_running}); look at SHOW SLAVE "
                    f"STATUS on {r}, then resume")
            await asyncio.sleep(CATCH_UP_POLL_S)

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
        started = time.monotonic()
        source = await self.ctx.db(inv.source)
        first = await self.early().take()
        plan = first.plan if first else await checksums.plan(source, self.databases()[0],
                                                            inv.migration.verify)
        hosts = [inv.source, *inv.replicas]
        done = first.results if first else {}
        parallel = plan.bytes >= checksums.PARALLEL_MIN_BYTES
        # A pool only for a host whose first pass is still to do (a later pass checksums the
        # few units that differed).
        pools = dict(zip(hosts, await checksums.together(
            *(self._connections(h, parallel and h not in done) for h in hosts)), strict=True))
        try:
            units, exact = list(plan.units), 0
            for attempt in range(ATTEMPTS):
                # Moodle may be writing: every replica catches up to one source position
                # before its pass; a unit that changed in between is checksummed again.
                pos = first.position if first and attempt == 0 else await self._source_position()
                results = await checksums.together(*(
                    self._given(done[h]) if attempt == 0 and h in done
                    else checksums.checksum_all(pools[h], units) if h == inv.source
                    else self._replica_pass(pools[h], units, pos) for h in hosts))
                units = checksums.differing(results[0], dict(zip(inv.replicas, results[1:],
                                                                 strict=True)))
                if not units:
                    break
                if attempt == ATTEMPTS - 1:
                    # A unit Moodle keeps writing never matches at a moving position: each
                    # is compared at one exact position instead (the replicas stopped there).
                    exact = len(units)
                    still = await self._checksums_at_one_position(source, units)
                    if still:
                        raise StepError("table checksums differ between the source and "
                                        "replicas: " + ", ".join(still[:10]))
        finally:
            for h in hosts:
                for db in pools[h][1:]:
                    await db.close()
        self.facts.checksummed_tables = plan.tables
        self.ctx.save()
        again = (f"; {exact} compared again with the replicas stopped at the source's "
                 "position" if exact else "")
        early = (f"; first pass of {', '.join(h for h in hosts if h in done)} while the "
                 "replicas started" if done else "")
        self.ctx.emit(OutputLine(self.name, inv.source, (
            f"checksums equal on {', '.join(hosts)} ({plan.describe()}{again}{early}) in "
            f"{time.monotonic() - started:.1f} s")))

    @staticmethod
    async def _given(results: dict[Unit, Any]) -> dict[Unit, Any]:
        return results

    async def _connections(self, host: str, parallel: bool) -> list[Database]:
        """The host's own connection, and as many more as its pool has room for when the
        data is large enough to gain more than the connections cost."""
        first = await self.ctx.db(host)
        if not parallel:
            return [first]
        size = checksums.pool_size(await checksums.host_cores(self.ctx, host),
                                   source=host == self.ctx.inventory.source)
        # A Database runs one statement at a time: parallel checksums need their own.
        return [first, *await checksums.together(
            *(self.ctx.connect_db(host) for _ in range(size - 1)))]

    async def _replica_pass(self, conns: list[Database], units: list[Unit],
                            pos: str) -> dict[Unit, Any]:
        await wait_for_position(conns[0], pos)
        return await checksums.checksum_all(conns, units)

    async def _checksums_at_one_position(self, source: Any, units: list[Unit]) -> list[str]:
        """Per unit: its checksum on the source between two equal readings of the source's
        GTID position P (nothing was written meanwhile), and on each replica with its SQL
        thread stopped exactly at P (START SLAVE UNTIL), so writes going on at the same time
        cannot make equal tables look different. MariaDB only; mismatches as 'host:unit'."""
        inv = self.ctx.inventory
        if not source.version.is_mariadb:
            return [f"{r}:{u.label}" for r in inv.replicas for u in units]
        mismatched = []
        replicas = {r: await self.ctx.db(r) for r in inv.replicas}
        for unit in units:
            # Stopped first, the replicas are behind whatever position the source has next.
            for db in replicas.values():
                await db.query("STOP SLAVE")
            try:
                want, pos = await self._quiet_checksum(source, unit)
                got = await checksums.together(
                    *(self._checksum_at(r, db, unit, pos) for r, db in replicas.items()))
                mismatched += [f"{r}:{unit.label}" for r, g in zip(replicas, got, strict=True)
                               if g != want]
            finally:
                for db in replicas.values():
                    await db.query("STOP SLAVE")
                    await db.query("START SLAVE")
        return mismatched

    async def _checksum_at(self, r: str, db: Database, unit: Unit, pos: str) -> Any:
        """The unit's checksum on replica `r` once its SQL thread has stopped at `pos`."""
        await db.query("START SLAVE UNTIL master_gtid_pos = %s", (pos,))

        async def stopped() -> bool | None:
            status = await db.one("SHOW SLAVE STATUS")
            return True if status["Slave_SQL_Running"] != "Yes" else None

        await poll_until(stopped, timeout_s=POSITION_TIMEOUT_S, interval_s=0.05,
                         what=f"{r}: replication did not reach the source's position {pos} in "
                              f"{POSITION_TIMEOUT_S:.0f} s")
        return await checksums.measure(db, unit)

    async def _quiet_checksum(self, source: Any, unit: Unit) -> tuple[Any, str]:
        """The unit's checksum on the source and the GTID position it belongs to: read
        between two equal readings of the position."""
        async def check() -> tuple[Any, str] | None:
            before = await self._source_position()
            want = await checksums.measure(source, unit)
            pos = await self._source_position()
            return (want, pos) if before == pos else None

        return await poll_until(
            check, timeout_s=POSITION_TIMEOUT_S, interval_s=0.05,
            what=f"{self.ctx.inventory.source}: {unit.label} was written to during every "
                 f"checksum for {POSITION_TIMEOUT_S:.0f} s; run the verification again when "
                 "Moodle is quieter (`resume`)")

    async def _source_position(self) -> str:
        return await source_position(await self.ctx.db(self.ctx.inventory.source))
