"""Replication of the replicas step: the GTID position the seed is consistent with, pointing
each replica at the source by GTID (CHANGE MASTER / CHANGE REPLICATION SOURCE, from the
dialect) and whether it replicates; rollback's stop and reset.
"""

from __future__ import annotations

import re

from moodle_wizard.core.command import Command, Secret, Sql, WithSecret, placeholder, run_all
from moodle_wizard.core.sql.parsers import (
    BINLOG_INFO_FILENAMES,
    normalize_replica_status,
    parse_binlog_info,
)
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import datadir as replica_datadir
from moodle_wizard.core.steps.replicas import seed
from moodle_wizard.core.steps.replicas.common import ReplicasBase
from moodle_wizard.core.steps.replicas.datadir import DATADIR

# In the plan, for the position only the seeded backup tells.
GTID_FROM_BACKUP = placeholder("gtid from the backup")


class Replication(ReplicasBase):
    def replicate_commands(self, r: str, gtid: str) -> list[Command]:
        """What `replicate` sends to r, and what the plan shows (with GTID_FROM_BACKUP).

        In the source's dialect, as the plan is written before r's server is even installed:
        a replica is never older than its source (the version policy), and a newer server of
        either flavour still accepts the older statements (MariaDB's STOP SLAVE, MySQL 8.0's
        CHANGE MASTER), so these are right for r as they are shown."""
        d = self.dialect
        src = self.ctx.inventory.hosts[self.ctx.inventory.source]
        user = self.ctx.inventory.migration.replication_user

        def change_source(password: str) -> Command:
            return Sql(r, d.change_source(src.address, self.src.port, user, password))

        return [Sql(r, d.stop_replica()), *(Sql(r, s) for s in d.set_gtid_position(gtid)),
                WithSecret(Secret("replication_password"), change_source),
                *tls_steps.replication_ssl(self.ctx, r, d.version), Sql(r, d.start_replica())]

    def unreplicate_commands(self, r: str) -> list[Command]:
        """Rollback's stop and reset on r (only if its server runs on this migration's
        datadir)."""
        note = "if the server runs on this migration's datadir"
        return [Sql(r, self.dialect.stop_replica(), note),
                Sql(r, self.dialect.reset_replica_all(), note)]

    async def gtid_position(self, r: str) -> str:
        host = await self.ctx.host(r)
        if self.method == "existing" and self.seed_method == "logical":
            # The dump's position, as discovery read it from its header.
            return self.backup.gtid_position
        if self.seed_method == "physical":
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
        await run_all(self.ctx, self.replicate_commands(r, await self.gtid_position(r)))

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
            await self.ctx.db(r)
        except Exception:
            return
        await run_all(self.ctx, self.unreplicate_commands(r))
        await self.ctx.forget_db(r)
