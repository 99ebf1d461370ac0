"""install_packages: installs only what dpkg says is missing, records it before apt-get runs,
and the command that runs is the runbook's text. The replicas and vip steps use it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moodle_wizard.core.remote.packages import install_command, install_packages
from moodle_wizard.core.remote.ssh import Result


class FakeHost:
    """dpkg lists `present` as installed; apt-get "installs" (and can fail)."""

    def __init__(self, present: set[str], *, apt_fails: bool = False) -> None:
        self.present = set(present)
        self.apt_fails = apt_fails
        self.commands: list[str] = []
        self.events: list[str] = []

    async def run(self, argv: list[str], **_: Any) -> Result:
        script = argv[-1]
        self.commands.append(script)
        if script.startswith("dpkg-query"):
            names = script.split("\\n' ", 1)[1].split(" 2>")[0].split()
            return Result(0, "".join(f"{n} install ok installed\n" for n in names
                                     if n in self.present), "")
        self.events.append("apt-get")
        if self.apt_fails:
            raise RuntimeError("apt-get failed half-way")
        self.present |= set(script.split("--no-install-recommends ")[1].split(" <")[0].split())
        return Result(0, "", "")


def test_installs_only_the_missing_and_records_them_first() -> None:
    host = FakeHost({"mariadb-client"})
    recorded: list[list[str]] = []

    def record(missing: list[str]) -> None:
        host.events.append("record")
        recorded.append(missing)

    got = asyncio.run(install_packages(host,  # type: ignore[arg-type]
                                       ["mariadb-server", "mariadb-backup", "mariadb-client"],
                                       record=record))
    assert got == ["mariadb-server", "mariadb-backup"]
    assert recorded == [got]
    assert host.events == ["record", "apt-get"], "recorded before apt-get runs"
    apt = host.commands[-1]
    assert install_command(got) in apt
    assert ("; DEBIAN_FRONTEND=noninteractive apt-get install" in apt
            and apt.endswith(" </dev/null"))
    # The package lists are fetched only when apt-get has no candidate for one of them.
    assert apt.startswith("apt-get -s -q install mariadb-server mariadb-backup >/dev/null "
                          "2>&1 || apt-get update -q; ")


def test_nothing_missing_runs_no_apt_get_and_records_nothing() -> None:
    host = FakeHost({"keepalived"})
    recorded: list[list[str]] = []
    got = asyncio.run(install_packages(host, ["keepalived"],  # type: ignore[arg-type]
                                       record=recorded.append))
    assert got == []
    assert recorded == []
    assert "apt-get" not in host.events


def test_a_failed_install_is_still_recorded() -> None:
    host = FakeHost(set(), apt_fails=True)
    recorded: list[list[str]] = []
    with pytest.raises(RuntimeError):
        asyncio.run(install_packages(host, ["keepalived"],  # type: ignore[arg-type]
                                     record=recorded.append))
    assert recorded == [["keepalived"]], "rollback must know what may be half-installed"


def test_install_command_is_the_runbook_text() -> None:
    assert (install_command(["mariadb-server", "mariadb-backup"])
            == "apt-get install -y --no-install-recommends mariadb-server mariadb-backup")
