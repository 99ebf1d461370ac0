"""Issue 10, items 6, 8 and 9, with a faked app host whose PHP is this machine's real PHP:

- 6: the cutover's rollback refuses to write the original config.php over a change someone
  made after the cutover; the refusal shows the change with its secrets masked and names
  `--force-config`; with Context.force_config it overwrites; an unchanged file rolls back;
- 8: every PHP that evaluates or lints config.php runs as the file's owner or www-data (under
  setpriv), never as root; with neither, the wizard refuses;
- 9: the read-only replicas' passwords, in every shape Moodle accepts, never reach the facts.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine, MigrationError
from moodle_wizard.core.facts import AppCutover
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.ssh import Result, SshTarget
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import StepName, StepStatus, new_state
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.cutover import Cutover, sha256
from moodle_wizard.core.steps.discover import Discover

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")

PATH = "/var/www/moodle/config.php"
INVENTORY = Inventory.model_validate({
    "migration": {"name": "t", "moodle_config": PATH},
    "vip": {"address": "10.0.0.100", "interface": "eth0"},
    "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
              "db2": {"address": "10.0.0.2", "role": "replica"},
              "px1": {"address": "10.0.0.21", "role": "proxy"},
              "px2": {"address": "10.0.0.22", "role": "proxy"},
              "app": {"address": "10.0.0.3", "role": "app"}},
})

CONFIG = """<?php
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = 'mariadb';
$CFG->dblibrary = 'native';
$CFG->dbhost    = '10.0.0.1';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = 'PRIMARY-pw-71';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => '',
  'dbsocket' => '',
  'dbcollation' => 'utf8mb4_unicode_ci',
  {readonly}
);
$CFG->wwwroot   = 'http://10.0.0.3/moodle';
require_once(__DIR__ . '/lib/setup.php');
"""
# Every shape lib/dml/moodle_read_slave_trait.php accepts for 'instance'.
SHAPES = {
    "one array": "'readonly' => ['instance' => ['dbhost' => 'ro1', 'dbuser' => 'ro', "
                 "'dbpass' => 'RO-single-72']],",
    "a list": "'readonly' => ['instance' => [['dbhost' => 'ro1', 'dbpass' => 'RO-first-73'], "
              "['dbhost' => 'ro2', 'dbuser' => 'ro', 'dbpass' => 'RO-second-74']]],",
    "host names": "'readonly' => ['instance' => ['ro1', 'ro2'], 'latency' => 1],",
    "one host name": "'readonly' => ['instance' => 'ro1'],",
}
PASSWORDS = re.compile(r"(PRIMARY|RO)-[a-z]+-7\d")


class FakeApp:
    """The app host: files in a dict, `id`/`stat` answered from `who`, PHP run for real here
    (with the privilege-dropping prefix taken off and recorded)."""

    def __init__(self, who: str, files: dict[str, bytes]) -> None:
        self.target = SshTarget(name="app", address="10.0.0.3")
        self.who = who
        self.files = files
        self.php_runs: list[list[str]] = []
        self.commands: list[list[str]] = []

    async def run(self, argv: Sequence[str], *, input: str | bytes | None = None,
                  check: bool = True, display: str | None = None, **_: Any) -> Result:
        argv = list(argv)
        self.commands.append(argv)
        if argv[:2] == ["sh", "-c"] and "id -u" in argv[2]:
            return Result(0, self.who, "")
        if "php" in argv:
            self.php_runs.append(argv)
            php = argv[argv.index("php"):]
            # The edit is evaluated with its logins off; the discovery's logins need a server,
            # so none is tried here (mysqli may be missing): only the evaluation matters.
            if isinstance(input, str):
                input = input.replace("; ?>", "; $mw_no_connect = true; ?>", 1)
            proc = subprocess.run(php, input=input.encode() if isinstance(input, str) else input,
                                  capture_output=True, timeout=30)
            return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        return Result(0, "", "")

    async def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o644,
                         atomic: bool = True) -> None:
        self.files[path] = data


ROOT_OWNED = "me 0\nowner 0 33\nweb 33 33\nsetpriv yes\n"


def make_ctx(tmp_path: Path, host: FakeApp, inventory: Inventory = INVENTORY) -> Context:
    secrets = SecretStore()
    state = new_state("t", "inv.toml")

    async def confirm(message: str, risky: bool) -> bool:
        return False

    ctx = Context(inventory, state, tmp_path / "t.json", secrets, None,  # type: ignore[arg-type]
                  AuditLog(None, secrets), lambda e: None, confirm)

    async def fake_host(name: str) -> FakeApp:
        return host

    ctx.host = fake_host  # type: ignore[assignment,method-assign]
    return ctx


# -- item 8: never as root ----------------------------------------------------------------------

def assert_never_root(host: FakeApp, uid: int) -> None:
    assert host.php_runs, "PHP ran"
    for argv in host.php_runs:
        assert argv[0] == "setpriv", argv
        assert f"--reuid={uid}" in argv and "--no-new-privs" in argv and \
            "--clear-groups" in argv, argv
        assert argv.index("php") > 0


@pytest.mark.parametrize(("who", "uid"), [(ROOT_OWNED, 33),
                                          ("me 0\nowner 1001 1002\nweb 33 33\nsetpriv yes\n",
                                           1001)])
async def test_discovery_and_cutover_run_php_as_owner_or_www_data(
        tmp_path: Path, who: str, uid: int) -> None:
    host = FakeApp(who, {PATH: CONFIG.format(readonly="").encode()})
    ctx = make_ctx(tmp_path, host)
    ctx.state.steps.discover.facts.moodle = await Discover(ctx)._moodle()
    assert_never_root(host, uid)
    host.php_runs.clear()
    problems = await Cutover(ctx).preflight()
    assert problems == []
    # php -l and the evaluation of the edit, both dropped to the same user.
    assert any("-l" in argv for argv in host.php_runs)
    assert_never_root(host, uid)


async def test_root_owned_config_without_www_data_is_refused(tmp_path: Path) -> None:
    host = FakeApp("me 0\nowner 0 0\nsetpriv yes\n", {PATH: CONFIG.format(readonly="").encode()})
    with pytest.raises(StepError, match=r"never evaluates config\.php with PHP as root"):
        await Discover(make_ctx(tmp_path, host))._moodle()
    assert host.php_runs == []


async def test_a_non_root_ssh_user_runs_php_itself(tmp_path: Path) -> None:
    host = FakeApp("me 1000\n", {PATH: CONFIG.format(readonly="").encode()})
    await Discover(make_ctx(tmp_path, host))._moodle()
    assert host.php_runs and all(argv[0] == "php" for argv in host.php_runs)


# -- item 9: every password config.php holds is a secret ------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
async def test_readonly_passwords_never_reach_the_facts(tmp_path: Path, shape: str) -> None:
    host = FakeApp(ROOT_OWNED, {PATH: CONFIG.format(readonly=SHAPES[shape]).encode()})
    ctx = make_ctx(tmp_path, host)
    facts = await Discover(ctx)._moodle()
    text = facts.model_dump_json()
    assert PASSWORDS.search(text) is None, text
    # Each one is known to the SecretStore, so every log line and message masks it.
    values = [m.group(0) for m in PASSWORDS.finditer(CONFIG.format(readonly=SHAPES[shape]))]
    assert values
    for value in values:
        assert ctx.secrets.mask(f"x {value} y") == "x ******** y"
    # The shape itself is kept (hosts, users), only the passwords are masked.
    assert "ro1" in text
    ctx.state.steps.discover.facts.moodle = facts
    ctx.save()  # the state's own guard: it refuses to save a known secret
    assert PASSWORDS.search((tmp_path / "t.json").read_text()) is None


# -- item 6: a config.php changed after the cutover is not overwritten ----------------------

def cut_over(tmp_path: Path) -> tuple[Context, FakeApp, Cutover, bytes, bytes]:
    """The journal and the host as a finished cutover leaves them."""
    original = CONFIG.format(readonly="").encode()
    host = FakeApp(ROOT_OWNED, {PATH: original})
    ctx = make_ctx(tmp_path, host)
    ctx.secrets.register("moodle_db_password", "PRIMARY-pw-71")
    step = Cutover(ctx)
    edited = step.edit(original, "")
    backup = "/var/backups/moodle-wizard/config.php.app.20260101000000"
    host.files.update({backup: original, PATH: edited})
    ctx.state.step(StepName.CUTOVER).status = StepStatus.DONE
    ctx.state.steps.cutover.facts.apps = {"app": AppCutover(
        path=PATH, backup=backup, mode="640", sha256_before=sha256(original),
        sha256_after=sha256(edited))}
    return ctx, host, step, original, edited


async def test_rollback_of_an_unchanged_config_php_restores_it(tmp_path: Path) -> None:
    _, host, step, original, _ = cut_over(tmp_path)
    for action in step.rollback_plan():
        await action.run()
    assert host.files[PATH] == original
    assert ["rm", "-f", "--", "/var/backups/moodle-wizard/config.php.app.20260101000000"] in \
        host.commands


async def test_rollback_refuses_over_a_later_change_and_shows_it_masked(tmp_path: Path) -> None:
    ctx, host, step, original, edited = cut_over(tmp_path)
    # Someone changes the password (one the wizard has never seen) and a setting.
    changed = edited.replace(b"'PRIMARY-pw-71'", b"'NEW-secret-pw-99'").replace(
        b"$CFG->prefix", b"$CFG->dbpass    = 'NEW-secret-pw-99';\n$CFG->prefix").replace(
        b"http://10.0.0.3/moodle", b"https://moodle.example")
    host.files[PATH] = changed
    with pytest.raises(StepError) as refused:
        for action in step.rollback_plan():
            await action.run()
    message = str(refused.value)
    assert host.files[PATH] == changed, "the operator's change is kept"
    assert "changed by someone else after the cutover" in message
    assert "moodle-wizard rollback --force-config" in message
    assert "-$CFG->wwwroot   = 'http://10.0.0.3/moodle';" in message
    assert "+$CFG->wwwroot   = 'https://moodle.example';" in message
    assert "$CFG->dbpass    = '********';" in message  # context line, masked
    assert "NEW-secret-pw-99" not in message and "PRIMARY-pw-71" not in message
    assert hashlib.sha256(host.files["/var/backups/moodle-wizard/config.php.app."
                                     "20260101000000"]).hexdigest() == sha256(original)
    # Forced (the flag reaches the step through the Context): the original goes back.
    ctx.force_config = True
    for action in Cutover(ctx).rollback_plan():
        await action.run()
    assert host.files[PATH] == original


async def test_rollback_refuses_when_config_php_was_removed(tmp_path: Path) -> None:
    _, host, step, _, _ = cut_over(tmp_path)
    del host.files[PATH]
    with pytest.raises(StepError, match=r"(?s)has been removed since the cutover.*--force-config"):
        for action in step.rollback_plan():
            await action.run()
    assert PATH not in host.files


async def test_a_refused_rollback_leaves_the_cutover_done(tmp_path: Path) -> None:
    """Nothing was undone, so the journal still says done: `resume` and `finish` see the
    cutover as it is, not a rollback stuck half-way."""
    ctx, host, _, _, edited = cut_over(tmp_path)
    host.files[PATH] = edited + b"// the admin's own line\n"
    with pytest.raises(MigrationError, match=r"rollback of cutover: .*changed by someone else"):
        await Engine(ctx).rollback(StepName.CUTOVER)
    record = ctx.state.step(StepName.CUTOVER)
    assert record.status == StepStatus.DONE
    assert record.last_error and "--force-config" in record.last_error
    assert host.files[PATH].endswith(b"// the admin's own line\n")
