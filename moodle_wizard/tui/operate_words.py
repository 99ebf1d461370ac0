"""What the Operate screen says about each operation before it runs: the line beside its menu
entry and the question asked before it starts, in the operator's terms, with the cluster's
real host names (from core's topology). Plain functions, tested on their own."""

from __future__ import annotations

from moodle_wizard.core.operate.record import Operation
from moodle_wizard.core.operate.topology import Topology


def _names(hosts: tuple[str, ...] | list[str]) -> str:
    return ", ".join(hosts) if hosts else "none"


def operation(op: Operation) -> str:
    """"the switchover to db2", "the rejoin of db1"."""
    return f"the {op.kind} {'of' if op.kind == 'rejoin' else 'to'} {op.target}"


def about(action: str, topo: Topology, in_flight: Operation | None = None,
          refusal: str | None = None) -> str:
    """The line beside the highlighted menu entry."""
    p = topo.primary
    if action == "continue" and in_flight is not None:
        what = operation(in_flight)
        return (f"{what[0].upper()}{what[1:]} stopped ({in_flight.status}). "
                "Continuing runs it again from its journal: what was done is checked, "
                "not redone.")
    if action == "switchover":
        return (f"Planned, while {p} is healthy: a replica becomes the primary and {p} its "
                "replica. Moodle's writes pause about 2 s; none are lost. Switching back is "
                f"a switchover to {p}.")
    if action == "failover":
        return (f"{p} is dead or unreachable: the most advanced replica becomes the primary "
                f"and {p} is fenced, so it never takes writes again. Writes it had not sent "
                "to a replica are lost (the report counts them).")
    if action == "rejoin":
        if not topo.fenced:
            return "Nothing to rejoin: no old primary is fenced."
        return (f"{_names(topo.fenced)} was fenced by a failover: bring it back as a replica "
                f"of {p} (checked first for writes the cluster never saw).")
    if action == "drill":
        return ("Rehearse on this cluster, measured: move the VIP, switch over and back, or "
                "stop the primary and fail over.")
    if action == "sync":
        return ("Moodle's database password changed (on the primary and in config.php)? "
                "Give it to every ProxySQL node, or Moodle's logins through the VIP fail.")
    if action == "rollback":
        text = (f"Undo the whole migration: Moodle back on {topo.members[0]} alone, as before "
                "it.")
        return f"{text} Refused now: {refusal}" if refusal else text
    return ""


def switchover_question(topo: Topology, target: str) -> str:
    others = [m for m in topo.others(target) if m != topo.primary]
    follow = (f"{_names(others)} and {topo.primary} replicate" if others
              else f"{topo.primary} replicates")
    return (f"Make {target} the primary. {topo.primary} is set read-only, {target} applies "
            f"everything {topo.primary} wrote and is promoted; then {follow} from "
            f"{target}. ProxySQL holds Moodle's writes meanwhile (about 2 s): none are lost. "
            f"Switching back is a switchover to {topo.primary}.")


def failover_question(topo: Topology, to: str | None) -> str:
    p = topo.primary
    who = to or "the most advanced replica (by GTID position)"
    return (f"Failover is for a primary that is dead. The wizard first checks from more than "
            f"one place that {p} is really gone (if it is alive it refuses: use a "
            f"switchover). Then it promotes {who}, points the other replicas at it, and "
            f"fences {p}: out of ProxySQL on both nodes, read-only if it comes back, so it "
            f"never takes Moodle's writes again until you rejoin it. Writes {p} had not sent "
            "to any replica are lost; the report counts them.")


def rejoin_question(topo: Topology, host: str) -> str:
    return (f"Bring {host} back as a replica of {topo.primary}. The wizard first looks on "
            f"{host} for writes the cluster never saw (errant transactions): without any, "
            f"it replicates from {topo.primary} and serves reads again; with some, it stops "
            f"and says why {host} must be seeded again. Nothing is deleted.")


DRILLS: list[tuple[str, str]] = [
    ("vip", "vip: stop ProxySQL where the VIP is; time until the other node answers"),
    ("switchover", "switchover: switch over and back while a writer runs; writes lost"),
    ("primary", "primary: stop MariaDB on the primary, fail over; the outage measured"),
]


def drill_question(topo: Topology, which: str) -> tuple[str, bool]:
    """The question before a drill, and whether it is risky (it takes the primary down)."""
    p = topo.primary
    if which == "primary":
        return (f"Stop MariaDB on the primary {p} and run a real failover: Moodle's writes "
                f"fail until a replica is promoted, and {p} stays fenced until you rejoin it. "
                "Do it on a test cluster or in a maintenance window.", True)
    if which == "switchover":
        return (f"Switch the primary from {p} to a replica and back while a writer runs "
                "through the VIP, and count the writes that failed or were lost (none are "
                "expected). Moodle's writes pause twice, about 2 s each.", False)
    return ("Stop ProxySQL on the node that holds the VIP and time until the VIP answers "
            "from the other node with Moodle's login; ProxySQL is started again after. "
            "Connections through the VIP drop once.", False)


def sync_question(proxies: list[str]) -> str:
    """The question before `proxysql sync`."""
    return (f"Read Moodle's password from config.php again, check that it logs in to the "
            f"primary, and give it to each ProxySQL node ({_names(proxies)}) that still has "
            "the old one. Nodes already in step are left alone; nothing else in ProxySQL "
            "changes.")
