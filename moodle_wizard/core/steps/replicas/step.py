"""Step 3: seed every replica from one backup stream and start GTID replication.

The step's preflight, its plan and its rollback plan; what each action does is in the part it
belongs to (`host`, `seeding`, `replication`, `consistency`). Action ids are the journal's and
the crash matrix's names for what ran: they do not change.
"""

from __future__ import annotations

from functools import partial

from rich.filesize import decimal

from moodle_wizard.core.command import render_all
from moodle_wizard.core.render.mycnf import render_replica_cnf
from moodle_wizard.core.sql.support import replica_version_problem, server_package
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.base import Action, Problem, error, source_version
from moodle_wizard.core.steps.discover import replica_host_facts, server_candidate
from moodle_wizard.core.steps.replicas import commands as replica_cmd
from moodle_wizard.core.steps.replicas import datadir as replica_datadir
from moodle_wizard.core.steps.replicas import existing, proxy_first, seed_key
from moodle_wizard.core.steps.replicas.common import (
    SPACE_MARGIN,
    port_problems,
    replica_port,
)
from moodle_wizard.core.steps.replicas.consistency import Consistency
from moodle_wizard.core.steps.replicas.datadir import DATADIR
from moodle_wizard.core.steps.replicas.host import INSTALL_CLAIM_NOTE, HostPreparation
from moodle_wizard.core.steps.replicas.replication import GTID_FROM_BACKUP, Replication
from moodle_wizard.core.steps.replicas.seeding import Seeding


class Replicas(HostPreparation, Seeding, Replication, Consistency):
    title = "Seed the replicas"
    summary = ("Installs the server on each replica host if it is missing, streams one backup "
               "of the source to all of them at once (never through this machine, encrypted "
               "over SSH), prepares it, makes each replica read-only with its own server_id, "
               "and starts GTID replication from the source. Verified with a marker row and "
               "per-table checksums.")

    # -- preflight ---------------------------------------------------------------------

    async def preflight(self) -> list[Problem]:
        """Reads every replica host as it is now: discovery may be a week old, and someone may
        have installed a server or put data on a host since."""
        inv = self.ctx.inventory
        problems: list[Problem] = []
        if self.method == "existing":
            found = await existing.problems(self.ctx, self.discovered)
            if any(p.level == "error" for p in found):
                return found
            problems += found
        need = int(self.src.data_bytes * SPACE_MARGIN)
        src_id = inv.hosts[inv.source].server_id or self.src.server_id
        source = source_version(self.src)
        for r, server_id in self.server_ids().items():
            f = await replica_host_facts(await self.ctx.host(r))
            if server_id == src_id:
                problems.append(error(
                    f"{r}: server_id {server_id} is the source's own server_id; give {r} "
                    "another server_id in the inventory (or leave it out to let the wizard "
                    "choose)"))
            for e in self.src.existing_replicas:
                if e.server_id == server_id:
                    problems.append(error(
                        f"{r}: server_id {server_id} is already used by a replica of "
                        f"{inv.source} ({e.host or 'unnamed'}:{e.port}); give {r} another "
                        "server_id in the inventory (or leave it out to let the wizard choose "
                        "a free one)"))
            if f.free_bytes < need:
                problems.append(error(
                    f"{r}: {decimal(f.free_bytes)} free for {DATADIR}, but the copy of "
                    f"{inv.source} needs about {decimal(need)}; free space or grow the disk"))
            # The server this host would run: what is installed, else what apt would install.
            candidate = None if f.packages else await server_candidate(
                await self.ctx.host(r), server_package(source))
            mismatch = replica_version_problem(r, source, self.seed_method, f.packages,
                                               candidate)
            if mismatch is not None:
                problems.append(Problem(mismatch.level, mismatch.message))
            problems += self._datadir_problems(r, await self.datadir(r))
        problems += port_problems(inv.source, self.src, inv.migration.db_port)
        problems += await tls_steps.dir_problems(self.ctx, list(inv.replicas))
        self.ctx.secrets.get("replication_password")
        return problems

    # -- plan --------------------------------------------------------------------------

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        src = inv.source
        mid = self.ctx.state.migration_id
        actions: list[Action] = proxy_first.before(self.ctx)
        for r in inv.replicas:
            pkgs = self._packages()
            actions += [
                Action(f"install:{r}", f"Install {' '.join(pkgs)} on {r} if missing",
                       partial(self.install, r),
                       [f"on {r}: list dpkg's packages and look at {DATADIR} (if any is "
                        "missing: rollback removes only what apt-get adds)",
                        replica_cmd.install(r, pkgs).render(),
                        replica_cmd.claim(r, self.owner, note=INSTALL_CLAIM_NOTE).render()],
                       done=partial(self.installed, r), host=r),
                Action(f"stop:{r}", f"Stop any server on {r}", partial(self.stop, r),
                       [f"on {r}: check {DATADIR} again (refuse, before stopping anything, if "
                        "it holds data the inventory does not allow to replace)",
                        replica_cmd.stop(r, self.src.flavor, note="if a server runs").render()],
                       host=r),
                Action(f"datadir:{r}", f"Make {r}'s {DATADIR} empty (move aside, never delete)",
                       partial(self.empty_datadir, r),
                       [f"on {r}: look at {DATADIR} again (entries, marker, mount point, "
                        "server) and note the binary logs there",
                        *render_all(replica_cmd.datadir_commands(
                            r, self.owner, replica_datadir.aside_path(mid)))], host=r),
            ]
            if self.seed_method == "logical":
                actions.append(Action(
                    f"init:{r}", f"Initialise an empty server on {r}",
                    partial(self.init_server, r),
                    render_all([replica_cmd.empty_ours(r, self.owner),
                                *replica_cmd.init(r, self.src.flavor)]), host=r))
        sender = self.sender
        actions.append(Action(
            "seed-key", f"Create a temporary seed key on "
            f"{'the source' if sender == src else sender} and allow it on each "
            "replica for one command", self.install_seed_key,
            seed_key.install_runbook(self.ctx, self.receive_command(), sender), host=sender))
        what = (existing.describe(self.backup) if self.method == "existing"
                else f"one {self.method} backup of {src}")
        actions.append(Action(
            "stream", f"Stream {what} to {', '.join(inv.replicas)} (detached job on {sender})",
            self.stream_then_checksum, [self.planned_stream().render()],
            done=self.stream_succeeded, host=sender))
        if self.seed_method == "physical":
            # All prepares first: they run at once, one job per replica.
            actions += [Action(
                f"prepare:{r}", f"Prepare the backup on {r}",
                partial(self.prepare_then_checksum, r),
                render_all(self.prepare_commands(r)), host=r) for r in inv.replicas]
        for r, server_id in self.server_ids().items():
            cnf = render_replica_cnf(source_version(self.src), server_id,
                                     inv.hosts[r].address, port=replica_port(self.src))
            actions += [
                *tls_steps.replica_actions(self, r),
                Action(f"config:{r}", f"Configure {r} as a read-only replica (server_id "
                       f"{server_id})", partial(self.configure, r, cnf),
                       [replica_cmd.config(r, self.cnf_path(),
                                           self.replica_cnf(r, cnf)).render()], host=r),
                Action(f"start:{r}", f"Start the server on {r}", partial(self.start, r),
                       render_all(replica_cmd.start(r, self.src.flavor)), host=r),
                Action(f"replicate:{r}", f"Point {r} at {src} by GTID and start replication",
                       partial(self.replicate_then_checksum, r),
                       render_all(self.replicate_commands(r, GTID_FROM_BACKUP)),
                       done=partial(self.replicating, r), host=r),
            ]
        actions.append(Action("cleanup", "Remove the temporary seed key and job files",
                              self.cleanup_seed, self.cleanup_runbook(planned=True),
                              host=sender))
        return actions + proxy_first.readers(self.ctx)

    async def stream_then_checksum(self) -> None:
        await self.stream()
        # The verify's checksums of the source need nothing more from the replicas; a
        # physical copy's prepares come first (they take the replicas' cores, and the
        # checksums would slow the seed itself down where hosts share cores).
        if self.seed_method != "physical":
            self.begin_source_checksums()

    async def prepare_then_checksum(self, r: str) -> None:
        await self.prepare(r)
        if r == self.ctx.inventory.replicas[-1]:  # the last to be waited for
            self.begin_source_checksums()

    async def replicate_then_checksum(self, r: str) -> None:
        await self.replicate(r)
        # r's checksums run while the next replica starts (early_checksums).
        self.begin_replica_checksums(r)

    # -- rollback ----------------------------------------------------------------------

    def _touched(self, r: str) -> dict[str, str]:
        """What rollback has to undo on `r`, each with why, from the journal and the facts
        apply recorded; empty for a host the wizard changed nothing on."""
        undo: dict[str, str] = {}
        if self.journaled(f"init:{r}", f"start:{r}", f"replicate:{r}"):
            undo["server"] = "the wizard started a replica server on it"
        if self.journaled(f"datadir:{r}", f"config:{r}"):
            undo["datadir"] = "the wizard replaced its datadir or config"
        if r in self.facts.stopped_servers:
            undo["restart"] = "the wizard stopped the server that was running there"
        if r in self.facts.installed_packages:
            undo["packages"] = "the wizard installed the server packages"
        return undo

    def rollback_notes(self) -> list[str]:
        inv = self.ctx.inventory
        notes = [f"{r}: {why}" for r in inv.replicas for why in self._touched(r).values()]
        notes += [f"{r}: not touched (no action of this migration ran there); left as it is"
                  for r in inv.replicas if not self._touched(r)]
        return notes

    def rollback_plan(self) -> list[Action]:
        inv = self.ctx.inventory
        readers = [f"readers:{px}" for px in inv.proxies]
        actions = proxy_first.readers_out(self.ctx, self.journaled(*readers))
        for r in inv.replicas:
            undo = self._touched(r)
            if "server" in undo:
                actions += [
                    Action(f"unreplicate:{r}", f"Stop and reset replication on {r}",
                           partial(self.unreplicate, r),
                           render_all(self.unreplicate_commands(r)), host=r),
                    Action(f"stop:{r}", f"Stop the replica server on {r}",
                           partial(self.stop_ours, r),
                           [replica_cmd.stop(r, self.src.flavor, note=f"only if {DATADIR} "
                                             "carries this migration's marker").render()],
                           host=r),
                ]
            if "datadir" in undo or "restart" in undo:
                actions.append(Action(
                    f"restore:{r}", f"Restore {r}'s datadir and config",
                    partial(self.restore_replica, r), self.restore_runbook(r), host=r))
            actions += tls_steps.host_rollback(self, r)
        if self.journaled("seed-key", "stream"):
            actions.append(Action("seed-key", "Remove the temporary seed key and job files",
                                  self.cleanup_seed, self.cleanup_runbook(),
                                  host=self.sender))
        for r in self.facts.installed_packages:
            actions.append(Action(f"uninstall:{r}", f"Remove the packages the wizard installed "
                                  f"on {r}", partial(self.uninstall, r),
                                  self.uninstall_runbook(r), host=r))
        return actions
