"""The inventory: which hosts play which role, and where the secrets come from.

TOML, validated with pydantic. It names secrets by reference only; their values come from
environment variables, a 0600 secrets file or a prompt (see secrets.py), never from here.
The sections that stand alone ([proxysql], [vip]) are in `inventory_parts`.
"""

from __future__ import annotations

import ipaddress
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.inventory_parts import (
    HOSTNAME_RE,
    NAME_RE,
    PATH_RE,
    SQL_USER_RE,
    USER_RE,
    Backup,
    ProxySQL,
    Strict,
    Vip,
    rate_bytes,
)


class InventoryError(OperatorError):
    """One clear message: what is wrong in which file, and how to fix it."""

    bad_input = True


class Role(StrEnum):
    SOURCE = "source"
    REPLICA = "replica"
    PROXY = "proxy"
    APP = "app"
    JUMP = "jump"
    # Holds an existing backup of the source ([backup] host); the wizard only reads there.
    BACKUP = "backup"


class SeedMethod(StrEnum):
    PHYSICAL = "physical"
    LOGICAL = "logical"
    # A backup that already exists ([backup] host and path): the source is not read.
    EXISTING = "existing"


# The one shape where a host plays two roles: Moodle and its database on one server (where
# most sites start). Any other pair would put two jobs the migration separates on one host.
SINGLE_SERVER = (Role.SOURCE, Role.APP)


class Host(Strict):
    address: str
    # `role = "..."`, or for the source that is also Moodle's app server
    # `roles = ["source", "app"]`.
    role: Role | None = None
    roles: tuple[Role, ...] = ()
    # Unset: as `ssh NAME` would (~/.ssh/config's User and Port for this host, else root and
    # 22; core/remote/sshconfig.py); set, they win over the config. A user other than root
    # needs passwordless sudo there.
    ssh_user: str | None = None
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    ssh_jump: str | None = None
    server_id: int | None = Field(default=None, ge=1, le=4294967295)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            if not HOSTNAME_RE.fullmatch(v):
                raise ValueError(f"{v!r} is neither an IP address nor a host name") from None
        return v

    @field_validator("ssh_user")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        if v is not None and not USER_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a valid user name")
        return v

    @model_validator(mode="after")
    def _one_role_or_the_single_server(self) -> Host:
        if (self.role is None) == (not self.roles):
            raise ValueError('give role = "..." (or roles = ["source", "app"] for Moodle and '
                             "its database on one server), not both or neither")
        if self.roles and sorted(self.roles) != sorted(SINGLE_SERVER):
            raise ValueError(f"roles = {[r.value for r in self.roles]}: the only two roles one "
                             'host may play are ["source", "app"] (Moodle and its database on '
                             "one server); give every other role a host of its own")
        return self

    @property
    def plays(self) -> tuple[Role, ...]:
        return self.roles or ((self.role,) if self.role else ())


class Migration(Strict):
    name: str
    backup_method: SeedMethod = SeedMethod.PHYSICAL
    db_port: int = Field(default=3306, ge=1, le=65535)
    moodle_config: str = "/var/www/moodle/config.php"
    # Whether the wizard may restart the source (needed to turn the binary log on): "ask" the
    # operator (a blanket `run --yes` does not answer that: it refuses), "allow" it in advance
    # (also headless), or "never" (then the step refuses to start).
    source_restart: Literal["ask", "allow", "never"] = "ask"
    # A replica datadir that is not empty is moved aside, never deleted, and only if allowed.
    replace_replica_datadir: bool = False
    # Tables that are not InnoDB cannot be copied consistently while Moodle writes.
    accept_non_innodb: bool = False
    replication_user: str = "mw_repl"
    monitor_user: str = "mw_monitor"
    # How the wizard reaches the source as a DB administrator: through the SSH connection to the
    # server's own socket, authenticated as the SSH user (MariaDB unix_socket, root by default),
    # or as a named admin user whose password is the secret `db_admin_password`.
    db_admin_user: str | None = None
    db_socket: str = "/run/mysqld/mysqld.sock"
    # Which comes first (core/steps/order.py): "auto", the default (proxy-first when the
    # source must restart, so the restart happens behind ProxySQL), "proxy-first" or "classic".
    order: Literal["auto", "proxy-first", "classic"] = "auto"
    # The replica `moodle-wizard failover` promotes when it is among the most advanced (it
    # never promotes one that has applied less than another: that would lose transactions).
    preferred_primary: str | None = None
    # The replicas step's table checksums: "full" (every table whole, the default) or
    # "sampled" (a share of each table's key ranges, for sites too large to read whole).
    verify: Literal["full", "sampled"] = "full"
    # TLS in transit (core/tls.py): a CA on the jump host, a certificate per database server,
    # TLS required for replication and ProxySQL's backends (its monitor included).
    tls: bool = False
    # The seed stream's rate limit ("100MB/s"), to be gentle with a live primary; unset: as
    # fast as the hosts and the network go.
    stream_limit: str | None = None

    @field_validator("stream_limit")
    @classmethod
    def _stream_limit(cls, v: str | None) -> str | None:
        if v is not None:
            rate_bytes(v)
        return v

    @property
    def stream_limit_bytes(self) -> int | None:
        """The stream limit in bytes a second, or None without one."""
        return rate_bytes(self.stream_limit) if self.stream_limit else None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(
                f"{v!r}: use letters, digits, '-' and '_' (max 32), starting with a letter"
            )
        return v

    @field_validator("moodle_config", "db_socket")
    @classmethod
    def _path(cls, v: str) -> str:
        if not PATH_RE.fullmatch(v) or ".." in v.split("/"):
            raise ValueError(f"{v!r} is not a plain absolute path")
        return v

    @field_validator("order", mode="before")
    @classmethod
    def _order(cls, v: object) -> object:
        if v not in ("auto", "proxy-first", "classic"):
            raise ValueError(
                f"{v!r} is not a choice: use \"auto\" (proxy-first when the source must "
                "restart), \"proxy-first\" (ProxySQL, the VIP and the cutover before the "
                "source's restart and the replicas) or \"classic\"")
        return v

    @field_validator("source_restart", mode="before")
    @classmethod
    def _source_restart(cls, v: object) -> object:
        if v not in ("ask", "allow", "never"):
            raise ValueError(
                f"{v!r} is not a choice: use \"ask\" (the wizard asks you before it restarts "
                "the source; `run --yes` then refuses), \"allow\" (it may restart the source, "
                "also under `run --yes`) or \"never\""
            )
        return v

    @field_validator("verify", mode="before")
    @classmethod
    def _verify(cls, v: object) -> object:
        if v not in ("full", "sampled"):
            raise ValueError(
                f"{v!r} is not a choice: use \"full\" (checksums of every table, the default) "
                "or \"sampled\" (checksums of a sample of each table's key ranges, for very "
                "large sites)"
            )
        return v

    @field_validator("replication_user", "monitor_user", "db_admin_user")
    @classmethod
    def _sql_user(cls, v: str | None) -> str | None:
        if v is not None and not SQL_USER_RE.fullmatch(v):
            raise ValueError(f"{v!r}: use letters, digits and '_' (max 32)")
        return v


class SecretsSource(Strict):
    file: str | None = None
    env_prefix: str = "MOODLE_WIZARD_"


class Inventory(Strict):
    migration: Migration
    hosts: dict[str, Host]
    secrets: SecretsSource = SecretsSource()
    proxysql: ProxySQL = ProxySQL()
    vip: Vip | None = None
    backup: Backup | None = None
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("hosts")
    @classmethod
    def _names(cls, hosts: dict[str, Host]) -> dict[str, Host]:
        for name in hosts:
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"host name {name!r}: use letters, digits, '-' and '_'")
        return hosts

    @model_validator(mode="after")
    def _roles(self) -> Inventory:
        by_role: dict[Role, list[str]] = {}
        for name, host in self.hosts.items():
            for role in host.plays:
                by_role.setdefault(role, []).append(name)
        for role, want in (
            (Role.SOURCE, "exactly one"),
            (Role.APP, "at least one"),
            (Role.REPLICA, "at least one"),
        ):
            got = by_role.get(role, [])
            if (want == "exactly one" and len(got) != 1) or not got:
                raise ValueError(
                    f'the inventory needs {want} host with role = "{role.value}" (found {len(got)})'
                )
        seen: dict[tuple[str, int | None], str] = {}
        for name, host in self.hosts.items():
            key = (host.address, host.ssh_port)
            if key in seen:
                raise ValueError(
                    f"hosts {seen[key]} and {name} are the same machine ({host.address}); "
                    "give each role its own host, or, for Moodle and its database on one "
                    'server, one host with roles = ["source", "app"]'
                )
            seen[key] = name
            if host.ssh_jump is not None and host.ssh_jump not in self.hosts:
                raise ValueError(
                    f"host {name}: ssh_jump = {host.ssh_jump!r} is not a host in this inventory"
                )
        if self.vip is not None:
            holder = next((n for n, h in self.hosts.items() if h.address == self.vip.address),
                          None)
            if holder is not None:
                raise ValueError(f"vip.address {self.vip.address} is the address of host "
                                 f"{holder}; the VIP must be a free address of its own")
            proxies = self.names(Role.PROXY)
            if len(proxies) < 2:
                raise ValueError(f"a VIP needs at least two hosts with role = \"proxy\" "
                                 f"(found {len(proxies)}) to move between")
        px = self.proxysql
        if px.readonly_user in (self.migration.replication_user, self.migration.monitor_user):
            raise ValueError(f"proxysql.readonly_user {px.readonly_user!r} is also the "
                             "replication or monitor user; give it a name of its own")
        if px.cluster and px.cluster_user in (px.readonly_user, self.migration.replication_user,
                                              self.migration.monitor_user):
            raise ValueError(f"proxysql.cluster_user {px.cluster_user!r} is also a database "
                             "user; give it a name of its own")
        self._backup_host()
        preferred = self.migration.preferred_primary
        if preferred is not None and preferred not in self.names(Role.REPLICA):
            raise ValueError(f"migration.preferred_primary = {preferred!r} is not a host with "
                             "role = \"replica\"")
        ids = [(n, h.server_id) for n, h in self.hosts.items() if h.server_id is not None]
        dup = {i for _, i in ids if [j for _, j in ids].count(i) > 1}
        if dup:
            names = [n for n, i in ids if i in dup]
            raise ValueError(
                f"server_id {sorted(dup)[0]} is given to {' and '.join(names)}; "
                "every database server needs its own server_id"
            )
        return self

    def _backup_host(self) -> None:
        existing = self.migration.backup_method == SeedMethod.EXISTING
        if existing and self.backup is None:
            raise ValueError('backup_method = "existing" needs a [backup] section: the host '
                             'that holds the backup (host = "...") and its path (path = "...")')
        if self.backup is None:
            return
        if not existing:
            raise ValueError('a [backup] section is only used with backup_method = "existing"; '
                             "set that, or remove the section")
        host = self.hosts.get(self.backup.host)
        if host is None:
            raise ValueError(f"backup.host = {self.backup.host!r} is not a host in this "
                             'inventory; add it under [hosts] with role = "backup"')
        if not {Role.BACKUP, Role.SOURCE} & set(host.plays):
            raise ValueError(f"backup.host = {self.backup.host!r} plays "
                             f"{', '.join(r.value for r in host.plays)}; a backup is read on "
                             'the source or on a host with role = "backup"')

    @property
    def backup_host(self) -> str | None:
        """The host holding the existing backup, if the replicas are seeded from one."""
        return self.backup.host if self.backup else None

    def names(self, role: Role) -> list[str]:
        return [n for n, h in self.hosts.items() if role in h.plays]

    @property
    def source(self) -> str:
        return self.names(Role.SOURCE)[0]

    @property
    def replicas(self) -> list[str]:
        return self.names(Role.REPLICA)

    @property
    def proxies(self) -> list[str]:
        return self.names(Role.PROXY)

    @property
    def apps(self) -> list[str]:
        return self.names(Role.APP)


def load_inventory(path: Path) -> Inventory:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InventoryError(
            f"inventory {path} does not exist; give the path of your "
            "inventory file (the lab's: `moodle-wizard lab inventory`)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"inventory {path} is not valid TOML ({exc}); fix that line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"inventory {path} cannot be read ({exc})") from None
    try:
        inv = Inventory.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown setting (a typo?)"
        elif first["type"] == "missing":
            msg = "missing"
        raise InventoryError(f"inventory {path}: {where}: {msg}") from None
    return inv.model_copy(update={"path": path.resolve()})
