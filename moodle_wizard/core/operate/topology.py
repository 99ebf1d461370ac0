"""Who does what in the cluster now: the inventory's roles, as switchovers and failovers
changed them (the journal's `cluster` record).

The inventory names the migration's source and replicas; after `switchover --to db2` the
primary is db2 and db1 a replica; after a failover the dead primary is fenced (out of
ProxySQL, OFFLINE_HARD) until `rejoin`. Everything that reads or changes the cluster after
the migration (health, the operations, the dashboard) asks here instead of the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass

from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.operate.record import Cluster

__all__ = ["Topology", "topology"]


@dataclass(frozen=True)
class Topology:
    primary: str
    # Replicas that serve (the reader hostgroup), in inventory order.
    replicas: tuple[str, ...]
    # Old primaries a failover fenced: neither primary nor serving replica.
    fenced: tuple[str, ...]
    # Every database server, in inventory order (the source first).
    members: tuple[str, ...]

    def others(self, name: str) -> tuple[str, ...]:
        """The serving members other than `name` (whom a new primary `name` replicates to)."""
        return tuple(m for m in self.members if m != name and m not in self.fenced)

    @property
    def switched(self) -> bool:
        """Whether the primary is no longer where the migration put it."""
        return bool(self.fenced) or self.primary != self.members[0]


def topology(inventory: Inventory, cluster: Cluster) -> Topology:
    members = (inventory.source, *inventory.replicas)
    primary = cluster.primary_of(inventory.source)
    fenced = tuple(m for m in members if m in cluster.fenced)
    replicas = tuple(m for m in members if m != primary and m not in fenced)
    return Topology(primary, replicas, fenced, members)
