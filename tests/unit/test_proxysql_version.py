"""The ProxySQL version on a proxy host: `proxysql --version` parsed, an unsupported one
refused in one line naming the host, the version and the supported range, and the proxysql
step's preflight refusing such a node before anything changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from moodle_wizard.core.remote import proxysql_node
from moodle_wizard.core.remote.proxysql_version import (
    SUPPORTED,
    parse_version,
    refusal,
    supported,
    version_refusal,
)
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.steps import proxysql_preflight
from moodle_wizard.core.steps.proxysql import ProxySQLStep
from tests.unit.plan_fixtures import context

REAL_272 = "ProxySQL version 2.7.2-0-g8c3c6a5, codename Truls\n"


@pytest.mark.parametrize(("output", "want", "text"), [
    (REAL_272, (2, 7, 2), "2.7.2-0-g8c3c6a5"),
    ("ProxySQL version 2.5.5-10-g195bd70, codename Truls\n", (2, 5, 5), "2.5.5-10-g195bd70"),
    ("ProxySQL version 3.0.1-0-gf2b6a8c, codename Truls\n", (3, 0, 1), "3.0.1-0-gf2b6a8c"),
    ("ProxySQL version 2.0.18-0-g6d6b4c2, codename Truls\n", (2, 0, 18), "2.0.18-0-g6d6b4c2"),
    # The lab's stand-in (python -m moodle_wizard.lab.proxysql_standin --version), as it is.
    ("ProxySQL stand-in 2.7.2-0-standin (moodle-wizard lab)\n", (2, 7, 2), "2.7.2-0-standin"),
    # A warning line before the version line (a library complaining on stderr).
    ("/usr/bin/proxysql: /lib/libssl.so.3: no version information available (required by "
     "/usr/bin/proxysql)\nProxySQL version 2.6.3-0-g1c2c7ab, codename Truls\n", (2, 6, 3),
     "2.6.3-0-g1c2c7ab"),
])
def test_parse_version(output: str, want: tuple[int, int, int], text: str) -> None:
    version = parse_version(output)
    assert version is not None
    assert (version.major, version.minor, version.patch) == want
    assert str(version) == text


@pytest.mark.parametrize("output", ["", "proxysql: command not found\n",
                                    "Usage: something else 1.2.3\n", "ProxySQL version ?\n"])
def test_no_version_parsed(output: str) -> None:
    assert parse_version(output) is None


@pytest.mark.parametrize(("version", "ok"), [
    ("2.4.8", False), ("2.5.0", True), ("2.5.5", True), ("2.6.0", True), ("2.7.2", True),
    ("2.7.99", True), ("3.0.0", True), ("3.0.2", True), ("3.1.0", False), ("4.0.0", False),
    ("1.4.16", False),
])
def test_supported_range(version: str, ok: bool) -> None:
    parsed = parse_version(f"ProxySQL version {version}-0-gabc, codename Truls")
    assert parsed is not None and supported(parsed) is ok


def test_a_supported_version_is_not_refused() -> None:
    assert refusal("px1", 0, REAL_272) is None
    assert refusal("px1", 0, "ProxySQL stand-in 2.7.2-0-standin (moodle-wizard lab)") is None


def test_an_old_version_is_refused_naming_host_version_and_range() -> None:
    line = refusal("px2", 0, "ProxySQL version 2.4.8-0-g1d6f8d5, codename Truls\n")
    assert line is not None and "\n" not in line
    assert line.startswith("px2: ProxySQL 2.4.8-0-g1d6f8d5 is installed")
    assert SUPPORTED in line and "2.5.x to 3.0.x" in line
    assert "repo.proxysql.com" in line


def test_a_newer_series_is_refused() -> None:
    line = refusal("px1", 0, "ProxySQL version 3.1.0-0-g0000000, codename Truls")
    assert line is not None and "3.1.0-0-g0000000" in line and "2.5.x to 3.0.x" in line


def test_no_command_and_garbage_are_refused_clearly() -> None:
    missing = refusal("px1", 127, "sh: 1: exec: proxysql: not found\n")
    assert missing is not None and "px1" in missing and "no proxysql command" in missing
    garbage = refusal("px1", 0, "hello\n")
    assert garbage is not None and "'hello'" in garbage and "not a ProxySQL version" in garbage
    failed = refusal("px1", 1, "")
    assert failed is not None and "exit status 1" in failed


@dataclass
class _Target:
    name: str


class FakeHost:
    """A proxy host whose `proxysql --version` prints `output` (on stderr, as before 2.6)."""

    def __init__(self, name: str, output: str, status: int = 0) -> None:
        self.target = _Target(name)
        self.output, self.status = output, status
        self.ran: list[list[str]] = []

    async def run(self, argv: list[str], **_: Any) -> Result:
        self.ran.append(list(argv))
        return Result(self.status, "", self.output)


def test_version_refusal_reads_the_binary() -> None:
    host = FakeHost("px1", "ProxySQL version 2.3.2-0-g1111111, codename Truls\n")
    line = asyncio.run(version_refusal(host))  # type: ignore[arg-type]
    assert line is not None and line.startswith("px1: ProxySQL 2.3.2-0-g1111111 is installed")
    assert host.ran == [["sh", "-c", "exec proxysql --version 2>&1"]]


@pytest.mark.parametrize(("output", "refused"), [
    ("ProxySQL version 2.4.8-0-g1d6f8d5, codename Truls\n", True),
    (REAL_272, False),
])
def test_the_proxysql_preflight_refuses_an_unsupported_node(
        monkeypatch: pytest.MonkeyPatch, output: str, refused: bool) -> None:
    """An installed node with an unsupported ProxySQL: one error, before its admin login is
    even tried (the node is stopped without config databases here, so a supported one passes
    on the config file's default credentials)."""
    ctx = context("mariadb-10.11", monkeypatch)
    host = FakeHost("px1", output)

    async def fake_host(name: str) -> FakeHost:
        return host

    async def probe(_host: Any) -> dict[str, Any]:
        return {"installed": True, "running": False, "db_files": [], "files": [],
                "sqlite3": False}

    async def no_file(path: str) -> None:
        return None

    host.read_file = no_file  # type: ignore[attr-defined]
    monkeypatch.setattr(ctx, "host", fake_host)
    monkeypatch.setattr(proxysql_node, "probe", probe)
    step = ProxySQLStep(ctx)
    problems = asyncio.run(proxysql_preflight._node_preflight(
        step, "px1", "moodle", lambda: proxysql_preflight.PACKAGE_ADMIN_PASSWORD))
    if refused:
        assert [(p.level, p.message.split(";")[0]) for p in problems] == [
            ("error", "px1: ProxySQL 2.4.8-0-g1d6f8d5 is installed")]
    else:
        assert problems == []
