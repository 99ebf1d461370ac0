"""What prepare-source keeps and changes of the source's replication setup, from discovery's
facts alone (pure functions: the plan, the TUI's preview and the runbook all ask these)."""

from __future__ import annotations

from moodle_wizard.core.facts import SourceFacts
from moodle_wizard.core.render.mycnf import BinlogDecision, SourceBinlog
from moodle_wizard.core.steps.base import Problem, StepError, warning

# The settings prepare-source may change at runtime (no restart), and so restores on rollback.
RUNTIME_SETTINGS = ("binlog_format", "binlog_expire_logs_seconds", "expire_logs_days")


def binlog_now(src: SourceFacts, address: str | None = None) -> SourceBinlog:
    """The source's binary-log setup as discovery found it (and where it listens; `address`
    is the source's in the inventory)."""
    if src.binlog_retention_seconds is None:
        raise StepError("discovery's facts predate the binary-log checks; run discovery "
                        "again (`moodle-wizard rollback --to discover`, then `run`)")
    return SourceBinlog(
        log_bin=src.log_bin, basename=src.log_bin_basename, binlog_format=src.binlog_format,
        retention_seconds=src.binlog_retention_seconds,
        log_slave_updates=src.log_slave_updates,
        gtid_mode=None if src.flavor == "mariadb" else str(src.gtid.mode),
        bind_address=src.bind_address, address=address)


def server_id_decision(src: SourceFacts, source: str, want: int, given: bool) -> str:
    now = src.server_id
    if now == want:
        return f"keep server_id = {now}"
    why = (f"the inventory gives {source} server_id {want}" if given
           else "a replication source needs a server_id other than 0")
    return f"change server_id from {now} to {want} because {why}"


def runtime_changes(decisions: list[BinlogDecision]) -> list[tuple[str, str | int]]:
    """(variable, value) of each change that SET GLOBAL can make without a restart."""
    out: list[tuple[str, str | int]] = []
    for d in decisions:
        if d.changed and d.setting in RUNTIME_SETTINGS:
            name, _, value = d.options[0].partition(" = ")
            out.append((name, value if name == "binlog_format" else int(value)))
    return out


def existing_replicas_line(src: SourceFacts, source: str) -> str:
    known = src.existing_replicas
    if not known:
        return f"{source} has no replicas yet"
    ids = ", ".join(f"server_id {r.server_id} ({r.host or '?'}:{r.port})" for r in known)
    return (f"keep the replicas {source} already has ({ids}): not touched, and the new "
            "replicas get other server_ids")


def unregistered_replicas(src: SourceFacts, source: str) -> list[Problem]:
    """Replication connections whose replica did not register: their server_id is unknown,
    so the wizard cannot prove it picks another."""
    threads, known = src.binlog_dump_threads, src.existing_replicas
    if len(threads) <= len(known):
        return []
    hosts = ", ".join(sorted(t.host for t in threads))
    return [warning(
        f"{source} streams its binary log to {len(threads)} connection(s) ({hosts}) but only "
        f"{len(known)} replica(s) registered a server_id; give each new replica a server_id "
        "in the inventory that you know is free")]
