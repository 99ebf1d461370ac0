"""Step 6: point Moodle at the VIP. Every app host's config.php changes in two places (three with
the read-only block): `$CFG->dbhost` becomes the VIP, `dboptions['dbport']` ProxySQL's client
port, and optionally `dboptions['readonly']` names the read-only user; every other byte stays.

Per app host: the original bytes are copied aside on that host first (0600), the edit is made
from that copy and checked by PHP itself (`php -l`, then evaluating it with lib/setup.php
neutralised) and by a real mysqli login through the VIP with the edited file's own settings,
all before config.php is replaced (atomically; owner, group and mode kept). PHP runs as the
file's owner or the web server's user, never as root (core/moodle_config.py).

Rollback writes the original bytes back and checks their sha256, but only over the file the
cutover wrote: if someone changed config.php since, it refuses and shows the change (secrets
masked) unless the operator forces it (`rollback --force-config`, Context.force_config).
The copy's path is in the state; `moodle-wizard finish` removes it once the migration is done.
"""

from __future__ import annotations

import hashlib
import time
from functools import partial
from typing import Any

from moodle_wizard.core.command import placeholder, render_all, run_all
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.facts import AppCutover, CutoverFacts, LoginServer, MoodleConfig
from moodle_wizard.core.moodle_config import evaluate_config, php_lint, read_moodle_config
from moodle_wizard.core.render.configphp import (
    ConfigPhpError,
    ReadonlyReplica,
    ReadonlySettings,
    edit_config_php,
)
from moodle_wizard.core.render.configphp_diff import config_php_diff
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.state import ActionStatus, StepName, StepStatus
from moodle_wizard.core.steps import cutover_commands as cutcmd
from moodle_wizard.core.steps.base import Action, Problem, Step, StepError, error

BACKUP_BASE = cutcmd.BACKUP_BASE


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _changed_lines(diff: str) -> int:
    return sum(1 for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---")))


class ConfigChangedError(StepError):
    """config.php is no longer what the cutover wrote: someone changed it since."""


class Cutover(Step):
    name = StepName.CUTOVER
    title = "Point Moodle at the VIP"
    summary = ("Changes only $CFG->dbhost (the VIP) and dboptions['dbport'] (ProxySQL's port) "
               "in config.php on every app host, and adds the read-only block if there is a "
               "read-only user. The original is kept on the host; the edit is checked by PHP "
               "and by a real login through the VIP before it replaces config.php.")

    # -- what the edit is ---------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.ctx.inventory.migration.moodle_config

    @property
    def facts(self) -> CutoverFacts:
        return self.ctx.state.steps.cutover.facts

    def apps_facts(self) -> dict[str, AppCutover]:
        return self.facts.apps

    def readonly(self, password: str) -> ReadonlySettings | None:
        inv = self.ctx.inventory
        if not inv.proxysql.readonly_user or inv.vip is None:
            return None
        return ReadonlySettings((ReadonlyReplica(
            dbhost=inv.vip.address, dbport=inv.proxysql.client_port,
            dbuser=inv.proxysql.readonly_user, dbpass=password),))

    def edit(self, original: bytes, ro_password: str) -> bytes:
        inv = self.ctx.inventory
        assert inv.vip is not None
        return edit_config_php(original, dbhost=inv.vip.address,
                               dbport=inv.proxysql.client_port,
                               readonly=self.readonly(ro_password))

    def ro_password(self) -> str:
        if not self.ctx.inventory.proxysql.readonly_user:
            return ""
        value = self.ctx.secrets.generated_value("proxysql_readonly_password")
        if value is None:
            raise StepError("the read-only user's password is missing from the migration's "
                            "generated secrets; run the proxysql step first")
        return value

    # -- preflight ------------------------------------------------------------------------

    async def preflight(self) -> list[Problem]:
        inv = self.ctx.inventory
        if inv.vip is None:
            return [error("the inventory has no [vip] section, so there is nothing to point "
                          "Moodle at; add [vip] with address = ...")]
        problems: list[Problem] = []
        for app in inv.apps:
            problems += await self._app_preflight(app)
        return problems

    async def _app_preflight(self, app: str) -> list[Problem]:
        host = await self.ctx.host(app)
        path = self.path
        user = "root (through sudo)" if host.target.sudo else host.target.user
        writable = await host.run(["sh", "-c", 'test -w "$1" && test -w "$(dirname -- "$1")"',
                                   "sh", path], check=False)
        if writable.exit_status != 0:
            return [error(f"{app}: {path} (or its directory) is not writable by {user}; the "
                          "cutover replaces it atomically (a new file renamed over it): make "
                          "the file and its directory writable for that user (a read-only "
                          "mount, chattr +i or permissions), then run again")]
        original = await host.read_file(path)
        if original is None:
            return [error(f"{app}: {path} does not exist; set migration.moodle_config")]
        try:
            # The real password is generated later; the edit's shape does not depend on it.
            edited = self.edit(original, MASK)
        except ConfigPhpError as exc:
            return [error(f"{app}: {path} cannot be changed safely: {exc}")]
        lint = await php_lint(host, path, edited)
        if lint is not None:
            return [error(f"{app}: the edited {path} would not be valid PHP ({lint}); this is "
                          "a bug in the wizard's edit: change dbhost and dbport by hand")]
        return self._check_evaluated(app, await evaluate_config(host, path, edited,
                                                                connect=False))

    def _check_evaluated(self, app: str, got: dict[str, Any]) -> list[Problem]:
        """The edited file, as PHP sees it, changes what it should and nothing else."""
        inv = self.ctx.inventory
        assert inv.vip is not None
        before = self.ctx.state.steps.discover.facts.require_moodle().apps[app]
        after = MoodleConfig.evaluated(got)
        problems = []
        if after.dbhost != inv.vip.address or after.dbport != str(inv.proxysql.client_port):
            problems.append(error(f"{app}: after the edit PHP still sees dbhost "
                                  f"{after.dbhost!r}, dbport {after.dbport!r}: "
                                  "something later in config.php overrides them; change them "
                                  "by hand"))
        keep = {"dbtype", "dbname", "dbuser", "prefix", "wwwroot"}
        was, now = before.model_dump(include=keep), after.model_dump(include=keep)
        for key in sorted(keep):
            if now[key] != was[key]:
                problems.append(error(f"{app}: the edit would change {key} ({was[key]!r}"
                                      f" -> {now[key]!r}); the wizard changes only dbhost "
                                      "and dboptions"))
        return problems

    # -- plan -----------------------------------------------------------------------------

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        vip = inv.vip.address if inv.vip else "<vip>"
        port = inv.proxysql.client_port
        ro = inv.proxysql.readonly_user
        change = [f"$CFG->dbhost = '{vip}'", f"dboptions['dbport'] => {port}"]
        if ro:
            change.append(f"dboptions['readonly'] => ['instance' => [['dbhost' => '{vip}', "
                          f"'dbport' => {port}, 'dbuser' => '{ro}', 'dbpass' => '{MASK}'"
                          "]]]")
        actions = []
        for app in inv.apps:
            actions.append(Action(
                f"backup:{app}", f"Copy config.php on {app} aside", partial(self.backup, app),
                [*render_all(cutcmd.backup(app, None, placeholder("time"))),
                 f"on {app}: read the copy back (it must be identical); note its sha256"],
                host=app))
        for app in inv.apps:
            actions.append(Action(
                f"validate:{app}", f"Check the edited config.php on {app} with PHP and a login "
                "through the VIP", partial(self.validate, app),
                [f"edit (only these, every other byte kept): {'; '.join(change)}",
                 f"on {app}: php -l (edited text on stdin); evaluate it with lib/setup.php "
                 "neutralised; mysqli login with its settings through the VIP"], host=app))
        for app in inv.apps:
            actions.append(Action(
                f"write:{app}", f"Replace config.php on {app}", partial(self.write, app),
                [cutcmd.write(app, self.path, None, self._mode(app)).render()],
                done=partial(self.written, app), host=app))
        return actions

    def _mode(self, app: str) -> int | None:
        """config.php's mode as the backup recorded it (None before)."""
        recorded = self.facts.apps.get(app)
        return int(recorded.mode, 8) if recorded is not None else None

    # -- apply ----------------------------------------------------------------------------

    async def backup(self, app: str) -> None:
        if app in self.apps_facts():
            return  # copied before a crash: the file may be the edited one by now
        host = await self.ctx.host(app)
        original = await host.read_file(self.path)
        if original is None:
            raise StepError(f"{app}: {self.path} does not exist")
        mode = (await host.run(["stat", "-L", "-c", "%a", self.path])).stdout.strip()
        stamp = time.strftime('%Y%m%d%H%M%S')
        backup = cutcmd.backup_path(app, stamp)
        await run_all(self.ctx, cutcmd.backup(app, original, stamp))
        if await host.read_file(backup) != original:
            raise StepError(f"{app}: the copy {backup} of config.php does not read back "
                            "identical; check the disk")
        self.apps_facts()[app] = AppCutover(path=self.path, backup=backup, mode=mode,
                                            sha256_before=sha256(original))
        self.ctx.save()

    async def original(self, app: str) -> bytes:
        """The original bytes, from the copy on the app host (checked by its sha256)."""
        facts = self.apps_facts()[app]
        host = await self.ctx.host(app)
        data = await host.read_file(facts.backup)
        if data is None or sha256(data) != facts.sha256_before:
            raise StepError(f"{app}: the copy of the original config.php at {facts.backup} "
                            "is missing or changed; restore config.php from your own backup")
        return data

    async def validate(self, app: str) -> None:
        host = await self.ctx.host(app)
        original = await self.original(app)
        edited = self.edit(original, self.ro_password())
        lint = await php_lint(host, self.path, edited)
        if lint is not None:
            raise StepError(f"{app}: the edited config.php is not valid PHP ({lint})")
        got = await evaluate_config(host, self.path, edited, connect=True)
        problems = self._check_evaluated(app, got)
        if problems:
            raise StepError(problems[0].message)
        self._check_logins(app, got, "with the edited config.php (not written yet)")
        self.apps_facts()[app].sha256_after = sha256(edited)
        self.ctx.save()

    def _check_logins(self, app: str, got: dict[str, Any], when: str) -> None:
        vip = self.ctx.inventory.vip
        assert vip is not None
        connect = MoodleConfig.evaluated(got).connect
        if connect is None or not connect.ok:
            why = (connect.error if connect else None) or "no mysqli"
            raise StepError(f"{app}: Moodle's login through the VIP {vip.address} fails {when}: "
                            f"{why}; config.php is unchanged")
        server = connect.server or LoginServer()
        if server.read_only not in ("0", None):
            raise StepError(f"{app}: through the VIP Moodle reached a read-only server "
                            f"({server.host}) {when}")
        if self.ctx.inventory.proxysql.readonly_user:
            ro = MoodleConfig.evaluated(got).connect_readonly
            if ro is None or not ro.ok:
                why = (ro.error if ro else None) or "not tried"
                raise StepError(f"{app}: the read-only login through the VIP fails {when}: "
                                f"{why}; config.php is unchanged")

    async def written(self, app: str) -> bool:
        recorded = self.apps_facts().get(app)
        after = recorded.sha256_after if recorded else None
        host = await self.ctx.host(app)
        data = await host.read_file(self.path)
        return after is not None and data is not None and sha256(data) == after

    async def write(self, app: str) -> None:
        facts = self.apps_facts()[app]
        original = await self.original(app)
        ro = self.ro_password()
        edited = self.edit(original, ro)
        if sha256(edited) != facts.sha256_after:
            raise StepError(f"{app}: the edit differs from the one validated; roll back the "
                            "cutover and run it again")
        secrets = [s for s in (ro, await self.ctx.moodle_password()) if s]
        for line in config_php_diff(original, edited, secrets=secrets,
                                    filename=self.path).splitlines():
            self.ctx.emit(OutputLine(self.name, app, self.ctx.secrets.mask(line)))
        await cutcmd.write(app, self.path, edited, int(facts.mode, 8)).run(self.ctx)

    # -- verify ---------------------------------------------------------------------------

    async def verify(self) -> None:
        for app in self.ctx.inventory.apps:
            host = await self.ctx.host(app)
            data = await host.read_file(self.path)
            facts = self.apps_facts()[app]
            if data is None or sha256(data) != facts.sha256_after:
                raise StepError(f"{app}: {self.path} is not the edited file after writing it")
            # As Moodle reads it, in place: its settings and a login through the VIP.
            got = await read_moodle_config(host, self.path)
            self._check_logins(app, got, "after the cutover")
            connect = MoodleConfig.evaluated(got).connect
            facts.reached = connect.server.host if connect and connect.server else None
        self.ctx.save()

    # -- rollback -------------------------------------------------------------------------

    def rollback_plan(self) -> list[Action]:
        actions = []
        for app, facts in self.facts.apps.items():
            actions.append(Action(
                f"restore:{app}", f"Put the original config.php back on {app}",
                partial(self.restore, app),
                [f"on {app}: check that {facts.path} is still what the cutover wrote "
                 f"(sha256 {facts.sha256_after or '(not written)'}), else refuse and show "
                 f"the change (--force-config overwrites it); the bytes of {facts.backup} "
                 f"(checked: sha256 {facts.sha256_before}), read back after writing:",
                 *render_all(cutcmd.restore(app, facts.path, int(facts.mode, 8),
                                            facts.backup))], host=app))
        return actions

    async def rollback_preflight(self) -> None:
        """A config.php someone changed after the cutover is refused before the rollback
        undoes any step (in the proxy-first order the replicas step is undone first)."""
        for app, facts in self.facts.apps.items():
            host = await self.ctx.host(app)
            await self._refuse_a_changed(app, await host.read_file(facts.path))

    async def _refuse_a_changed(self, app: str, current: bytes | None) -> bool:
        """Raise ConfigChangedError when `current` is neither the original nor what the
        cutover wrote (unless --force-config); True when it must be overwritten anyway."""
        facts = self.apps_facts()[app]
        if current is not None and sha256(current) in (facts.sha256_before, facts.sha256_after):
            return False
        if not self.ctx.force_config:
            # Journaled, so the dashboard can offer the forced retry.
            facts.changed_since_cutover = True
            self._still_applied()
            self.ctx.save()
            raise ConfigChangedError(await self._changed(app, current))
        return True

    async def restore(self, app: str) -> None:
        facts = self.apps_facts()[app]
        host = await self.ctx.host(app)
        current = await host.read_file(facts.path)
        now = sha256(current) if current is not None else None
        if now != facts.sha256_before:
            if await self._refuse_a_changed(app, current):
                self.ctx.emit(OutputLine(self.name, app, f"{facts.path} was changed after "
                                         "the cutover; overwriting it (--force-config)"))
            original = await self.original(app)
            await cutcmd.put_back(app, facts.path, original, int(facts.mode, 8)).run(self.ctx)
            back = await host.read_file(facts.path)
            if back is None or sha256(back) != facts.sha256_before:
                raise StepError(f"{app}: {facts.path} does not read back as the original "
                                f"after restoring it; its copy is still at {facts.backup}")
        facts.changed_since_cutover = False
        self.ctx.save()
        await run_all(self.ctx, cutcmd.remove_copy(app, facts.backup))

    def _still_applied(self) -> None:
        """A refusal before any config.php was put back undid nothing: the cutover is still
        applied, and the journal says so (done), so that `resume` and `finish` see it as it is
        instead of a rollback stuck half-way."""
        record = self.ctx.state.step(self.name)
        if not any(a.id.startswith("rollback:") and a.status == ActionStatus.DONE
                   for a in record.actions):
            record.status = StepStatus.DONE

    async def _changed(self, app: str, current: bytes | None) -> str:
        """The refusal: what changed since the cutover wrote config.php, secrets masked, and
        how to go on either way."""
        facts = self.apps_facts()[app]
        path = facts.path
        original = await self.original(app)
        secrets = [s for s in self.ctx.secrets.values() if s]
        try:
            written = self.edit(original, self.ro_password())
            label = "written by the cutover"
            if sha256(written) != facts.sha256_after:
                raise StepError("the edit is not the one written")
        except (StepError, ConfigPhpError):
            # The cutover never wrote it (or its edit cannot be rebuilt): compare with the
            # original, which the rollback would write.
            written, label = original, "original, before the cutover"
        if current is None:
            what = f"{path} has been removed since the cutover"
            diff = ""
        else:
            what = f"{path} was changed by someone else after the cutover"
            diff = config_php_diff(written, current, secrets=secrets, filename=path,
                                   labels=(label, "now"))
            raw = config_php_diff(written, current, filename=path, mask=False)
            if _changed_lines(raw) > _changed_lines(diff):
                diff += "(and lines that differ only in a password or another secret, not "\
                        "shown)\n"
        return self.ctx.secrets.mask(
            f"{app}: {what}; the rollback will not overwrite that change with the original "
            f"(it is still at {facts.backup}).\n{diff}Keep the change: leave the cutover "
            f"rolled forward and edit config.php by hand. Replace it with the original from "
            f"before the cutover anyway: moodle-wizard rollback --force-config (in the wizard, "
            f"answer yes to overwriting it)")
