"""Step 4's preflight: what ProxySQL on the proxy hosts needs before the wizard changes
anything (steps/proxysql.py runs it). Each node is probed as it is: not installed, stopped with
or without a config database, or running, when its admin login and existing config are read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from moodle_wizard.core.facts import MoodleFacts
from moodle_wizard.core.remote import proxysql_node, proxysql_version
from moodle_wizard.core.remote.proxysql import AdminLoginRefused, AdminUnreachable, ProxySqlError
from moodle_wizard.core.render.proxysql import (
    cnf_admin_credentials,
    credentials_accept,
    proxysql_lag_warning,
)
from moodle_wizard.core.steps.base import Problem, Step, error, warning

__all__ = ["PACKAGE_ADMIN_PASSWORD", "preflight"]

DATADIR, CNF, REPO_SERIES = proxysql_node.DATADIR, proxysql_node.CNF, proxysql_node.REPO_SERIES
# The package's first-start admin password: public knowledge, so not a secret to mask.
PACKAGE_ADMIN_PASSWORD = "admin"


async def preflight(step: Step, moodle: Callable[[], MoodleFacts],
                    initial_password: Callable[[], str]) -> list[Problem]:
    """Problems found before anything changes: names ProxySQL cannot tell apart, a secret its
    config cannot hold, each node's state and admin login, a read-only user already there.
    `moodle` (discovery's facts) and `initial_password` are the step's own, asked for only
    when needed."""
    inv = step.ctx.inventory
    if not inv.proxies:
        return [error('the inventory has no host with role = "proxy"; add the ProxySQL '
                      "hosts (two, for the VIP) as [hosts.NAME] with role = \"proxy\"")]
    problems: list[Problem] = []
    cfg = inv.proxysql
    moodle_user = moodle().dbuser or ""
    if cfg.readonly_user == moodle_user:
        problems.append(error(f"proxysql.readonly_user is {moodle_user!r}, Moodle's own user; "
                              "ProxySQL routes by user name, so give it a name of its own"))
    if cfg.admin_user in (moodle_user, cfg.readonly_user, inv.migration.monitor_user):
        problems.append(error(f"proxysql.admin_user {cfg.admin_user!r} is also a database "
                              "user; ProxySQL refuses an admin user that is a mysql user: "
                              "choose another name"))
    lag = proxysql_lag_warning(step.dialect.version, cfg.max_replication_lag)
    if lag:
        problems.append(warning(lag))
    step.ctx.secrets.get("monitor_password")  # named now, not halfway through
    given = step.ctx.secrets.optional("proxysql_admin_password")
    # admin-admin_credentials is `user:pass;user:pass`: these characters would split it.
    if given is not None and set(given) & set(":; "):
        problems.append(error("the secret proxysql_admin_password contains ':', ';' or a "
                              "space, which ProxySQL's admin-admin_credentials cannot hold; "
                              "give one without them (or none: the wizard generates one)"))
    for found in await asyncio.gather(*(_node_preflight(step, px, moodle_user, initial_password)
                                         for px in inv.proxies)):
        problems += found
    if cfg.readonly_user:
        db = await step.ctx.db(inv.source)
        for px in inv.proxies:
            addr = inv.hosts[px].address
            if await db.query("SELECT 1 FROM mysql.user WHERE user = %s AND host = %s",
                              (cfg.readonly_user, addr)):
                problems.append(error(
                    f"the read-only user {cfg.readonly_user}@{addr} already exists on "
                    f"{inv.source} and was not made by this migration; drop it or choose "
                    "another proxysql.readonly_user"))
    return problems

async def _node_preflight(step: Step, px: str, moodle_user: str,
                          initial_password: Callable[[], str]) -> list[Problem]:
    host = await step.ctx.host(px)
    node = await proxysql_node.probe(host)
    user, password = step.ctx.inventory.proxysql.initial_admin_user, initial_password()
    fix = ("put ProxySQL's current admin password in the secret "
           "proxysql_initial_admin_password (environment variable "
           f"{step.ctx.secrets.env_name('proxysql_initial_admin_password')} or the secrets "
           "file), or set proxysql.initial_admin_user")
    if not node["installed"]:
        return [warning(f"{px}: ProxySQL is not installed; the wizard will install it from "
                        f"ProxySQL's package repository (repo.proxysql.com, {REPO_SERIES}), "
                        "which needs HTTPS access from the host")]
    refused = await proxysql_version.version_refusal(host)
    if refused is not None:
        return [error(refused)]
    if node["running"]:
        return await _running_node_preflight(step, px, user, password, moodle_user, fix)
    if "proxysql.db" in node["db_files"]:
        # A stopped node with a config database: the credentials are in there.
        if not node["sqlite3"]:
            return [warning(f"{px}: ProxySQL is stopped and has a configuration database; "
                            "its admin login is checked once it starts")]
        out = await host.run(
            ["sqlite3", "-readonly", f"{DATADIR}/proxysql.db", "SELECT variable_value FROM "
             "global_variables WHERE variable_name = 'admin-admin_credentials'"],
            check=False, display=f"read admin-admin_credentials from {DATADIR}/proxysql.db")
        creds, where = out.stdout.strip(), f"{DATADIR}/proxysql.db"
    else:
        # A first start takes the credentials from the config file (else the defaults).
        text = await host.read_file(CNF)
        creds = (cnf_admin_credentials(text.decode("utf-8", "replace")) if text else None) \
            or f"admin:{PACKAGE_ADMIN_PASSWORD}"
        where = CNF if text else "ProxySQL's defaults"
    if not credentials_accept(creds, user, password):
        return [error(f"{px}: ProxySQL's admin interface would not accept {user!r} with the "
                      f"given password (its admin credentials come from {where}); {fix}")]
    return []

async def _running_node_preflight(step: Step, px: str, user: str, password: str,
                                  moodle_user: str, fix: str) -> list[Problem]:
    cfg = step.ctx.inventory.proxysql
    port = cfg.admin_port
    try:
        admin = await step.ctx.proxysql_admin(px, user, password)
    except AdminLoginRefused as exc:
        return [error(f"{exc}; {fix}")]
    except AdminUnreachable as exc:
        return [error(f"{exc}: ProxySQL runs on {px} but its admin interface does not "
                      f"answer on 127.0.0.1:{port}; check admin-mysql_ifaces there, or set "
                      "proxysql.admin_port")]
    except ProxySqlError as exc:
        return [error(str(exc))]
    problems = []
    w, r = cfg.writer_hostgroup, cfg.reader_hostgroup
    taken = await admin.query("SELECT DISTINCT hostgroup_id AS hg FROM mysql_servers "
                              "WHERE hostgroup_id IN (%s, %s)", (w, r))
    users = [u for u in (moodle_user, cfg.readonly_user) if u]
    marks = ", ".join(["%s"] * len(users))
    known = await admin.query(f"SELECT DISTINCT username AS u FROM mysql_users WHERE "
                              f"username IN ({marks})", users)
    pairs = await admin.query("SELECT writer_hostgroup AS w FROM mysql_replication_hostgroups "
                              "WHERE writer_hostgroup IN (%s, %s) OR reader_hostgroup IN "
                              "(%s, %s)", (w, r, w, r))
    if taken or known or pairs:
        what = [f"hostgroup {row['hg']} has servers" for row in taken]
        what += [f"user {row['u']} exists" for row in known]
        what += ["a replication hostgroup pair uses them" for _ in pairs[:1]]
        problems.append(error(
            f"{px}: its running ProxySQL is already configured ({'; '.join(what)}); the "
            "wizard sets up a ProxySQL of its own: use an unconfigured one, or choose "
            "other proxysql.writer_hostgroup / reader_hostgroup"))
    return problems
