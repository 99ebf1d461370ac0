"""The support policy: which sources are refused (and how that reads), the version every replica
must run, and `apt-cache policy` read from real Debian output."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodle_wizard.core.errors import OperatorError, explain
from moodle_wizard.core.facts import ReplicaHostFacts
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.sql.parsers import AptPolicy, parse_apt_policy
from moodle_wizard.core.sql.support import (
    APT_POLICY_COMMAND,
    MARIADB_REPO_URL,
    MARIADB_SERIES,
    PROVEN_SERIES,
    SUPPORTED,
    UnsupportedSourceError,
    check_source,
    package_series,
    replica_version_problem,
    source_refusal,
)
from moodle_wizard.core.sql.version import UnsupportedServerError, parse_version
from moodle_wizard.core.steps.discover import Discover, server_candidate
from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.replicas import step as replicas_step
from tests.unit.test_error_root import bug_log, run_discovery, server_version
from tests.unit.test_error_root import site as site  # the fixture: hosts that answer
from tests.unit.test_source_binlog import SOURCE, context

# -- sources -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "comment"),
    [
        ("10.5.27-MariaDB-0+deb11u1", "Debian 11"),
        ("10.6.21-MariaDB-0ubuntu0.22.04.2", "Ubuntu 22.04"),
        ("10.11.19-MariaDB-0+deb12u1", "Debian 12"),
        ("11.4.5-MariaDB-ubu2404", "mariadb.org binary distribution"),
        ("11.8.3-MariaDB-0+deb13u1", "Debian 13"),
        ("5.5.5-10.11.6-MariaDB", ""),
    ],
)
def test_supported_mariadb_sources(version: str, comment: str) -> None:
    v = parse_version(version, comment)
    assert source_refusal(v) is None
    check_source(v, "db1")  # does not raise


def test_supported_range_is_what_the_message_says() -> None:
    assert MARIADB_SERIES[0] == (10, 5) and MARIADB_SERIES[-1] == (11, 8)
    assert SUPPORTED == "MariaDB 10.5 to 11.8"
    assert list(MARIADB_SERIES) == sorted(set(MARIADB_SERIES))
    assert set(PROVEN_SERIES) <= set(MARIADB_SERIES)


@pytest.mark.parametrize(
    ("version", "comment", "named"),
    [
        ("8.0.36", "MySQL Community Server - GPL", "MySQL 8.0.36"),
        ("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)", "MySQL 8.0.36"),
        ("8.4.2", "MySQL Community Server - GPL", "MySQL 8.4.2"),
        ("8.0.36-28", "Percona Server (GPL), Release 28, Revision 47601f19",
         "Percona Server 8.0.36"),
        ("8.4.0-1", "Percona Server (GPL), Release 1, Revision 238b3c02", "Percona Server 8.4.0"),
    ],
)
def test_mysql_and_percona_sources_are_refused(version: str, comment: str, named: str) -> None:
    v = parse_version(version, comment)
    why = source_refusal(v)
    assert why is not None
    # What runs, what is supported, why not, and what to do.
    assert named in why and SUPPORTED in why
    assert "cannot be proven end to end" in why and "fail midway" in why
    assert "admin/tool/dbtransfer" in why
    assert "\n" not in why
    with pytest.raises(UnsupportedSourceError) as caught:
        check_source(v, "db1")
    assert str(caught.value) == f"db1: {why}"


def never_gather(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Discovery's gathering replaced by a recorder: what ran after the preflight."""
    ran: list[str] = []

    async def gather(self: Discover) -> None:
        ran.append("gather")

    monkeypatch.setattr(Discover, "gather", gather)
    return ran


@pytest.mark.parametrize(
    ("version", "comment", "named"),
    [
        ("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)", "MySQL 8.0.36"),
        ("8.4.2", "MySQL Community Server - GPL", "MySQL 8.4.2"),
        ("8.0.36-28", "Percona Server (GPL), Release 28", "Percona Server 8.0.36"),
        ("12.0.2-MariaDB", "mariadb.org binary distribution", "MariaDB 12.0.2"),
    ],
)
def test_discovery_refuses_an_unsupported_source_in_its_preflight(
        site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        version: str, comment: str, named: str) -> None:
    """The real command line, engine and login; the source's server says `version`. Discovery
    stops in its preflight: nothing after it runs, and the operator reads why and what to do."""
    server_version(monkeypatch, version, comment)
    ran = never_gather(monkeypatch)
    code = run_discovery(site)
    err = capsys.readouterr().err
    assert code == 1, err
    assert ran == []
    assert "discover: preflight found problems; nothing was changed" in err
    assert f"db1: the source runs {named}" in err and SUPPORTED in err
    assert "Traceback" not in err and not bug_log(site).exists()


def test_discovery_goes_on_for_a_supported_source(
        site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The same run with Debian 12's MariaDB gets past the preflight (the refusal above is the
    version's doing, not the fake network's)."""
    server_version(monkeypatch, "10.11.19-MariaDB-0+deb12u1", "Debian 12")
    ran = never_gather(monkeypatch)
    run_discovery(site)
    assert ran == ["gather"], capsys.readouterr().err


def test_refusal_is_an_operator_error_shown_as_one_line(tmp_path: Path) -> None:
    exc = UnsupportedSourceError(f"db1: {source_refusal(parse_version('8.4.2'))}")
    assert isinstance(exc, UnsupportedServerError) and isinstance(exc, OperatorError)
    verdict = explain(exc, log=tmp_path / "bug.log")
    assert verdict.operator and verdict.text == str(exc)
    assert not (tmp_path / "bug.log").exists()


@pytest.mark.parametrize(
    ("version", "comment", "words"),
    [
        ("10.4.33-MariaDB", "", ("MariaDB 10.4.33", "end of life", "Upgrade the source")),
        ("10.3.39-MariaDB-0+deb10u2", "Debian 10", ("MariaDB 10.3.39", "Upgrade the source")),
        ("12.0.2-MariaDB", "", ("MariaDB 12.0.2", "newer than moodle-wizard knows")),
        ("11.9.1-MariaDB", "", ("MariaDB 11.9.1", "newer than moodle-wizard knows")),
        ("5.7.44", "MySQL Community Server (GPL)", ("MySQL 5.7.44",)),
    ],
)
def test_older_and_newer_sources_are_refused(
    version: str, comment: str, words: tuple[str, ...]
) -> None:
    why = source_refusal(parse_version(version, comment))
    assert why is not None and SUPPORTED in why
    for word in words:
        assert word in why


def test_percona_is_told_apart_only_in_its_name() -> None:
    percona = parse_version("8.0.36-28", "Percona Server (GPL), Release 28")
    mysql = parse_version("8.0.36", "MySQL Community Server - GPL")
    assert percona.product == "Percona Server" and mysql.product == "MySQL"
    assert percona == mysql and str(percona) == "MySQL 8.0.36"  # the same dialect
    assert parse_version("10.11.6-MariaDB", "Percona build").product == "MariaDB"


# -- apt-cache policy ----------------------------------------------------------------------

# `LC_ALL=C apt-cache policy mariadb-plugin-connect mariadb-server mysql-server nosuchpkg` on
# Debian 12.11 with mariadb-server installed (nosuchpkg prints nothing on stdout).
DEBIAN_12 = """\
mariadb-plugin-connect:
  Installed: (none)
  Candidate: 1:10.11.19-0+deb12u1
  Version table:
     1:10.11.19-0+deb12u1 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     1:10.11.18-0+deb12u1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
mariadb-server:
  Installed: 1:10.11.19-0+deb12u1
  Candidate: 1:10.11.19-0+deb12u1
  Version table:
 *** 1:10.11.19-0+deb12u1 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
     1:10.11.18-0+deb12u1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
mysql-server:
  Installed: (none)
  Candidate: (none)
  Version table:
"""

# A host with MariaDB's own 10.6 repository pinned at 1000 (as posted to maria-discuss).
MARIADB_REPO = """\
mysql-common:
  Installed: 1:10.6.7+maria~buster
  Candidate: 1:10.6.7+maria~bullseye
  Version table:
 *** 1:10.6.7+maria~buster 100
        100 /var/lib/dpkg/status
     1:10.6.7+maria~bullseye 1000
       1000 http://ams2.mirrors.digitalocean.com/mariadb/repo/10.6/debian bullseye/main amd64 \
Packages
     5.8+1.0.7 500
        500 http://debmirror.tuxis.nl/debian bullseye/main amd64 Packages
"""


def test_parse_apt_policy_debian_12() -> None:
    policy = parse_apt_policy(DEBIAN_12)
    assert policy == {
        "mariadb-plugin-connect": AptPolicy(None, "1:10.11.19-0+deb12u1"),
        "mariadb-server": AptPolicy("1:10.11.19-0+deb12u1", "1:10.11.19-0+deb12u1"),
        "mysql-server": AptPolicy(None, None),
    }


def test_parse_apt_policy_vendor_repository() -> None:
    policy = parse_apt_policy(MARIADB_REPO)
    assert policy == {"mysql-common": AptPolicy("1:10.6.7+maria~buster",
                                                "1:10.6.7+maria~bullseye")}


# The same command on the lab's bare replica host (`lab up --replicas bare`): no server
# installed, its only apt source the lab's local repository, which has no mysql-server.
LAB_BARE_HOST = """\
mariadb-server:
  Installed: (none)
  Candidate: 1:10.11.19-0+deb12u1
  Version table:
     1:10.11.19-0+deb12u1 500
        500 file:/var/local/mwlab-apt ./ Packages
"""


def test_parse_apt_policy_lab_bare_host() -> None:
    policy = parse_apt_policy(LAB_BARE_HOST)
    assert policy == {"mariadb-server": AptPolicy(None, DEB12)}
    # What the replicas preflight then decides for the lab's Debian 12 source: nothing to say.
    candidate = policy["mariadb-server"].candidate
    assert replica_version_problem("db3", SRC_10_11, "physical", {}, candidate) is None


@pytest.mark.parametrize("text", ["", "\n", "N: Unable to locate package mariadb-server\n"])
def test_parse_apt_policy_unknown_package(text: str) -> None:
    assert parse_apt_policy(text) == {}


@pytest.mark.parametrize(
    ("version", "series"),
    [
        ("1:10.11.19-0+deb12u1", (10, 11)),
        ("1:11.4.4+maria~deb12", (11, 4)),
        ("1:10.6.7+maria~bullseye", (10, 6)),
        ("1:10.6.18-0ubuntu0.22.04.1", (10, 6)),
        ("8.0.36-0ubuntu0.22.04.1", (8, 0)),
        ("1:11.8.3-0+deb13u1", (11, 8)),
        ("(none)", None),
        ("", None),
        ("5.8+1.0.7", None),
    ],
)
def test_package_series(version: str, series: tuple[int, int] | None) -> None:
    assert package_series(version) == series


# -- replica versions ----------------------------------------------------------------------

SRC_10_11 = parse_version("10.11.19-MariaDB-0+deb12u1")
SRC_11_4 = parse_version("11.4.5-MariaDB-ubu2404")
SRC_10_6 = parse_version("10.6.21-MariaDB-0ubuntu0.22.04.2")
DEB12 = "1:10.11.19-0+deb12u1"


@pytest.mark.parametrize("method", ["physical", "logical"])
def test_same_series_is_fine(method: str) -> None:
    # The lab's shape: Debian 12 on both sides, installed or to be installed.
    assert replica_version_problem("db2", SRC_10_11, method, {}, DEB12) is None
    assert replica_version_problem("db2", SRC_10_11, method, {"mariadb-server": DEB12},
                                   DEB12) is None
    # Another patch release of the same series is the same series.
    assert replica_version_problem("db2", SRC_10_11, method, {}, "1:10.11.6-0+deb12u1") is None
    assert replica_version_problem("db2", SRC_11_4, method, {}, "1:11.4.4+maria~deb12") is None


@pytest.mark.parametrize("method", ["physical", "logical"])
def test_distribution_older_than_the_source(method: str) -> None:
    """The issue's example: an 11.4 source, Debian 12 packages only 10.11."""
    problem = replica_version_problem("db2", SRC_11_4, method, {}, DEB12)
    assert problem is not None and problem.level == "error"
    text = problem.message
    assert text.startswith("db2: the source runs MariaDB 11.4.5")
    assert f"mariadb-server {DEB12} (10.11)" in text
    assert "never be older than its source" in text
    assert f"add MariaDB's repository for 11.4 there ({MARIADB_REPO_URL})," in text
    assert "Pin-Priority" not in text  # the added repository is newer: apt takes it
    assert text.endswith("then run again")


def test_installed_older_server_is_refused_and_named() -> None:
    problem = replica_version_problem("db3", SRC_11_4, "logical", {"mariadb-server": DEB12},
                                      "1:11.4.4+maria~deb12")
    assert problem is not None and problem.level == "error"
    assert f"mariadb-server {DEB12} is installed" in problem.message
    assert "remove mariadb-server there" in problem.message


def test_physical_seed_needs_the_same_series_even_when_newer() -> None:
    problem = replica_version_problem("db2", SRC_10_6, "physical", {}, DEB12)
    assert problem is not None and problem.level == "error"
    assert "physical seed needs the same version on both sides" in problem.message
    assert "mariadb-backup prepares" in problem.message
    assert "add MariaDB's repository for 10.6" in problem.message
    # Debian's newer 10.11 would still win over an added 10.6 repository without a pin.
    assert "Pin-Priority 1000" in problem.message
    assert "migration.backup_method = logical" in problem.message


def test_logical_seed_may_go_to_a_newer_replica_with_a_warning() -> None:
    problem = replica_version_problem("db2", SRC_10_6, "logical", {}, DEB12)
    assert problem is not None and problem.level == "warning"
    assert "will run 10.11 while the source runs MariaDB 10.6.21" in problem.message
    installed = replica_version_problem("db2", SRC_10_6, "logical", {"mariadb-server": DEB12},
                                        None)
    assert installed is not None and installed.level == "warning"


def test_logical_seed_to_a_replica_that_verifies_tls_by_default_is_refused() -> None:
    # From 11.4 a replica verifies the source's certificate by default; a 10.11 source has
    # no TLS unless configured: the IO thread would stop at once.
    for newer in ("1:11.4.4+maria~deb12", "1:11.8.3-0+deb13u1"):
        problem = replica_version_problem("db2", SRC_10_11, "logical", {}, newer)
        assert problem is not None and problem.level == "error"
        assert "verifies the source's TLS certificate" in problem.message
        assert "add MariaDB's repository for 10.11" in problem.message
    # 11.4 to 11.8: both sides have TLS on by default, the newer replica is allowed.
    problem = replica_version_problem("db2", SRC_11_4, "logical", {}, "1:11.8.3-0+deb13u1")
    assert problem is not None and problem.level == "warning"


def test_no_package_to_install() -> None:
    problem = replica_version_problem("db2", SRC_10_11, "physical", {}, None)
    assert problem is not None and problem.level == "error"
    assert "no mariadb-server package to install" in problem.message
    assert "apt-get update" in problem.message and MARIADB_REPO_URL in problem.message


def test_other_server_installed() -> None:
    problem = replica_version_problem(
        "db2", SRC_10_11, "logical", {"mysql-server": "8.0.36-0ubuntu0.22.04.1"}, DEB12)
    assert problem is not None and problem.level == "error"
    assert "mysql-server 8.0.36-0ubuntu0.22.04.1 is installed" in problem.message
    assert "remove mysql-server there or use another host" in problem.message


def test_unreadable_installed_version() -> None:
    problem = replica_version_problem("db2", SRC_10_11, "physical",
                                      {"mariadb-server": "weird"}, DEB12)
    assert problem is not None and problem.level == "error"
    assert "cannot read its version" in problem.message


# -- the replicas step's preflight ---------------------------------------------------------


class AptHost:
    """A replica host whose apt-cache policy prints `text`; records what ran."""

    def __init__(self, text: str) -> None:
        self.text, self.ran = text, []  # type: ignore[var-annotated]

    async def run(self, argv: list[str], **_: object) -> Result:
        self.ran.append(argv)
        return Result(0, self.text, "")


async def test_server_candidate_reads_apt_in_english() -> None:
    host = AptHost(DEBIAN_12)
    assert await server_candidate(host, "mariadb-server") == DEB12  # type: ignore[arg-type]
    assert await server_candidate(host, "mysql-server") is None  # type: ignore[arg-type]
    assert await server_candidate(AptHost(""), "mariadb-server") is None  # type: ignore[arg-type]
    assert host.ran[0] == ["sh", "-c", APT_POLICY_COMMAND]
    assert APT_POLICY_COMMAND.startswith("LC_ALL=C apt-cache policy mariadb-server ")


async def replicas_preflight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             server_version: str, installed: dict[str, str],
                             candidate: str | None) -> list[tuple[str, str]]:
    """The replicas step's preflight against a source running `server_version` and replica
    hosts with `installed` packages whose apt offers `candidate` (all else fine)."""
    number = server_version.split("-")[0]
    step = Replicas(context(tmp_path, {**SOURCE, "server_version": server_version,
                                       "version": number}))
    asked: list[str] = []

    async def host(name: str) -> AptHost:
        return AptHost("")

    async def facts(host: object) -> ReplicaHostFacts:
        return ReplicaHostFacts(packages=installed, free_bytes=10**12,
                                datadir="/var/lib/mysql", server_running=False)

    async def offers(host: object, package: str) -> str | None:
        asked.append(package)
        return candidate

    async def datadir(self: Replicas, r: str) -> None:
        return None

    monkeypatch.setattr(step.ctx, "host", host)
    monkeypatch.setattr(replicas_step, "replica_host_facts", facts)
    monkeypatch.setattr(replicas_step, "server_candidate", offers)
    monkeypatch.setattr(Replicas, "datadir", datadir)
    monkeypatch.setattr(Replicas, "_datadir_problems", lambda self, r, d: [])
    problems = [(p.level, p.message) for p in await step.preflight()]
    # apt is asked only when nothing is installed (the installed server is what will run).
    assert asked == ([] if installed else ["mariadb-server"] * len(step.server_ids()))
    return problems


async def test_replicas_preflight_refuses_an_older_distribution_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = await replicas_preflight(tmp_path, monkeypatch, "11.4.5-MariaDB-ubu2404", {},
                                        DEB12)
    version_errors = [m for level, m in problems if level == "error" and "11.4" in m]
    assert version_errors and version_errors[0].startswith("db2: the source runs MariaDB 11.4.5")
    assert "add MariaDB's repository for 11.4" in version_errors[0]


async def test_replicas_preflight_takes_the_same_series(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for installed in ({}, {"mariadb-server": DEB12}):
        problems = await replicas_preflight(tmp_path, monkeypatch, "10.11.19-MariaDB", installed,
                                            DEB12)
        assert not [m for _, m in problems if "mariadb-server" in m], problems
