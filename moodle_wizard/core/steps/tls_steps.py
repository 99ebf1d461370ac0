"""TLS (core/tls.py) in the steps that make each change: prepare-source (the CA, the source's
certificate, its option file's TLS lines loaded by its restart, the replication and monitor
users required to use TLS), the replicas step (each replica's certificate and option file,
replication over TLS), ProxySQL (use_ssl on its backends). Each part here is called by its
step's plan, verify and rollback; with `tls` off (the default) none adds anything.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import aiomysql
import pymysql

from moodle_wizard.core import tls
from moodle_wizard.core.command import Command, Script, Sql, render_all
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.remote.mysql import driver_password
from moodle_wizard.core.render.mycnf import render_client_defaults
from moodle_wizard.core.sql.version import ServerVersion
from moodle_wizard.core.steps.base import Action, Problem, StepError, error

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.steps.base import Step

__all__ = ["backend_ciphers", "dir_problems", "host_action", "host_rollback",
           "replication_ciphers", "require_actions", "require_rollback", "restart_reason",
           "serving_tls", "source_actions", "source_rollback", "verify_source"]



# -- preflight -----------------------------------------------------------------------------


async def dir_problems(ctx: Context, hosts: list[str]) -> list[Problem]:
    """A TLS directory on a host that is not this migration's (it is never touched)."""
    if not tls.enabled(ctx):
        return []
    out = []
    for h in hosts:
        host = await ctx.host(h)
        res = await host.script(tls.check_script(tls.owner_token(ctx)), check=False)
        if res.exit_status:
            out.append(error(f"{h}: {tls.TLS_DIR} exists and was not made by this migration; "
                             "move it away (the wizard keeps its certificates there) or set "
                             "migration.tls = false"))
    return out


# -- prepare-source ------------------------------------------------------------------------


def restart_reason(step: Step) -> str:
    """Why the source restarts, in the preflight question and the plan."""
    if not tls.enabled(step.ctx):
        return "turn on the binary log"
    if step.src.log_bin:
        return ("load its TLS certificate (the binary log is already on: this restart is for "
                "TLS alone)")
    return "turn on the binary log and load its TLS certificate"


def host_action(step: Step, host: str) -> Action:
    """`host`'s key (made there), its CSR signed here, the certificates put back."""
    return Action(f"tls:{host}", f"Make {host}'s TLS key there and sign its certificate with "
                  "the migration's CA", partial(tls.make_host_certificate, step.ctx, host),
                  render_all(tls.host_commands(step.ctx, host)), host=host)


def source_actions(step: Step) -> list[Action]:
    """Before the source's option file: the CA (on this machine), the source's certificate."""
    if not tls.enabled(step.ctx):
        return []
    src = step.ctx.inventory.source
    ca = tls.ca_commands(step.ctx)
    return [step.command_action("tls-ca", "Make the migration's CA on this machine (its key "
                                "stays here, 0600)", ca,
                                notes=[f"on {src}: {tls.TLS_DIR} holds the certificates; the "
                                       "server restarts to " + restart_reason(step)]),
            host_action(step, src)]


# (purpose, user, host) of the replication and monitor accounts (PrepareSource.accounts).
Accounts = list[tuple[str, str, str]]


def require_actions(step: Step, accounts: Accounts) -> list[Action]:
    """The replication and monitor users must connect with TLS."""
    if not tls.enabled(step.ctx):
        return []
    src = step.ctx.inventory.source
    return [step.command_action(f"tls-require:{u}@{h}", f"Require TLS for {u}@{h}",
                                [Sql(src, tls.require_ssl(u, h))], host=src)
            for _purpose, u, h in accounts]


def enabled(ctx: Context) -> bool:
    return tls.enabled(ctx)


def cnf_lines(ctx: Context) -> str:
    """The option file's TLS lines ("" with TLS off)."""
    return tls.cnf_lines() if tls.enabled(ctx) else ""


async def tls_ready(ctx: Context, host: str) -> bool:
    """True with TLS off; else whether `host` serves the wizard's certificate."""
    return not tls.enabled(ctx) or await serving_tls(ctx, host)


async def serving_tls(ctx: Context, host: str) -> bool:
    """Whether `host`'s server runs with the wizard's certificate (False with TLS off)."""
    if not tls.enabled(ctx):
        return False
    db = await ctx.db(host)
    row = await db.one("SELECT @@GLOBAL.ssl_cert AS c, @@GLOBAL.have_ssl AS s")
    return str(row["c"] or "") == tls.SERVER_CERT and str(row["s"]) == "YES"


async def verify_source(step: Step) -> None:
    if not tls.enabled(step.ctx):
        return
    src = step.ctx.inventory.source
    if not await serving_tls(step.ctx, src):
        raise StepError(f"{src} does not serve TLS with {tls.SERVER_CERT} after its restart; "
                        "see its error log (is the key readable by mysql?)")
    step.ctx.emit(OutputLine(step.name.value, src, f"TLS on: {tls.SERVER_CERT}"))


def require_rollback(step: Step, accounts: Accounts) -> list[Action]:
    if not tls.enabled(step.ctx):
        return []
    src = step.ctx.inventory.source
    return [step.command_action(f"tls-require:{u}@{h}", f"{u}@{h} no longer requires TLS",
                                [Sql(src, tls.require_ssl(u, h, on=False))], host=src)
            for _purpose, u, h in accounts if step.journaled(f"tls-require:{u}@{h}")]


def host_rollback(step: Step, host: str) -> list[Action]:
    """`host`'s TLS directory removed, if apply made it (and it still carries the token)."""
    if not step.journaled(f"tls:{host}"):
        return []
    return [step.command_action(f"tls:{host}", f"Remove {tls.TLS_DIR} from {host}",
                                [Script(host, tls.remove_script(tls.owner_token(step.ctx)))],
                                host=host)]


def source_rollback(step: Step) -> list[Action]:
    """After the source runs without the wizard's settings: its TLS directory, then the CA."""
    out = host_rollback(step, step.ctx.inventory.source)
    if step.journaled("tls-ca"):
        out.append(Action("tls-ca", "Remove the migration's CA from this machine",
                          partial(_remove_ca, step.ctx),
                          [f"on this machine: rm -r {tls.CA_DIR_SHOWN}"]))
    return out


async def _remove_ca(ctx: Context) -> None:
    tls.remove_ca(ctx)


# -- the replicas step ---------------------------------------------------------------------


def replica_actions(step: Step, r: str) -> list[Action]:
    """r's certificate, before its option file names it (after its packages made mysql)."""
    return [host_action(step, r)] if tls.enabled(step.ctx) else []


def replication_ssl(ctx: Context, r: str, version: ServerVersion) -> list[Command]:
    """Replication over TLS (after CHANGE MASTER, before START)."""
    return [Sql(r, tls.ssl_change_source(version))] if tls.enabled(ctx) else []


# -- verify: the cipher of each link -------------------------------------------------------


def _cipher(output: str) -> str:
    for line in output.splitlines():
        name, _, value = line.partition("\t")
        if name.strip() == "Ssl_cipher":
            return value.strip()
    return ""


async def replication_ciphers(step: Step) -> dict[str, str]:
    """On each replica: replication set to TLS (Master_SSL_Allowed), and a login from that
    host as the replication user (which must use TLS) shows its cipher."""
    ctx = step.ctx
    if not tls.enabled(ctx):
        return {}
    inv = ctx.inventory
    src = inv.hosts[inv.source]
    out = {}
    for r in inv.replicas:
        db = await ctx.db(r)
        rows = await db.run(db.dialect.show_replica_status())
        allowed = str((rows[0] if rows else {}).get("Master_SSL_Allowed")
                      or (rows[0] if rows else {}).get("Source_SSL_Allowed") or "")
        if allowed != "Yes":
            raise StepError(f"{r}: replication does not use TLS (SSL allowed: "
                            f"{allowed or 'no status'})")
        defaults = render_client_defaults(inv.migration.replication_user,
                                          ctx.secrets.get("replication_password"))
        host = await ctx.host(r)
        client = step.dialect.client_binary()
        res = await host.run(
            [client, "--defaults-extra-file=/dev/stdin", "--ssl", f"--ssl-ca={tls.CA_CERT}",
             "-h", src.address, "-P", str(step.src.port), "-N", "-B",
             "-e", "SHOW SESSION STATUS LIKE 'Ssl_cipher'"], input=defaults, check=False,
            timeout=60)
        cipher = _cipher(res.stdout)
        if res.exit_status or not cipher:
            raise StepError(f"{r}: the replication user's TLS login to {inv.source} failed: "
                            f"{ctx.secrets.mask(res.stderr.strip())[-300:] or 'no cipher'}")
        out[r] = cipher
        ctx.emit(OutputLine(step.name.value, r, f"replication {r} -> {inv.source}: TLS, "
                            f"cipher {cipher}"))
    return out


async def backend_ciphers(step: Step, client_port: int) -> dict[str, str]:
    """Through each proxy node's client port, as Moodle's user: the cipher of the backend
    connection ProxySQL made (its SHOW SESSION STATUS runs on that connection)."""
    ctx = step.ctx
    if not tls.enabled(ctx):
        return {}
    user, dbname = step.discovered.dbuser, step.discovered.dbname
    password = await ctx.moodle_password()
    out = {}
    for px in ctx.inventory.proxies:
        local = await ctx.forward(px, "127.0.0.1", client_port)
        try:
            conn: Any = await aiomysql.connect(
                host=local[0], port=local[1], user=user, password=driver_password(password),
                db=dbname, autocommit=True, connect_timeout=10)
        except pymysql.err.MySQLError as exc:
            raise StepError(f"{px}: Moodle's user cannot log in through ProxySQL: "
                            f"{ctx.secrets.mask(str(exc))}") from None
        try:
            async with conn.cursor() as cur:
                await cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                row = await cur.fetchone()
        finally:
            conn.close()
        cipher = str(row[1]) if row else ""
        if not cipher:
            raise StepError(f"{px}: ProxySQL's connection to the primary does not use TLS "
                            "(Ssl_cipher is empty); is use_ssl = 1 on its mysql_servers?")
        out[px] = cipher
        ctx.emit(OutputLine(step.name.value, px, f"ProxySQL {px} -> primary: TLS, cipher "
                            f"{cipher}"))
    return out
