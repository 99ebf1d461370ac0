"""Switchover and failover decisions from facts already read: dataclasses in, verdicts out.

Which facts to read, and in which order, matters more than the arithmetic (see
`core/sql/gtid.py` for what GTID values can and cannot prove):
- Read each replica before the primary: a replica read after the primary may legitimately
  be ahead of what was read, and would look errant.
- For errant transactions, pass @@gtid_binlog_state (a state) where it can be read: a
  position shows only the last GTID per domain and hides an errant write followed by
  replicated ones.
- For choosing whom to promote, pass each replica's @@gtid_slave_pos read after its SQL
  thread has applied its relay log (what it has *applied* of the old primary's stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from moodle_wizard.core.sql.gtid import (
    Finding,
    GtidPosition,
    GtidState,
    beyond,
    most_advanced,
)
from moodle_wizard.core.sql.parsers import ReplicaStatus
from moodle_wizard.core.steps.base import Problem, error, question

__all__ = [
    "Choice",
    "Lost",
    "failover_candidate",
    "lost_transactions",
    "switchover_problems",
]

# A target further behind than this is refused: the primary stays read-only (Moodle's
# writes pause) until the target has applied everything, so a long catch-up is an outage.
MAX_SWITCHOVER_LAG_S = 10


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def switchover_problems(
    target: str,
    primary_pos: GtidPosition | GtidState,
    target_pos: GtidPosition | GtidState,
    target_status: ReplicaStatus | None,
    *,
    target_read_only: bool,
    max_lag_s: int = MAX_SWITCHOVER_LAG_S,
) -> list[Problem]:
    """What stops `target` from becoming the primary in a planned switchover.

    The target must be a replica (a SHOW SLAVE STATUS row) replicating by GTID with both
    threads running and no error, read-only, not lagging more than `max_lag_s`, and have no
    transaction the primary's history lacks. Being behind is not a problem: the switchover
    waits for it with the primary read-only. Positions or states may be passed; states
    (@@gtid_binlog_state) prove more (see the module docstring).
    """
    if target_status is None:
        return [error(f"{target} is not a replica (SHOW SLAVE STATUS is empty); switch over "
                      "only to a replica of the current primary")]
    problems: list[Problem] = []
    if not (target_status.io_running and target_status.sql_running):
        threads = (f"IO thread {'running' if target_status.io_running else 'stopped'}, "
                   f"SQL thread {'running' if target_status.sql_running else 'stopped'}")
        problems.append(error(f"{target}'s replication is not running ({threads}); start it "
                              "(START SLAVE) and check its error before switching over"))
    for message in target_status.errors:
        problems.append(error(f"{target}'s replication reports an error: {message}; fix it "
                              "or choose another replica"))
    if not target_status.uses_gtid:
        problems.append(error(f"{target} does not replicate by GTID; set it with CHANGE MASTER "
                              "TO MASTER_USE_GTID=slave_pos before switching over"))
    lag = target_status.seconds_behind
    if lag is None:
        if target_status.io_running and target_status.sql_running:
            problems.append(error(f"{target}'s lag is unknown (Seconds_Behind_Master is NULL); "
                                  "wait until it reports one"))
    elif lag > max_lag_s:
        problems.append(error(f"{target} is {lag} s behind the primary (more than {max_lag_s} "
                              "s): the writes would pause that long; wait for it to catch up "
                              "or choose another replica"))
    if not target_read_only:
        problems.append(error(f"{target} is not read-only: it may hold writes of its own, and "
                              "ProxySQL takes a writable server as a writer; SET GLOBAL "
                              "read_only=ON on it"))
    found = beyond(target_pos, primary_pos)
    if found.proven:
        problems.append(error(
            f"{target} has transactions the primary's history lacks (errant): "
            f"{'; '.join(str(f) for f in found.proven)}; promoting it would replay them on "
            "every other server: re-seed it from the primary, or choose another replica"))
    if found.doubts:
        problems.append(question(
            f"{target}'s GTIDs cannot all be proven to come from the primary with positions "
            f"alone ({'; '.join(str(f) for f in found.doubts)}); read both servers' "
            "@@gtid_binlog_state to settle it. Switch over anyway?", risky=True))
    return problems


@dataclass(frozen=True)
class Choice:
    """Which replica a failover promotes.

    `name`: the one to promote, or None when the operator must choose among `candidates`
    (then `reason` is the question to ask). `reason` is one line either way."""

    name: str | None
    reason: str
    candidates: tuple[str, ...]
    # The candidates have applied exactly the same: promoting any of them loses nothing.
    tie: bool = False


def failover_candidate(replicas: Mapping[str, GtidPosition], preferred: str | None) -> Choice:
    """The most advanced replica by GTID; a tie goes to `preferred` if it is among them,
    else it is a question. Replicas that each have something the others lack are always a
    question: promoting any one loses the others' transactions."""
    if not replicas:
        return Choice(None, "no replica's GTID position could be read: there is nothing to "
                      "promote; bring a replica back or restore from a backup", ())
    leaders = most_advanced(replicas)
    names = leaders.names
    where = {n: str(replicas[n]) or "empty" for n in names}
    if leaders.incomparable:
        parts = "; ".join(f"{n} at {where[n]}" for n in names)
        return Choice(None, f"{_names(names)} each have transactions the others lack ({parts}): "
                      "promoting one loses the others'; which one should be promoted?", names)
    if preferred is not None and preferred in names:
        tied = f" (tied with {_names([n for n in names if n != preferred])})" if leaders.tie else ""
        return Choice(preferred, f"{preferred} is the preferred replica and among the most "
                      f"advanced{tied}, at {where[preferred]}", names)
    why_not = _why_not_preferred(replicas, preferred, names)
    if leaders.tie:
        return Choice(None, f"{_names(names)} have applied exactly the same ({where[names[0]]})"
                      f"{why_not}: which one should be promoted?", names, tie=True)
    name = names[0]
    return Choice(name, f"{name} is the most advanced replica, at {where[name]}{why_not}", names)


def _why_not_preferred(replicas: Mapping[str, GtidPosition], preferred: str | None,
                       leaders: tuple[str, ...]) -> str:
    if preferred is None:
        return ""
    if preferred not in replicas:
        return (f"; the preferred {preferred} is not among the replicas whose position could "
                f"be read ({_names(sorted(replicas))})")
    lacks = beyond(replicas[leaders[0]], replicas[preferred]).proven
    what = "; ".join(_lost_line(f) for f in lacks) or "less than the most advanced"
    return f"; not the preferred {preferred}: it lacks {what}"


@dataclass(frozen=True)
class Lost:
    """What a new primary lacks of the old one's last known position, for the operator."""

    lines: tuple[str, ...]  # one per domain: proven losses
    doubts: tuple[str, ...]  # what positions alone cannot settle

    @property
    def none(self) -> bool:
        return not self.lines and not self.doubts

    def text(self) -> list[str]:
        if self.none:
            return ["no transaction lost: the new primary has everything the old one was "
                    "last known to have"]
        out = [f"lost (at least, as of the old primary's last known position): {line}"
               for line in self.lines]
        out += [f"possibly lost: {line}" for line in self.doubts]
        return out


def lost_transactions(old_primary_last_known: GtidPosition | GtidState,
                      new_primary: GtidPosition | GtidState) -> Lost:
    """The transactions the old primary had (as last read, before it failed) that the new
    primary lacks. The old primary may have committed more after that read: the lines say
    "at least". Best computed with the new primary's position read before its promotion (it
    then has only the old primary's stream), or with its @@gtid_binlog_state after."""
    found = beyond(old_primary_last_known, new_primary)
    return Lost(tuple(_lost_line(f) for f in found.proven),
                tuple(_lost_line(f) for f in found.doubts))


def _lost_line(f: Finding) -> str:
    g, other = f.have, f.other
    if other is None:
        return (f"domain {g.domain}: every transaction up to {g} (the other server has no "
                f"domain {g.domain})")
    if other.server_id == g.server_id and other.seq_no < g.seq_no:
        first = f"{g.domain}-{g.server_id}-{other.seq_no + 1}"
        count = g.seq_no - other.seq_no
        return (f"domain {g.domain}: {first} to {g} (up to {count} transaction"
                f"{'s' if count != 1 else ''}; the other server's last from server_id "
                f"{g.server_id} is {other})")
    return f"domain {g.domain}: {f}"
