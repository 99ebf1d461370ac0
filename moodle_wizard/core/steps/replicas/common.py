"""What every part of the replicas step shares: the replicas' server_ids, the migration's token
in the datadirs it makes, the packages and config file of the source's flavor.

The step is one class (`step.Replicas`) assembled from one mixin per part: host preparation
(`host`), seeding (`seeding`), replication (`replication`) and consistency checks
(`consistency`). Each mixin subclasses `ReplicasBase`, so each reads the same facts and
helpers, and a method moved between parts keeps its name (action ids and the crash matrix
depend on the names only through the plan, which is in `step`).
"""

from __future__ import annotations

import re

from moodle_wizard.core.facts import ReplicasFacts, SourceFacts
from moodle_wizard.core.facts.backup import BackupKind, ExistingBackup
from moodle_wizard.core.render.mycnf import server_cnf_path
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.base import Problem, Step, StepError, error, source_version, warning
from moodle_wizard.core.steps.prepare_source import HEARTBEAT_DB
from moodle_wizard.core.steps.replicas import commands as replica_cmd
from moodle_wizard.core.steps.replicas import datadir as replica_datadir
from moodle_wizard.core.steps.replicas.datadir import DATADIR, Datadir

SPACE_MARGIN = 1.15
LAG_TIMEOUT_S = 120.0


def major_minor(version: str) -> str:
    """'1:10.11.19-0+deb12u1' or '10.11.19-MariaDB' -> '10.11'."""
    match = re.search(r"(\d+)\.(\d+)\.\d+", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


def replica_port(src: SourceFacts) -> int:
    """The port every replica listens on: the source's (as discovery read it), so one port
    names every database server, in ProxySQL's mysql_servers and in the site's firewall."""
    return int(src.port)


def port_problems(source: str, src: SourceFacts, db_port: int) -> list[Problem]:
    """The inventory's migration.db_port against the port the source listens on: the plan
    follows the source (the replicas and ProxySQL's servers use its port), and says so."""
    port = replica_port(src)
    if port == db_port:
        return []
    return [warning(f"{source} listens on port {port}, not on {db_port} as migration.db_port "
                    f"says: the replicas will listen on {port} too, and ProxySQL will reach "
                    f"every database server there; set db_port = {port} in the inventory to "
                    "say so")]


class ReplicasBase(Step):
    name = StepName.REPLICAS

    @property
    def facts(self) -> ReplicasFacts:
        return self.ctx.state.steps.replicas.facts

    @property
    def method(self) -> str:
        return self.ctx.inventory.migration.backup_method.value

    @property
    def backup(self) -> ExistingBackup:
        """The existing backup discovery found (backup_method = "existing" only)."""
        found = self.discovered.backup
        if found is None:
            raise StepError('backup_method = "existing", but discovery recorded no backup; '
                            "run discovery again")
        return found

    @property
    def seed_method(self) -> str:
        """How the replicas are filled: "physical" (a mariadb-backup copy, prepared on each)
        or "logical" (an SQL import); an existing backup is one or the other by its kind."""
        if self.method != "existing":
            return self.method
        return "logical" if self.backup.kind == BackupKind.DUMP else "physical"

    @property
    def sender(self) -> str:
        """The host the seed stream leaves from: the source, or the existing backup's host
        (then the source is not read at all)."""
        inv = self.ctx.inventory
        return inv.backup_host if self.method == "existing" and inv.backup_host else inv.source

    def server_ids(self) -> dict[str, int]:
        inv = self.ctx.inventory
        taken = {inv.hosts[inv.source].server_id or self.src.server_id or 1}
        taken |= {h.server_id for h in inv.hosts.values() if h.server_id}
        # The source's existing replicas keep their ids: two replicas with one server_id make
        # the source drop one connection for the other, over and over.
        taken |= {e.server_id for e in self.src.existing_replicas}
        ids, candidate = {}, max(taken) + 1
        for r in inv.replicas:
            given = inv.hosts[r].server_id
            if given:
                ids[r] = given
                continue
            while candidate in taken:
                candidate += 1
            ids[r] = candidate
            taken.add(candidate)
        return ids

    def databases(self) -> list[str]:
        return [self.discovered.dbname, HEARTBEAT_DB]

    @property
    def owner(self) -> str:
        """This migration's token in the datadirs it makes: its id and its state's birth, so a
        datadir left by an earlier migration of the same name is not taken for this one's."""
        state = self.ctx.state
        return f"{state.migration_id}@{state.created_at:%Y%m%dT%H%M%S%f}"

    async def datadir(self, r: str) -> Datadir:
        return await replica_datadir.inspect(await self.ctx.host(r),
                                             self.ctx.state.migration_id)

    def _datadir_problems(self, r: str, d: Datadir) -> list[Problem]:
        if d.empty or d.ours(self.owner):
            return []
        if d.fresh:
            # What `apt-get install mariadb-server` leaves: nothing of anyone's to lose, and
            # it is kept all the same (moved aside whole; rollback moves it back).
            why = d.movable_problem(r)
            if why:
                return [error(why)]
            running = ("; the server running on it is stopped first (rollback starts it "
                       "again)" if d.server_pids else "")
            return [warning(f"{r}: {DATADIR} is a freshly installed server's (system tables "
                            "only: no user schema, no binary or relay log, no replication); "
                            f"it will be moved aside to {d.aside} (kept, not deleted; rollback "
                            f"moves it back){running}")]
        if not self.ctx.inventory.migration.replace_replica_datadir:
            return [error(
                f"{r}: {DATADIR} is not empty ({d.describe()}); the wizard will not overwrite "
                "it. Empty it, or set migration.replace_replica_datadir = true to have it moved"
                f" aside to {d.aside} (kept, not deleted)")]
        why = d.movable_problem(r)
        if why:
            return [error(why)]
        return [warning(f"{r}: {DATADIR} ({d.describe()}) will be moved aside to {d.aside} "
                        "(kept, not deleted; rollback moves it back)")]

    def _packages(self) -> list[str]:
        if self.src.flavor == "mariadb":
            return ["mariadb-server", "mariadb-backup", "mariadb-client"]
        # Percona ships one XtraBackup per MySQL series: 8.0's cannot back up an 8.4 server.
        series = "84" if source_version(self.src).at_least(8, 4) else "80"
        return ["mysql-server", f"percona-xtrabackup-{series}"]

    def cnf_path(self) -> str:
        return server_cnf_path(source_version(self.src))

    def replica_cnf(self, r: str, cnf: str) -> str:
        # Debian's own 50-server.cnf binds to 127.0.0.1; ProxySQL must reach the replica.
        return (cnf + f"bind-address = {self.ctx.inventory.hosts[r].address}\n"
                + tls_steps.cnf_lines(self.ctx))

    async def _stop_server(self, r: str) -> None:
        host = await self.ctx.host(r)
        await self.ctx.forget_db(r)
        await replica_cmd.stop(r, self.src.flavor).run(self.ctx)
        running = await host.run(["sh", "-c", "pidof mariadbd mysqld || true"])
        if running.stdout.strip():
            raise StepError(f"{r}: the database server is still running after `service stop` "
                            f"(pid {running.stdout.strip()}); stop it and resume")
