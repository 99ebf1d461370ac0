"""Which hosts the lab has, and their addresses, for each shape it can be built in. Pure: no
I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from moodle_wizard.core.errors import OperatorError

DEFAULT_SUBNET = "10.77.0.0/24"
BRIDGE = "mwlab0"
NETNS_PREFIX = "mwlab-"
VETH_PREFIX = "mwv-"


@dataclass(frozen=True)
class LabHost:
    name: str
    octet: int
    role: str
    description: str
    # Roles the host plays besides `role` (the single-server shape's db1 is also the app host).
    extra_roles: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.role, *self.extra_roles)


HOSTS: tuple[LabHost, ...] = (
    LabHost("jump", 5, "jump", "the operator's jump host; run the wizard from here"),
    LabHost("app", 10, "app", "Moodle app server: PHP, config.php, moodle-probe"),
    LabHost("db1", 11, "source", "standalone Moodle database (MariaDB, binlog off)"),
    LabHost("db2", 12, "replica", "empty host for a replica (server packages available)"),
    LabHost("db3", 13, "replica", "empty host for a replica (server packages available)"),
    LabHost("px1", 21, "proxy", "proxy host: keepalived, ProxySQL"),
    LabHost("px2", 22, "proxy", "proxy host: keepalived, ProxySQL"),
)
HOST_NAMES = tuple(h.name for h in HOSTS)
# --app-hosts 2: a second Moodle app server. .20 is free in every shape (.10-.13 are app and the
# database hosts, .21/.22 the proxies).
APP2 = LabHost("app2", 20, "app", "second Moodle app server: the same config.php as app")
# --backup nightly|purged: the host the school's nightly backups of db1 land on. .30 is free in
# every shape.
BACKUP = LabHost("backup", 30, "backup", "backup host: db1's nightly mariadb-backup directory "
                 "and SQL dump (mariadb-backup and the client, no server)")
# Every host name any shape has: `lab down` removes whatever one of them left behind.
ALL_HOST_NAMES = (*HOST_NAMES, APP2.name, BACKUP.name)
VIP_OCTET = 100
MACHINE_OCTET = 1

LAYOUTS = ("standard", "single-server")
REPLICA_STATES = ("empty", "fresh-package", "bare")
# --backup: none (a standalone server, binary log off), nightly (binary log on, last night's
# backups on the backup host, Moodle's writes since), purged (the same, then db1's binary logs
# purged past the backups' position: a seed from them can never catch up).
BACKUP_STATES = ("none", "nightly", "purged")
MAX_APP_HOSTS = 2
DEFAULT_DB_PORT = 3306
# Ports db1's MariaDB cannot take: sshd listens on 22 on every host.
RESERVED_PORTS = {22: "sshd"}
REPLICA_DESCRIPTIONS = {
    "empty": "empty host for a replica (server packages available)",
    "fresh-package": "replica host as `apt-get install mariadb-server` leaves it: system "
                     "tables, not running",
    "bare": "replica host without the server packages (the lab's apt repository has them)",
}
DB1_WITH_BINLOG = ("Moodle database (MariaDB) with its binary log on, for point-in-time "
                   "recovery from the nightly backups")


class TopologyError(OperatorError, ValueError):
    pass


@dataclass(frozen=True)
class Shape:
    """How `lab up` builds the lab; Shape() is the default lab, the same as before shapes."""

    layout: str = "standard"          # --shape: standard | single-server
    replicas: str = "empty"           # --replicas: empty | fresh-package | bare
    app_hosts: int = 1                # --app-hosts
    db_port: int = DEFAULT_DB_PORT    # --db-port
    backup: str = "none"              # --backup: none | nightly | purged

    def check(self) -> Shape:
        """The shape itself if the lab can build it, else one line naming the fix."""
        if self.layout not in LAYOUTS:
            raise TopologyError(f"--shape {self.layout!r}: choose one of {', '.join(LAYOUTS)}")
        if self.replicas not in REPLICA_STATES:
            raise TopologyError(f"--replicas {self.replicas!r}: choose one of "
                                f"{', '.join(REPLICA_STATES)}")
        if not 1 <= self.app_hosts <= MAX_APP_HOSTS:
            raise TopologyError(f"--app-hosts {self.app_hosts}: the lab builds 1 to "
                                f"{MAX_APP_HOSTS} app servers")
        if not 1 <= self.db_port <= 65535 or self.db_port in RESERVED_PORTS:
            raise TopologyError(f"--db-port {self.db_port}: give a free TCP port (1-65535, not "
                                + ", ".join(f"{p} ({w})" for p, w in RESERVED_PORTS.items())
                                + "), e.g. 3307")
        if self.backup not in BACKUP_STATES:
            raise TopologyError(f"--backup {self.backup!r}: choose one of "
                                f"{', '.join(BACKUP_STATES)}")
        if self.single_server and self.app_hosts > 1:
            # Not a shape a site can run: db1's MariaDB listens on 127.0.0.1 only.
            raise TopologyError("--app-hosts 2 with --shape single-server: a second app server "
                                "could not reach db1's MariaDB (bound to 127.0.0.1); use one")
        return self

    @property
    def is_default(self) -> bool:
        return self == Shape()

    @property
    def single_server(self) -> bool:
        return self.layout == "single-server"

    @property
    def private_usr(self) -> bool:
        """Replica hosts get their own /usr (an overlay): their packages are their own."""
        return self.replicas != "empty"

    @property
    def has_backup(self) -> bool:
        """db1's binary log is on and a backup host holds its nightly backups."""
        return self.backup != "none"

    def private_usr_of(self, host: LabHost) -> bool:
        """Whether `host` gets a /usr of its own: the replica hosts of a shape that changes
        their packages, and the backup host (the server packages taken off, the backup tool
        and the client installed)."""
        return (self.private_usr and host.role == "replica") or host.role == "backup"

    def options(self) -> str:
        """The `lab up` options that build this shape ("" for the default)."""
        default = Shape()
        opts = []
        if self.layout != default.layout:
            opts.append(f"--shape {self.layout}")
        if self.replicas != default.replicas:
            opts.append(f"--replicas {self.replicas}")
        if self.app_hosts != default.app_hosts:
            opts.append(f"--app-hosts {self.app_hosts}")
        if self.db_port != default.db_port:
            opts.append(f"--db-port {self.db_port}")
        if self.backup != default.backup:
            opts.append(f"--backup {self.backup}")
        return " ".join(opts)

    def describe(self) -> str:
        app = "db1 (with MariaDB)" if self.single_server else ", ".join(
            h.name for h in self.hosts() if "app" in h.roles)
        return (f"shape {self.layout}, replicas {self.replicas}, app on {app}, "
                f"db1 port {self.db_port}"
                + (f", backups {self.backup} on {BACKUP.name}" if self.has_backup else ""))

    def hosts(self) -> tuple[LabHost, ...]:
        out: list[LabHost] = []
        for h in HOSTS:
            if h.name == "app" and self.single_server:
                continue  # Moodle runs on db1: a single-server site has no app host
            if h.name == "db1" and self.single_server:
                h = replace(h, extra_roles=("app",), description=(
                    "Moodle and its database on one server: MariaDB on 127.0.0.1, "
                    "config.php, moodle-probe"))
            if h.role == "replica":
                h = replace(h, description=REPLICA_DESCRIPTIONS[self.replicas])
            if h.name == "db1" and self.has_backup and not self.single_server:
                h = replace(h, description=DB1_WITH_BINLOG)
            out.append(h)
            if h.name == "app" and self.app_hosts > 1:
                out.append(APP2)
        if self.has_backup:
            out.append(BACKUP)
        return tuple(out)


@dataclass(frozen=True)
class Topology:
    subnet: ipaddress.IPv4Network
    shape: Shape = field(default_factory=Shape)

    @classmethod
    def from_cidr(cls, cidr: str = DEFAULT_SUBNET, shape: Shape | None = None) -> Topology:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise TopologyError(
                f"--subnet {cidr!r} is not a network address in CIDR form ({exc}); "
                f"use e.g. {DEFAULT_SUBNET}"
            ) from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise TopologyError(f"--subnet {cidr}: the lab needs an IPv4 subnet")
        if net.prefixlen > 24:
            raise TopologyError(
                f"--subnet {cidr} is too small: the lab uses host numbers up to .{VIP_OCTET}; "
                "use a /24 or larger"
            )
        return cls(net, (shape or Shape()).check())

    @property
    def hosts(self) -> tuple[LabHost, ...]:
        return self.shape.hosts()

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    def with_role(self, role: str) -> tuple[LabHost, ...]:
        return tuple(h for h in self.hosts if role in h.roles)

    def address(self, octet: int) -> str:
        return str(self.subnet.network_address + octet)

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise TopologyError(
            f"no lab host named {name!r}; the lab has: {', '.join(self.host_names)}"
        )

    def host_address(self, name: str) -> str:
        return self.address(self.host(name).octet)

    @property
    def machine_address(self) -> str:
        return self.address(MACHINE_OCTET)

    @property
    def vip(self) -> str:
        return self.address(VIP_OCTET)

    @property
    def prefixlen(self) -> int:
        return self.subnet.prefixlen


def netns_name(host: str) -> str:
    return NETNS_PREFIX + host


def veth_name(host: str) -> str:
    # Interface names are limited to 15 characters.
    return VETH_PREFIX + host
