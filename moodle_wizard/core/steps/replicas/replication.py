"""Replication of the replicas step: the GTID position the seed is consistent with, pointing
each replica at the source by GTID (CHANGE MASTER / CHANGE REPLICATION SOURCE, from the
dialect) and whether it replicates; rollback's stop and reset.
"""

from __future__ import annotations

import re
from typing import Any

from moodle_wizard.core.sql.parsers import (
    BINLOG_INFO_FILENAMES,
    normalize_replica_status,
    parse_binlog_info,
)
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import datadir as replica_datadir
from moodle_wizard.core.steps.replicas import seed
from moodle_wizard.core.steps.replicas.common import ReplicasBase
from moodle_wizard.core.steps.replicas.datadir import DATADIR


class Replication(ReplicasBase):
    def _replication_statements(self) -> list[Any]:
        """The statements `replicate` sends, for the runbook (the password masked)."""
        d = self.dialect
        src = self.ctx.inventory.hosts[self.ctx.inventory.source]
        return [d.stop_replica(), *d.set_gtid_position("<gtid from the backup>"),
                d.change_source(src.address, self.src.port,
                                self.ctx.inventory.migration.replication_user, "x"),
                d.start_replica()]

    async def gtid_position(self, r: str) -> str:
        host = await self.ctx.host(r)
        if self.method == "physical":
            for name in BINLOG_INFO_FILENAMES:
                data = await host.read_file(f"{DATADIR}/{name}")
                if data is not None:
                    info = parse_binlog_info(data.decode())
                    if not info.gtid:
                        raise StepError(f"{r}: {name} has no GTID position")
                    return info.gtid
            names = " or ".join(BINLOG_INFO_FILENAMES)
            raise StepError(f"{r}: the backup has no binlog info file ({names})")
        source = await self.ctx.host(self.ctx.inventory.source)
        line = (await source.run(["cat", f"{seed.SEED_DIR}/gtid.txt"])).stdout
        match = re.search(r"gtid_slave_pos\s*=\s*'([^']*)'", line)
        if not match:
            raise StepError(f"the dump from {self.ctx.inventory.source} has no GTID position "
                            f"({line.strip()[:200]!r})")
        if self.facts.gtid is None:
            self.facts.gtid = match.group(1)
        return match.group(1)

    async def replicate(self, r: str) -> None:
        db = await self.ctx.db(r)
        d = db.dialect
        src = self.ctx.inventory.hosts[self.ctx.inventory.source]
        gtid = await self.gtid_position(r)
        await db.run(d.stop_replica())
        for stmt in d.set_gtid_position(gtid):
            await db.run(stmt)
        await db.run(d.change_source(src.address, self.src.port,
                                     self.ctx.inventory.migration.replication_user,
                                     self.ctx.secrets.get("replication_password")))
        await db.run(d.start_replica())

    async def replicating(self, r: str) -> bool:
        try:
            db = await self.ctx.db(r)
            rows = await db.run(db.dialect.show_replica_status())
        except Exception:
            return False
        status = normalize_replica_status(rows[0] if rows else None)
        return status is not None and status.healthy

    # -- rollback ----------------------------------------------------------------------

    async def unreplicate(self, r: str) -> None:
        host = await self.ctx.host(r)
        d = await replica_datadir.inspect(host, self.ctx.state.migration_id)
        if not d.server_pids or not d.ours(self.owner):
            return
        try:
            db = await self.ctx.db(r)
        except Exception:
            return
        await db.run(db.dialect.stop_replica())
        await db.run(db.dialect.reset_replica_all())
        await self.ctx.forget_db(r)
