"""core/remote/known_hosts.py without a network: the policy's decision on a key known_hosts
does not know, what is appended, and matching by the inventory name OR the address."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import asyncssh
import pytest

from moodle_wizard.core.remote.errors import RemoteError, UnknownHostKey
from moodle_wizard.core.remote.known_hosts import (
    HostKeyPolicy,
    accept_new_key,
    append_known_host,
    fingerprint,
    lookup,
)
from moodle_wizard.core.remote.ssh import SshTarget

KEY = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
OTHER = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
DB1 = SshTarget("db1", "10.0.0.11")


def test_an_appended_key_is_found_by_name_and_by_address(tmp_path: Path) -> None:
    path = tmp_path / "ssh" / "known_hosts"
    append_known_host(path, DB1, KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("db1,10.0.0.11 ssh-ed25519 ")
    for target in (DB1, SshTarget("db1", "192.0.2.1"), SshTarget("other", "10.0.0.11")):
        keys = lookup(path, target)[0]
        assert {k.public_data for k in keys} == {KEY.public_data}, target
    assert lookup(path, SshTarget("db2", "10.0.0.12")) == ([], [], [], [], [], [], [])


def test_a_port_other_than_22_is_recorded_in_brackets(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# no newline at the end")
    target = SshTarget("db1", "10.0.0.11", port=2222)
    append_known_host(path, target, KEY)
    lines = path.read_text().splitlines()
    assert lines[0] == "# no newline at the end"
    assert lines[1].startswith("[db1]:2222,[10.0.0.11]:2222 ssh-ed25519 ")
    assert lookup(path, target)[0] and not lookup(path, DB1)[0]


def test_no_file_is_no_entry_and_an_unreadable_one_names_the_file(tmp_path: Path) -> None:
    assert lookup(tmp_path / "absent", DB1) == ([], [], [], [], [], [], [])
    bad = tmp_path / "known_hosts"
    bad.mkdir()  # exists, cannot be read as a file
    with pytest.raises(RemoteError, match=f"cannot read {bad}"):
        lookup(bad, DB1)


def test_a_key_is_appended_only_when_the_policy_accepts_it(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    asked: list[tuple[str, str]] = []

    async def no(host: str, fp: str) -> bool:
        asked.append((host, fp))
        return False

    async def yes(host: str, fp: str) -> bool:
        return True

    with pytest.raises(UnknownHostKey, match="--accept-host-key db1=SHA256:"):
        asyncio.run(accept_new_key(HostKeyPolicy(path), DB1, KEY))
    with pytest.raises(UnknownHostKey):
        asyncio.run(accept_new_key(HostKeyPolicy(path, ask=no), DB1, KEY))
    assert asked == [("db1", fingerprint(KEY))]
    wrong = HostKeyPolicy(path, accepted={"db1": fingerprint(OTHER)})
    with pytest.raises(UnknownHostKey, match="not the SHA256:"):
        asyncio.run(accept_new_key(wrong, DB1, KEY))
    assert not path.exists()
    # Accepted by address, given without the SHA256: prefix; or by the operator's answer.
    by_address = HostKeyPolicy(path, accepted={"10.0.0.11": fingerprint(KEY)[7:]})
    asyncio.run(accept_new_key(by_address, DB1, KEY))
    asyncio.run(accept_new_key(HostKeyPolicy(path, ask=yes), SshTarget("db2", "10.0.0.12"),
                               OTHER))
    assert [line.split()[0] for line in path.read_text().splitlines()] == [
        "db1,10.0.0.11", "db2,10.0.0.12"]
