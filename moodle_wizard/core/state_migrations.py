"""Migrations of saved journals from older schema versions (core/state.py's docstring has
the history). Each takes the JSON document of one version and returns the next one's; they
work on plain JSON, so they never depend on today's models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["MIGRATIONS", "migrate_0_to_1", "migrate_1_to_2"]

# The steps as the journal spells them (as StepName's values).
STEP_NAMES = ("discover", "prepare-source", "replicas", "proxysql", "vip", "cutover")


def migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """v0 (see the module docstring) to v1."""

    def stamp(value: Any) -> str:
        return datetime.fromtimestamp(float(value), UTC).isoformat()

    old_steps: dict[str, str] = data.get("steps", {})
    old_facts: dict[str, dict[str, Any]] = data.get("facts", {})
    created = stamp(data["created"])
    steps: dict[str, Any] = {}
    for name in STEP_NAMES:
        steps[name] = {"status": old_steps.get(name, "pending"), "facts": old_facts.get(name, {})}
    return {
        "schema_version": 1,
        "migration_id": data["id"],
        "created_at": created,
        "updated_at": created,
        "inventory_path": data["inventory"],
        "steps": steps,
    }


def migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 to v2: facts become typed; prepare-source's config backup is one record; a ProxySQL
    node says whether its admin interface's old address was read; discovery facts of another
    shape are dropped (discovery runs again)."""
    steps: dict[str, Any] = data.get("steps", {})
    for step in steps.values():
        step.setdefault("facts", {})
    discover = steps.get("discover", {})
    if set(discover.get("facts", {})) - {"moodle", "source", "replicas", "backup"}:
        # A prototype's flat facts, which no later step can read: discovery only reads, so
        # it runs again rather than the journal being refused.
        steps["discover"] = {"status": "pending", "facts": {}}
    prepare = steps.get("prepare-source", {}).get("facts", {})
    if "cnf_previous" in prepare:
        prepare["cnf"] = {"path": prepare.pop("cnf_path"),
                          "previous": prepare.pop("cnf_previous")}
    nodes = steps.get("proxysql", {}).get("facts", {}).get("nodes", {})
    for node in nodes.values():
        node["admin_ifaces_read"] = "admin_ifaces" in node
    return {**data, "schema_version": 2, "steps": steps}


def migrate_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 to v3: the `cluster` record is new; a v2 journal never switched over, so its
    primary is the inventory's source and nothing is fenced (the model's defaults). A v2
    journal ran its steps in the classic order: once discovery has run, that is its order."""
    discovered = data.get("steps", {}).get("discover", {}).get("status") == "done"
    return {**data, "schema_version": 3, **({"order": "classic"} if discovered else {})}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: migrate_0_to_1, 1: migrate_1_to_2, 2: migrate_2_to_3}
