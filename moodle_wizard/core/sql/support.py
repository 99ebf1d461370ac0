"""Which database servers the wizard supports, and the version every replica must run.

Pure: it decides from versions, never connects. Discovery asks `source_refusal` as soon as it
knows the source's version (its preflight, before anything changes); the replicas step asks
`replica_version_problem` for each replica host with what that host has installed and what
its package sources would install.

Sources:
- MariaDB 10.5 to 11.8 are supported: every release series in that range is driven by the same
  `Dialect` facts, each unit-tested (tests/unit/test_dialect.py, test_support.py). 10.11
  (Debian 12's package) is proven end to end by the lab tests; the others are not, because the
  lab has only Debian 12's packages.
- MySQL 8.0/8.4 and Percona Server are refused. No MySQL server can be installed where the
  wizard is tested, so the MySQL path cannot be proven end to end, and reviews found it would
  fail midway (GTID never switched on when the binary log is already on; mbstream,
  mariadb-install-db and gtid_slave_pos used for MySQL replicas; MySQL dumps carry no
  accounts). The MySQL dialect facts stay (unit-tested) for the day that path is finished.
- Older MariaDB (10.4 and before: end of life, and their tool names and privileges differ) and
  MariaDB newer than 11.8 (not yet checked) are refused.

Replicas run the source's major.minor. A physical seed needs exactly that: mariadb-backup
prepares a backup only with the server version it was taken from. A logical seed may go to a
newer replica (replication from an older source to a newer replica is supported), never to an
older one. One exception: from 11.4 a replica verifies the source's TLS certificate by default
(MDEV-31857), and a source before 11.4 has no TLS unless configured, so such a replica's IO
thread stops at once ("SSL is required, but the server does not support it").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from moodle_wizard.core.sql.version import Flavor, ServerVersion, UnsupportedServerError

__all__ = [
    "APT_POLICY_COMMAND",
    "MARIADB_REPO_URL",
    "MARIADB_SERIES",
    "PROVEN_SERIES",
    "SUPPORTED",
    "ReplicaVersionProblem",
    "UnsupportedSourceError",
    "check_source",
    "package_series",
    "replica_version_problem",
    "server_package",
    "source_refusal",
]

Series = tuple[int, int]

# Every MariaDB release series from 10.5 to 11.8, in order (10.7-10.10 and the 11.x short-term
# releases included: their dialect facts are those of their neighbours).
MARIADB_SERIES: tuple[Series, ...] = (
    (10, 5), (10, 6), (10, 7), (10, 8), (10, 9), (10, 10), (10, 11),
    (11, 0), (11, 1), (11, 2), (11, 3), (11, 4), (11, 5), (11, 6), (11, 7), (11, 8),
)
# Run end to end by the lab tests (Debian 12's mariadb-server).
PROVEN_SERIES: tuple[Series, ...] = ((10, 11),)
SUPPORTED = "MariaDB 10.5 to 11.8"
# From this series a replica verifies the source's TLS certificate by default (MDEV-31857).
TLS_VERIFY_DEFAULT: Series = (11, 4)

MARIADB_REPO_URL = "https://mariadb.org/download/?t=repo-config"
MYSQL_REPO_URL = "https://dev.mysql.com/downloads/repo/apt/"

# What apt would install (and what is installed), in English whatever the host's locale;
# apt-cache prints nothing for a package it does not know. Read-only, no root needed.
APT_POLICY_COMMAND = "LC_ALL=C apt-cache policy mariadb-server mysql-server 2>/dev/null || true"


class UnsupportedSourceError(UnsupportedServerError):
    """The source runs a server (or version) the wizard refuses to migrate."""


def _name(series: Series) -> str:
    return f"{series[0]}.{series[1]}"


_MYSQL_WHY = (
    "Its MySQL path is not complete: no MySQL server can be installed where it is "
    "tested, so it cannot be proven end to end, and reviews found it would fail midway (GTID "
    "is never switched on when the binary log is already on, MariaDB's tools and GTID "
    "variables would be used on the MySQL replicas, and the dump would carry no accounts)"
)


def source_refusal(version: ServerVersion) -> str | None:
    """Why the wizard refuses a source running `version` (one line naming what is supported
    and what to do), or None when it is supported."""
    if not version.is_mariadb:
        return (
            f"the source runs {version.product} {version.number}, and moodle-wizard supports "
            f"{SUPPORTED} sources only. {_MYSQL_WHY}. Move Moodle's "
            f"database to a {SUPPORTED} server first (Moodle's admin/tool/dbtransfer copies "
            "it), or set up replication by hand")
    if version.series in MARIADB_SERIES:
        return None
    if version.series < MARIADB_SERIES[0]:
        return (
            f"the source runs {version}, and moodle-wizard supports {SUPPORTED} sources only "
            "(older series are past their end of life and name their tools and privileges "
            f"differently). Upgrade the source to MariaDB 10.11 or later "
            f"({MARIADB_REPO_URL}), then run again")
    return (
        f"the source runs {version}, newer than moodle-wizard knows: it supports {SUPPORTED} "
        f"sources only, and {_name(version.series)}'s replication statements, tools and "
        "defaults have not been checked. Use a moodle-wizard release "
        "that lists it, or set up replication by hand")


def check_source(version: ServerVersion, host: str) -> None:
    """Raise UnsupportedSourceError (naming `host`) for a source the wizard refuses."""
    why = source_refusal(version)
    if why is not None:
        raise UnsupportedSourceError(f"{host}: {why}")


_PACKAGE_VERSION_RE = re.compile(r"^(?:\d+:)?(\d+)\.(\d+)\.\d+")


def package_series(version: str) -> Series | None:
    """(major, minor) of a Debian package version: '1:10.11.19-0+deb12u1' and
    '1:11.4.4+maria~deb12' give (10, 11) and (11, 4); anything else None."""
    match = _PACKAGE_VERSION_RE.match(version.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


# Which server a Debian package is (MariaDB's own repository uses Debian's package names).
_PACKAGE_FLAVOR = {"mariadb-server": Flavor.MARIADB, "mysql-server": Flavor.MYSQL}


@dataclass(frozen=True)
class ReplicaVersionProblem:
    """A replica host whose server version does not fit the source: `error` refuses the
    migration before anything changes, `warning` is said and the migration goes on."""

    level: Literal["error", "warning"]
    message: str


def replica_version_problem(
    host: str,
    source: ServerVersion,
    method: str,
    installed: dict[str, str],
    candidate: str | None,
) -> ReplicaVersionProblem | None:
    """Whether replica host `host` would run a version `source` can be seeded to.

    `installed`: the server packages dpkg lists as installed there ({package: version});
    the wizard uses what is installed and installs nothing then. `candidate`: the version of
    the source's server package apt would install there (None: apt knows no such package).
    `method`: the inventory's backup_method, "physical" or "logical".
    """
    want = source.series
    package = server_package(source)
    for pkg, version in sorted(installed.items()):
        flavor = _PACKAGE_FLAVOR.get(pkg)
        if flavor is not None and flavor is not source.flavor:
            return ReplicaVersionProblem("error", (
                f"{host}: {pkg} {version} is installed, but the source runs {source}; a "
                f"replica must run the source's server ({package} {_name(want)}): remove "
                f"{pkg} there or use another host"))
        problem = _series_problem(host, source, method, version, installed_pkg=pkg)
        if problem is not None:
            return problem
    if installed:
        return None
    if candidate is None:
        return ReplicaVersionProblem("error", (
            f"{host}: apt there has no {package} package to install (apt-cache policy shows "
            f"no candidate); run apt-get update there, or add {source.product}'s repository "
            f"for {_name(want)} there ({_repo_url(source)}), then run again"))
    return _series_problem(host, source, method, candidate, installed_pkg=None)


def server_package(source: ServerVersion) -> str:
    """The Debian package of the source's server (MariaDB's own repository uses the same)."""
    return "mariadb-server" if source.is_mariadb else "mysql-server"


def _repo_url(source: ServerVersion) -> str:
    return MARIADB_REPO_URL if source.is_mariadb else MYSQL_REPO_URL


def _series_problem(
    host: str, source: ServerVersion, method: str, version: str, installed_pkg: str | None,
) -> ReplicaVersionProblem | None:
    want = source.series
    package = server_package(source)
    have = package_series(version)
    # What the replica would run, as the operator sees it on the host.
    what = (f"{installed_pkg} {version} is installed" if installed_pkg is not None else
            f"its package sources offer {package} {version}")
    repo = f"add {source.product}'s repository for {_name(want)} there ({_repo_url(source)})"
    if have is not None and have > want:
        # apt installs the highest version among equal priorities: the distribution's newer
        # package would still win over the added repository.
        repo += " and pin it above the distribution's packages (apt preferences, Pin-Priority 1000)"
    repo += ", run apt-get update, then run again"
    if installed_pkg is not None:
        repo = f"remove {installed_pkg} there, " + repo
    if have is None:
        return ReplicaVersionProblem("error", (
            f"{host}: {what}, and the wizard cannot read its version; install "
            f"{package} {_name(want)} there by hand, then run again"))
    if have == want:
        return None
    if have < want:
        return ReplicaVersionProblem("error", (
            f"{host}: the source runs {source} but {what} ({_name(have)}); a replica can "
            f"never be older than its source (it cannot apply what a newer server writes): "
            f"{repo}"))
    if method == "physical":
        return ReplicaVersionProblem("error", (
            f"{host}: the source runs {source} but {what} ({_name(have)}); a physical seed "
            f"needs the same version on both sides (mariadb-backup prepares a backup only "
            f"with the version of the server it was taken from): {repo}; or set "
            "migration.backup_method = logical (a logical seed may go to a newer replica)"))
    if source.is_mariadb and have >= TLS_VERIFY_DEFAULT > want:
        return ReplicaVersionProblem("error", (
            f"{host}: the source runs {source} but {what} ({_name(have)}); from MariaDB "
            f"{_name(TLS_VERIFY_DEFAULT)} a replica verifies the source's TLS certificate by "
            f"default and a {_name(want)} source has no TLS unless configured, so replication "
            f"would stop at its first connect: {repo}"))
    return ReplicaVersionProblem("warning", (
        f"{host}: the replica will run {_name(have)} while the source runs {source} ({what}); "
        "a logical seed to a newer replica works and MariaDB replicates from an older source "
        f"to a newer replica, but the replicas will not match the source: for the same "
        f"version, {repo}"))
