"""ProxySQL Cluster between the proxy nodes (proxysql.cluster), as statements and files. Pure.

What a node needs (ProxySQL 2.5-3.0, lib/ProxySQL_Cluster.cpp): its peers in
`proxysql_servers`, the Cluster user in `admin-cluster_username/password` *and* in
`admin-admin_credentials` (a peer logs in as a full admin: there is no lesser role that may
read `runtime_mysql_users`), and an admin interface the peers reach. The wizard syncs
`mysql_users` only (diffs_before_sync 3) and sets every other module's to 0: it writes the
servers of both nodes itself, and a pulled mysql_servers would drop its OFFLINE_HARD fenced
rows and carry one node's transient monitor states to the other.

Exposure: ProxySQL has no per-address rule for admin logins, so the admin interface on the
node's own address is closed by a firewall to everyone but the other proxies: an nftables
table of the wizard's own (it never touches the operator's ruleset; accepts there override
nothing, so it only tightens), loaded *before* the interface is bound to the address.
`mysql-have_ssl` is set so the Cluster link is encrypted (ProxySQL's client asks for TLS but
checks no certificate, and 2.5 offers none unless this is on).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from moodle_wizard.core.render.proxysql import COMMENT, ProxySqlConfigError
from moodle_wizard.core.sql.statement import Statement

__all__ = [
    "FIREWALL_FILE",
    "FIREWALL_TABLE",
    "FIREWALL_UNIT",
    "NOT_SYNCED",
    "ClusterConfig",
    "admin_ifaces",
    "cluster_statements",
    "firewall_ruleset",
    "peers_statements",
]

FIREWALL_TABLE = "moodle_wizard_admin"
FIREWALL_FILE = "/etc/moodle-wizard/admin-firewall.nft"
FIREWALL_UNIT = "moodle-wizard-admin-firewall.service"
#: The modules a node never pulls (their diffs_before_sync is 0).
NOT_SYNCED = ("mysql_query_rules", "mysql_servers", "mysql_variables", "admin_variables",
              "proxysql_servers", "ldap_variables")
#: ProxySQL's default: a change is pulled on the third poll that sees it (2-3 s).
USERS_DIFFS_BEFORE_SYNC = 3


def admin_ifaces(port: int, own_address: str | None) -> str:
    """admin-mysql_ifaces: loopback only, or loopback and the node's own address (Cluster;
    never 0.0.0.0, which would also answer on the VIP)."""
    loopback = f"127.0.0.1:{port}"
    return loopback if own_address is None else f"{loopback};{own_address}:{port}"


@dataclass(frozen=True)
class ClusterConfig:
    admin_user: str
    admin_password: str
    user: str
    password: str
    admin_port: int
    #: This node's address (where the peers reach its admin interface).
    own_address: str
    #: Every proxy node's address, this one included (the same table on every node).
    nodes: tuple[str, ...]

    def __post_init__(self) -> None:
        for password in (self.admin_password, self.password):
            if not password or set(password) & set(":; "):
                raise ProxySqlConfigError("the admin and Cluster passwords cannot be empty "
                                          "or contain ':', ';' or spaces")
        for address in (self.own_address, *self.nodes):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ProxySqlConfigError(
                    f"proxy address {address!r}: ProxySQL Cluster needs IP addresses (the "
                    "firewall rule and admin-mysql_ifaces name them)") from None
        if self.own_address not in self.nodes:
            raise ProxySqlConfigError(f"{self.own_address} is not one of the proxy nodes")
        if self.user == self.admin_user:
            raise ProxySqlConfigError(f"{self.user!r} is the admin user; the Cluster user "
                                      "needs a name of its own")

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(a for a in self.nodes if a != self.own_address)

    @property
    def admin_credentials(self) -> str:
        return f"{self.admin_user}:{self.admin_password};{self.user}:{self.password}"

    @property
    def admin_variables(self) -> dict[str, str]:
        """The admin- variables every node gets, admin-mysql_ifaces last (after the rule)."""
        out = {
            "admin-admin_credentials": self.admin_credentials,
            "admin-cluster_username": self.user,
            "admin-cluster_password": self.password,
            "admin-checksum_mysql_users": "true",
            "admin-cluster_mysql_users_diffs_before_sync": str(USERS_DIFFS_BEFORE_SYNC),
            "admin-cluster_mysql_users_save_to_disk": "true",
        }
        out.update({f"admin-cluster_{m}_diffs_before_sync": "0" for m in NOT_SYNCED})
        out["admin-mysql_ifaces"] = admin_ifaces(self.admin_port, self.own_address)
        return out


def _update(name: str, value: str, secret: bool) -> Statement:
    return Statement("UPDATE global_variables SET variable_value = %s WHERE variable_name = %s",
                     (value, name), frozenset({0}) if secret else frozenset())


def cluster_statements(cc: ClusterConfig) -> list[Statement]:
    """One node's Cluster variables (the credentials masked when shown), loaded and saved;
    then mysql-have_ssl, so a peer's connection can be encrypted."""
    secret = {"admin-admin_credentials", "admin-cluster_password"}
    return [
        *(_update(n, v, n in secret) for n, v in cc.admin_variables.items()),
        Statement("LOAD ADMIN VARIABLES TO RUNTIME"),
        Statement("SAVE ADMIN VARIABLES TO DISK"),
        _update("mysql-have_ssl", "true", False),
        Statement("LOAD MYSQL VARIABLES TO RUNTIME"),
        Statement("SAVE MYSQL VARIABLES TO DISK"),
    ]


def peers_statements(nodes: Sequence[str], admin_port: int) -> list[Statement]:
    """proxysql_servers: every node, the same table on each (a node polls itself too, which
    ProxySQL finds harmless: its own checksums are equal)."""
    return [
        Statement("DELETE FROM proxysql_servers"),
        *(Statement("INSERT INTO proxysql_servers (hostname, port, weight, comment) VALUES "
                    "(%s, %s, 0, %s)", (a, admin_port, COMMENT)) for a in nodes),
        Statement("LOAD PROXYSQL SERVERS TO RUNTIME"),
        Statement("SAVE PROXYSQL SERVERS TO DISK"),
    ]


def firewall_ruleset(admin_port: int, peers: Sequence[str]) -> str:
    """The nftables file: its own table, first added then deleted so that `nft -f` replaces
    it atomically (and works the first time); the admin port open on loopback (the wizard
    through SSH) and to the other proxies, reset for everyone else (so a probe sees
    "refused")."""
    v4 = [a for a in peers if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in peers if ipaddress.ip_address(a).version == 6]
    lines = [
        f"add table inet {FIREWALL_TABLE}",
        f"delete table inet {FIREWALL_TABLE}",
        f"table inet {FIREWALL_TABLE} {{",
        "  chain input {",
        "    type filter hook input priority filter - 1; policy accept;",
        f'    tcp dport {admin_port} iifname "lo" accept',
    ]
    if v4:
        lines.append(f"    tcp dport {admin_port} ip saddr {{ {', '.join(v4)} }} accept")
    if v6:
        lines.append(f"    tcp dport {admin_port} ip6 saddr {{ {', '.join(v6)} }} accept")
    lines += [f"    tcp dport {admin_port} reject with tcp reset", "  }", "}"]
    return "\n".join(lines) + "\n"
