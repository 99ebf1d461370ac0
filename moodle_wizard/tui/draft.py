"""The inventory the screens edit: a plain dict in the shape of the TOML file that
`moodle-wizard run --inventory` takes, validated by the engine's own pydantic models and
written as TOML next to the migration's state. It never holds a secret: secrets stay with the
engine's mechanisms (the [secrets] file, the environment, or a prompt answered in memory)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from moodle_wizard.core.inventory import (
    Host,
    Inventory,
    InventoryError,
    Migration,
    Role,
    load_inventory,
)
from moodle_wizard.core.inventory_parts import NAME_RE
from moodle_wizard.core.state import state_dir
from moodle_wizard.tui.toml_writer import dumps

HEADER = (
    "# moodle-wizard inventory, written by the wizard. Same format as\n"
    "# `moodle-wizard run --inventory FILE`; it names secrets by reference only.\n"
)
# Sections the wizard's own screens edit; any other section the engine's Inventory model
# has (ProxySQL, VIP ...) is edited generically from its pydantic model.
CORE_SECTIONS = ("migration", "hosts", "secrets")


# -- validation messages -----------------------------------------------------------------------

def describe(exc: ValidationError, where: str = "") -> str:
    """One line, in the words load_inventory uses for the same mistake in a file."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "top level"
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown setting (a typo?)"
    elif first["type"] == "missing":
        msg = "missing"
    return f"{where}{loc}: {msg}"


def field_error(model: type[BaseModel], base: dict[str, Any], name: str, value: Any) -> str | None:
    """What the engine's model says about one field's value (None: it is fine)."""
    try:
        model.model_validate({**base, name: value})
    except ValidationError as exc:
        for err in exc.errors():
            # A rule between fields (loc ()) belongs to the one being edited.
            if not err["loc"] or err["loc"][0] == name:
                return str(err["msg"]).removeprefix("Value error, ")
    return None


HostEntry = tuple[str, str, int | None]  # name, address, SSH port (None: the form's default)


def parse_host_list(text: str) -> list[HostEntry]:
    """'db2=10.0.0.12, db3=10.0.0.13:2222' (or space separated) -> [(name, address, port)].
    An entry without a name is named after its address's last part."""
    entries: list[HostEntry] = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        name, sep, address = item.partition("=")
        if not sep:
            address, name = name, ""
        port: int | None = None
        host, colon, tail = address.rpartition(":")
        if colon and tail.isdigit() and host.count(":") == 0:
            address, port = host, int(tail)
        elif address.startswith("[") and "]:" in address:
            inner, _, tail = address[1:].partition("]:")
            if tail.isdigit():
                address, port = inner, int(tail)
        if not name:
            name = "h" + re.sub(r"[^A-Za-z0-9]", "-", address.split(".")[-1] or address)
        entries.append((name.strip(), address.strip(), port))
    return entries


def host_list_error(text: str, role: Role, *, at_least: int = 0,
                    at_most: int | None = None) -> str | None:
    entries = parse_host_list(text)
    if len(entries) < at_least:
        return "required" if at_least == 1 and not entries else f"give at least {at_least}"
    if at_most is not None and len(entries) > at_most:
        return f"give at most {at_most}"
    seen: set[str] = set()
    for name, address, port in entries:
        if not NAME_RE.fullmatch(name):
            return f"host name {name!r}: use letters, digits, '-' and '_', starting with a letter"
        if name in seen:
            return f"host name {name!r} is given twice"
        seen.add(name)
        problem = field_error(Host, {"role": role.value}, "address", address)
        if problem:
            return f"{name}: {problem}"
        if port is not None:
            problem = field_error(Host, {"role": role.value, "address": address}, "ssh_port",
                                  port)
            if problem:
                return f"{name}: port {port}: {problem}"
    return None


def format_host_list(entries: Iterable[HostEntry], default_port: int = 22) -> str:
    out = []
    for name, address, port in entries:
        where = f"[{address}]" if ":" in address else address
        out.append(f"{name}={where}" + (f":{port}" if port and port != default_port else ""))
    return ", ".join(out)


# -- the draft -----------------------------------------------------------------------------------

class InventoryDraft:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data or {
            "migration": {"name": "moodle"},
            "secrets": {},
            "hosts": {},
        }
        self.data.setdefault("migration", {})
        self.data.setdefault("hosts", {})
        self.data.setdefault("secrets", {})

    @classmethod
    def from_file(cls, path: Path) -> InventoryDraft:
        """A draft from an inventory file, checked by the engine first (InventoryError)."""
        load_inventory(path)
        return cls(tomllib.loads(path.read_text()))

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> InventoryDraft:
        return cls(inventory.model_dump(mode="json", exclude_defaults=True, exclude={"path"}))

    def copy(self) -> InventoryDraft:
        return InventoryDraft(json.loads(json.dumps(self.data)))

    # -- reading and writing fields --

    @property
    def migration(self) -> dict[str, Any]:
        section: dict[str, Any] = self.data["migration"]
        return section

    @property
    def hosts(self) -> dict[str, dict[str, Any]]:
        section: dict[str, dict[str, Any]] = self.data["hosts"]
        return section

    @property
    def name(self) -> str:
        return str(self.migration.get("name", ""))

    def role_hosts(self, role: Role) -> list[HostEntry]:
        return [(n, str(h.get("address", "")), _port(h.get("ssh_port")))
                for n, h in self.hosts.items() if role.value in _plays(h)]

    def set_role_hosts(self, role: Role, entries: Iterable[HostEntry]) -> None:
        """Replace the hosts of one role, keeping what the draft knew about a host of the same
        name (its server_id, its SSH settings). A port given with the address is that host's;
        otherwise the host keeps its own or takes the form's default. The same name and
        address given as the source and as an app host is one host with both roles (Moodle
        and its database on one server); the inventory says which pairs it accepts."""
        old = {n: h for n, h in self.hosts.items() if role.value in _plays(h)}
        others = {n: h for n, h in self.hosts.items() if role.value not in _plays(h)}
        for name, host in old.items():
            rest = [r for r in _plays(host) if r != role.value]
            if rest:  # it plays another role too: that one stays
                others[name] = _with_roles(dict(host), rest)
        new: dict[str, dict[str, Any]] = {}
        for name, address, port in entries:
            host = dict(old.get(name, {}))
            plays = [role.value]
            other = others.get(name)
            if other is not None and other.get("address") == address:
                host = {**other, **host}
                both = {*_plays(other), role.value}
                # The source first, as inventories write the single-server pair.
                plays = sorted(both, key=lambda r: (r != Role.SOURCE.value, r))
            host["address"] = address
            _with_roles(host, plays)
            if port is not None:
                host["ssh_port"] = port
            new[name] = host
        merged = {**others, **new}
        order = [r.value for r in ROLE_ORDER]
        self.data["hosts"] = dict(sorted(
            merged.items(), key=lambda kv: order.index(_plays(kv[1])[0] or "app")))

    def ssh_port(self) -> int:
        """The port most hosts use (the form's default)."""
        ports = [_port(h.get("ssh_port")) or 22 for h in self.hosts.values()]
        return max(set(ports), key=ports.count) if ports else 22

    def ssh_user(self) -> str:
        users = [str(h.get("ssh_user", "root")) for h in self.hosts.values()]
        return max(set(users), key=users.count) if users else "root"

    def set_ssh(self, user: str | None, port: int | None, jump_through: str | None,
                explicit_ports: set[str] | frozenset[str] = frozenset()) -> None:
        """The form's SSH settings: the user for every host; the port for every host whose
        port was not given with its address."""
        for name, host in self.hosts.items():
            if user:
                host["ssh_user"] = user
            if port and name not in explicit_ports:
                host["ssh_port"] = port
            if jump_through and name != jump_through and host.get("role") != Role.JUMP.value:
                host["ssh_jump"] = jump_through
            else:
                host.pop("ssh_jump", None)

    def jump_through(self) -> str | None:
        for host in self.hosts.values():
            if host.get("ssh_jump"):
                return str(host["ssh_jump"])
        return None

    def section(self, name: str) -> dict[str, Any]:
        section: dict[str, Any] = self.data.setdefault(name, {})
        return section

    def set(self, section: str, key: str, value: Any) -> None:
        target = self.section(section)
        if value is None or value == "":
            target.pop(key, None)
        else:
            target[key] = value

    # -- checking and saving --

    def validate(self) -> Inventory:
        """The engine's Inventory for this draft, or InventoryError with its message."""
        try:
            return Inventory.model_validate(self.clean())
        except ValidationError as exc:
            raise InventoryError(describe(exc)) from None

    def error(self) -> str | None:
        try:
            self.validate()
        except InventoryError as exc:
            return str(exc)
        return None

    def clean(self) -> dict[str, Any]:
        """The data without empty sections the engine would not expect."""
        out = {}
        for key, value in self.data.items():
            if isinstance(value, dict) and not value and key not in ("hosts", "migration"):
                continue
            out[key] = value
        return out

    def to_toml(self) -> str:
        return HEADER + "\n" + dumps(self.clean())

    def path(self) -> Path:
        return draft_path(self.name)

    def save(self) -> Inventory:
        """Validate, write atomically (0600) next to the state, and load it back the way the
        engine will: the inventory the engine runs is the file, not this dict."""
        self.validate()
        path = self.path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.to_toml())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return load_inventory(path)


# The order hosts are written in; a host with two roles is listed by its first.
ROLE_ORDER = (Role.JUMP, Role.APP, Role.SOURCE, Role.REPLICA, Role.PROXY, Role.BACKUP)


def _plays(host: dict[str, Any]) -> list[str]:
    roles = host.get("roles")
    return [str(r) for r in roles] if isinstance(roles, list) else [str(host.get("role", ""))]


def _with_roles(host: dict[str, Any], plays: list[str]) -> dict[str, Any]:
    """`role = "..."` for one role, `roles = [...]` for the single-server pair."""
    if len(plays) == 1:
        host["role"] = plays[0]
        host.pop("roles", None)
    else:
        host["roles"] = plays
        host.pop("role", None)
    return host


def _port(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def draft_path(migration: str) -> Path:
    """Where the wizard keeps the inventory it edits: the state directory."""
    if not NAME_RE.fullmatch(migration):
        raise InventoryError(f"migration name {migration!r}: use letters, digits, '-' and '_' "
                             "(max 32), starting with a letter")
    return state_dir() / f"{migration}.inventory.toml"


def migration_field_error(name: str, value: Any) -> str | None:
    return field_error(Migration, {"name": "m"} if name != "name" else {}, name, value)


def host_field_error(name: str, value: Any, role: Role = Role.SOURCE) -> str | None:
    return field_error(Host, {"address": "h", "role": role.value}, name, value)


def extra_sections() -> dict[str, type[BaseModel]]:
    """Sections of the engine's Inventory beyond the core ones, with their models (the
    ProxySQL and VIP settings once the engine has them)."""
    out: dict[str, type[BaseModel]] = {}
    for name, info in Inventory.model_fields.items():
        if name in CORE_SECTIONS or name == "path":
            continue
        model = _model_of(info.annotation)
        if model is not None:
            out[name] = model
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


# What discovery depends on: a change to anything else (backup method, server ids, the
# ProxySQL and VIP settings) does not make its facts stale. An existing backup's [backup]
# section does: discovery reads that backup.
DISCOVERY_HOST_KEYS = ("address", "role", "roles", "ssh_user", "ssh_port", "ssh_jump", "ssh_key")
DISCOVERY_MIGRATION_KEYS = ("name", "moodle_config", "db_admin_user", "db_socket", "db_port")


def discovery_key(draft: InventoryDraft) -> str:
    hosts = {n: {k: h.get(k) for k in DISCOVERY_HOST_KEYS if h.get(k) is not None}
             for n, h in draft.hosts.items()}
    migration = {k: draft.migration.get(k) for k in DISCOVERY_MIGRATION_KEYS}
    return json.dumps({"hosts": hosts, "migration": migration, "backup": draft.data.get("backup"),
                       "secrets": draft.data.get("secrets")}, sort_keys=True, default=str)
