"""Step 4: ProxySQL on every proxy host, with identical config, in front of the databases.

Per node: install it if missing (ProxySQL's own package repository), note what was there (is it
running, which config databases exist: copied aside before anything changes), start it, then
configure it through its admin interface: the servers (source in the writer hostgroup, replicas
in the reader hostgroup, moved by the `read_only` monitor), the Moodle user routed to the
writer, the optional read-only user routed to the readers, monitor credentials, the version it
announces (Moodle's), a generated admin user that replaces the package's admin:admin, and the
admin interface bound to 127.0.0.1 (the package listens on 0.0.0.0:6032, where a non-`admin`
admin user may log in from the network and read Moodle's password; the wizard reaches it over
SSH). Everything is loaded to RUNTIME and saved to DISK. Verify proves from another host that
the admin port refuses connections.

Rollback puts each node back as it was: ProxySQL stopped (or running, if it was), its config
databases restored from the copy (or removed, if there were none), the package removed if the
wizard installed it, the read-only DB user dropped.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from moodle_wizard.core.command import placeholder, render_all, run_all
from moodle_wizard.core.facts import MoodleFacts, ProxyNode, ProxySQLFacts
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote import proxysql_node
from moodle_wizard.core.remote.proxysql import (
    AdminUnreachable,
    ProxySqlAdmin,
)
from moodle_wizard.core.render.proxysql import (
    Backend,
    FrontendUser,
    ProxySqlConfig,
    admin_statements,
    mysql_statements,
    reads_summary,
)
from moodle_wizard.core.secrets import generate_password
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.state import MigrationOrder, StepName, StepStatus
from moodle_wizard.core.steps import (
    proxysql_cluster,
    proxysql_preflight,
    proxysql_verify,
    tls_steps,
)
from moodle_wizard.core.steps import proxysql_commands as pxcmd
from moodle_wizard.core.steps.base import Action, Problem, Step, StepError
from moodle_wizard.core.steps.proxysql_admin import initial_password, wizard_admin

DATADIR, REPO_SERIES = proxysql_node.DATADIR, proxysql_node.REPO_SERIES

BACKUP_BASE = pxcmd.BACKUP_BASE
START_TIMEOUT_S = 60.0


class ProxySQLStep(Step):
    name = StepName.PROXYSQL
    title = "ProxySQL on the proxy hosts"
    summary = ("Installs ProxySQL where it is missing, starts it, and configures every node "
               "the same way through its admin interface: the source in the writer hostgroup, "
               "the replicas in the reader hostgroup (moved by the read_only monitor), "
               "Moodle's user routed to the writer, the optional read-only user to the "
               "replicas, the monitor user, Moodle's server version, and a generated admin "
               "user instead of admin:admin. Loaded to runtime and saved to disk; verified "
               "by identical runtime config and by logging in through each node.")
    generated_secrets = ("proxysql_admin_password", "proxysql_readonly_password",
                         "proxysql_cluster_password")

    # -- shared values -------------------------------------------------------------------

    @property
    def cfg(self) -> Any:
        return self.ctx.inventory.proxysql

    @property
    def facts(self) -> ProxySQLFacts:
        return self.ctx.state.steps.proxysql.facts

    def moodle(self) -> MoodleFacts:
        return self.discovered.moodle

    def initial_password(self) -> str:
        return initial_password(self.ctx)

    def nodes(self) -> dict[str, ProxyNode]:
        return self.facts.nodes

    async def probe(self, px: str) -> dict[str, Any]:
        return await proxysql_node.probe(await self.ctx.host(px))

    # -- preflight -----------------------------------------------------------------------

    async def preflight(self) -> list[Problem]:
        return [*await proxysql_preflight.preflight(self, self.moodle, self.initial_password),
                *await proxysql_cluster.preflight(self)]

    # -- plan ----------------------------------------------------------------------------

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        actions: list[Action] = []
        if self.cfg.readonly_user:
            ro = self.cfg.readonly_user
            dbname = self.discovered.dbname
            actions.append(Action(
                "readonly-user", f"Create the read-only user {ro} on {inv.source} (from the "
                "proxy hosts)", self.create_readonly_user,
                [line for px in inv.proxies for line in render_all(pxcmd.readonly_user(
                    inv.source, self.dialect, ro, inv.hosts[px].address, dbname))],
                host=inv.source))
        for px in inv.proxies:
            actions += [
                Action(f"install:{px}", f"Install ProxySQL on {px} if it is missing",
                       partial(self.install, px),
                       [f"on {px}: only if ProxySQL is missing, its {REPO_SERIES} repository "
                        "of repo.proxysql.com and its package:",
                        *render_all(proxysql_node.install_commands(px))],
                       done=partial(self.installed, px), host=px),
                Action(f"record:{px}", f"Note ProxySQL's state on {px} and copy its config "
                       "databases aside", partial(self.record, px),
                       [f"on {px}: is ProxySQL running, which files are in {DATADIR}",
                        pxcmd.record(px, None, placeholder("time")).render()], host=px),
                Action(f"start:{px}", f"Start ProxySQL on {px}", partial(self.start, px),
                       [pxcmd.start(px, note="if it does not run").render(),
                        f"on {px}: wait for the admin interface on "
                        f"127.0.0.1:{self.cfg.admin_port}"], host=px),
                Action(f"configure:{px}", f"Configure ProxySQL on {px}",
                       partial(self.configure, px),
                       [f"on {px}: {self.reads_line()}",
                        *(f"on {px}, admin 127.0.0.1:{self.cfg.admin_port} through SSH: {line}"
                          for line in self._runbook_sql())], host=px),
            ]
        return actions + proxysql_cluster.plan(self)  # none while proxysql.cluster is off

    def reads_line(self) -> str:
        """Where the reader hostgroup sends reads, and its lag limit, in words."""
        return reads_summary(self.ctx.inventory.source, self.serving_replicas(),
                             self.cfg.max_replication_lag)

    def _runbook_sql(self) -> list[str]:
        """The admin statements with placeholder secrets (no secret is needed to show them)."""
        cfg = self._config_with(MASK, MASK, MASK, MASK, self.serving_replicas())
        out = []
        for stmt in [*mysql_statements(cfg), *admin_statements(cfg)]:
            out.append(_display(stmt))
        return out

    # -- apply ---------------------------------------------------------------------------

    async def installed(self, px: str) -> bool:
        return bool((await self.probe(px))["installed"])

    async def install(self, px: str) -> None:
        if await self.installed(px):
            return
        installed = self.facts.installed
        if px not in installed:
            installed.append(px)
            self.ctx.save()  # before the change: rollback must know it was the wizard's
        await proxysql_node.install(await self.ctx.host(px))

    async def record(self, px: str) -> None:
        if px in self.nodes():
            return  # recorded before a crash: what is there now may be the wizard's own
        node = await self.probe(px)
        backup = None
        if node["db_files"]:
            stamp = time.strftime('%Y%m%d%H%M%S')
            backup = pxcmd.backup_dir(px, stamp)
            await pxcmd.record(px, node["db_files"], stamp).run(self.ctx)
        self.nodes()[px] = ProxyNode(was_running=node["running"], db_files=node["db_files"],
                                     files=node["files"], backup=backup)
        self.ctx.save()

    async def start(self, px: str) -> None:
        if not (await self.probe(px))["running"]:
            await self.ctx.forget_proxysql_admin(px)
            await pxcmd.start(px).run(self.ctx)
        failures: list[AdminUnreachable] = []

        async def admin_open() -> bool | None:
            try:
                await self.admin(px)
                return True
            except AdminUnreachable as exc:
                failures.append(exc)
                return None

        await poll_until(admin_open, timeout_s=START_TIMEOUT_S, interval_s=0.3,
                         what=lambda: f"{failures[-1]}; ProxySQL on {px} did not open its admin "
                                      f"interface within {START_TIMEOUT_S:.0f} s of starting: "
                                      f"see {DATADIR}/proxysql.log there")

    async def admin(self, px: str) -> ProxySqlAdmin:
        """The admin connection (core/steps/proxysql_admin.py)."""
        return await wizard_admin(self.ctx, px)

    async def configure(self, px: str) -> None:
        admin = await self.admin(px)
        node = self.nodes().get(px)
        if node is not None and not node.admin_ifaces_read:
            # What the admin interface listened on before (shown by the rollback, which puts
            # it back with the node's own config databases).
            rows = await admin.query("SELECT variable_value AS v FROM runtime_global_variables "
                                     "WHERE variable_name = 'admin-mysql_ifaces'")
            node.admin_ifaces = str(rows[0]["v"]) if rows else None
            node.admin_ifaces_read = True
            self.ctx.save()
        cfg = await self.config()
        for stmt in mysql_statements(cfg):
            await admin.run(stmt)
        got = await admin.variables(cfg.variables)
        wrong = [n for n, v in cfg.variables.items() if got.get(n) != v]
        if wrong:
            raise StepError(f"{px}: ProxySQL did not take {', '.join(wrong)} (unknown to this "
                            "ProxySQL version?)")
        for stmt in admin_statements(cfg):
            await admin.run(stmt)
        await self.ctx.forget_proxysql_admin(px)  # the old credentials are gone

    def serving_replicas(self) -> list[str]:
        """The replicas ProxySQL sends reads to: all of them once the replicas step is done;
        none before (the proxy-first order configures ProxySQL before there are replicas,
        and the replicas step adds them as they are ready)."""
        state = self.ctx.state
        done = state.steps.replicas.status == StepStatus.DONE
        first = state.order == MigrationOrder.PROXY_FIRST
        return list(self.ctx.inventory.replicas) if done or not first else []

    async def config(self, replicas: list[str] | None = None) -> ProxySqlConfig:
        """The one config every node gets (generated secrets are persisted before use), with
        `replicas` as readers (default: the serving ones)."""
        ro_password = ""
        if self.cfg.readonly_user:
            ro_password = self.ctx.secrets.generated("proxysql_readonly_password",
                                                     generate_password)
        return self._config_with(
            await self.ctx.moodle_password(), ro_password,
            self.ctx.secrets.get("monitor_password"),
            self.ctx.secrets.generated("proxysql_admin_password", generate_password),
            self.serving_replicas() if replicas is None else replicas)

    def _config_with(self, moodle_pw: str, ro_pw: str, monitor_pw: str,
                     admin_pw: str, replicas: list[str]) -> ProxySqlConfig:
        inv, cfg, moodle = self.ctx.inventory, self.cfg, self.moodle()
        # Each server where it listens: one port names every database server (the replicas
        # listen on the source's).
        w, r = cfg.writer_hostgroup, cfg.reader_hostgroup
        port = int(self.src.port)
        servers = (Backend(w, inv.hosts[inv.source].address, port),
                   *(Backend(r, inv.hosts[x].address, port) for x in replicas))
        dbname = moodle.dbname or ""
        users = [FrontendUser(moodle.dbuser or "", moodle_pw, w, dbname)]
        if cfg.readonly_user:
            # Always the readers: the source is one too (the low-weight fallback of
            # render/proxysql.py server_rows), so without replicas yet (proxy-first), or with
            # none serving, Moodle's safe reads reach the source instead of failing.
            users.append(FrontendUser(cfg.readonly_user, ro_pw, r, dbname))
        return ProxySqlConfig(
            writer_hostgroup=w, reader_hostgroup=r, servers=servers, users=tuple(users),
            monitor_user=inv.migration.monitor_user, monitor_password=monitor_pw,
            server_version=str(self.src.server_version), admin_user=cfg.admin_user,
            admin_password=admin_pw, max_replication_lag=cfg.max_replication_lag,
            admin_ifaces=f"127.0.0.1:{cfg.admin_port}", use_ssl=inv.migration.tls)

    async def create_readonly_user(self) -> None:
        inv, ro = self.ctx.inventory, self.cfg.readonly_user
        assert ro is not None
        dbname = self.discovered.dbname
        created = self.facts.accounts_created
        for px in inv.proxies:
            addr = inv.hosts[px].address
            if (ro, addr) not in created:
                created.append((ro, addr))
                self.ctx.save()  # before the change
            await run_all(self.ctx, pxcmd.readonly_user(inv.source, self.dialect, ro, addr,
                                                        dbname))

    # -- verify --------------------------------------------------------------------------

    async def verify(self) -> None:
        await proxysql_verify.verify(self)
        await proxysql_cluster.verify(self)
        await tls_steps.backend_ciphers(self, self.cfg.client_port)

    # -- rollback ------------------------------------------------------------------------

    def rollback_plan(self) -> list[Action]:
        inv = self.ctx.inventory
        actions = []
        for px in reversed(inv.proxies):
            node = self.facts.nodes.get(px)
            if node is None:
                continue
            # admin-mysql_ifaces lives in those files (or in proxysql.cnf, which a first
            # start reads): said, as nothing else shows it.
            ifaces = ([f"on {px}: admin-mysql_ifaces is {node.admin_ifaces} again, as it was"]
                      if node.admin_ifaces else [])
            actions += proxysql_cluster.rollback_before(self, px)
            actions.append(Action(
                f"restore:{px}", f"Put ProxySQL on {px} back as it was", partial(self.restore, px),
                [*render_all(pxcmd.restore_plan(px, node.backup, node.was_running)), *ifaces],
                host=px))
            actions += proxysql_cluster.rollback_after(self, px)
        for px in self.facts.installed:
            actions.append(Action(f"uninstall:{px}", f"Remove ProxySQL from {px}",
                                  partial(self.uninstall, px),
                                  [proxysql_node.uninstall_command(px).render()],
                                  host=px))
        if self.facts.accounts_created:
            actions.append(self.command_action(
                "readonly-user", f"Drop the read-only user on {inv.source}",
                [pxcmd.drop_user(inv.source, self.dialect, u, h)
                 for u, h in self.facts.accounts_created], host=inv.source))
        return actions

    async def restore(self, px: str) -> None:
        node = self.facts.nodes[px]
        await self.ctx.forget_proxysql_admin(px)
        probe = await self.probe(px)
        if probe["running"]:
            await pxcmd.stop(px).run(self.ctx)
            if (await self.probe(px))["running"]:
                raise StepError(f"{px}: ProxySQL still runs after `service proxysql stop`; "
                                "stop it and run the rollback again")
        # What ProxySQL made there (its config and stats databases, the TLS files a real
        # ProxySQL generates on its first start); its log stays: it is the node's history.
        keep = set(node.files)
        new = [f"{DATADIR}/{f}" for f in probe["files"] if f not in keep
               and not f.endswith(".log") and f != "proxysql.pid"]
        if new:
            await pxcmd.remove_new(px, new).run(self.ctx)
        if node.backup:
            await pxcmd.put_back(px, node.backup).run(self.ctx)
        if node.was_running:
            await pxcmd.start(px).run(self.ctx)
        await pxcmd.remove_backup_base(px).run(self.ctx)

    async def uninstall(self, px: str) -> None:
        await proxysql_node.uninstall(await self.ctx.host(px))



def _display(stmt: Any) -> str:
    """A statement for the runbook: values quoted as ProxySQL's SQLite wants them."""
    if not stmt.params:
        return str(stmt.sql)
    shown = [str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"
             for v in stmt.params]
    return str(stmt.sql % tuple(shown))
