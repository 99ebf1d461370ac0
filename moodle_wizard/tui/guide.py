"""The guided demo's panel: for every screen, what this step does, why, what could go wrong,
and the commands an admin would otherwise type by hand. Written for a new admin who has read
nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text


@dataclass(frozen=True)
class Guide:
    what: str
    why: str
    risks: str
    manual: tuple[str, ...]

    def text(self) -> Text:
        out = Text()
        for label, body in (("What this does. ", self.what), ("Why. ", self.why),
                            ("What could go wrong. ", self.risks)):
            out.append(label, style="bold")
            out.append(body + "\n\n")
        out.append("By hand, you would type:\n", style="bold")
        for line in self.manual:
            out.append(f"  {line}\n", style="cyan")
        out.rstrip()
        return out

    def markdown(self) -> str:
        commands = "\n".join(self.manual)
        return (f"**What this does.** {self.what}\n\n**Why.** {self.why}\n\n"
                f"**What could go wrong.** {self.risks}\n\n"
                f"**By hand, you would type:**\n\n```\n{commands}\n```\n")


GUIDES: dict[str, Guide] = {
    "welcome": Guide(
        what="Starts a migration, or picks up the one saved on this machine. Every step is "
             "journaled, so a dropped SSH session costs nothing: come back and resume.",
        why="A Moodle site whose database lives on one server loses everything when that "
            "server does. The wizard turns it into a primary with replicas, two ProxySQL "
            "nodes and a floating IP, one reversible step at a time.",
        risks="Two wizards driving one migration: a lock prevents it and says who holds it.",
        manual=("ls ~/.local/state/moodle-wizard/     # saved migrations",
                "moodle-wizard status                  # the same, headless"),
    ),
    "hosts": Guide(
        what="Names the machines: the database server you have today (the source), the "
             "Moodle app host, empty hosts for replicas, two proxy hosts, and how to reach "
             "them by SSH. 'Test connections' logs in to each and reads config.php.",
        why="Everything later runs over these SSH connections. The Moodle user and database "
            "come from config.php itself, so nothing is typed twice or guessed.",
        risks="An unknown host key: compare its fingerprint with the server's own "
              "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it) before accepting. "
              "A CHANGED key is refused outright: it may be an attack.",
        manual=("ssh root@db1 true; ssh root@app true; ...",
                "ssh-keyscan db1 | ssh-keygen -lf -",
                "ssh app php -r 'define(\"CLI_SCRIPT\",1); include \"/var/www/moodle/"
                "config.php\";'"),
    ),
    "discovery": Guide(
        what="Reads, and only reads: the server's flavor and version, data size, server_id, "
             "binary log and GTID state, non-InnoDB tables, free disk on every host, and "
             "whether Moodle's own login works.",
        why="Every later decision depends on these facts: whether the source must restart, "
            "which packages a replica needs, whether the copy fits.",
        risks="MyISAM/Aria tables cannot be copied consistently while Moodle writes; too "
              "little disk on a replica; a replica host with a different server version.",
        manual=("mariadb -e \"SELECT VERSION(), @@server_id, @@log_bin, @@binlog_format, "
                "@@gtid_binlog_pos\"",
                "mariadb -e \"SELECT table_name, engine FROM information_schema.tables "
                "WHERE table_schema='moodle' AND engine<>'InnoDB'\"",
                "du -sb /var/lib/mysql; df -h /var/lib/mysql"),
    ),
    "backup": Guide(
        what="Chooses how the replicas get their first copy of the data: a physical backup "
             "streamed straight into each replica's datadir, or a logical dump imported "
             "there. Either way the stream goes host to host, never through this machine.",
        why="Physical is fast and exact (a copy of the files); logical is slower but "
            "portable across minor versions and smaller for sparse data.",
        risks="A stream cut half-way: it runs as a detached job on the source, so the wizard "
              "reattaches after a crash; a failed seed is rolled back and run again.",
        manual=("mariadb-backup --backup --stream=xbstream | ssh db2 'mbstream -x -C "
                "/var/lib/mysql'",
                "mariadb-dump --single-transaction --master-data=2 --gtid moodle | ssh db2 "
                "mariadb moodle"),
    ),
    "replicas": Guide(
        what="Installs the same server version on each replica host, seeds it, makes it "
             "read-only with its own server_id, and starts GTID replication from the source.",
        why="Replicas are the copies ProxySQL can send reads to, and the standby you promote "
            "when the primary dies.",
        risks="A datadir that is not empty is never overwritten unless you allow it (then it "
              "is moved aside, not deleted). Two servers with one server_id break "
              "replication silently.",
        manual=("apt-get install mariadb-server mariadb-backup",
                "mariadb-backup --prepare --target-dir=/var/lib/mysql",
                "SET GLOBAL gtid_slave_pos='0-1-123';",
                "CHANGE MASTER TO MASTER_HOST='db1', MASTER_USE_GTID=slave_pos; START SLAVE;"),
    ),
    "proxysql": Guide(
        what="Sets up ProxySQL on both proxy hosts: writer hostgroup 10 (the primary), reader "
             "hostgroup 20 (replicas), the monitor user, Moodle's user routed to the writer, "
             "new admin credentials, identical config on both.",
        why="Moodle talks to one address; ProxySQL sends each connection to the right server "
            "and follows the read_only flag when the primary changes.",
        risks="Moodle's user must also be granted from the proxies' addresses (the backend "
              "sees the proxy); a hashed password cannot log in to MySQL 8 backends.",
        manual=("mysql -h127.0.0.1 -P6032 -uadmin -p",
                "INSERT INTO mysql_replication_hostgroups VALUES (10,20,'read_only','');",
                "LOAD MYSQL SERVERS TO RUNTIME; SAVE MYSQL SERVERS TO DISK;"),
    ),
    "vip": Guide(
        what="Runs keepalived on both proxy hosts so one virtual IP always points at a "
             "working ProxySQL: VRRP with unicast peers and a health check of ProxySQL.",
        why="Two ProxySQLs are only useful if Moodle can reach whichever one is alive at one "
            "address that never changes.",
        risks="A virtual_router_id already used on the network; a VIP that already answers "
              "(preflight checks it is free); only the first 8 characters of auth_pass count.",
        manual=("vi /etc/keepalived/keepalived.conf   # vrrp_instance, track_script",
                "service keepalived start; ip -o addr show to 10.77.0.100"),
    ),
    "review": Guide(
        what="Shows the whole plan as a runbook: every command and SQL statement each step "
             "will run, secrets masked, and what the read-only checks found. Export it, "
             "read it, then confirm.",
        why="Nothing has changed on any server yet. This is the last moment to stop for "
            "free, and the runbook is what you attach to the change request.",
        risks="A question the checks raise (restarting the source: Moodle's reads and writes "
              "fail while it restarts, 2.3 s in the lab) is asked again when the step runs; "
              "answering no stops there, with nothing changed.",
        manual=("moodle-wizard plan --inventory FILE --output runbook.md",),
    ),
    "dashboard": Guide(
        what="Runs the steps and shows each one's state, elapsed time and last message, the "
             "live log of the step in focus and the seed stream's progress; afterwards the "
             "health of the result. Any done step can be rolled back, with every step after "
             "it, newest first.",
        why="A migration takes minutes to hours; the dashboard is where you watch it, leave "
            "it (quitting leaves remote jobs running) and come back to it.",
        risks="A failed step stops the run; its message says what to fix. Rollback undoes "
              "exactly what the step did, from its journal, and is safe to repeat.",
        manual=("moodle-wizard resume",
                "moodle-wizard rollback --to replicas",
                "mariadb -e 'SHOW SLAVE STATUS\\G'"),
    ),
    "operate": Guide(
        what="Runs the cluster after the migration. A switchover is planned: while the "
             "primary is healthy, one replica takes over its job (the old primary goes "
             "read-only, the replica catches up, is promoted, and the old primary becomes its "
             "replica); Moodle's writes pause about 2 s and none are lost. A failover is for "
             "a primary that died: the most advanced replica is promoted and the dead one "
             "fenced, so it can never take writes again until you rejoin it.",
        why="With one primary, a dead database server still stops Moodle until someone "
            "promotes a replica by hand, under pressure. Here it is one rehearsed key; the "
            "drills prove it works before the day you need it.",
        risks="A failover on a primary that is only slow splits the data in two: the wizard "
              "refuses while the primary still answers. Writes the dead primary had not sent "
              "to any replica are lost, and the report counts them.",
        manual=("mariadb -h db1 -e 'SET GLOBAL read_only=1'",
                "mariadb -h db2 -e \"SELECT MASTER_GTID_WAIT('<db1 gtid_binlog_pos>', 30)\"",
                "mariadb -h db2 -e 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0'",
                "CHANGE MASTER TO MASTER_HOST='db2', MASTER_USE_GTID=slave_pos;  # db1, db3",
                "UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE hostname='db1';"),
    ),
}
