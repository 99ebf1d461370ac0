"""Issue 10 item 7 on real hosts: nothing root uses can have been prepared by another user.

A local user who created the wizard's directories first (jobs, seed stage) gets a clear
refusal, and nothing of theirs runs or is used; a planted or leftover seed key is never
reused; the seed key's authorized_keys line is removed exactly, the operator's own lines
(one of them mentioning "moodle-wizard-seed") and the file's mode and owner kept.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from moodle_wizard.core.remote import privatedir
from moodle_wizard.core.remote.jobs import DEFAULT_BASE_DIR, start_job
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget
from moodle_wizard.core.steps.replicas import seed, seed_key
from moodle_wizard.lab import lab
from tests.lab.conftest import Lab
from tests.lab.test_migration_replicas import roll_back_to
from tests.lab.wizard import Wizard, lab_snapshot

KEY = str(lab.LABDIR / "ssh" / "id_ed25519")
AK = "/root/.ssh/authorized_keys"
ALLOW_RESTART = {'source_restart = "ask"': 'source_restart = "allow"'}
NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"


@dataclass
class Hosts:
    lab: Lab
    pool: SshPool

    async def connect(self, name: str) -> RemoteHost:
        return await self.pool.connect(SshTarget(name, self.lab.topo.host_address(name),
                                                 client_keys=(KEY,)))

    def sh(self, host: str, script: str, check: bool = True) -> str:
        return self.lab.exec(host, "sh", "-c", script, check=check).stdout


@pytest.fixture
def base_aside(running_lab: Lab) -> Iterator[None]:
    """The wizard's base on db1 and db3 moved aside for the test and put back after it."""
    aside = f"{privatedir.BASE_DIR}.test-{secrets.token_hex(4)}"
    move = (f"if [ -e {privatedir.BASE_DIR} ]; then mv {privatedir.BASE_DIR} {aside}; fi")
    back = (f"rm -rf {privatedir.BASE_DIR}; "
            f"if [ -e {aside} ]; then mv {aside} {privatedir.BASE_DIR}; fi")
    for host in ("db1", "db3"):
        running_lab.exec(host, "sh", "-c", move)
    try:
        yield
    finally:
        for host in ("db1", "db3"):
            running_lab.exec(host, "sh", "-c", back)


@pytest.fixture
async def hosts(running_lab: Lab, base_aside: None) -> AsyncIterator[Hosts]:
    known = lab.LABDIR / "ssh" / "known_hosts"
    async with SshPool(HostKeyPolicy(known), connect_timeout=5) as pool:
        yield Hosts(running_lab, pool)


@pytest.mark.parametrize("how", ["jobs nobody's", "base nobody's", "jobs 0777",
                                 "base symlink"])
async def test_a_jobs_directory_someone_else_made_first_is_refused(hosts: Hosts,
                                                                   how: str) -> None:
    base, jobs = privatedir.BASE_DIR, DEFAULT_BASE_DIR
    ran = f"/tmp/mw-ran-{secrets.token_hex(4)}"
    if how == "base symlink":
        # A user's own directory, reached through a link in place of the base.
        hosts.sh("db3", f"d=$(mktemp -d); chown 65534:65534 $d; ln -s $d {base}; "
                        f"{NOBODY} sh -c 'umask 0; mkdir -m 0777 {jobs}'")
        bad = f"{base}: it is a symbolic link"
    elif how == "base nobody's":
        hosts.sh("db3", f"install -d -m 0755 -o 65534 -g 65534 {base}; "
                        f"{NOBODY} sh -c 'mkdir -m 0700 {jobs}'")
        bad = f"{base}: it is owned by uid 65534 (nobody), not root"
    else:
        # The base root's and open to look into (fine: only its own component must be 0700).
        hosts.sh("db3", f"install -d -m 0755 {base}; install -d -m 0700 {jobs}")
        if how == "jobs nobody's":
            hosts.sh("db3", f"chown 65534:65534 {jobs}")
            bad = f"{jobs}: it is owned by uid 65534 (nobody), not root"
        else:
            hosts.sh("db3", f"chmod 0777 {jobs}")
            bad = f"{jobs}: it has mode 0777: group or others can write to it"
    # What they prepared: a staged job whose runner would run as root.
    hosts.sh("db3", f"{NOBODY} sh -c 'mkdir -p {jobs}/.stage-t-1-x/secret {jobs}/t-1 && "
                    f"printf \"#!/bin/sh\\ntouch {ran}\\n\" > {jobs}/.stage-t-1-x/runner'")
    before = hosts.sh("db3", f"find -L {base} -printf '%p %u %m\\n' | sort")
    db3 = await hosts.connect("db3")
    with pytest.raises(privatedir.UnsafeDirectory) as refused:
        await start_job(db3, "t-1", f"touch {ran}\n")
    message = str(refused.value)
    assert message.startswith(f"db3: unsafe directory {bad}"), message
    assert "remove it or fix its owner/mode" in message
    assert "the wizard will not use a directory it cannot prove is root's own" in message
    assert hosts.sh("db3", f"test -e {ran} && echo ran || true").strip() == ""
    assert hosts.sh("db3", f"find -L {base} -printf '%p %u %m\\n' | sort") == before, \
        "nothing of theirs was touched, nothing added"


async def test_jobs_start_in_a_base_the_wizard_makes_itself(hosts: Hosts) -> None:
    db3 = await hosts.connect("db3")
    ref = await start_job(db3, f"t-{secrets.token_hex(3)}", "true\n")
    modes = hosts.sh("db3", f"stat -c '%n %U %a' {privatedir.BASE_DIR} {DEFAULT_BASE_DIR} "
                            f"{ref.directory}")
    assert modes.split("\n")[:3] == [f"{privatedir.BASE_DIR} root 700",
                                     f"{DEFAULT_BASE_DIR} root 700", f"{ref.directory} root 700"]


def keypair(hosts: Hosts, host: str, path: str) -> str:
    hosts.sh(host, f"rm -f {path} {path}.pub; ssh-keygen -q -t ed25519 -N '' -C planted "
                   f"-f {path}")
    return hosts.sh(host, f"cat {path}.pub").strip()


@pytest.fixture
def operator_keys(running_lab: Lab) -> Iterator[str]:
    """db2's authorized_keys with lines of the operator's own added (one mentions
    moodle-wizard-seed), mode 0640; restored byte for byte afterwards."""
    original = running_lab.exec("db2", "sh", "-c", f"base64 {AK}; stat -c '%a %u %g' {AK}"
                                ).stdout
    *encoded, meta = original.strip().split("\n")
    mode, uid, gid = meta.split()
    own = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGbA6BfIJofAA3CvMEtrolLcifUS+yzuOFBDfWsBWGwp "
           "alice: my old moodle-wizard-seed test key\n"
           "# moodle-wizard-seed: see the runbook\n")
    running_lab.exec("db2", "sh", "-c", f"cat >> {AK}; chmod 0640 {AK}", input=own.encode())
    try:
        yield running_lab.exec("db2", "cat", AK).stdout
    finally:
        running_lab.exec("db2", "sh", "-c", f"base64 -d > {AK}.mwtest && chown {uid}:{gid} "
                         f"{AK}.mwtest && chmod {mode} {AK}.mwtest && mv {AK}.mwtest {AK}",
                         input="\n".join(encoded).encode())


async def test_a_planted_or_leftover_seed_key_is_not_reused(hosts: Hosts) -> None:
    stage = seed.SEED_DIR
    hosts.sh("db1", f"install -d -m 0700 {privatedir.BASE_DIR} {stage}")
    leftover = keypair(hosts, "db1", f"{stage}/seed_key")
    theirs = keypair(hosts, "db1", f"{privatedir.BASE_DIR}/theirs")
    # A second public key line: before, it would have been authorized unrestricted.
    hosts.sh("db1", f"echo '{theirs}' >> {stage}/seed_key.pub")
    db1 = await hosts.connect("db1")
    pub = await seed_key.generate(db1, seed_key.marker("t"))
    assert pub.split()[1] not in (leftover.split()[1], theirs.split()[1])
    on_disk = hosts.sh("db1", f"cat {stage}/seed_key.pub; ssh-keygen -y -f {stage}/seed_key")
    assert [line.split()[:2] for line in on_disk.splitlines()] == [pub.split()] * 2


async def test_the_seed_key_line_is_removed_exactly(hosts: Hosts, operator_keys: str) -> None:
    """Before, `grep -v moodle-wizard-seed` also removed the operator's own lines that
    mention it; now exactly the line added goes, and the file keeps its mode and owner."""
    db1, db2 = await hosts.connect("db1"), await hosts.connect("db2")
    mark = seed_key.marker(f"t{secrets.token_hex(3)}")
    pub = await seed_key.generate(db1, mark)
    line = seed.authorized_key_line(f"{pub} {mark}", hosts.lab.topo.host_address("db1"),
                                    "cat > /dev/null")
    await seed_key.authorize(db2, line, mark)
    assert hosts.sh("db2", f"cat {AK}") == operator_keys + line + "\n"
    # The key works from the source, for its one command only.
    out = hosts.sh("db1", f"echo data | ssh -i {seed.SEED_DIR}/seed_key -o IdentitiesOnly=yes "
                          "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile="
                          f"/dev/null root@{hosts.lab.topo.host_address('db2')} id; echo rc=$?")
    assert out.strip().endswith("rc=0") and "uid=" not in out

    await seed_key.unauthorize(db2, [mark])
    assert hosts.sh("db2", f"cat {AK}") == operator_keys
    assert hosts.sh("db2", f"stat -c '%a %U' {AK}").strip() == "640 root"


async def test_a_seed_stage_someone_else_owns_is_refused(hosts: Hosts) -> None:
    stage = seed.SEED_DIR
    hosts.sh("db1", f"install -d -m 0700 {privatedir.BASE_DIR}; "
                    f"install -d -m 0700 -o 65534 -g 65534 {stage}")
    planted = keypair(hosts, "db1", f"{stage}/seed_key")
    db1 = await hosts.connect("db1")
    with pytest.raises(privatedir.UnsafeDirectory,
                       match=f"unsafe directory {stage}: it is owned by uid 65534"):
        await seed_key.generate(db1, seed_key.marker("t"))
    assert hosts.sh("db1", f"cat {stage}/seed_key.pub").strip() == planted


def test_the_wizard_uses_a_fresh_key_and_leaves_the_operators_lines(running_lab: Lab,
                                                                     operator_keys: str) -> None:
    """The whole replicas step through the wizard, with a key pair left in the stage (its
    public half two lines long) and an operator's line on db2 that mentions the marker text:
    a new key is made and authorized, and the step's own cleanup, then the rollback, leave
    db2's authorized_keys exactly as the operator had it."""
    stage = seed.SEED_DIR
    running_lab.exec("db1", "sh", "-c", f"install -d -m 0700 {privatedir.BASE_DIR} {stage}")
    planted = []
    for name in ("seed_key", "theirs"):
        running_lab.exec("db1", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "planted",
                         "-f", f"{stage}/{name}")
        planted.append(running_lab.exec("db1", "cat", f"{stage}/{name}.pub").stdout.split()[1])
    running_lab.exec("db1", "sh", "-c", f"cat {stage}/theirs.pub >> {stage}/seed_key.pub")
    before = lab_snapshot(running_lab)
    with Wizard(running_lab) as wizard:
        inventory = wizard.inventory("fresh-key", **ALLOW_RESTART)
        try:
            run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
            assert run.returncode == 0, run.stdout + run.stderr
            facts = wizard.state()["steps"]["replicas"]["facts"]["seed_key"]
            assert facts["marker"] == "moodle-wizard-seed-mwlab"
            audit = running_lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log"
                                     ).stdout
            added = [line for line in audit.splitlines() if "append to " + AK in line]
            assert len(added) == 2 and all(line.endswith(" moodle-wizard-seed-mwlab")
                                           for line in added), added
            assert not any(key in audit for key in planted), "the planted key was not used"
            # The step's cleanup already took the line out again; the operator's stay.
            assert running_lab.exec("db2", "cat", AK).stdout == operator_keys
            assert running_lab.exec("db1", "sh", "-c", f"ls -A {stage} 2>&1 || true"
                                    ).stdout.strip().endswith("No such file or directory")
        finally:
            # Whatever failed above, the lab is left as it was for the next test.
            roll_back_to(running_lab, wizard, before)
            running_lab.exec("db1", "rm", "-rf", stage)
    assert running_lab.exec("db2", "cat", AK).stdout == operator_keys
    assert running_lab.exec("db2", "stat", "-c", "%a %U", AK).stdout.strip() == "640 root"
