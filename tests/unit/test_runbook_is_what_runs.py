"""The runbook is what runs: each step's actions, run against a recording fake of the hosts
and databases (tests/unit/recording.py), change nothing that their own runbook lines do not
show. A planned `<placeholder>` stands for the value apply learns (a GTID, a time).

Reads (SELECT/SHOW, probes) are not held to it: a runbook shows what changes a host.
Every action of every step is either run here (COVERED, by the tests below) or named in
NOT_YET with the reason; a new action must be one or the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from moodle_wizard.core.command import matches
from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory import SeedMethod
from moodle_wizard.core.sql.version import ServerVersion, parse_version
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.base import Action
from moodle_wizard.core.steps.registry import STEP_CLASSES
from tests.unit.plan_fixtures import FLAVOURS, context
from tests.unit.recording import Answers, Recording
from tests.unit.test_existing_plan_golden import existing

VERSIONS = {"mariadb-10.11": parse_version("10.11.6-MariaDB-0+deb12u1", "mariadb"),
            "mysql-8.0": parse_version("8.0.36", "mysql"),
            "mysql-8.4": parse_version("8.4.3", "mysql")}
# A replica newer than its source, whose own dialect says some statements differently.
NEWER_REPLICA = {"mariadb-10.11": parse_version("11.4.4-MariaDB", "mariadb"),
                 "mysql-8.0": parse_version("8.4.3", "mysql"),
                 "mysql-8.4": parse_version("8.4.3", "mysql")}


# (step, "apply" or "rollback") -> the action kinds (id before ':') the tests below run.
COVERED: dict[tuple[StepName, str], set[str]] = {
    (StepName.DISCOVER, "apply"): {"gather"},
    (StepName.PREPARE_SOURCE, "apply"): {"config", "restart", "set", "user", "moodle-grant",
                                         "heartbeat"},
    (StepName.PREPARE_SOURCE, "rollback"): {"heartbeat", "user", "config", "set", "restart",
                                            "binlogs"},
    (StepName.REPLICAS, "apply"): {"install", "stop", "datadir", "init", "seed-key", "stream",
                                   "prepare", "config", "start", "replicate", "cleanup"},
    (StepName.REPLICAS, "rollback"): {"unreplicate", "stop", "restore", "uninstall",
                                      "seed-key"},
    (StepName.PROXYSQL, "apply"): {"readonly-user", "install", "record", "start", "configure"},
    (StepName.PROXYSQL, "rollback"): {"restore", "uninstall", "readonly-user"},
    (StepName.VIP, "apply"): {"install", "record", "config", "start"},
    (StepName.VIP, "rollback"): {"stop", "vip-gone", "restore", "uninstall"},
    # validate changes nothing (PHP reads the edited text on stdin; its checks stood in for).
    (StepName.CUTOVER, "apply"): {"backup", "validate", "write"},
    (StepName.CUTOVER, "rollback"): {"restore"},
}
# Still written beside the code that runs: not yet command objects, so not held to it.
NOT_YET: dict[tuple[StepName, str], dict[str, str]] = {}


def test_every_action_is_run_here_or_named_as_not_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of action each step plans and rolls back (the journal of a full apply,
    both backup methods) is covered by a test here or named in NOT_YET, not both."""
    def seeded_by(ctx: Context, method: SeedMethod) -> Context:
        return with_migration(ctx, backup_method=method)

    found: dict[tuple[StepName, str], set[str]] = {}
    for method in SeedMethod:
        # An existing backup needs its host in the inventory and its facts from discovery.
        edit = existing("directory") if method == SeedMethod.EXISTING else None
        for name, cls in STEP_CLASSES.items():
            plan = cls(seeded_by(context("mariadb-10.11", monkeypatch, edit=edit),
                                 method)).plan()
            done = seeded_by(context("mariadb-10.11", monkeypatch,
                                     {name: [a.id for a in plan]}, edit=edit), method)
            if name == StepName.REPLICAS:  # what the fixture's journal lacks
                done.state.steps.replicas.facts.installed_packages["db2"] = ["mariadb-server"]
            found.setdefault((name, "apply"), set()).update(a.id.split(":")[0] for a in plan)
            found.setdefault((name, "rollback"), set()).update(
                a.id.split(":")[0] for a in cls(done).rollback_plan())
    # prepare-source's set: runs only on a source that needs no restart (tested below).
    found[(StepName.PREPARE_SOURCE, "apply")].add("set")
    for key, kinds in found.items():
        covered, later = COVERED.get(key, set()), set(NOT_YET.get(key, {}))
        assert not covered & later, key
        assert kinds == covered | later, (key, kinds ^ (covered | later))


async def _run(action: Action) -> None:
    await action.run()


def unshown(ctx: Context, rec: Recording, actions: Sequence[Action]) -> list[str]:
    """Run each action; every change it made that none of its runbook lines shows."""
    out = []
    for action in actions:
        planned = [ctx.secrets.mask(line) for line in action.runbook]
        start = len(rec.ran)
        asyncio.run(_run(action))
        for ran in rec.ran[start:]:
            if not ran.read and not any(matches(p, ran.line) for p in planned):
                out.append(f"[{action.id}] ran {ran.line!r}; its runbook:\n  "
                           + "\n  ".join(planned))
    return out


def recording(flavour: str, monkeypatch: pytest.MonkeyPatch, answers: Answers,
              done: dict[StepName, list[str]] | None = None,
              versions: dict[str, ServerVersion] | None = None) -> Recording:
    rec = Recording(context(flavour, monkeypatch, done), VERSIONS[flavour], answers, versions)
    rec.install(monkeypatch)
    return rec


def ids(actions: Sequence[Action], *prefixes: str) -> list[Action]:
    return [a for a in actions if a.id.split(":")[0] in prefixes]


# -- replicas ---------------------------------------------------------------------------

MARKER_OURS = "marker={owner}\npids=4242\nexists=1\nentry=ibdata1\n"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_replicate_sends_the_planned_statements(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also to a replica whose server is newer than the source (its own dialect would say
    some of them otherwise): the replica is sent what the plan shows."""
    binlog_info = b"binlog.000002\t1234\t0-1-42\n"
    files = {(r, f"/var/lib/mysql/{name}"): binlog_info for r in ("db2", "db3")
             for name in ("xtrabackup_binlog_info", "mariadb_backup_binlog_info")}
    rec = recording(flavour, monkeypatch, Answers(files=files),
                    versions={r: NEWER_REPLICA[flavour] for r in ("db2", "db3")})
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    actions = ids(step.plan(), "replicate")
    assert len(actions) == 2
    assert unshown(rec.ctx, rec, actions) == []
    assert any("0-1-42" in r.line for r in rec.changes())


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_unreplicate_sends_the_planned_statements(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    done = {StepName.REPLICAS: ["install:db2", "datadir:db2", "start:db2", "replicate:db2"]}
    rec = recording(flavour, monkeypatch, Answers(), done,
                    versions={"db2": NEWER_REPLICA[flavour]})
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    owner = step.owner  # type: ignore[attr-defined]
    rec.answers.stdout.append(("echo symlink=1", MARKER_OURS.format(owner=owner)))
    rec.answers.reads.append("echo symlink=1")
    actions = ids(step.rollback_plan(), "unreplicate")
    assert [a.id for a in actions] == ["unreplicate:db2"]
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 2


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_host_preparation_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install (nothing there), stop (a server of the operator's runs on an empty datadir),
    config and start on each replica."""
    answers = Answers(stdout=[("echo symlink=1", "exists=1\npids=4242\n")],
                      reads=["echo symlink=1", "dpkg-query -W", "pidof mariadbd mysqld"])
    rec = recording(flavour, monkeypatch, answers)
    actions = ids(STEP_CLASSES[StepName.REPLICAS](rec.ctx).plan(),
                  "install", "stop", "config", "start")
    assert len(actions) == 8
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 2 * 5


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_rollback_stop_and_uninstall_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    done = {StepName.REPLICAS: ["install:db2", "datadir:db2", "start:db2"]}
    rec = recording(flavour, monkeypatch, Answers(reads=["echo symlink=1", "pidof mariadbd"]),
                    done)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    rec.ctx.state.steps.replicas.facts.installed_packages["db2"] = ["mariadb-server"]
    owner = step.owner  # type: ignore[attr-defined]
    rec.answers.stdout.append(("echo symlink=1", MARKER_OURS.format(owner=owner)))
    actions = ids(step.rollback_plan(), "stop", "uninstall")
    assert [a.id for a in actions] == ["stop:db2", "uninstall:db2"]
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 2


def with_migration(ctx: Context, **changes: object) -> Context:
    """The context with other [migration] settings (the inventory is frozen)."""
    migration = ctx.inventory.migration.model_copy(update=changes)
    ctx.inventory = ctx.inventory.model_copy(update={"migration": migration})
    return ctx


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_datadir_and_init_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator's datadir with data (replacing it allowed): moved aside, a new one
    claimed; for a logical seed, the server initialised in it."""
    inspections = ["exists=1\npids=\nentry=ibdata1\nentry=mysql\n", "aside=1\npids=\n"]
    answers = Answers(stdout=[("echo symlink=1", inspections)],
                      reads=["echo symlink=1", "ls -1 "])
    rec = recording(flavour, monkeypatch, answers)
    with_migration(rec.ctx, replace_replica_datadir=True, backup_method=SeedMethod.LOGICAL)
    actions = [a for a in STEP_CLASSES[StepName.REPLICAS](rec.ctx).plan()
               if a.id in ("datadir:db2", "init:db2")]
    assert len(actions) == 2
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert changes[0] == ("on db2: mv --no-target-directory /var/lib/mysql "
                          "/var/lib/mysql.moodle-wizard-mwlab")
    assert len(changes) == 2 + 3


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_rollback_restore_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything a restore can undo on a host: the prepare job cancelled and removed, the
    config, this migration's datadir emptied (on its marker), the binary logs it made, the
    empty datadir replaced by the operator's moved back, the server it stopped started."""
    done = {StepName.REPLICAS: ["install:db2", "datadir:db2", "prepare:db2", "config:db2",
                                "start:db2"]}
    rec = recording(flavour, monkeypatch, Answers(reads=["echo symlink=1"]), done)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    facts = rec.ctx.state.steps.replicas.facts
    facts.binlogs_before["db2"] = []
    facts.stopped_servers.append("db2")
    owner = step.owner  # type: ignore[attr-defined]
    rec.answers.stdout.append(("echo symlink=1", [
        MARKER_OURS.format(owner=owner).replace("pids=4242", "pids=") + "aside=1\n",
        f"exists=1\naside=1\npids=\nmarker={owner}\n"]))
    [restore] = ids(step.rollback_plan(), "restore")
    assert unshown(rec.ctx, rec, [restore]) == []
    changes = [r.line.split("  # ")[0] for r in rec.changes()]
    assert len(changes) == 8
    assert changes[-3:] == [
        "on db2: rmdir /var/lib/mysql",
        "on db2: mv --no-target-directory /var/lib/mysql.moodle-wizard-mwlab /var/lib/mysql",
        f"on db2: service {'mariadb' if flavour.startswith('mariadb') else 'mysql'} start"]


def journal_done(ctx: Context, *action_ids: str) -> None:
    """These replicas actions as the engine journals them once they ran."""
    from moodle_wizard.core.state import ActionRecord, ActionStatus

    ctx.state.steps.replicas.actions += [ActionRecord(id=i, status=ActionStatus.DONE)
                                         for i in action_ids]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_stream_and_prepare_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed job starts the script its runbook shows (the admin's client file a secret
    file of the job, masked); the first prepare starts every replica's job, each waits for
    its own and removes it. The job's id is in the state file before it starts, so the
    rollback plan built afterwards cancels and removes that very job."""
    from moodle_wizard.core.remote import jobs
    from tests.unit.plan_fixtures import FAKE_SECRETS

    rec = recording(flavour, monkeypatch, Answers())
    with_migration(rec.ctx, db_admin_user="mw_admin")
    start_job, recorded_first = jobs.start_job, []

    async def checked(host: object, job_id: str, script: str, **kw: object) -> object:
        if job_id.startswith("seed-"):
            recorded_first.append([j.job_id for j in rec.ctx.state.steps.replicas.remote_jobs])
        return await start_job(host, job_id, script, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "start_job", checked)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    actions = ids(step.plan(), "stream", "prepare")
    assert [a.id for a in actions] == ["stream", "prepare:db2", "prepare:db3"]
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    [stream] = [line for line in changes if line.startswith("on db1: start job seed-")]
    assert "#!/bin/bash\n" in stream and "secret/client.cnf (mode 0600" in stream
    assert "password" in stream and FAKE_SECRETS["db_admin_password"] not in "\n".join(changes)
    # prepare:db2 starts both, prepare:db3 its own again (a no-op on the host); each removes.
    assert [line.split(" detached")[0] for line in changes if "start job prepare-" in line] \
        == ["on db2: start job prepare-db2", "on db3: start job prepare-db3",
            "on db3: start job prepare-db3"]
    assert sum(" rm -rf -- /var/lib/moodle-wizard/jobs/prepare-" in line
               for line in changes) == 2
    assert rec.ctx.state.steps.replicas.facts.prepared == ["db2", "db3"]
    [job] = rec.ctx.state.steps.replicas.remote_jobs
    assert job.job_id in stream
    assert recorded_first == [[job.job_id]]  # in the state file before the job starts
    journal_done(rec.ctx, "stream", "prepare:db2", "prepare:db3")
    undo = STEP_CLASSES[StepName.REPLICAS](rec.ctx).rollback_plan()
    assert any(f"cancel job {job.job_id} " in line for a in ids(undo, "seed-key")
               for line in a.runbook)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_seed_key_and_cleanup_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key made on the source, its line added on each replica (from the source's address
    only, for the one command), known_hosts written; cleanup takes out exactly the lines with
    this migration's marker, the seed job and the stage. What apply recorded before each
    change is what rollback undoes: the key's fact before any replica accepts it, the job's
    id before it starts; the rollback's seed-key then runs what its runbook shows too."""
    from moodle_wizard.core.steps.replicas import seed_key

    answers = Answers(stdout=[("ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAhostkey root@h\n")],
                      reads=["mw_private_dir check"])
    rec = recording(flavour, monkeypatch, answers)
    facts = rec.ctx.state.steps.replicas.facts
    authorize = seed_key.authorize
    recorded_first = []

    async def checked(*args: object, **kw: object) -> None:
        recorded_first.append(facts.seed_key is not None)
        await authorize(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(seed_key, "authorize", checked)
    actions = ids(STEP_CLASSES[StepName.REPLICAS](rec.ctx).plan(), "seed-key", "stream",
                  "cleanup")
    assert [a.id for a in actions] == ["seed-key", "stream", "cleanup"]
    assert unshown(rec.ctx, rec, actions) == []
    assert recorded_first == [True, True]
    changes = [r.line.split("  # ")[0] for r in rec.changes()]
    added = [c for c in changes if "append to /root/.ssh/authorized_keys" in c]
    assert [c.split(": ", 1)[0] for c in added] == ["on db2", "on db3"]
    assert all(c.endswith(Recording.SEED_KEY + " moodle-wizard-seed-mwlab") for c in added)
    assert all(': restrict,from="10.77.0.11",command="' in c for c in added)
    assert ("on db1: write /var/lib/moodle-wizard/seed/known_hosts (mode 0600):\n"
            "10.77.0.12 ssh-ed25519 AAAAhostkey\n10.77.0.13 ssh-ed25519 AAAAhostkey\n") in [
                r.line.replace("  # the replicas' ed25519 host keys, as read on each", "")
                for r in rec.changes()]
    [job] = rec.ctx.state.steps.replicas.remote_jobs
    assert changes[-5:] == [
        f"on {r}: remove the lines ending in moodle-wizard-seed-mwlab from "
        "/root/.ssh/authorized_keys" for r in ("db2", "db3")] + [
        f"on db1: cancel job {job.job_id} (/var/lib/moodle-wizard/jobs/{job.job_id}): TERM to "
        f"its process group if it runs, KILL after 10 s; rm -rf "
        f"/var/lib/moodle-wizard/jobs/{job.job_id}/secret",
        f"on db1: rm -rf -- /var/lib/moodle-wizard/jobs/{job.job_id} (job {job.job_id}'s "
        "directory; refused while the job runs)",
        "on db1: rm -rf -- /var/lib/moodle-wizard/seed"]
    journal_done(rec.ctx, "seed-key", "stream", "cleanup")
    [undo] = ids(STEP_CLASSES[StepName.REPLICAS](rec.ctx).rollback_plan(), "seed-key")
    assert any(f"cancel job {job.job_id} " in line for line in undo.runbook)
    start = len(rec.ran)
    assert unshown(rec.ctx, rec, [undo]) == []
    assert len([r for r in rec.ran[start:] if not r.read]) == 5


# -- discover ---------------------------------------------------------------------------

def source_rows(flavour: str) -> list[tuple[str, list[dict[str, object]]]]:
    """What the source answers discovery (the first key found in a statement wins)."""
    gtid = ({"b": "0-1-5", "c": "0-1-5", "d": 0, "u": 0} if flavour.startswith("mariadb")
            else {"m": "OFF", "e": "OFF", "x": "", "u": 1})
    return [
        ("@@datadir", [{"datadir": "/var/lib/mysql/", "server_id": 1, "log_bin": 0,
                        "binlog_format": "MIXED", "port": 3306, "read_only": 0,
                        "hostname": "db1", "server_version": str(VERSIONS[flavour]),
                        "bind_address": "0.0.0.0"}]),
        ("@@gtid_", [gtid]),
        ("privilege_type = 'PROCESS'", [{"1": 1}]),
        ("privilege_type AS p", [{"p": p, "g": "YES"} for p in
                                 ("SELECT", "CREATE USER", "RELOAD", "REPLICATION SLAVE")]),
        ("@@log_bin_basename", [{"b": None}]),
        ("expire_logs", [{"s": 864000, "d": None, "p": 1}]),
        ("information_schema.tables", [{"t": "mdl_user", "e": "InnoDB"}]),
    ]


# Discovery refuses a MySQL source (core/sql/support.py) before it asks it anything more.
@pytest.mark.parametrize("flavour", [f for f in FLAVOURS if f.startswith("mariadb")])
def test_discover_asks_the_source_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads too: discovery only reads, and its runbook lists what it asks the source (in
    the statements of the server an earlier discovery found)."""
    from moodle_wizard.core.steps import discover
    from tests.unit.plan_fixtures import state_data

    app = state_data(flavour)["steps"]["discover"]["facts"]["moodle"]["apps"]["app"]

    async def config(host: object, path: str) -> dict[str, object]:
        return dict(app)

    monkeypatch.setattr(discover, "read_moodle_config", config)
    answers = Answers(rows=source_rows(flavour),
                      stdout=[("du -sb", "138471179\t/var/lib/mysql"), ("df -P", "84561772544")])
    rec = recording(flavour, monkeypatch, answers)
    step = STEP_CLASSES[StepName.DISCOVER](rec.ctx)
    [gather] = step.plan()
    planned = [rec.ctx.secrets.mask(line) for line in gather.runbook]
    asyncio.run(_run(gather))
    on_source = [r.line for r in rec.ran if r.host == rec.ctx.inventory.source]
    assert len(on_source) == 11
    assert [line for line in on_source if not any(matches(p, line) for p in planned)] == []


def test_discover_runbook_before_discovery_names_both_flavours(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    ctx.state.steps.discover.facts.source = None
    [gather] = STEP_CLASSES[StepName.DISCOVER](ctx).plan()
    text = "\n".join(gather.runbook)
    assert "@@gtid_binlog_pos" in text and "@@gtid_mode" in text
    assert "SHOW SLAVE HOSTS (MySQL 8.0.22 and later: SHOW REPLICAS)" in text
    assert "du -sb <datadir>" in text


# -- prepare-source ---------------------------------------------------------------------

HASH = "*" + "A1" * 20


def source_answers(flavour: str, *, log_bin: bool) -> Answers:
    src = {"b": int(log_bin), "s": 1, "f": "ROW" if log_bin else "MIXED"}
    return Answers(
        rows=[("@@log_bin AS b", [src]),
              ("@@GLOBAL.", [{"v": "MIXED"}]),
              ("FROM mysql.user WHERE user = ", [{"h": "10.77.0.10"}]),
              ("SHOW CREATE USER", [{"c": "CREATE USER `moodleuser`@`10.77.0.10` "
                                          f"IDENTIFIED BY PASSWORD '{HASH}'"}]),
              ("SHOW GRANTS", [{"g": "GRANT USAGE ON *.* TO `moodleuser`@`10.77.0.10`"},
                               {"g": "GRANT ALL PRIVILEGES ON `moodle`.* TO "
                                     "`moodleuser`@`10.77.0.10` WITH GRANT OPTION"}])],
        stdout=[("ls -1 ", "/var/log/mysql/mysql-bin.000001\n/var/log/mysql/mysql-bin.index\n")],
        reads=["ls -1 "])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_prepare_source_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(flavour, monkeypatch, source_answers(flavour, log_bin=True))
    actions = STEP_CLASSES[StepName.PREPARE_SOURCE](rec.ctx).plan()
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert any("CREATE USER IF NOT EXISTS `moodleuser`@`10.77.0.21` IDENTIFIED" in line
               for line in changes)
    assert any(line.startswith("on db1: ALTER USER 'mw_repl'") for line in changes)
    assert HASH not in "\n".join(changes)  # the copied hash is masked as a secret
    # What apply recorded on the way is what its rollback undoes: every change has its undo
    # (an action that only ran its commands once dropped the heartbeat's record).
    undo = {a.id for a in STEP_CLASSES[StepName.PREPARE_SOURCE](rec.ctx).rollback_plan()}
    assert {"heartbeat", "config"} <= undo, undo
    assert {f"user:mw_repl@10.77.0.{n}" for n in (12, 13)} <= undo, undo


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_prepare_source_rollback_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = STEP_CLASSES[StepName.PREPARE_SOURCE](context(flavour, monkeypatch)).plan()
    # The source is back as discovery found it (the fixture's log_bin per flavour).
    log_bin = not flavour.startswith("mariadb")
    rec = recording(flavour, monkeypatch, source_answers(flavour, log_bin=log_bin),
                    {StepName.PREPARE_SOURCE: [a.id for a in plan]})
    actions = STEP_CLASSES[StepName.PREPARE_SOURCE](rec.ctx).rollback_plan()
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert "on db1: SET GLOBAL binlog_expire_logs_seconds = 864000" in changes
    assert any("rm -f -- /var/log/mysql/mysql-bin.000001" in line
               for line in changes) == (not log_bin)


# -- vip --------------------------------------------------------------------------------

def ip_output(address: str) -> str:
    return ("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n"
            "2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n--\n"
            "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
            f"2: eth0    inet {address}/24 brd 10.77.0.255 scope global eth0\\       "
            "valid_lft forever\n")


def vip_answers() -> Answers:
    return Answers(
        stdout=[("on px1: ip -o link show", ip_output("10.77.0.21")),
                ("on px2: ip -o link show", ip_output("10.77.0.22")),
                ("echo installed", "installed conf")],
        reads=["ip -o link show", "echo installed", PIDS_PROBE])


# Only keepalived_pids' script has it (its KILL script reads /proc too, and changes things).
PIDS_PROBE = '&& echo "$p"'


def keepalived(flavour: str, monkeypatch: pytest.MonkeyPatch, pids: list[str],
               done: dict[StepName, list[str]] | None = None) -> Recording:
    """px1 with keepalived's pids answering `pids` in turn (the last from then on)."""
    answers = Answers(stdout=[(PIDS_PROBE, pids),
                              ("on px1: ip -o -4 addr show dev eth0",
                               "2: eth0    inet 10.77.0.21/24 scope global eth0\n"
                               "2: eth0    inet 10.77.0.100/24 scope global secondary eth0\n")],
                      reads=["echo installed", "dpkg-query -W", PIDS_PROBE])
    return recording(flavour, monkeypatch, answers, done)


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_vip_writes_the_config_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the virtual_router_id the preflight chose (facts), the config written is the
    one shown, its auth_pass aside; a config that was there is copied aside as shown."""
    rec = recording(flavour, monkeypatch, vip_answers())
    rec.ctx.state.steps.vip.facts.virtual_router_id = 42
    step = STEP_CLASSES[StepName.VIP](rec.ctx)
    actions = ids(step.plan(), "record", "config")
    assert "    virtual_router_id 42\n" in "\n".join(actions[1].runbook)
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert len(changes) == 8
    assert any("virtual_router_id 42" in line and "auth_pass ********" in line
               for line in changes)


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_vip_rollback_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = STEP_CLASSES[StepName.VIP](context(flavour, monkeypatch)).plan()
    rec = recording(flavour, monkeypatch, vip_answers(), {StepName.VIP: [a.id for a in plan]})
    actions = ids(STEP_CLASSES[StepName.VIP](rec.ctx).rollback_plan(), "restore")
    assert [a.id for a in actions] == ["restore:px1", "restore:px2"]
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 5


# -- proxysql ---------------------------------------------------------------------------

def probe(running: bool, files: str) -> str:
    dbs = " ".join(f for f in files.split() if f.endswith(".db"))
    return (f"installed=yes\nrunning={'yes' if running else 'no'}\ndbfiles={dbs}\n"
            f"files={files}\nsqlite3=no\n")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_proxysql_records_and_creates_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers(stdout=[("installed=$installed", probe(True, "proxysql.db proxysql.log"))],
                      reads=["installed=$installed"])
    rec = recording(flavour, monkeypatch, answers)
    step = STEP_CLASSES[StepName.PROXYSQL](rec.ctx)
    actions = ids(step.plan(), "readonly-user", "record")
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert len(changes) == 6 + 2
    assert sum("/var/backups/moodle-wizard/proxysql-px2-" in line for line in changes) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_proxysql_rollback_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = STEP_CLASSES[StepName.PROXYSQL](context(flavour, monkeypatch)).plan()
    # Running with the files it made (and px2's own database, put back from the copy).
    made = "proxysql.db proxysql.log proxysql_stats.db proxysql-ca.pem"
    # Each node: running, then stopped (px2's restore runs first).
    answers = Answers(stdout=[("installed=$installed", [probe(True, made), probe(False, made)]
                               * 2)], reads=["installed=$installed"])
    rec = recording(flavour, monkeypatch, answers, {StepName.PROXYSQL: [a.id for a in plan]})
    actions = ids(STEP_CLASSES[StepName.PROXYSQL](rec.ctx).rollback_plan(),
                  "restore", "readonly-user")
    assert [a.id for a in actions] == ["restore:px2", "restore:px1", "readonly-user"]
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert "on px1: service proxysql stop" in changes
    assert "on px2: rm -f -- /var/lib/proxysql/proxysql-ca.pem " \
           "/var/lib/proxysql/proxysql_stats.db" in changes
    assert any("cp -a -- /var/backups/moodle-wizard/proxysql-px2-20261127061200/." in line
               for line in changes)


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_vip_install_and_start_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package started keepalived with its sample config: stopped again; later started."""
    rec = keepalived(flavour, monkeypatch, ["4242", "4242", ""])
    [install] = [a for a in STEP_CLASSES[StepName.VIP](rec.ctx).plan() if a.id == "install:px1"]
    assert unshown(rec.ctx, rec, [install]) == []
    assert [r.line.split("  #")[0] for r in rec.changes()][1:] == [
        "on px1: service keepalived stop"]
    rec = keepalived(flavour, monkeypatch, ["", "4242"])
    [start] = [a for a in STEP_CLASSES[StepName.VIP](rec.ctx).plan() if a.id == "start:px1"]
    assert unshown(rec.ctx, rec, [start]) == []
    assert [r.line for r in rec.changes()] == ["on px1: service keepalived start"]


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_vip_rollback_stop_drop_uninstall_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also the KILL by pid of a keepalived that outlives `service keepalived stop`."""
    from moodle_wizard.core.steps import vip_node

    monkeypatch.setattr(vip_node, "STOP_TIMEOUT_S", 0.3)
    plan = STEP_CLASSES[StepName.VIP](context(flavour, monkeypatch)).plan()
    rec = keepalived(flavour, monkeypatch, ["4242"], {StepName.VIP: [a.id for a in plan]})
    actions = [a for a in STEP_CLASSES[StepName.VIP](rec.ctx).rollback_plan()
               if a.id in ("stop:px1", "vip-gone:px1", "uninstall:px1")]
    assert len(actions) == 3
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert len(changes) == 5
    assert "on px1: ip addr del 10.77.0.100/24 dev eth0" in changes
    assert any(line.endswith(" sh KILL 4242") for line in changes)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_proxysql_install_start_configure_run_what_their_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ProxySQL missing, then installed and stopped; configured through its admin interface
    (the statements' secrets masked as the runbook shows them)."""
    from moodle_wizard.core.steps import proxysql

    missing = "installed=no\nrunning=no\ndbfiles=\nfiles=\nsqlite3=no\n"
    answers = Answers(stdout=[("installed=$installed", [missing, missing, probe(False, "")])],
                      reads=["installed=$installed", "dpkg-query -W"])
    rec = recording(flavour, monkeypatch, answers)
    port = rec.ctx.inventory.proxysql.admin_port
    rec.admin_line = lambda px, stmt: (f"on {px}, admin 127.0.0.1:{port} through SSH: "
                                       + proxysql._display(stmt))
    actions = [a for a in STEP_CLASSES[StepName.PROXYSQL](rec.ctx).plan()
               if a.id in ("install:px1", "start:px1", "configure:px1")]
    assert unshown(rec.ctx, rec, actions) == []
    changes = [r.line for r in rec.changes()]
    assert changes[:3] == [line.split("  #")[0] for line in actions[0].runbook[1:3]] + [
        "on px1: service proxysql start"]
    assert sum("through SSH" in line for line in changes) > 10


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_proxysql_uninstall_runs_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = STEP_CLASSES[StepName.PROXYSQL](context(flavour, monkeypatch)).plan()
    rec = recording(flavour, monkeypatch, Answers(), {StepName.PROXYSQL: [a.id for a in plan]})
    actions = ids(STEP_CLASSES[StepName.PROXYSQL](rec.ctx).rollback_plan(), "uninstall")
    assert [a.id for a in actions] == ["uninstall:px1"]
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 1


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_prepare_source_without_a_restart_sets_what_its_runbook_shows(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source with the binary log already on: its settings change at runtime (SET GLOBAL,
    the value before read first), no restart."""
    rec = recording(flavour, monkeypatch, source_answers(flavour, log_bin=True))
    src = rec.ctx.state.steps.discover.facts.source
    assert src is not None
    src.log_bin, src.log_slave_updates, src.bind_address = True, True, "0.0.0.0"
    src.log_bin_basename = "/var/log/mysql/mysql-bin"
    actions = ids(STEP_CLASSES[StepName.PREPARE_SOURCE](rec.ctx).plan(), "set", "restart")
    assert [a.id for a in actions] == ["set:binlog_format"]
    assert unshown(rec.ctx, rec, actions) == []
    assert [r.line for r in rec.changes()] == ["on db1: SET GLOBAL binlog_format = 'ROW'"]


# -- cutover ----------------------------------------------------------------------------

CONFIG_PHP = """<?php
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = 'mariadb';
$CFG->dblibrary = 'native';
$CFG->dbhost    = '10.77.0.11';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = '{password}';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => '',
);
$CFG->wwwroot   = 'http://10.77.0.10/moodle';
require_once(__DIR__ . '/lib/setup.php');
"""


@pytest.mark.parametrize("flavour", FLAVOURS[:1])
def test_cutover_runs_what_its_runbook_shows(flavour: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Backup, validate (PHP only reads: its checks are stood in for here) and write; then
    the rollback puts the original back."""
    from moodle_wizard.core.steps import cutover
    from tests.unit.plan_fixtures import MOODLE_PASSWORD

    async def lint(host: object, path: str, content: bytes) -> None:
        return None

    async def evaluate(host: object, path: str, content: bytes, **kw: object) -> dict[str, str]:
        return {}

    monkeypatch.setattr(cutover, "php_lint", lint)
    monkeypatch.setattr(cutover, "evaluate_config", evaluate)
    monkeypatch.setattr(cutover.Cutover, "_check_evaluated", lambda self, app, got: [])
    monkeypatch.setattr(cutover.Cutover, "_check_logins", lambda self, app, got, when: None)
    path = "/var/www/moodle/config.php"
    original = CONFIG_PHP.format(password=MOODLE_PASSWORD).encode()
    answers = Answers(files={("app", path): original}, stdout=[("stat -L", "640")])
    rec = recording(flavour, monkeypatch, answers)
    actions = STEP_CLASSES[StepName.CUTOVER](rec.ctx).plan()
    assert unshown(rec.ctx, rec, actions) == []
    written = [r.line for r in rec.changes() if r.line.startswith(f"on app: write {path}")]
    assert len(written) == 1 and "10.77.0.100" in written[0]
    assert MOODLE_PASSWORD not in "\n".join(r.line for r in rec.ran)
    rollback = STEP_CLASSES[StepName.CUTOVER](rec.ctx).rollback_plan()
    start = len(rec.ran)
    assert unshown(rec.ctx, rec, rollback) == []
    assert rec.answers.files[("app", path)] == original
    assert len([r for r in rec.ran[start:] if not r.read]) == 3
