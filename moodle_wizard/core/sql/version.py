"""Which server the wizard talks to, read from its own `SELECT VERSION(), @@version_comment`.

Version boundaries the `Dialect` follows (from the MariaDB KB and the MySQL reference manual):
- MySQL 8.0.22: SHOW/START/STOP/RESET REPLICA (the SLAVE forms are removed in 8.4).
- MySQL 8.0.23: CHANGE REPLICATION SOURCE TO ... SOURCE_* (CHANGE MASTER is removed in 8.4).
- MySQL 8.0.26: mysqldump --source-data, log_replica_updates.
- MySQL 8.2.0: RESET BINARY LOGS AND GTIDS, SHOW BINARY LOG STATUS (old forms gone in 8.4).
- MariaDB 10.5.1: REPLICATION REPLICA as an alias of REPLICATION SLAVE.
- MariaDB 10.5.2: mariadb-dump/mariadb-backup are the tools' names.
- MariaDB 10.5.9: SHOW SLAVE STATUS needs SLAVE MONITOR (10.5.0-10.5.8: REPLICATION SLAVE ADMIN).
- MariaDB 10.6.1: binlog_expire_logs_seconds.
- MariaDB 11.1: mariadb-backup writes mariadb_backup_binlog_info (xtrabackup_binlog_info before).
- MariaDB 11.4: a replica verifies the source's TLS certificate by default
  (MASTER_SSL_VERIFY_SERVER_CERT=1, MDEV-31857); see `support` for what that means for a newer
  replica.
MariaDB keeps accepting the SLAVE/MASTER statement forms, so they are used for every MariaDB.
Which of these versions the wizard supports is decided in `support`, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from moodle_wizard.core.errors import OperatorError

__all__ = ["Flavor", "ServerVersion", "UnsupportedServerError", "parse_version"]


class Flavor(StrEnum):
    MARIADB = "mariadb"
    MYSQL = "mysql"


class UnsupportedServerError(OperatorError):
    """A server version the wizard does not know how to drive."""


@dataclass(frozen=True, order=True)
class ServerVersion:
    flavor: Flavor
    major: int
    minor: int
    patch: int
    # Percona Server speaks MySQL's dialect; it is told apart only to name it in messages.
    percona: bool = field(default=False, compare=False)

    def at_least(self, major: int, minor: int = 0, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    @property
    def is_mariadb(self) -> bool:
        return self.flavor is Flavor.MARIADB

    @property
    def series(self) -> tuple[int, int]:
        """(major, minor): what a release series shares (MariaDB 10.11, MySQL 8.4)."""
        return (self.major, self.minor)

    @property
    def product(self) -> str:
        if self.is_mariadb:
            return "MariaDB"
        return "Percona Server" if self.percona else "MySQL"

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __str__(self) -> str:
        name = "MariaDB" if self.is_mariadb else "MySQL"
        return f"{name} {self.number}"


_VERSION_RE = re.compile(r"^\s*(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


def parse_version(version: str, version_comment: str = "") -> ServerVersion:
    """Parse `SELECT VERSION(), @@version_comment`.

    MariaDB says so in VERSION() ("10.11.6-MariaDB-0+deb12u1") or in the comment; anything
    else (Oracle MySQL, Percona Server) is driven as MySQL. Percona Server names itself only in
    the comment ("Percona Server (GPL), Release 28, ..."). The "5.5.5-" prefix that MariaDB
    sends in the protocol handshake is accepted too.
    """
    match = _VERSION_RE.match(version)
    if not match:
        raise UnsupportedServerError(f"cannot read a server version from {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    text = f"{version} {version_comment}".lower()
    flavor = Flavor.MARIADB if "mariadb" in text else Flavor.MYSQL
    percona = flavor is Flavor.MYSQL and "percona" in text
    return ServerVersion(flavor, major, minor, patch, percona)
