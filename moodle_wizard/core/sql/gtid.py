"""MariaDB GTID positions as values: parsed, compared, and what one server has that another lacks.

Only MariaDB's GTIDs (`domain-server_id-seq_no`, comma-separated) are handled here. MySQL's
GTID sets (`uuid:1-5:7-9`) are out of scope: the wizard refuses MySQL and Percona sources
(`support.py`), so a MySQL set is refused here as malformed input, never guessed at.

What the rules below rest on (MariaDB's "Global Transaction ID" page,
https://mariadb.com/kb/en/gtid/, and its system-variable pages):

- A GTID is three unsigned numbers: the replication domain (32 bits), the server_id of the
  server that first logged the transaction (32 bits), and a sequence number (64 bits).
- `@@gtid_slave_pos`, `@@gtid_binlog_pos` and `@@gtid_current_pos` are *positions*: one GTID
  per domain, the last one (gtid_current_pos: per domain, whichever of the last replicated and
  the last binlogged is most recent). A replica's own writes go to its binlog under its own
  server_id, so they show in gtid_binlog_pos / gtid_current_pos, not in gtid_slave_pos.
- `@@gtid_binlog_state` is a *state*: the last GTID ever binlogged for each (domain,
  server_id), kept across PURGE BINARY LOGS (lost by RESET MASTER). It is what tells whether a
  server_id ever wrote in a domain of a server's history.
- seq_no grows within a domain (the mysql.gtid_slave_pos table's page: "monotonically
  increasing"); gtid_strict_mode makes the server refuse to binlog an out-of-order seq_no
  (ER_GTID_STRICT_OUT_OF_ORDER), so two servers can then never log different transactions
  under one seq_no of one domain without replication stopping. A replica asking a primary for
  a GTID the primary never logged, while the primary has higher seq_nos in that domain, is
  what MariaDB itself calls a diverged replica (ER_GTID_POSITION_NOT_FOUND_IN_BINLOG2).

What the wizard can and cannot prove from these values alone:
- Positions compare per domain by seq_no only. "B has applied everything A has" is provable
  when, for every domain of A, B's seq_no is at least A's (equal seq_nos with different
  server_ids are two different transactions: not applied).
- A position shows only the *last* GTID of each domain, so an errant transaction followed by
  replicated ones is invisible in it; a binlog *state* shows it (its server_id's entry). Hence
  `beyond()` reports a finding as proven, or as a doubt when only a state could tell.
- Nothing here sees a write made with sql_log_bin=0, a history wiped by RESET MASTER, or data
  changed without a transaction: positions prove which transactions ran, not that data agree
  (checksums do that). Read the replica before the primary: a replica read after the primary
  may legitimately be ahead of what was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from moodle_wizard.core.errors import OperatorError

__all__ = [
    "Beyond",
    "Finding",
    "Gtid",
    "GtidError",
    "GtidPosition",
    "GtidState",
    "Leaders",
    "beyond",
    "describe",
    "has_applied",
    "most_advanced",
    "parse_gtid",
    "parse_position",
    "parse_state",
]

_MAX_U32 = 2**32 - 1
_MAX_U64 = 2**64 - 1
# ASCII digits only: \d would take other scripts' digits, which no server prints.
_GTID_RE = re.compile(r"([0-9]+)-([0-9]+)-([0-9]+)")


class GtidError(OperatorError):
    """A GTID text that is not MariaDB's domain-server_id-seq_no list."""

    bad_input = True


@dataclass(frozen=True, order=True)
class Gtid:
    domain: int
    server_id: int
    seq_no: int

    def __str__(self) -> str:
        return f"{self.domain}-{self.server_id}-{self.seq_no}"


@dataclass(frozen=True)
class GtidPosition:
    """One GTID per domain (@@gtid_slave_pos, @@gtid_binlog_pos, @@gtid_current_pos)."""

    gtids: tuple[Gtid, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.gtids))
        domains = [g.domain for g in ordered]
        if len(set(domains)) != len(domains):
            raise ValueError(f"a position holds one GTID per domain: {self.gtids}")
        object.__setattr__(self, "gtids", ordered)

    @property
    def domains(self) -> frozenset[int]:
        return frozenset(g.domain for g in self.gtids)

    def get(self, domain: int) -> Gtid | None:
        return next((g for g in self.gtids if g.domain == domain), None)

    def __str__(self) -> str:
        return ",".join(str(g) for g in self.gtids)

    def __bool__(self) -> bool:
        return bool(self.gtids)


@dataclass(frozen=True)
class GtidState:
    """The last GTID for each (domain, server_id) ever binlogged (@@gtid_binlog_state)."""

    gtids: tuple[Gtid, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.gtids))
        keys = [(g.domain, g.server_id) for g in ordered]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a state holds one GTID per domain and server_id: {self.gtids}")
        object.__setattr__(self, "gtids", ordered)

    @property
    def domains(self) -> frozenset[int]:
        return frozenset(g.domain for g in self.gtids)

    def get(self, domain: int, server_id: int) -> Gtid | None:
        return next((g for g in self.gtids if (g.domain, g.server_id) == (domain, server_id)),
                    None)

    def last(self, domain: int) -> Gtid | None:
        """The domain's highest seq_no: what @@gtid_binlog_pos shows for it."""
        in_domain = [g for g in self.gtids if g.domain == domain]
        return max(in_domain, key=lambda g: g.seq_no) if in_domain else None

    def position(self) -> GtidPosition:
        return GtidPosition(tuple(g for d in sorted(self.domains) if (g := self.last(d))))

    def __str__(self) -> str:
        return ",".join(str(g) for g in self.gtids)


def parse_gtid(text: str, *, source: str = "GTID") -> Gtid:
    """One `domain-server_id-seq_no`, surrounding whitespace ignored."""
    item = text.strip()
    match = _GTID_RE.fullmatch(item)
    if not match:
        hint = (" (a MySQL GTID set: MySQL sources are not supported)"
                if ":" in item else "")
        raise GtidError(f"{source}: {item!r} is not a MariaDB GTID{hint}; expected "
                        "domain-server_id-seq_no such as 0-1-100, as SELECT @@gtid_current_pos "
                        "prints it")
    domain, server_id, seq_no = (int(x) for x in match.groups())
    if domain > _MAX_U32 or server_id > _MAX_U32 or seq_no > _MAX_U64:
        raise GtidError(f"{source}: {item!r} has a number out of range (domain and server_id "
                        "are 32-bit, seq_no 64-bit); copy the value from the server again")
    return Gtid(domain, server_id, seq_no)


def _items(text: str, source: str) -> list[Gtid]:
    # The server prints "" for no GTID yet; a client may wrap a long value after a comma.
    # Whitespace inside one GTID is refused, never joined ("0-1-1 00" is not 0-1-100).
    if not text.strip():
        return []
    return [parse_gtid(part, source=source) for part in text.split(",")]


def parse_position(text: str, *, source: str = "GTID position") -> GtidPosition:
    """@@gtid_current_pos / _binlog_pos / _slave_pos text; "" is the empty position."""
    gtids = _items(text, source)
    seen: dict[int, Gtid] = {}
    for g in gtids:
        if g.domain in seen:
            raise GtidError(f"{source}: domain {g.domain} appears twice ({seen[g.domain]} and "
                            f"{g}); a position has one GTID per domain (a list of several "
                            "per domain is @@gtid_binlog_state: read it as a state)")
        seen[g.domain] = g
    return GtidPosition(tuple(gtids))


def parse_state(text: str, *, source: str = "@@gtid_binlog_state") -> GtidState:
    """@@gtid_binlog_state text: one GTID per (domain, server_id)."""
    gtids = _items(text, source)
    seen: set[tuple[int, int]] = set()
    for g in gtids:
        key = (g.domain, g.server_id)
        if key in seen:
            raise GtidError(f"{source}: domain {g.domain} server_id {g.server_id} appears "
                            "twice; copy the value from SELECT @@gtid_binlog_state again")
        seen.add(key)
    return GtidState(tuple(gtids))


def has_applied(b: GtidPosition, a: GtidPosition) -> bool:
    """Whether `b` has applied everything `a` has: for every domain of `a`, `b` has it with a
    seq_no at least `a`'s, and at an equal seq_no the same GTID (else they diverged)."""
    for want in a.gtids:
        got = b.get(want.domain)
        if got is None or got.seq_no < want.seq_no or (
                got.seq_no == want.seq_no and got != want):
            return False
    return True


@dataclass(frozen=True)
class Finding:
    """Transactions one side has that the other's history lacks, in one domain."""

    domain: int
    have: Gtid
    other: Gtid | None  # the other side's GTID this was judged against (None: no such domain)
    why: str

    def __str__(self) -> str:
        return f"{self.have}: {self.why}"


@dataclass(frozen=True)
class Beyond:
    """What `have` holds that `history` does not: proven findings, and doubts that only a
    @@gtid_binlog_state could settle."""

    proven: tuple[Finding, ...]
    doubts: tuple[Finding, ...]

    def __bool__(self) -> bool:
        return bool(self.proven)


def beyond(have: GtidPosition | GtidState, history: GtidPosition | GtidState) -> Beyond:
    """What `have` has that `history` never had: a replica's errant transactions (have=the
    replica, history=the primary), or what a failed primary had that the new one lacks.

    Per GTID d-s-n of `have`: proven when `history` has no domain d, or its last seq_no in d
    is below n, or equals n from another server (two transactions, one seq_no). When
    `history` is a state, a server_id s it never logged in domain d, or logged only up to a
    seq_no below n, is proven too. When `history` is only a position and its last GTID in d is
    from another server with a higher seq_no, a position cannot tell: that is a doubt.
    """
    proven: list[Finding] = []
    doubts: list[Finding] = []
    for g in have.gtids:
        last = history.last(g.domain) if isinstance(history, GtidState) else history.get(
            g.domain)
        if last is None:
            proven.append(Finding(g.domain, g, None, f"domain {g.domain} is not in the other's "
                                  "history at all"))
            continue
        if g.seq_no > last.seq_no:
            proven.append(Finding(g.domain, g, last, f"ahead of {last} in domain {g.domain}"))
            continue
        if isinstance(history, GtidState):
            # The state keeps the last GTID of every server_id in the domain: it can tell.
            mine = history.get(g.domain, g.server_id)
            if mine is None:
                proven.append(Finding(g.domain, g, last, f"server_id {g.server_id} never wrote "
                                      f"in domain {g.domain} of the other's history"))
            elif mine.seq_no < g.seq_no:
                proven.append(Finding(g.domain, g, mine, f"the other's history has server_id "
                                      f"{g.server_id}'s writes in domain {g.domain} only up to "
                                      f"{mine}"))
            continue
        if g.server_id == last.server_id:
            continue  # at or behind the same server's last GTID: in that history
        if g.seq_no == last.seq_no:
            proven.append(Finding(g.domain, g, last, f"another transaction than {last} under "
                                  f"seq_no {g.seq_no} of domain {g.domain} (diverged)"))
            continue
        doubts.append(Finding(g.domain, g, last, f"from server_id {g.server_id}, behind {last} "
                              "from another server: only @@gtid_binlog_state can tell whether "
                              "it is in that history"))
    return Beyond(tuple(proven), tuple(doubts))


@dataclass(frozen=True)
class Leaders:
    """The most advanced of several positions.

    `names`: those no other has strictly more than, sorted. `tie`: several, all at the same
    position. `incomparable`: several that each have something another lacks (promoting any
    of them leaves out what the others have)."""

    names: tuple[str, ...]
    tie: bool
    incomparable: bool

    @property
    def single(self) -> str | None:
        return self.names[0] if len(self.names) == 1 else None


def _same(a: GtidPosition, b: GtidPosition) -> bool:
    return a.gtids == b.gtids


def most_advanced(positions: Mapping[str, GtidPosition]) -> Leaders:
    """Which of `positions` is most advanced; ties are reported, never broken here."""
    if not positions:
        raise ValueError("no positions to compare")
    names = sorted(positions)
    leaders = tuple(n for n in names if not any(
        has_applied(positions[o], positions[n]) and not _same(positions[o], positions[n])
        for o in names if o != n))
    first = positions[leaders[0]]
    tie = len(leaders) > 1 and all(_same(positions[n], first) for n in leaders)
    return Leaders(leaders, tie, len(leaders) > 1 and not tie)


def describe(findings: Iterable[Finding]) -> list[str]:
    """One line per finding, for the operator."""
    return [str(f) for f in findings]
