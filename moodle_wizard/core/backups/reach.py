"""Whether the source's binary logs still reach back to an existing backup's position.

A replica seeded from a backup starts replicating at the backup's GTID position: the source
must still have, in its binary logs, every transaction after it. MariaDB starts each binlog
file with a Gtid_list event: the binlog state (the last GTID of every domain and server_id)
before that file. So the logs hold everything after the FIRST file's Gtid_list, and the
backup's position is reachable iff, for every domain in that list, the backup has the domain
with a seq_no at least the list's last one (seq_no grows within a domain; core/sql/gtid.py).
A domain the backup lacks but the list has: its early transactions are purged, unreachable.

A position the source's own @@gtid_binlog_state never had (ahead of it, or of a server_id
that never wrote in that domain) is a backup of another server, or the source's history was
reset (RESET MASTER): refused too, since replicating from it would be wrong, not merely slow.

A dump that records only a binlog file and position (`--master-data` without `--gtid`) gets
its GTID position from the source itself (`BINLOG_GTID_POS(file, pos)`), while that file
still exists there.

Reads only: `SELECT @@log_bin, @@gtid_binlog_state`, `SHOW BINARY LOGS`, `SHOW BINLOG EVENTS
IN '<first>' LIMIT 3`, `SELECT BINLOG_GTID_POS(...)`. MariaDB sources only (the wizard refuses
MySQL sources at discovery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from moodle_wizard.core.backups.formats import BinlogCoordinates
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.sql.gtid import (
    GtidError,
    GtidPosition,
    GtidState,
    beyond,
    parse_position,
    parse_state,
)
from moodle_wizard.core.sql.statement import Statement

__all__ = [
    "LOG_BIN",
    "SHOW_BINARY_LOGS",
    "Reach",
    "check_reach",
    "first_binlog_statement",
    "gtid_from_file_statement",
    "judge",
]

LOG_BIN = Statement("SELECT @@log_bin AS b, @@gtid_binlog_state AS s")
SHOW_BINARY_LOGS = Statement("SHOW BINARY LOGS")
FALLBACK = "seed with backup_method = \"physical\""


def first_binlog_statement(log_name: str) -> Statement:
    return Statement("SHOW BINLOG EVENTS IN %s LIMIT 3", (log_name,))


def gtid_from_file_statement(coords: BinlogCoordinates) -> Statement:
    return Statement("SELECT BINLOG_GTID_POS(%s, %s) AS g", (coords.file or "", coords.pos or 0))


class Db(Protocol):
    host_name: str

    async def run(self, stmt: Statement) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Reach:
    """The backup's GTID position, and whether the source's binary logs reach back to it."""

    position: str
    reaches: bool
    # The first binlog's Gtid_list: the logs hold what comes after it (None: not read).
    start: str | None = None
    # Why not, one line naming the fix (None when it reaches).
    problem: str | None = None


def judge(source: str, where: str, position: GtidPosition, state: GtidState,
          first_list: GtidState) -> Reach:
    """Pure: the backup at `where` is at `position`; the source's binlog state is `state`
    and its first binlog's Gtid_list is `first_list`."""
    text, start = str(position), str(first_list)
    other = beyond(position, state)
    if other:
        finding = other.proven[0]
        return Reach(text, False, start, (
            f"the backup {where} is at {text}, which {source}'s binary log history never had "
            f"({finding}): it is a backup of another server, or {source}'s binary logs were "
            f"reset since; set [backup] path to a backup of {source}, or {FALLBACK}"))
    short = []
    for domain in sorted(first_list.domains):
        last, have = first_list.last(domain), position.get(domain)
        if last is not None and (have is None or have.seq_no < last.seq_no):
            short.append(domain)
    if short:
        return Reach(text, False, start, (
            f"{source}'s binary logs begin after {start} (older ones were purged), but the "
            f"backup {where} is at {text or 'no GTID'}: a replica seeded from it could never "
            f"catch up; take a new backup, or {FALLBACK}"))
    return Reach(text, True, start)


async def _gtid_list(db: Db, log_name: str) -> GtidState | None:
    for row in await db.run(first_binlog_statement(log_name)):
        if str(row.get("Event_type")) == "Gtid_list":
            info = str(row.get("Info") or "").strip()
            return parse_state(info.removeprefix("[").removesuffix("]"),
                               source=f"{db.host_name}: the Gtid_list of {log_name}")
    return None


async def check_reach(db: Db, source: str, where: str, coords: BinlogCoordinates) -> Reach:
    """The backup's GTID position (worked out from its binlog file and position when it
    recorded no GTID), and whether `source`'s binary logs reach back to it."""
    row = (await db.run(LOG_BIN))[0]
    if not int(row["b"] or 0):
        return Reach(coords.gtid or "", False, None, (
            f"{source}'s binary log is off, so the transactions since the backup {where} were "
            f"never logged and a replica seeded from it could never catch up; {FALLBACK}"))
    logs = [str(r["Log_name"]) for r in await db.run(SHOW_BINARY_LOGS)]
    if not logs:
        return Reach(coords.gtid or "", False, None, (
            f"{source} has no binary logs left, so a replica seeded from the backup {where} "
            f"could never catch up; {FALLBACK}"))
    gtid = coords.gtid
    if gtid is None:
        if coords.file not in logs:
            return Reach("", False, logs[0], (
                f"the backup {where} names only the binlog position {coords.file}:{coords.pos}"
                f", and {source} no longer has {coords.file} (its binary logs begin with "
                f"{logs[0]}): a replica seeded from it could never catch up; take a new "
                f"backup (--gtid --master-data=2), or {FALLBACK}"))
        got = (await db.run(gtid_from_file_statement(coords)))[0]["g"]
        if got is None:
            raise StepError(f"{source}: BINLOG_GTID_POS('{coords.file}', {coords.pos}) found "
                            f"no GTID position for the backup {where}; take a new backup with "
                            "--gtid --master-data=2")
        gtid = str(got)
    try:
        position = parse_position(gtid, source=f"the backup {where}'s GTID position")
    except GtidError as exc:
        raise StepError(f"{exc}; take a new backup of {source}") from None
    state = parse_state(str(row["s"] or ""), source=f"{source}: @@gtid_binlog_state")
    first = await _gtid_list(db, logs[0])
    if first is None:
        raise StepError(f"{source}: the first binary log {logs[0]} has no Gtid_list event, so "
                        f"the wizard cannot tell whether the logs reach back to the backup "
                        f"{where}; {FALLBACK}")
    return judge(source, where, position, state, first)
