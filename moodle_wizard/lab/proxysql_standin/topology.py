"""Where the servers are at RUNTIME: the configured rows, adjusted by the monitor.

Pure functions, so the hostgroup moves ProxySQL makes on read_only changes can
be tested without a network.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]

ONLINE = "ONLINE"
SHUNNED = "SHUNNED"


@dataclass(frozen=True, order=True)
class Endpoint:
    hostname: str
    port: int

    def __str__(self) -> str:
        return f"{self.hostname}:{self.port}"


@dataclass(frozen=True)
class ServerHealth:
    """What the monitor last saw of a server."""

    reachable: bool = True
    #: 0 or 1 once a read_only check succeeded; None before (or if never asked).
    read_only: int | None = None


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


def place_servers(
    configured: Sequence[Mapping[str, Any]],
    pairs: Sequence[ReplicationPair],
    health: Mapping[Endpoint, ServerHealth],
    writer_is_also_reader: bool,
) -> list[Row]:
    """The RUNTIME ``mysql_servers`` rows ProxySQL would show.

    For each writer/reader pair, a server seen with read_only=0 sits in the
    writer hostgroup (and in the reader one too if ``writer_is_also_reader``),
    a server seen with read_only=1 sits in the reader hostgroup only. A server
    the monitor cannot reach keeps its place but turns SHUNNED.
    """
    rows: dict[tuple[int, Endpoint], Row] = {
        (int(row["hostgroup_id"]), endpoint_of(row)): dict(row) for row in configured
    }
    for pair in pairs:
        members = [
            endpoint
            for hostgroup, endpoint in list(rows)
            if hostgroup in (pair.writer_hostgroup, pair.reader_hostgroup)
        ]
        for endpoint in dict.fromkeys(members):
            read_only = health.get(endpoint, ServerHealth()).read_only
            if read_only is None:
                continue
            writer_key = (pair.writer_hostgroup, endpoint)
            reader_key = (pair.reader_hostgroup, endpoint)
            template = rows.get(writer_key) or rows[reader_key]
            if read_only == 0:
                rows.setdefault(writer_key, {**template, "hostgroup_id": pair.writer_hostgroup})
                if writer_is_also_reader:
                    rows.setdefault(
                        reader_key, {**template, "hostgroup_id": pair.reader_hostgroup}
                    )
                else:
                    rows.pop(reader_key, None)
            else:
                rows.setdefault(reader_key, {**template, "hostgroup_id": pair.reader_hostgroup})
                rows.pop(writer_key, None)
    for (_, endpoint), row in rows.items():
        if not health.get(endpoint, ServerHealth()).reachable and row["status"] == ONLINE:
            row["status"] = SHUNNED
    return [rows[key] for key in sorted(rows)]


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
