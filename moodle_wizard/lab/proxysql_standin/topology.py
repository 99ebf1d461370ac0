"""Where the servers are at RUNTIME: the moves ProxySQL's monitor makes on read_only.

Pure functions, so the hostgroup moves can be tested without a network.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]

ONLINE = "ONLINE"
SHUNNED = "SHUNNED"
OFFLINE_SOFT = "OFFLINE_SOFT"
OFFLINE_HARD = "OFFLINE_HARD"
#: Shunned by the replication lag check (MYSQL_SERVER_STATUS_SHUNNED_REPLICATION_LAG):
#: stats_mysql_connection_pool shows it so, runtime_mysql_servers as SHUNNED.
SHUNNED_REPLICATION_LAG = "SHUNNED_REPLICATION_LAG"


@dataclass(frozen=True, order=True)
class Endpoint:
    hostname: str
    port: int

    def __str__(self) -> str:
        return f"{self.hostname}:{self.port}"


@dataclass(frozen=True)
class ReplicationPair:
    writer_hostgroup: int
    reader_hostgroup: int
    check_type: str = "read_only"


def endpoint_of(row: Mapping[str, Any]) -> Endpoint:
    return Endpoint(str(row["hostname"]), int(row["port"]))


def replication_pairs(rows: Iterable[Mapping[str, Any]]) -> list[ReplicationPair]:
    return [
        ReplicationPair(
            int(row["writer_hostgroup"]),
            int(row["reader_hostgroup"]),
            str(row.get("check_type") or "read_only").lower(),
        )
        for row in rows
    ]


def read_only_action(
    rows: Sequence[Mapping[str, Any]],
    pairs: Sequence[ReplicationPair],
    results: Mapping[Endpoint, int],
    writer_is_also_reader: bool,
) -> list[Row]:
    """The RUNTIME rows after the monitor saw ``results`` (read_only per server).

    ProxySQL 2.7's MySQL_HostGroups_Manager::read_only_action_v2 with
    HostGroup_Server_Mapping::copy_if_not_exists / clear / insert_HGM:

    - read_only=0 and no writer row (or a pair's writer row missing): each
      reader row is copied into its pair's writer hostgroup *with its status*
      (either SHUNNED turns ONLINE, on the source row too); an OFFLINE_HARD row
      already there is revived ONLINE instead. Without writer_is_also_reader the
      reader rows are then removed. A server already in both keeps both.
    - read_only=1 with a writer row: the writer rows are copied into the reader
      hostgroups (an existing reader row is kept as it is, e.g. the writer's own
      weight-1 reader row an admin inserted: INSERT OR IGNORE), then removed.

    Removed rows turn OFFLINE_HARD (ProxySQL hides them once their
    connections are gone; the caller purges them). OFFLINE_HARD rows take no
    part: they are neither writers nor readers for this purpose.
    """
    out = [dict(row) for row in rows]
    for endpoint, read_only in results.items():
        writers = _nodes(out, pairs, endpoint, writer=True)
        if read_only == 0:
            if writers:
                writer_pairs = {pair for pair, _ in writers}
                readers = _nodes(out, pairs, endpoint, writer=False)
                if all(pair in writer_pairs for pair, _ in readers):
                    continue
            _copy_if_not_exists(out, pairs, endpoint, to_writer=True)
            if not writer_is_also_reader:
                _clear(out, pairs, endpoint, writer=False)
        elif writers:
            _copy_if_not_exists(out, pairs, endpoint, to_writer=False)
            _clear(out, pairs, endpoint, writer=True)
    return sorted(out, key=row_key)


def row_key(row: Mapping[str, Any]) -> tuple[int, str, int]:
    return int(row["hostgroup_id"]), str(row["hostname"]), int(row["port"])


def _nodes(
    rows: list[Row], pairs: Sequence[ReplicationPair], endpoint: Endpoint, *, writer: bool
) -> list[tuple[ReplicationPair, Row]]:
    """The server's rows in the writer (or reader) hostgroups, OFFLINE_HARD ones left out."""
    return [
        (pair, row)
        for pair in pairs
        for row in rows
        if endpoint_of(row) == endpoint and row["status"] != OFFLINE_HARD
        and int(row["hostgroup_id"]) == (pair.writer_hostgroup if writer
                                         else pair.reader_hostgroup)
    ]


def _copy_if_not_exists(
    rows: list[Row], pairs: Sequence[ReplicationPair], endpoint: Endpoint, *, to_writer: bool
) -> None:
    present = {pair for pair, _ in _nodes(rows, pairs, endpoint, writer=to_writer)}
    for pair, source in _nodes(rows, pairs, endpoint, writer=not to_writer):
        if pair in present:
            continue
        if source["status"] in (SHUNNED, SHUNNED_REPLICATION_LAG):
            # read_only was read, so the server answers: ProxySQL sets it ONLINE
            # (HostGroup_Server_Mapping::copy_if_not_exists, either kind of shunned).
            source["status"] = ONLINE
        hostgroup = pair.writer_hostgroup if to_writer else pair.reader_hostgroup
        hidden = [r for r in rows if endpoint_of(r) == endpoint
                  and int(r["hostgroup_id"]) == hostgroup and r["status"] == OFFLINE_HARD]
        if hidden:
            hidden[0].update({**source, "hostgroup_id": hostgroup, "status": ONLINE})
        else:
            rows.append({**source, "hostgroup_id": hostgroup})
        present.add(pair)


def _clear(
    rows: list[Row], pairs: Sequence[ReplicationPair], endpoint: Endpoint, *, writer: bool
) -> None:
    for _, row in _nodes(rows, pairs, endpoint, writer=writer):
        row["status"] = OFFLINE_HARD


def read_only_targets(
    rows: Sequence[Mapping[str, Any]], pairs: Sequence[ReplicationPair]
) -> dict[Endpoint, str]:
    """Servers whose read_only the monitor checks, with the check type.

    MySQL_Monitor::monitor_read_only: servers in a writer or reader hostgroup
    with a row that is neither OFFLINE_SOFT nor OFFLINE_HARD ("status NOT IN
    (2,3) GROUP BY hostname, port"). A server that is only OFFLINE_SOFT is not
    checked, so it is never moved.
    """
    targets: dict[Endpoint, str] = {}
    for pair in pairs:
        for row in rows:
            if (int(row["hostgroup_id"]) in (pair.writer_hostgroup, pair.reader_hostgroup)
                    and row["status"] not in (OFFLINE_SOFT, OFFLINE_HARD)):
                targets.setdefault(endpoint_of(row), pair.check_type)
    return targets


def replication_lag_targets(
    rows: Sequence[Mapping[str, Any]], group_by_host: bool
) -> dict[Endpoint, list[int]]:
    """Servers whose replication lag the monitor checks, each with the hostgroups its
    reading goes to. MySQL_Monitor::monitor_replication_lag: rows with
    ``max_replication_lag > 0 AND status NOT IN (2,3)``; with group_by_host one check per
    server, whose reading replication_lag_action applies in every hostgroup holding it."""
    targets: dict[Endpoint, list[int]] = {}
    for row in rows:
        if int(row.get("max_replication_lag") or 0) > 0 and row["status"] not in (
                OFFLINE_SOFT, OFFLINE_HARD):
            targets.setdefault(endpoint_of(row), []).append(int(row["hostgroup_id"]))
    if group_by_host:
        for endpoint in targets:
            targets[endpoint] = sorted({int(r["hostgroup_id"]) for r in rows
                                        if endpoint_of(r) == endpoint})
    return targets


def monitored_servers(rows: Iterable[Mapping[str, Any]]) -> list[Endpoint]:
    """Servers the ping and connect checks watch: any row not OFFLINE_HARD
    (MySQL_HostGroups_Manager::update_table_mysql_servers_for_monitor, "status != 3")."""
    return sorted({endpoint_of(row) for row in rows if row["status"] != OFFLINE_HARD})


def online_in_hostgroup(servers: Iterable[Mapping[str, Any]], hostgroup: int) -> list[Row]:
    """ONLINE servers of a hostgroup that may take traffic (weight 0 takes none)."""
    return [
        dict(row)
        for row in servers
        if int(row["hostgroup_id"]) == hostgroup
        and row["status"] == ONLINE
        and int(row["weight"]) > 0
    ]


def weighted_order(servers: Sequence[Row], rng: random.Random | None = None) -> list[Row]:
    """The servers in the order to try them: weighted random, like ProxySQL's pick."""
    chooser = rng or random.Random()
    remaining = list(servers)
    ordered: list[Row] = []
    while remaining:
        pick = chooser.choices(remaining, weights=[int(r["weight"]) for r in remaining])[0]
        remaining.remove(pick)
        ordered.append(pick)
    return ordered
