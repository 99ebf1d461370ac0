"""Issue 10, items 8, 9 and 13, on the lab's real app host (config.php root:www-data 0640):

- 8: a config.php that records who evaluates it and tries to write into /root: every
  evaluation of the wizard's discovery runs as www-data (not uid 0, no supplementary group),
  and nothing appears in /root;
- 9: config.php with a read-only replica block, as one array and as a list of instances, each
  password distinctive: after `run --until discover`, none of them is in the state file, in
  `status --facts`, in the audit log or in the runbook (`plan`);
- 13: a PHP evaluation killed half-way leaves no copy of config.php (no
  /tmp/moodle-wizard-*, no file holding its password) on the app host.

Each test puts config.php back byte for byte (cat into the same file: owner and mode kept).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import CONFIG
from tests.lab.wizard import LAB_INVENTORY, Wizard

SETUP = "require_once(__DIR__ . '/lib/setup.php');"


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w


@contextmanager
def config_php(lab: Lab, text: str) -> Iterator[str]:
    """config.php replaced by `text` for the block; the original back afterwards."""
    original = lab.exec("app", "cat", CONFIG).stdout
    before = lab.exec("app", "sh", "-c", f"stat -c '%U:%G %a' {CONFIG}; sha256sum {CONFIG}").stdout
    lab.exec("app", "sh", "-c", 'cat > "$0"', CONFIG, input=text.encode())
    try:
        yield original
    finally:
        lab.exec("app", "sh", "-c", 'cat > "$0"', CONFIG, input=original.encode())
        after = lab.exec("app", "sh", "-c", f"stat -c '%U:%G %a' {CONFIG}; sha256sum {CONFIG}")
        assert after.stdout == before


def with_line(original: str, line: str) -> str:
    assert SETUP in original
    return original.replace(SETUP, f"{line}\n{SETUP}")


def test_php_never_evaluates_config_php_as_root(running_lab: Lab, wizard: Wizard) -> None:
    lab, tag = running_lab, secrets.token_hex(4)
    record, pwned = f"/tmp/mw-who-{tag}", f"/root/pwned-{tag}"
    original = lab.exec("app", "cat", CONFIG).stdout
    assert lab.exec("app", "stat", "-c", "%U:%G %a", CONFIG).stdout.strip() == "root:www-data 640"
    hostile = with_line(original, (
        f"@file_put_contents('{record}', posix_geteuid() . ' ' . posix_getegid() . ' ' . "
        f"implode(',', posix_getgroups()) . \"\\n\", FILE_APPEND); @touch('{pwned}');"))
    try:
        with config_php(lab, hostile):
            run = wizard("run", "--inventory", LAB_INVENTORY, "--until", "discover")
            assert run.returncode == 0, run.stdout + run.stderr
        seen = lab.exec("app", "cat", record).stdout.splitlines()
        print(f"\nconfig.php evaluated {len(seen)} time(s) as (euid egid groups): {set(seen)}")
        assert seen, "config.php was evaluated"
        www = lab.exec("app", "id", "-u", "www-data").stdout.strip()
        assert {line.split(" ")[0] for line in seen} == {www}
        assert all(line.split(" ")[1] != "0" and "0" not in line.split(" ")[2].split(",")
                   for line in seen), seen
        assert lab.exec("app", "test", "-e", pwned, check=False).returncode != 0
    finally:
        lab.exec("app", "rm", "-f", record, pwned)


READONLY = {
    "one array": "$CFG->dboptions['readonly'] = ['instance' => ['dbhost' => '10.77.0.12', "
                 "'dbuser' => 'moodle_ro', 'dbpass' => 'RoSingle-{tag}-q7']];",
    "a list": "$CFG->dboptions['readonly'] = ['instance' => [['dbhost' => '10.77.0.12', "
              "'dbuser' => 'moodle_ro', 'dbpass' => 'RoFirst-{tag}-q8'], ['dbhost' => "
              "'10.77.0.13', 'dbpass' => 'RoSecond-{tag}-q9']], 'latency' => 1];",
}


@pytest.mark.parametrize("shape", READONLY)
def test_readonly_passwords_reach_no_record(running_lab: Lab, wizard: Wizard,
                                            shape: str) -> None:
    lab, tag = running_lab, secrets.token_hex(4)
    block = READONLY[shape].format(tag=tag)
    original = lab.exec("app", "cat", CONFIG).stdout
    passwords = re.findall(rf"Ro[A-Za-z]+-{tag}-q\d", block)
    assert len(passwords) == (1 if shape == "one array" else 2)
    with config_php(lab, with_line(original, block)):
        run = wizard("run", "--inventory", LAB_INVENTORY, "--until", "discover")
        assert run.returncode == 0, run.stdout + run.stderr
        facts = wizard("status", "--facts")
        runbook = wizard("plan", "--inventory", LAB_INVENTORY)
        assert runbook.returncode == 0, runbook.stderr
    records = {
        "run output": run.stdout + run.stderr,
        "state": lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.json").stdout,
        "status --facts": facts.stdout + facts.stderr,
        "audit log": lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log").stdout,
        "runbook": runbook.stdout + runbook.stderr,
    }
    for name, text in records.items():
        for password in passwords:
            assert password not in text and tag not in text, (name, password)
    # The block itself was read (its hosts are facts), only the passwords are masked.
    assert "10.77.0.12" in records["status --facts"] and "********" in records["state"]


def php_pids(lab: Lab) -> list[int]:
    out = lab.exec("app", "ps", "-eo", "pid=,args=").stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if line.split()[1:2] == ["php"] and CONFIG in line]


def test_a_killed_evaluation_leaves_no_copy(running_lab: Lab, wizard: Wizard) -> None:
    lab, tag = running_lab, secrets.token_hex(4)
    original = lab.exec("app", "cat", CONFIG).stdout
    marker = f"Hang-{tag}-pw"
    # A config.php that hangs (as a stuck include or DNS lookup would), with a password of
    # its own to look for afterwards.
    hanging = with_line(original, f"$CFG->mw_probe_pass = '{marker}'; sleep(120);")
    left_before = lab.exec("app", "sh", "-c", "ls -d /tmp/moodle-wizard-* 2>/dev/null; true")
    with config_php(lab, hanging):
        proc = wizard.spawn("run", "--inventory", LAB_INVENTORY, "--until", "discover")
        deadline = time.monotonic() + 60
        while not (pids := php_pids(lab)):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "discovery started PHP on app"
            time.sleep(0.05)
        lab.exec("app", "kill", "-KILL", *map(str, pids))
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    left = lab.exec("app", "sh", "-c", "ls -d /tmp/moodle-wizard-* 2>/dev/null; true").stdout
    assert left == left_before.stdout, left
    upper = Path("/srv/mwlab/hosts/app/upper")
    holders = [str(p) for part in ("tmp", "var/tmp", "run", "root", "var/www")
               for p in (upper / part).rglob("*")
               if p.is_file() and not p.is_symlink() and marker.encode() in p.read_bytes()]
    assert holders == []
