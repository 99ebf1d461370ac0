"""What the replicas step's rollback runs to restore a replica host's datadir and config, as
command objects (core/command.py): `HostPreparation.restore_replica` runs them, the rollback
plan renders them, so the runbook is what runs.

Which of them run is decided by the facts apply recorded (known when the plan is made) and by
what the host shows at rollback (the datadir's marker, the directory moved aside): those
decided on the host are shown with the condition as their note.
"""

from __future__ import annotations

from dataclasses import dataclass

from moodle_wizard.core.command import Command, Shell
from moodle_wizard.core.remote.job_command import CancelJob, RemoveJob
from moodle_wizard.core.render.mycnf import DEFAULT_LOG_BIN
from moodle_wizard.core.steps.prepare_source import service_name
from moodle_wizard.core.steps.replicas.datadir import DATADIR, empty_ours_script


@dataclass(frozen=True)
class Restore:
    """Every command a replica's restore may run, in the order it runs them."""

    cancel_prepare: CancelJob
    remove_prepare: RemoveJob
    remove_config: Shell
    empty_ours: Shell
    remove_binlogs: Shell
    remove_empty: Shell
    move_back: Shell
    start: Shell

    def planned(self, *, config: bool, binlogs: bool, start: bool) -> list[Command]:
        """What the rollback plan shows: those the facts call for, and those the host decides
        (each with its condition)."""
        return [self.cancel_prepare, self.remove_prepare,
                *([self.remove_config] if config else []), self.empty_ours,
                *([self.remove_binlogs] if binlogs else []), self.remove_empty,
                self.move_back, *([self.start] if start else [])]


def restore(r: str, *, flavor: str, cnf_path: str, owner: str, aside: str) -> Restore:
    job = f"prepare-{r}"
    return Restore(
        cancel_prepare=CancelJob(r, job, note="a prepare started by another replica's action "
                                              "may still be writing there"),
        remove_prepare=RemoveJob(r, job),
        remove_config=Shell(r, ("rm", "-f", cnf_path), note="the wizard wrote it"),
        empty_ours=Shell.sh(r, empty_ours_script(owner, keep_marker=False),
                            note="only if it carries this migration's marker"),
        remove_binlogs=Shell.sh(r, f"rm -f -- {DEFAULT_LOG_BIN}.*",
                                note="there were none of that name before the wizard started "
                                     "a server here"),
        remove_empty=Shell(r, ("rmdir", DATADIR),
                           note=f"if empty and {aside} is to come back, or if the wizard "
                                "made it"),
        move_back=Shell(r, ("mv", "--no-target-directory", aside, DATADIR),
                        note="if there: the wizard moved it there"),
        start=Shell(r, ("service", service_name(flavor), "start"), timeout=300,
                    note="the wizard stopped the server that was running"),
    )
