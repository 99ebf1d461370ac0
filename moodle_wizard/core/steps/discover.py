"""Step 1: connect to every host and learn what is there. Changes nothing anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moodle_wizard.core import backups
from moodle_wizard.core.command import placeholder
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.facts import (
    BinlogDumpThread,
    DiscoverFacts,
    ExistingReplica,
    GtidState,
    MoodleConfig,
    MoodleFacts,
    ReplicaHostFacts,
    SourceFacts,
)
from moodle_wizard.core.facts.backup import ExistingBackup
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.remote.ssh import SUDO, RemoteHost
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.parsers import (
    binlog_retention_seconds,
    normalize_replica_hosts,
    parse_apt_policy,
)
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.support import APT_POLICY_COMMAND, check_source, source_refusal
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps import discover_queries as queries
from moodle_wizard.core.steps.base import (
    Action,
    Problem,
    Step,
    StepError,
    error,
    question,
    source_version,
    warning,
)

# Global privileges the source's admin account needs (reading every schema, creating and
# granting the replication/monitor/Moodle users, flushing).
ADMIN_PRIVILEGES = ("SELECT", "CREATE USER", "RELOAD", "REPLICATION SLAVE")


async def free_bytes(host: RemoteHost, path: str) -> int:
    """Free space of the filesystem that holds path (or its nearest existing parent)."""
    out = await host.run(["sh", "-c", queries.free_bytes_script(path)])
    return int(out.stdout.strip())


async def replica_host_facts(host: RemoteHost) -> ReplicaHostFacts:
    """A replica host as it is now: server packages, datadir entries, running server, space.
    Discovery records it for the screens; the replicas step reads it again before it acts."""
    pkgs = await host.run(
        ["sh", "-c", "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' "
         "mariadb-server mysql-server 2>/dev/null | grep ' installed$' || true"])
    installed = {line.split()[0]: line.split()[1]
                 for line in pkgs.stdout.splitlines() if line.strip()}
    datadir = "/var/lib/mysql"
    listing = await host.run(["sh", "-c", f"ls -A {datadir} 2>/dev/null | head -20"])
    running = await host.run(["sh", "-c", "pidof mariadbd mysqld || true"])
    return ReplicaHostFacts(
        packages=installed, datadir=datadir,
        datadir_entries=[e for e in listing.stdout.split() if e],
        server_running=bool(running.stdout.strip()), free_bytes=await free_bytes(host, datadir))


async def server_candidate(host: RemoteHost, package: str) -> str | None:
    """The version of `package` apt would install on `host` (None: apt knows none), from
    its package lists as they are (no apt-get update: preflight changes nothing)."""
    out = await host.run(["sh", "-c", APT_POLICY_COMMAND])
    policy = parse_apt_policy(out.stdout).get(package)
    return policy.candidate if policy is not None else None


@dataclass(frozen=True)
class _BinlogSetup:
    basename: str | None
    retention: int
    registered: list[ExistingReplica]
    dumps: list[BinlogDumpThread]


class Discover(Step):
    name = StepName.DISCOVER
    title = "Connect and discover"
    summary = ("Connects to every host over SSH, reads the source database's version, size, "
               "binary log and GTID state, finds non-InnoDB tables, free disk, and reads "
               "Moodle's config.php on the app host with PHP itself.")

    async def preflight(self) -> list[Problem]:
        problems: list[Problem] = []
        for name in self.ctx.inventory.hosts:
            await self.ctx.host(name)  # raises a clear RemoteError: key, auth, unreachable
        # The login says which server the source runs: one the wizard does not support
        # (MySQL, Percona, too old or too new) is refused here, before anything changes.
        source = self.ctx.inventory.source
        why = source_refusal((await self.ctx.db(source)).version)
        if why is not None:
            problems.append(error(f"{source}: {why}"))
        return problems

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        targets = [self.ctx.target(name) for name in inv.hosts]
        runbook = [f"ssh {t.user}@{t.address} -p {t.port}   # {t.name}: connect, check "
                   "the host key" + (f"; then `{SUDO} true`" if t.sudo else "")
                   for t in targets]
        runbook += [
            *self._source_reads().runbook(),
            *[f"on {a}: cat {inv.migration.moodle_config}; php -- "
              f"{inv.migration.moodle_config} (its text on stdin, as the file's owner or "
              "www-data, never root; lib/setup.php neutralised; tries its DB logins)"
              for a in inv.apps],
            *[f"on {r}: dpkg-query -W mariadb-server mysql-server; ls -A /var/lib/mysql; "
              "df -P -B1 /var/lib/mysql" for r in inv.replicas],
            *queries.backup_runbook(inv),
        ]
        return [Action("gather", "Gather facts from every host", self.gather, runbook)]

    def _source_reads(self) -> queries.SourceReads:
        """What gather asks the source, as an earlier discovery found it (the statements its
        version takes); before one, in general terms."""
        src, moodle = self.facts.source, self.facts.moodle
        return queries.SourceReads(
            self.ctx.inventory.source,
            Dialect(source_version(src)) if src is not None else None,
            moodle.dbname or "" if moodle is not None else placeholder("moodle dbname"),
            src.datadir if src is not None else placeholder("datadir"))

    @property
    def facts(self) -> DiscoverFacts:
        return self.ctx.state.steps.discover.facts

    async def gather(self) -> None:
        inv = self.ctx.inventory
        moodle = await self._moodle()
        source = await self._source(moodle.dbname or "")
        replicas = {r: await self._replica(r) for r in inv.replicas}
        backup = await self._backup()
        self.ctx.state.steps.discover.facts = DiscoverFacts(
            moodle=moodle, source=source, replicas=replicas, backup=backup)
        self.ctx.save()

    async def _backup(self) -> ExistingBackup | None:
        """backup_method = "existing": the backup as it lies, and whether the source's binary
        logs reach back to it; the operator is told here, before anything changes."""
        inv = self.ctx.inventory
        if inv.backup is None or inv.migration.backup_method.value != "existing":
            return None
        found, now = await backups.discover_backup(
            await self.ctx.host(inv.backup.host), inv.backup.path,
            await self.ctx.db(inv.source), inv.source)
        for line in backups.summary(found, now):
            self.ctx.emit(OutputLine(self.name, found.host, line))
        return found

    async def _moodle(self) -> MoodleFacts:
        inv = self.ctx.inventory
        configs = {}
        for app in inv.apps:
            cfg = await read_moodle_config(await self.ctx.host(app), inv.migration.moodle_config)
            # Every password in it (the read-only replicas' too) is masked before it is a fact.
            register_config_secrets(cfg, self.ctx.secrets, app)
            configs[app] = cfg
        first = configs[inv.apps[0]]
        for app, cfg in configs.items():
            for key in ("dbhost", "dbname", "dbuser", "prefix"):
                if cfg[key] != first[key]:
                    raise StepError(f"config.php on {app} has {key} = {cfg[key]!r} but on "
                                    f"{inv.apps[0]} {first[key]!r}; all app servers must use "
                                    "the same database")
        return MoodleFacts.model_validate(
            {**first, "apps": {app: MoodleConfig.model_validate(cfg)
                               for app, cfg in configs.items()}})

    async def _check_admin_privileges(self, name: str, db: Any) -> None:
        """The account the wizard uses on the source must be able to read everything and to
        create and grant the migration's users: without this, later checks would only see
        an empty server and say something misleading."""
        rows = await db.run(queries.PRIVILEGES)
        have = {str(r["p"]).upper() for r in rows}
        missing = [p for p in ADMIN_PRIVILEGES if p not in have]
        if not any(str(r["g"]).upper() == "YES" for r in rows):
            missing.append("GRANT OPTION")
        if missing:
            who = (await db.run(queries.CURRENT_USER))[0]
            raise StepError(
                f"{name}: the database account {who['u']} lacks global privileges the "
                f"migration needs ({', '.join(missing)}); grant them (e.g. GRANT ALL ON *.* "
                "TO that account WITH GRANT OPTION), or SSH in as root and leave "
                "migration.db_admin_user unset")

    async def _source(self, dbname: str) -> SourceFacts:
        name = self.ctx.inventory.source
        db = await self.ctx.db(name)
        host = await self.ctx.host(name)
        v = db.version
        check_source(v, name)  # the preflight refused it already; never gather from one
        row = await _one(db, queries.SETTINGS)
        g = await _one(db, queries.gtid(db.dialect))
        if v.is_mariadb:
            gtid = GtidState(binlog_pos=str(g["b"]), current_pos=str(g["c"]),
                             domain_id=int(g["d"]))
        else:
            gtid = GtidState(mode=str(g["m"]), enforce=str(g["e"]), executed=str(g["x"]))
        await self._check_admin_privileges(name, db)
        binlog = await self._binlog_setup(name, db)
        tables = await db.run(queries.tables(dbname))
        if not tables:
            raise StepError(f"{name}: the database {dbname!r} named in config.php has no tables "
                            "on this server; check that the source host is Moodle's database")
        datadir = str(row["datadir"]).rstrip("/")
        du = await host.run(["du", "-sb", datadir])  # queries.SourceReads.disk() shows it
        return SourceFacts(
            flavor=v.flavor.value, version=v.number, version_string=str(v), datadir=datadir,
            server_id=int(row["server_id"]), log_bin=bool(int(row["log_bin"])),
            binlog_format=str(row["binlog_format"]), port=int(row["port"]),
            read_only=bool(int(row["read_only"])), hostname=str(row["hostname"]),
            # As the server says it (ProxySQL will announce this to Moodle).
            server_version=str(row["server_version"]),
            bind_address=str(row["bind_address"] or ""),
            gtid=gtid, log_slave_updates=bool(int(g["u"])),
            log_bin_basename=binlog.basename, binlog_retention_seconds=binlog.retention,
            existing_replicas=binlog.registered, binlog_dump_threads=binlog.dumps,
            tables=len(tables),
            non_innodb=sorted(f"{r['t']} ({r['e']})" for r in tables
                              if str(r["e"]).lower() != "innodb"),
            data_bytes=int(du.stdout.split()[0]), free_bytes=await free_bytes(host, datadir))

    async def _binlog_setup(self, name: str, db: Any) -> _BinlogSetup:
        """The binary log's basename and retention (kept as they are unless replication needs
        otherwise), and the replicas the source already has (their server_ids are taken)."""
        d = db.dialect
        basename = (await _one(db, queries.BASENAME))["b"]
        retention = binlog_retention_seconds(await _one(db, queries.retention(d)))
        # Without PROCESS the process list shows only our own session: no replica would be
        # seen, and "none found" would be a guess.
        if not await db.run(queries.PROCESS_PRIVILEGE):
            who = await _one(db, queries.CURRENT_USER)
            raise StepError(f"{name}: the database account {who['u']} lacks the PROCESS "
                            "privilege, so the wizard cannot see the source's existing "
                            "replicas; grant it (GRANT PROCESS ON *.* TO that account)")
        registered = normalize_replica_hosts(await db.run(d.show_replica_hosts()))
        dumps = await db.run(queries.DUMP_THREADS)
        return _BinlogSetup(
            basename=str(basename) if basename else None, retention=retention,
            registered=[ExistingReplica.model_validate(r) for r in registered],
            dumps=[BinlogDumpThread(id=int(r["i"]), user=str(r["u"]), host=str(r["h"]),
                                    command=str(r["c"])) for r in dumps])

    async def _replica(self, name: str) -> ReplicaHostFacts:
        return await replica_host_facts(await self.ctx.host(name))

    async def verify(self) -> None:
        moodle = self.facts.require().moodle
        if moodle.dbhost is None:
            raise StepError(
                f"config.php on {self.ctx.inventory.apps[0]} sets no $CFG->dbhost, so Moodle "
                "cannot reach its database; add `$CFG->dbhost = '<database host>';` to it")
        connect = moodle.connect
        if connect is None or not connect.ok:
            why = (connect.error if connect is not None else None) or "PHP has no mysqli"
            raise StepError(
                f"Moodle's own database login (from config.php on {self.ctx.inventory.apps[0]}) "
                f"fails: {why}; fix config.php or the grants before migrating")

    def rollback_plan(self) -> list[Action]:
        return []


async def _one(db: Any, stmt: Statement) -> Any:
    rows = await db.run(stmt)
    if not rows:
        raise StepError(f"{stmt.display()} returned no row")
    return rows[0]


def source_problems(src: SourceFacts, accept_non_innodb: bool) -> list[Problem]:
    """What discovery found on the source that the operator must know or decide."""
    problems: list[Problem] = []
    if src.non_innodb:
        text = (f"the Moodle schema has tables that are not InnoDB: "
                f"{', '.join(src.non_innodb)}. They cannot be copied consistently while "
                "Moodle writes, and a physical backup locks them while it copies them. Convert "
                "them first (ALTER TABLE ... ENGINE=InnoDB)")
        if accept_non_innodb:
            problems.append(warning(text + "; accepted by migration.accept_non_innodb"))
        else:
            problems.append(question(text + ", or accept the risk (migration.accept_non_innodb "
                                     "= true). Go on anyway?", risky=True))
    return problems
