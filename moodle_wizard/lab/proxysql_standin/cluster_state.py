"""ProxySQL Cluster's bookkeeping and decisions, without any I/O (lib/ProxySQL_Cluster.cpp).

Per peer and per module a node keeps the peer's last (version, epoch, checksum) and a
``diff_check`` counter (``ProxySQL_Node_Entry::set_checksums``); after every poll it
decides whether to pull that module from the peer. These functions are that code's
rules, kept pure so a table of cases can test them; ``cluster.py`` does the polling.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

#: The modules whose checksums a node compares, with their diffs_before_sync variable
#: (mysql_servers_v2 shares mysql_servers', as in set_checksums).
DIFFS_VARIABLES: Final[Mapping[str, str]] = {
    "admin_variables": "admin-cluster_admin_variables_diffs_before_sync",
    "mysql_query_rules": "admin-cluster_mysql_query_rules_diffs_before_sync",
    "mysql_servers": "admin-cluster_mysql_servers_diffs_before_sync",
    "mysql_servers_v2": "admin-cluster_mysql_servers_diffs_before_sync",
    "mysql_users": "admin-cluster_mysql_users_diffs_before_sync",
    "mysql_variables": "admin-cluster_mysql_variables_diffs_before_sync",
    "proxysql_servers": "admin-cluster_proxysql_servers_diffs_before_sync",
    "ldap_variables": "admin-cluster_ldap_variables_diffs_before_sync",
}

#: The one module the stand-in pulls; the others it compares and reports, never pulls.
IMITATED: Final = frozenset({"mysql_users"})


@dataclass
class PeerChecksum:
    """A peer's module as last seen (ProxySQL_Checksum_Value_2)."""

    version: int = 0
    epoch: int = 0
    checksum: str = ""
    changed_at: int = 0
    updated_at: int = 0
    diff_check: int = 0


@dataclass(frozen=True)
class Own:
    """This node's running (version, epoch, checksum) of the module."""

    version: int
    epoch: int
    checksum: str


class Action(enum.Enum):
    #: diffs_before_sync is 0: the module is never pulled.
    OFF = "off"
    #: Nothing to do yet (in step, or the counter has not reached diffs_before_sync).
    WAIT = "wait"
    #: Pull the module from the peer.
    PULL = "pull"
    #: Same epoch, other content: never pulled until one side LOADs again.
    CONFLICT = "conflict"
    #: The peer just booted (version 1): never pulled from.
    PEER_VERSION_ONE = "peer_version_one"


@dataclass(frozen=True)
class Verdict:
    action: Action
    #: ProxySQL logs a conflict or a version-1 peer only every diffs*10 checks.
    log: bool = False


def observe(seen: PeerChecksum, row: tuple[int, int, str] | None, own_checksum: str,
            now: int) -> bool:
    """Update ``seen`` with one poll's result; True when the peer's checksum is new.

    ``row``: the peer's (version, epoch, checksum), or None when its global checksum
    did not change since the last poll (set_checksums(NULL)).
    """
    seen.updated_at = now
    detected = False
    if row is not None:
        seen.version, seen.epoch = row[0], row[1]
        if seen.checksum != row[2]:
            seen.checksum = row[2]
            seen.changed_at = now
            seen.diff_check = 1
            detected = True
        else:
            seen.diff_check += 1
        if seen.checksum == own_checksum:
            seen.diff_check = 0
    else:
        if seen.checksum == own_checksum:
            seen.diff_check = 0
        if seen.diff_check:
            seen.diff_check += 1
    return detected


def decide(peer: PeerChecksum, own: Own, diffs_before_sync: int) -> Verdict:
    """What a node does with a module after a poll of ``peer`` (set_checksums' tail)."""
    if diffs_before_sync <= 0:
        return Verdict(Action.OFF)
    every = diffs_before_sync * 10
    periodic = peer.diff_check > 0 and peer.diff_check % every == 0
    if peer.version > 1:
        newer = own.version == 1 or peer.epoch > own.epoch
        if newer and peer.diff_check >= diffs_before_sync:
            return Verdict(Action.PULL)
        if peer.epoch == own.epoch and peer.diff_check:
            return Verdict(Action.CONFLICT, log=periodic)
        return Verdict(Action.WAIT)
    if peer.diff_check:
        return Verdict(Action.PEER_VERSION_ONE, log=periodic)
    return Verdict(Action.WAIT)


K = TypeVar("K")


def peer_to_sync(peers: Mapping[K, PeerChecksum], diffs_before_sync: int) -> K | None:
    """The peer to pull from (get_peer_to_sync_<module>): the highest epoch among peers
    past version 1 with enough diff_check; none this round if a higher epoch is seen
    whose diff_check is not yet enough."""
    chosen: K | None = None
    epoch = max_epoch = 0
    for key, seen in peers.items():
        if seen.version > 1 and seen.epoch > epoch:
            max_epoch = seen.epoch
            if seen.diff_check >= diffs_before_sync:
                epoch = seen.epoch
                chosen = key
    if chosen is not None and max_epoch > epoch:
        return None
    return chosen
