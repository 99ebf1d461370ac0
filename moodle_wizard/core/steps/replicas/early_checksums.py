"""The verify's first checksum pass, begun while the step's last actions still run.

The source's pass needs nothing from the replicas, so it begins as soon as the copy is in place
(after the last prepare of a physical copy, whose CPU it would otherwise slow down where hosts
share cores; after the stream of a logical one) and runs while the replicas are started; a
replica's pass begins as soon as its replication runs, while the next replica is started.
Those actions mostly wait (for a server to start, for replication to connect), so the
checksums' reads fill time the step spent idle.
Each pass is the verify's own first pass: the plan and the source position are read once, on
the source, before its checksums, and each replica is checksummed once it has reached that
position; a table written between two hosts' passes differs and is checksummed again by the
verify, like any table that differs.

Each pass has connections of its own (the step's actions keep using the shared one), closed
when it ends. A pass that did not run in this process (a resumed step) or could not finish is
left to the verify, which then says why if it cannot do it either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.remote.mysql import Database
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import checksums
from moodle_wizard.core.steps.replicas.checksums import Plan, Unit

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

Results = dict[Unit, Any]


async def source_position(db: Database) -> str:
    """The source's GTID position: what its binary log holds."""
    if db.version.is_mariadb:
        return str((await db.one("SELECT @@gtid_binlog_pos AS p"))["p"])
    return str((await db.one("SELECT @@gtid_executed AS p"))["p"])


async def wait_for_position(db: Database, pos: str) -> None:
    """Until the replica behind `db` has applied at least `pos` (60 s at most)."""
    if db.version.is_mariadb:
        row = await db.one("SELECT MASTER_GTID_WAIT(%s, 60) AS r", (pos,))
    else:
        row = await db.one("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, 60) AS r", (pos,))
    if int(row["r"]) != 0:
        raise StepError(f"{db.host_name}: did not reach the source's position {pos} in 60 s")


@dataclass(frozen=True)
class FirstPass:
    """What the early passes found: the plan, the source position the replicas were
    checksummed at (or beyond), and the results of every host whose pass finished."""

    plan: Plan
    position: str
    results: dict[str, Results]


class EarlyChecksums:
    def __init__(self, ctx: Context, dbname: str, mode: str, data_bytes: int) -> None:
        self.ctx, self.dbname, self.mode = ctx, dbname, mode
        self.parallel = data_bytes >= checksums.PARALLEL_MIN_BYTES
        self._basis: asyncio.Future[tuple[Plan, str]] | None = None
        self._passes: dict[str, asyncio.Task[Results]] = {}

    def begin_source(self) -> None:
        if self._basis is None:
            basis = self._basis = asyncio.get_running_loop().create_future()
            self._begin(self.ctx.inventory.source,
                        lambda conns: self._source_pass(basis, conns))

    def begin_replica(self, r: str) -> None:
        """Only after the source's pass began: a replica's needs its plan and position."""
        basis = self._basis
        if basis is not None and r not in self._passes:
            self._begin(r, lambda conns: self._replica_pass(basis, conns))

    def _begin(self, host: str,
               work: Callable[[list[Database]], Coroutine[Any, Any, Results]]) -> None:
        self._passes[host] = asyncio.ensure_future(self._on_own_connections(host, work))

    async def _on_own_connections(
            self, host: str,
            work: Callable[[list[Database]], Coroutine[Any, Any, Results]]) -> Results:
        size = 1
        if self.parallel:
            size = checksums.pool_size(await checksums.host_cores(self.ctx, host),
                                       source=host == self.ctx.inventory.source)
        conns = await checksums.together(*(self.ctx.connect_db(host) for _ in range(size)))
        try:
            return await work(conns)
        finally:
            for db in conns:
                await db.close()

    async def _source_pass(self, basis: asyncio.Future[tuple[Plan, str]],
                           conns: list[Database]) -> Results:
        try:
            plan = await checksums.plan(conns[0], self.dbname, self.mode)
            position = await source_position(conns[0])
        except asyncio.CancelledError:
            basis.cancel()
            raise
        except Exception as exc:
            basis.set_exception(exc)
            raise
        basis.set_result((plan, position))
        return await checksums.checksum_all(conns, plan.units)

    @staticmethod
    async def _replica_pass(basis: asyncio.Future[tuple[Plan, str]],
                            conns: list[Database]) -> Results:
        plan, pos = await asyncio.shield(basis)
        await wait_for_position(conns[0], pos)
        return await checksums.checksum_all(conns, plan.units)

    async def take(self) -> FirstPass | None:
        """The first pass as far as it got (waiting for the passes still running), or None
        if the source's did not run or failed; a failed replica's pass is simply missing."""
        basis, passes = self._basis, self._passes
        self._basis, self._passes = None, {}
        if basis is None:
            return None
        results: dict[str, Results] = {}
        for host, task in passes.items():
            try:
                results[host] = await task
            except OperatorError:
                continue
        if not basis.done() or basis.cancelled() or basis.exception() is not None \
                or self.ctx.inventory.source not in results:
            return None
        plan, position = basis.result()
        return FirstPass(plan, position, results)

    async def stop(self) -> None:
        """Passes still running when the step ends (an action failed) are stopped."""
        basis, passes = self._basis, self._passes
        self._basis, self._passes = None, {}
        for task in passes.values():
            task.cancel()
        await asyncio.gather(*passes.values(), return_exceptions=True)
        if basis is not None and not basis.done():
            basis.cancel()
        elif basis is not None and not basis.cancelled():
            basis.exception()  # retrieved: a failed source pass is not logged as unhandled
