"""Step 2: make the standalone server a replication source, and create the users the cluster
needs. Its config lives in one wizard-owned file; rollback removes it and what was created."""

from __future__ import annotations

from functools import partial

from moodle_wizard.core.command import Command, Sql, render_all, run_all
from moodle_wizard.core.facts import CnfBackup, PrepareSourceFacts
from moodle_wizard.core.remote.mysql import Database
from moodle_wizard.core.render.mycnf import (
    DEFAULT_LOG_BIN,
    BinlogDecision,
    SourceBinlog,
    render_source_cnf,
    server_cnf_path,
    source_binlog_plan,
)
from moodle_wizard.core.sql.accounts import copy_account_statements, password_hashes
from moodle_wizard.core.state import MigrationOrder, StepName
from moodle_wizard.core.steps import prepare_source_commands as cmd
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.base import (
    Action,
    Problem,
    Step,
    StepError,
    error,
    question,
    source_version,
)
from moodle_wizard.core.steps.discover import source_problems

# Re-exported: the other steps and finish import them from here.
from moodle_wizard.core.steps.prepare_source_commands import HEARTBEAT_DB as HEARTBEAT_DB
from moodle_wizard.core.steps.prepare_source_commands import HEARTBEAT_TABLE as HEARTBEAT_TABLE
from moodle_wizard.core.steps.prepare_source_commands import LOG_DIR as LOG_DIR
from moodle_wizard.core.steps.prepare_source_commands import service_name as service_name
from moodle_wizard.core.steps.source_binlog import (
    binlog_now,
    existing_replicas_line,
    runtime_changes,
    server_id_decision,
    unregistered_replicas,
)


class PrepareSource(Step):
    name = StepName.PREPARE_SOURCE
    title = "Prepare the source"
    summary = ("Turns on the binary log (ROW format, GTID) with a unique server_id in a "
               "wizard-owned config file, restarts the server if that is needed (only with "
               "your yes), creates the replication and ProxySQL monitor users, and grants "
               "the Moodle user from the proxy hosts.")

    def server_id(self) -> int:
        inv = self.ctx.inventory
        given = inv.hosts[inv.source].server_id
        return given or self.src.server_id or 1

    @property
    def facts(self) -> PrepareSourceFacts:
        return self.ctx.state.steps.prepare_source.facts

    def restart_needed(self) -> bool:
        s = self.src
        gtid_off = s.flavor != "mariadb" and (s.gtid.mode or "").upper() != "ON"
        listen = any(d.changed and d.setting == "bind_address" for d in self.binlog_plan())
        return (not s.log_bin or s.server_id != self.server_id()
                or not s.log_slave_updates or gtid_off or listen or tls_steps.enabled(self.ctx))

    def binlog_plan(self) -> list[BinlogDecision]:
        return source_binlog_plan(source_version(self.src), self.now())

    def now(self) -> SourceBinlog:
        """The source's setup as discovered, and the address the cluster reaches it on."""
        inv = self.ctx.inventory
        return binlog_now(self.src, inv.hosts[inv.source].address)

    def runtime_changes(self) -> list[tuple[str, str | int]]:
        """(variable, value) the step sets with SET GLOBAL when the source does not restart
        (its option file then holds them for the next start)."""
        return [] if self.restart_needed() else runtime_changes(self.binlog_plan())

    def cnf_path(self) -> str:
        return server_cnf_path(source_version(self.src))

    def cnf(self) -> str:
        return (render_source_cnf(source_version(self.src), self.server_id(), now=self.now())
                + tls_steps.cnf_lines(self.ctx))

    def accounts(self) -> list[tuple[str, str, str]]:
        """(purpose, user, host) of every account this step creates."""
        inv = self.ctx.inventory
        mig = inv.migration
        # The source's own address too: after a switchover it replicates from a replica.
        out = [("replication", mig.replication_user, inv.hosts[r].address)
               for r in (*inv.replicas, inv.source)]
        out += [("monitor", mig.monitor_user, inv.hosts[p].address) for p in inv.proxies]
        return out

    # -- the contract ------------------------------------------------------------------

    async def preflight(self) -> list[Problem]:
        problems = source_problems(self.src, self.ctx.inventory.migration.accept_non_innodb)
        inv = self.ctx.inventory
        mode = inv.migration.source_restart
        if self.restart_needed():
            effect = ("after the cutover, behind ProxySQL: Moodle's requests wait while it "
                      "restarts, 2.3 s in the lab, instead of failing" if self.restart_deferred()
                      else "while it restarts, Moodle's reads and writes fail: 2.3 s in the lab")
            what = (f"{inv.source}'s {service_name(self.src.flavor)} must restart once to "
                    f"{tls_steps.restart_reason(self)} ({effect})")
            if mode == "never":
                problems.append(error(f"{what}, and the inventory says source_restart = "
                                      "\"never\"; allow it (\"ask\" or \"allow\") or turn on "
                                      "log_bin yourself and run the wizard again"))
            elif mode != "allow":
                # Only the operator answers this, or the inventory in advance: a blanket
                # --yes in a script must not take Moodle down.
                problems.append(question(
                    f"{what}: restart it now? (To agree in advance, e.g. for `run --yes`, set "
                    "source_restart = \"allow\" in the inventory's [migration] section.)",
                    risky=True))
        problems += unregistered_replicas(self.src, inv.source)
        problems += await tls_steps.dir_problems(self.ctx, [inv.source])
        db = await self.ctx.db(inv.source)
        for purpose, user, host in self.accounts():
            rows = await db.query("SELECT 1 FROM mysql.user WHERE user = %s AND host = %s",
                                  (user, host))
            if rows:
                problems.append(error(
                    f"the {purpose} user {user}@{host} already exists on {inv.source} and was "
                    "not made by this migration; drop it or choose another name in the "
                    "inventory (migration.replication_user / monitor_user)"))
        for name in ("replication_password", "monitor_password"):
            self.ctx.secrets.get(name)  # missing secrets are named now, not halfway through
        return problems

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        src = inv.source
        decisions = [
            server_id_decision(self.src, src, self.server_id(), bool(inv.hosts[src].server_id)),
            *(d.text for d in self.binlog_plan()), existing_replicas_line(self.src, src)]
        actions = [*tls_steps.source_actions(self), Action(
            "config", f"Write {self.cnf_path()} (binary log, ROW, server_id "
            f"{self.server_id()})", self.write_config,
            [*(f"on {src}: {line}" for line in decisions),
             *render_all(self._config_commands())], done=self.config_written, host=src)]
        if self.restart_needed() and not self.restart_deferred():
            actions.append(self.restart_action())
        for name, value in self.runtime_changes():
            actions.append(Action(
                f"set:{name}", f"Set {name} = {value} now (no restart needed)",
                partial(self.set_global, name, value),
                [cmd.set_global(src, name, value).render()], host=src))
        for purpose, user, host in self.accounts():
            actions.append(Action(
                f"user:{user}@{host}", f"Create the {purpose} user {user}@{host}",
                partial(self.create_account, purpose, user, host),
                render_all(self._account_commands(purpose, user, host)), host=src))
        actions += tls_steps.require_actions(self, self.accounts())
        moodle_user = self._moodle_user()
        for proxy in inv.proxies:
            addr = inv.hosts[proxy].address
            actions.append(Action(
                f"moodle-grant:{addr}", f"Grant the Moodle user {moodle_user} from {proxy} "
                f"({addr})", partial(self.copy_moodle_account, addr),
                [*render_all(cmd.show_create_setup(src, self.dialect)),
                 f"on {src}: SHOW CREATE USER and SHOW GRANTS for {moodle_user} at an app "
                 f"host (nothing to do if {moodle_user}@{addr} or @'%' exists), then:",
                 *render_all(cmd.copy_account_plan(src, moodle_user, addr))],
                host=src))
        # Not a bare command_action: create_heartbeat records (before it runs the same
        # commands) whether the schema is the wizard's, which is what rollback drops.
        actions.append(Action(
            "heartbeat", f"Create {HEARTBEAT_DB}.{HEARTBEAT_TABLE} for replication markers",
            self.create_heartbeat, render_all(cmd.heartbeat(src)), host=src))
        return actions

    def restart_deferred(self) -> bool:
        """In the proxy-first order the restart waits until Moodle goes through ProxySQL: the
        replicas step runs it first (`restart_action`), behind ProxySQL."""
        return self.ctx.state.order == MigrationOrder.PROXY_FIRST

    def restart_action(self) -> Action:
        """The announced restart that applies the option file written here."""
        src, svc = self.ctx.inventory.source, cmd.service_name(self.src.flavor)
        what = ("Moodle's requests wait in ProxySQL until it is back" if self.restart_deferred()
                else "Moodle's reads and writes fail until it is back")
        runbook = [cmd.restart(src, self.src.flavor).render()]
        if self.restart_deferred():
            runbook.append(cmd.first_logged_write(src).render())
        return Action("source-restart" if self.restart_deferred() else "restart",
                      f"Restart {svc} on {src} (announced; {what})", self.restart,
                      runbook, done=self.binlog_on, host=src)

    def _config_commands(self) -> list[Command]:
        return cmd.config(self.ctx.inventory.source, self.cnf_path(), self.cnf(),
                          make_log_dir=not self.src.log_bin)

    def _account_commands(self, purpose: str, user: str, host: str) -> list[Command]:
        d = self.dialect
        if purpose == "replication":
            return cmd.create_account(self.ctx.inventory.source, d, user, host,
                                      "replication_password", d.grant_replication(user, host))
        return cmd.create_account(self.ctx.inventory.source, d, user, host, "monitor_password",
                                  d.grant_monitor(user, host))

    def _moodle_user(self) -> str:
        return self.discovered.dbuser

    # -- apply actions -----------------------------------------------------------------

    async def config_written(self) -> bool:
        host = await self.ctx.host(self.ctx.inventory.source)
        return await host.read_file(self.cnf_path()) == self.cnf().encode()

    async def write_config(self) -> None:
        host = await self.ctx.host(self.ctx.inventory.source)
        path = self.cnf_path()
        if self.facts.cnf is None:
            previous = await host.read_file(path)
            self.facts.binlogs_before = await self._binlog_files()
            self.facts.cnf = CnfBackup(
                path=path, previous=previous.decode() if previous is not None else None)
            self.ctx.save()  # before the change: rollback must know what was there
        if not self.src.log_bin:
            # Only a directory the wizard creates is the wizard's (rollback removes it if
            # empty): an existing one (Debian's is mysql:adm 2750) keeps its owner and mode.
            missing = (await host.run(["test", "-d", LOG_DIR], check=False)).exit_status != 0
            if missing and not self.facts.log_dir_created:
                self.facts.log_dir_created = True
                self.ctx.save()
        await run_all(self.ctx, self._config_commands())

    async def _binlog_files(self) -> list[str]:
        host = await self.ctx.host(self.ctx.inventory.source)
        out = await host.run(["sh", "-c", f"ls -1 {DEFAULT_LOG_BIN}.* 2>/dev/null || true"])
        return sorted(line for line in out.stdout.splitlines() if line.strip())

    async def binlog_on(self) -> bool:
        db = await self.ctx.db(self.ctx.inventory.source)
        row = await db.one("SELECT @@log_bin AS b, @@server_id AS s")
        return (bool(int(row["b"])) and int(row["s"]) == self.server_id()
                and await tls_steps.tls_ready(self.ctx, self.ctx.inventory.source))

    async def restart(self) -> None:
        await self._restart_source()
        if not await self.binlog_on():
            raise StepError(f"{self.ctx.inventory.source} restarted but its binary log or TLS "
                            f"is still off: another config file overrides {self.cnf_path()}?")
        if self.restart_deferred():
            await cmd.first_logged_write(self.ctx.inventory.source).run(self.ctx)

    async def _restart_source(self) -> None:
        src = self.ctx.inventory.source
        await self.ctx.forget_db(src)
        await cmd.restart(src, self.src.flavor).run(self.ctx)

    async def set_global(self, name: str, value: str | int) -> None:
        command = cmd.set_global(self.ctx.inventory.source, name, value)
        db = await self.ctx.db(self.ctx.inventory.source)
        before = self.facts.runtime_before
        if name not in before:
            before[name] = str(await db.variable(name))
            self.ctx.save()  # before the change: rollback sets it back
        await command.run(self.ctx)

    async def create_account(self, purpose: str, user: str, host: str) -> None:
        created = self.facts.accounts_created
        if (user, host) not in created:
            created.append((user, host))
            self.ctx.save()
        await run_all(self.ctx, self._account_commands(purpose, user, host))

    async def copy_moodle_account(self, new_host: str) -> None:
        db = await self.ctx.db(self.ctx.inventory.source)
        user = self._moodle_user()
        app_addrs = [self.ctx.inventory.hosts[a].address for a in self.ctx.inventory.apps]
        hosts = [str(r["h"]) for r in await db.query(
            "SELECT host AS h FROM mysql.user WHERE user = %s", (user,))]
        if new_host in hosts or "%" in hosts:
            return  # already allowed from there: nothing to add, nothing to undo
        old = next((h for h in hosts if h in app_addrs), None) or next(iter(hosts), None)
        if old is None:
            raise StepError(f"the Moodle user {user} from config.php has no account on "
                            f"{self.ctx.inventory.source}; check config.php's dbuser")
        await run_all(self.ctx, cmd.show_create_setup(self.ctx.inventory.source, self.dialect))
        create_rows = await db.run(db.dialect.show_create_user(user, old))
        create = next(iter(create_rows[0].values()))
        grants = [next(iter(r.values())) for r in await db.run(db.dialect.show_grants(user, old))]
        statements = copy_account_statements(grants, str(create), user, old, new_host)
        for stmt in statements:
            # A password hash is not the password, but it is enough to attack it offline.
            for value in password_hashes(stmt.sql):
                self.ctx.secrets.register("moodle_password_hash", value)
        created = self.facts.accounts_created
        if (user, new_host) not in created:
            created.append((user, new_host))
            self.ctx.save()
        await run_all(self.ctx, cmd.copy_account(self.ctx.inventory.source, statements))

    async def create_heartbeat(self) -> None:
        db = await self.ctx.db(self.ctx.inventory.source)
        exists = await db.query("SELECT 1 FROM information_schema.schemata WHERE "
                                "schema_name = %s", (HEARTBEAT_DB,))
        if not exists:
            self.facts.heartbeat_created = True
            self.ctx.save()
        await run_all(self.ctx, cmd.heartbeat(self.ctx.inventory.source))

    # -- verify and rollback -----------------------------------------------------------

    async def verify(self) -> None:
        db = await self.ctx.db(self.ctx.inventory.source)
        if self.restart_needed() and self.restart_deferred():
            # The settings apply at the restart the replicas step makes: here, the file.
            if not await self.config_written():
                raise StepError(f"{self.cnf_path()} on {self.ctx.inventory.source} is not "
                                "what the wizard wrote")
            await self._verify_accounts(db)
            return
        # GLOBAL: this session's binlog_format is the one it started with.
        row = await db.one("SELECT @@log_bin AS b, @@GLOBAL.binlog_format AS f, "
                           "@@server_id AS s")
        if not int(row["b"]) or str(row["f"]) != "ROW" or int(row["s"]) != self.server_id():
            raise StepError(f"{self.ctx.inventory.source}: after preparing, log_bin="
                            f"{row['b']} binlog_format={row['f']} server_id={row['s']}; "
                            f"expected 1, ROW, {self.server_id()}")
        await tls_steps.verify_source(self)
        await self._verify_accounts(db)

    async def _verify_accounts(self, db: Database) -> None:
        for _purpose, user, host in self.accounts():
            if not await db.query("SELECT 1 FROM mysql.user WHERE user=%s AND host=%s",
                                  (user, host)):
                raise StepError(f"user {user}@{host} is missing after it was created")

    def rollback_plan(self) -> list[Action]:
        src = self.ctx.inventory.source
        facts = self.facts
        actions = tls_steps.require_rollback(self, self.accounts())
        if facts.heartbeat_created:
            actions.append(self.command_action("heartbeat", f"Drop {HEARTBEAT_DB}",
                                               [cmd.drop_heartbeat(src)], host=src))
        for user, host in facts.accounts_created:
            actions.append(self.command_action(
                f"user:{user}@{host}", f"Drop {user}@{host}",
                [Sql(src, self.dialect.drop_user(user, host))], host=src))
        if facts.cnf is not None:
            path = facts.cnf.path
            actions.append(self.command_action(
                "config", f"Restore {path}", [cmd.restore_config(src, path, facts.cnf.previous)],
                host=src))
            for name, value in facts.runtime_before.items():
                actions.append(self.command_action(
                    f"set:{name}", f"Set {name} back to {value}",
                    [cmd.restore_global(src, name, value)], host=src))
            if self.restart_needed():
                svc = cmd.service_name(self.src.flavor)
                actions.append(Action("restart", f"Restart {svc} on {src} with its original "
                                      "settings (only if it runs with the wizard's)",
                                      self._restart_unless_original,
                                      [cmd.restart(src, self.src.flavor).render()],
                                      done=self.original_settings_back, host=src))
                actions.append(Action(
                    "binlogs", "Remove the binary logs the wizard's settings made (if there were "
                    "none before)", self.remove_new_binlogs,
                    render_all(cmd.remove_binlogs(src, None, log_dir=facts.log_dir_created)),
                    host=src))
        return actions + tls_steps.source_rollback(self)

    async def _restart_unless_original(self) -> None:
        # A server that never restarted with the wizard's file (the proxy-first order stopped
        # before the replicas step) runs with its original settings: no restart to undo.
        if not await self.original_settings_back():
            await self._restart_source()

    async def remove_new_binlogs(self) -> None:
        if not await self.original_settings_back() or self.src.log_bin:
            return  # the server still writes them: they are not ours to remove
        if self.facts.binlogs_before:
            # Older binary logs were there: their index now lists ours too, and editing it
            # by hand is riskier than leaving a few files behind.
            return
        files = await self._binlog_files()
        await run_all(self.ctx, cmd.remove_binlogs(self.ctx.inventory.source, files,
                                                   log_dir=self.facts.log_dir_created))

    async def original_settings_back(self) -> bool:
        db = await self.ctx.db(self.ctx.inventory.source)
        row = await db.one("SELECT @@log_bin AS b, @@server_id AS s, "
                           "@@GLOBAL.binlog_format AS f")
        same_log_bin = bool(int(row["b"])) == self.src.log_bin
        return (same_log_bin and int(row["s"]) == self.src.server_id
                and str(row["f"]) == self.src.binlog_format
                and not await tls_steps.serving_tls(self.ctx, self.ctx.inventory.source))
