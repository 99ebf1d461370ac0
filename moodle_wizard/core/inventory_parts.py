"""The inventory's sections that stand alone ([proxysql], [vip], [backup]) and what every
section shares: the strict model base, the patterns names, users and paths must match, and
the rate a stream limit is written as."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# \A...\Z, not ^...$: "$" also matches before a trailing newline, and "mw_repl\n"
# would pass and end up inside a GRANT. Callers use fullmatch as well.
HOSTNAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9.-]{0,252}\Z")
NAME_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_-]{0,31}\Z")
USER_RE = re.compile(r"\A[a-z_][a-z0-9_.-]{0,31}\Z")
PATH_RE = re.compile(r"\A/[A-Za-z0-9._/+-]*\Z")
SQL_USER_RE = re.compile(r"\A[A-Za-z0-9_]{1,32}\Z")



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxySQL(Strict):
    """How the wizard sets up ProxySQL on the proxy hosts (every key has a default)."""

    # The admin login each node has before the wizard (a fresh package: admin/admin). Its
    # password is the secret proxysql_initial_admin_password; unset means "admin".
    initial_admin_user: str = "admin"
    # The admin user that replaces those credentials; its password is generated.
    admin_user: str = "mw_admin"
    admin_port: int = Field(default=6032, ge=1, le=65535)
    # Where Moodle connects (ProxySQL's mysql-interfaces; the package default is 6033).
    client_port: int = Field(default=6033, ge=1, le=65535)
    writer_hostgroup: int = Field(default=10, ge=0, le=2147483647)
    reader_hostgroup: int = Field(default=20, ge=0, le=2147483647)
    # An optional read-only DB user routed to the replicas, for Moodle's dboptions['readonly'];
    # its password is generated. Unset: no read-only user, no readonly block in config.php.
    readonly_user: str | None = None
    # Seconds: a replica further behind than this (or whose replication stopped) leaves the
    # readers until it catches up, so Moodle's safe reads are never staler; reads fall back to
    # the primary while no replica serves. 0: lag is not checked. With MySQL 8.4 backends see
    # render.proxysql.proxysql_lag_warning (ProxySQL 2.7 cannot measure lag there).
    max_replication_lag: int = Field(default=30, ge=0, le=126144000)
    # ProxySQL Cluster between the proxy nodes, for mysql_users only (a password changed on
    # one node reaches the other): each node's admin interface then also listens on its own
    # address, reachable from the other proxies only (an nftables table of the wizard's).
    # cluster_user is a full admin of every node; its password (secret
    # proxysql_cluster_password) is generated. See the README's "ProxySQL Cluster".
    cluster: bool = False
    cluster_user: str = "mw_cluster"

    @field_validator("initial_admin_user", "admin_user", "readonly_user", "cluster_user")
    @classmethod
    def _users(cls, v: str | None) -> str | None:
        # ProxySQL keeps admin credentials as `user:pass;user:pass`.
        if v is not None and not SQL_USER_RE.fullmatch(v):
            raise ValueError(f"{v!r}: use letters, digits and '_' (max 32)")
        return v

    @model_validator(mode="after")
    def _hostgroups(self) -> ProxySQL:
        if self.writer_hostgroup == self.reader_hostgroup:
            raise ValueError(f"writer_hostgroup and reader_hostgroup are both "
                             f"{self.writer_hostgroup}; they must differ")
        if self.admin_port == self.client_port:
            raise ValueError(f"admin_port and client_port are both {self.admin_port}")
        # ProxySQL lets `admin` and `stats` log in from localhost only, and one name cannot
        # be two admin users: the peer's logins would fail.
        if self.cluster_user in {"admin", "stats", self.admin_user, self.initial_admin_user}:
            raise ValueError(f"proxysql.cluster_user {self.cluster_user!r}: give the Cluster "
                             "user a name of its own (not admin, stats or the admin users)")
        return self


class Vip(Strict):
    """The virtual IP keepalived moves between the proxy hosts; Moodle connects to it."""

    address: str
    # The interface on every proxy host that carries the VIP's subnet.
    interface: str = "eth0"
    # Unset: chosen by the wizard, unused on the segment (it listens for VRRP first).
    virtual_router_id: int | None = Field(default=None, ge=1, le=255)

    @field_validator("address")
    @classmethod
    def _ipv4(cls, v: str) -> str:
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4 address") from None
        return v

    @field_validator("interface")
    @classmethod
    def _iface(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.@:-]{1,15}", v):
            raise ValueError(f"{v!r} is not a network interface name")
        return v


class Backup(Strict):
    """An existing backup of the source to seed the replicas from (`backup_method =
    "existing"`): a mariadb-backup directory or xbstream file, or a mariadb-dump file, at
    `path` on `host` (a host of the inventory: one with role = "backup", or the source)."""

    host: str
    path: str

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not PATH_RE.fullmatch(v) or ".." in v.split("/") or v == "/":
            raise ValueError(f"{v!r} is not a plain absolute path to a backup")
        return v


_RATE_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*([kKMG]i?)B/s\s*\Z")
_RATE_UNITS = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9,
               "ki": 2**10, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def rate_bytes(text: str) -> int:
    """'100MB/s' -> 100000000 bytes a second (kB, MB and GB are decimal, as Rich's sizes
    are shown; KiB, MiB and GiB binary). ValueError names the expected form."""
    found = _RATE_RE.fullmatch(text)
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate: write it as \"100MB/s\" (kB/s, MB/s or "
                         "GB/s, more than 0)")
    return max(1, int(float(found.group(1)) * _RATE_UNITS[found.group(2)]))
