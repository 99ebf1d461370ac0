"""Host preparation of the replicas step: the server packages, stopping a server that runs
there, the datadir (moved aside or claimed, never deleted unless it carries this migration's
marker: see `datadir`), the replica's config and its start; and the rollback of each.

What rollback undoes is what the journal and the facts prove apply did (recorded before each
change): a package the operator had, a datadir the wizard cannot prove its own, a server it
did not stop are left as they are.
"""

from __future__ import annotations

from moodle_wizard.core.command import Shell, render_all, run_all
from moodle_wizard.core.facts.steps import DpkgRecord
from moodle_wizard.core.remote.packages import (
    DpkgSnapshot,
    dpkg_snapshot,
    install_packages,
    missing_packages,
    removal_script,
    removal_shell,
)
from moodle_wizard.core.render.mycnf import DEFAULT_LOG_BIN
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import commands as replica_cmd
from moodle_wizard.core.steps.replicas import datadir as replica_datadir
from moodle_wizard.core.steps.replicas.common import ReplicasBase
from moodle_wizard.core.steps.replicas.datadir import DATADIR
from moodle_wizard.core.steps.replicas.restore import Restore, restore

INSTALL_CLAIM_NOTE = (f"if the packages' installation made {DATADIR} (it was not there "
                      "before): this migration's from the start")


class HostPreparation(ReplicasBase):
    async def installed(self, r: str) -> bool:
        return not await missing_packages(await self.ctx.host(r), self._packages())

    async def install(self, r: str) -> None:
        host = await self.ctx.host(r)
        if await missing_packages(host, self._packages()) and r not in self.facts.dpkg:
            # dpkg's whole list before apt-get runs: what apt-get adds for the packages
            # (mariadb-server-core, ...) is the difference, and only that is removed.
            before = await dpkg_snapshot(host)
            self.facts.dpkg[r] = DpkgRecord(installed_before=sorted(before.installed),
                                            config_files_before=sorted(before.config_files))
            if not (await self.datadir(r)).exists and r not in self.facts.created_datadirs:
                # The packages' postinst will make the datadir: it is this migration's.
                self.facts.created_datadirs.append(r)
            self.ctx.save()

        def record(missing: list[str]) -> None:
            # Recorded before apt-get runs (a crash or a failure half-way leaves some
            # installed); only what was missing: rollback removes nothing the operator had.
            recorded = self.facts.installed_packages
            if r not in recorded:
                recorded[r] = missing
                self.ctx.save()

        await install_packages(host, self._packages(), record=record)
        rec = self.facts.dpkg.get(r)
        if rec is None or rec.added is not None:
            return
        rec.added = sorted((await dpkg_snapshot(host)).installed - set(rec.installed_before))
        self.ctx.save()
        d = await self.datadir(r)
        if r in self.facts.created_datadirs and d.exists and not d.ours(self.owner):
            # Marked at once: a datadir the wizard's install made is emptied (not moved
            # aside) and removed by rollback, with the packages.
            await replica_cmd.claim(r, self.owner, note=INSTALL_CLAIM_NOTE).run(self.ctx)

    async def stop(self, r: str) -> None:
        d = await self.datadir(r)
        # Looked at again here, before anything is stopped: the preflight may be from before a
        # crash, and a resumed step is not preflighted again.
        problems = [p for p in self._datadir_problems(r, d) if p.level == "error"]
        if problems:
            raise StepError(problems[0].message)
        if d.server_pids and not d.ours(self.owner):
            # (A server on this migration's datadir is one its install started.)
            stopped = self.facts.stopped_servers
            if r not in stopped:
                # Rollback starts it again: the host is left running, as it was found.
                stopped.append(r)
                self.ctx.save()
        await self._stop_server(r)

    async def empty_datadir(self, r: str) -> None:
        host = await self.ctx.host(r)
        before = self.facts.binlogs_before
        if r not in before:
            # The replica's server will write binary logs (log_slave_updates): rollback
            # removes them only if there were none of that name before.
            out = await host.run(["sh", "-c", f"ls -1 {DEFAULT_LOG_BIN}.* 2>/dev/null || true"])
            before[r] = sorted(line for line in out.stdout.splitlines() if line.strip())
            self.ctx.save()
        d = await self.datadir(r)
        moved = self.facts.moved_datadirs
        if d.ours(self.owner):
            # Ours, from an earlier attempt of this step: the host itself proves it.
            await replica_cmd.empty_ours(r, self.owner).run(self.ctx)
            return
        if not d.empty:
            problems = [p for p in self._datadir_problems(r, d) if p.level == "error"]
            if problems:
                raise StepError(problems[0].message)
            await replica_cmd.move_aside(r, d.aside).run(self.ctx)
            d = await self.datadir(r)
            if d.exists or not d.aside_exists:
                raise StepError(f"{r}: moving {DATADIR} to {d.aside} did not happen as "
                                f"expected; check both directories by hand, then resume")
        if d.aside_exists and r not in moved:
            # Recorded once the move can be seen (also a move a crash kept from recording).
            moved[r] = d.aside
            self.ctx.save()
        if not d.exists and r not in moved:
            created = self.facts.created_datadirs
            if r not in created:
                created.append(r)
                self.ctx.save()
        await replica_cmd.claim(r, self.owner).run(self.ctx)

    async def init_server(self, r: str) -> None:
        await run_all(self.ctx, [replica_cmd.empty_ours(r, self.owner),
                                 *replica_cmd.init(r, self.src.flavor)])

    async def configure(self, r: str, cnf: str) -> None:
        if r not in self.facts.configured:
            self.facts.configured.append(r)
            self.ctx.save()
        await replica_cmd.config(r, self.cnf_path(), self.replica_cnf(r, cnf)).run(self.ctx)

    async def start(self, r: str) -> None:
        await self.ctx.forget_db(r)
        await run_all(self.ctx, replica_cmd.start(r, self.src.flavor))

    # -- rollback ----------------------------------------------------------------------

    async def stop_ours(self, r: str) -> None:
        """Stops the server only if it runs on this migration's datadir: the operator's own
        server (one the wizard never replaced) keeps running."""
        d = await self.datadir(r)
        if d.server_pids and d.ours(self.owner):
            await self._stop_server(r)

    def restore_commands(self, r: str) -> Restore:
        return restore(r, flavor=self.src.flavor, cnf_path=self.cnf_path(), owner=self.owner,
                       aside=replica_datadir.aside_path(self.ctx.state.migration_id))

    def restore_runbook(self, r: str) -> list[str]:
        return render_all(self.restore_commands(r).planned(
            config=self.journaled(f"config:{r}"), binlogs=self._remove_binlogs(r),
            start=r in self.facts.stopped_servers))

    def _remove_binlogs(self, r: str) -> bool:
        return (self.journaled(f"start:{r}", f"init:{r}")
                and self.facts.binlogs_before.get(r) == [])

    async def restore_replica(self, r: str) -> None:
        cmd = self.restore_commands(r)
        # A prepare started for it by another replica's action may still be writing there.
        await run_all(self.ctx, [cmd.cancel_prepare, cmd.remove_prepare])
        if self.journaled(f"config:{r}"):
            await cmd.remove_config.run(self.ctx)
        d = await self.datadir(r)
        if d.ours(self.owner):
            await cmd.empty_ours.run(self.ctx)
            d = await self.datadir(r)
        if self._remove_binlogs(r):
            await cmd.remove_binlogs.run(self.ctx)
        if d.aside_exists:
            # The operator's datadir, moved by this migration (found by its name even if a
            # crash kept the move from being recorded).
            if not d.empty:
                raise StepError(
                    f"{r}: {DATADIR} holds data this migration cannot prove is its own "
                    f"({d.describe()}), and the original datadir is at {d.aside}; the wizard "
                    "overwrites neither. Move one of them away by hand, then roll back again")
            if d.exists:
                await cmd.remove_empty.run(self.ctx)
            await cmd.move_back.run(self.ctx)
        elif d.exists and d.empty and r in self.facts.created_datadirs:
            await cmd.remove_empty.run(self.ctx)
        if r in self.facts.stopped_servers:
            await cmd.start.run(self.ctx)

    def uninstall_command(self, r: str, now: DpkgSnapshot | None = None) -> Shell | None:
        """What rollback removes: what dpkg listed installed after the step's apt-get and not
        before (`now` is dpkg's list at rollback, for an apt-get that did not finish: then
        what is installed now and was not before); None: nothing."""
        rec = self.facts.dpkg.get(r)
        if rec is None:  # a journal from before dpkg's whole list was recorded
            return replica_cmd.uninstall(r, self.facts.installed_packages[r])
        added = rec.added
        if added is None:
            if now is None:
                return None
            added = sorted(now.installed - set(rec.installed_before))
        if not added:
            return None
        return removal_shell(r, added, rec.config_files_before,
                             note="what apt-get added: dpkg's list before and after")

    def uninstall_runbook(self, r: str) -> list[str]:
        cmd = self.uninstall_command(r)
        if cmd is not None:
            return [cmd.render()]
        rec = self.facts.dpkg.get(r)
        if rec is not None and rec.added is None:
            # The step's apt-get did not finish: what it added is known only at rollback.
            return [Shell.sh(r, removal_script(
                "<the packages dpkg lists installed now and did not before the apt-get>",
                "<those of them dpkg did not list with config files before>"),
                note="the step's apt-get did not finish").render()]
        return [f"on {r}: nothing (apt-get added no package)"]

    async def uninstall(self, r: str) -> None:
        rec = self.facts.dpkg.get(r)
        now = None
        if rec is not None and rec.added is None:
            now = await dpkg_snapshot(await self.ctx.host(r))
        cmd = self.uninstall_command(r, now)
        if cmd is not None:
            await cmd.run(self.ctx)
