"""The seed stream: one backup read on the source, fanned out to every replica. Pure text.

The stream never passes through the wizard: a detached job on the source runs the backup and
sends it over SSH straight to each replica, where a forced command (in a temporary key's
authorized_keys line, restricted to the source's address) unpacks it. Encrypted, because a
Moodle database is personal data; aes128-gcm because it is the fastest cipher on hosts with
AES instructions. One `tee` feeds every replica, so the source is read once whatever the
number of replicas. The job writes the bytes read so far (from tee's /proc io counters) to
`progress` five times a second, and each receiver's exit status to `rc.NAME`.

With a rate limit (`[migration] stream_limit`), a small perl loop between the backup and tee
lets at most that many bytes a second through (`RATE_LIMITER`); the backup then waits on the
full pipe, so the source's disk reads follow the limit too. Perl, because every Debian database
server has it (mariadb-server depends on it) and `pv` is not installed there; the wizard
installs nothing on the source.

The stage, SEED_DIR (/var/lib/moodle-wizard/seed on the source), holds the temporary key pair
(`seed_key`, `seed_key.pub`), the replicas' `known_hosts`, the stream's fifos and logs and the
dump's `gtid.txt`. It lives in the root-owned 0700 base of `privatedir`, never under a
world-writable directory: there another local user could have created it first and planted a
key or read what the job writes. The job proves the stage root's own before it uses it (exit
status UNSAFE_EXIT with the reason otherwise). The key pair is made fresh for every migration
(see `seed_key`); the admin client file with its password is in the job's own `secret/`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from rich.filesize import decimal

from moodle_wizard.core.remote import privatedir

SEED_DIR = f"{privatedir.BASE_DIR}/seed"
KEY_COMMENT = "moodle-wizard-seed"
CIPHER = "aes128-gcm@openssh.com"
CONNECT_TIMEOUT = 20
# How often the job writes its byte count: the wizard's rate is the count's change over a few
# seconds of polls, each about a second apart, so the count must be fresh when it is read.
PROGRESS_INTERVAL_S = 0.2
# The job's exit status when the limiter failed while the backup, tee and receivers did not.
LIMITER_EXIT = 14
# How far the limiter may catch up after the backup was slower than the limit (a pause while
# mariadb-backup waits for a lock, a slow disk): a quarter of a second's worth of bytes at
# full speed, no more, so the rate over any few seconds stays within a few % of the limit.
LIMIT_CATCH_UP_S = 0.25

# The limiter: at most $ARGV[0] bytes a second from stdin to stdout, in the pipe's own chunks
# (64 KiB), sleeping whenever it is ahead of the limit; its clock starts with the first bytes
# (mariadb-backup takes a second or two to begin). A monotonic clock: a wall clock set back
# would stall the stream. Time::HiRes has one and comes with Debian's perl (which
# mariadb-server depends on); perl-base alone has none, so /proc/uptime (1/100 s) stands in.
# A write error or a closed pipe (a receiver gone) ends it, as it ends tee.
RATE_LIMITER = r"""use strict;
my ($rate, $n, $buf) = ($ARGV[0], 0, "");
my $clock = eval { require Time::HiRes; my $m = Time::HiRes::CLOCK_MONOTONIC();
    sub { Time::HiRes::clock_gettime($m) } } || sub {
    open(my $f, "<", "/proc/uptime") or die "no clock: $!\n"; (split " ", <$f>)[0] };
my $t0;
while (1) {
    my $got = sysread(STDIN, $buf, 1 << 20);
    die "read: $!\n" unless defined $got;
    last unless $got;
    $t0 //= $clock->();
    for (my $off = 0; $off < $got;) {
        my $put = syswrite(STDOUT, $buf, $got - $off, $off);
        die "write: $!\n" unless defined $put;
        $off += $put;
    }
    $n += $got;
    my $ahead = $n / $rate - ($clock->() - $t0);
    if ($ahead > 0) { select(undef, undef, undef, $ahead) }
    elsif ($ahead < -CATCH_UP) { $t0 = $clock->() - $n / $rate - CATCH_UP }
}
""".replace("CATCH_UP", str(LIMIT_CATCH_UP_S))


@dataclass(frozen=True)
class Receiver:
    name: str
    address: str
    port: int


def receive_command(method: str, datadir: str, client: str, extract: str) -> str:
    """The forced command on a replica: what happens to the bytes that arrive (`extract`: the
    dialect's unpacker of the backup's xbstream, mbstream for MariaDB, xbstream for MySQL)."""
    if method == "physical":
        return f"{extract} -x -C {shlex.quote(datadir)}"
    # A logical import must not write its own binary log events on the replica, or setting
    # gtid_slave_pos afterwards fails (ERROR 1947).
    return f"{{ echo 'SET SESSION sql_log_bin=0;'; cat; }} | {client}"


def authorized_key_line(pubkey: str, source_address: str, command: str) -> str:
    """A key that can do exactly one thing, from exactly one address."""
    options = f'restrict,from="{source_address}",command="{command}"'
    return f"{options} {pubkey.strip()}"


def backup_command(method: str, backup: str, dump: Sequence[str], databases: Sequence[str],
                   defaults_file: str | None, workdir: str) -> str:
    # Double quotes: the path may name the job's directory as $MW_JOB_DIR.
    auth = f'--defaults-extra-file="{defaults_file}" ' if defaults_file else ""
    if method == "physical":
        # Commits wait while the backup holds its commit lock for the last redo log copy;
        # the copying thread looks for new redo every second by default, so Moodle's writes
        # would stall up to a second. Every 50 ms, they stall a few tens of milliseconds.
        # No --throttle: its "I/O operation" is one read-and-write of a chunk, up to 640
        # pages of an InnoDB file (10 MiB) but also one small file or one Aria chunk, a budget
        # refilled once a second. Measured on the lab's db1 (MariaDB 10.11, 1.5 GB, warm
        # cache): --throttle=5 copied InnoDB in bursts (73 MB/s over 5 s, 94 MB in one
        # second), then crawled through the small files at 5 a second while mariadb-backup
        # held BACKUP STAGE FLUSH for 49 s and BLOCK_DDL (no DDL on the primary) for 43 s: 130 s
        # for what the limiter streamed in 31 s at 49.7 MB/s (limit 50 MB/s), its stages
        # over within a second. The limiter's full pipe holds the copy's disk reads too
        # (47.8 MB/s over that run).
        # No --parallel: to /dev/null, 1 thread took 1.73 s (median of 3), 2 threads 1.50 s,
        # 4 threads 2.04 s; the stream's ssh encryption (about 220 MB/s on these 2 cores) is
        # what sets the seed's pace, and a second copy thread would take a core from it and
        # from the primary's own work.
        return (f"{backup} {auth}--backup --stream=xbstream --log-copy-interval=50 "
                f"--target-dir={shlex.quote(workdir)}/tmp")
    binary, *options = dump
    dbs = " ".join(shlex.quote(d) for d in databases)
    return (f"{binary} {auth}{' '.join(options)} --routines --triggers --events "
            f"--hex-blob --databases {dbs}")


def limiter_lines(limit: int) -> list[str]:
    """The limiter as a shell function of the job, `mw_rate_limit BYTES_PER_SECOND`."""
    return [
        f"# stream_limit: at most {decimal(limit)}/s ({limit} bytes a second) leave this host",
        f"mw_rate_limit() {{ perl -e {shlex.quote(RATE_LIMITER)} \"$1\"; }}",
    ]


def sender_script(method: str, backup_cmd: str, receivers: Sequence[Receiver],
                  workdir: str, connect_timeout: int = CONNECT_TIMEOUT, *,
                  check_workdir: bool = True, limit: int | None = None) -> str:
    """The bash script of the source's seed job. With `check_workdir` (always, except for
    tests that run it in a scratch directory), it first proves `workdir` root's own. With
    `limit` (bytes a second), the stream leaves at that rate at most."""
    q = shlex.quote
    check = []
    if check_workdir:
        privatedir.check_path(workdir)
        check = [privatedir.SHELL_FUNCTION.strip(),
                 f"mw_private_dir check {q(workdir)} || {{ echo {q(workdir)} is missing: roll "
                 "back this step and run it again; exit 13; }"]
    lines = [
        "#!/bin/bash",
        "set -u",
        *check,
        f"cd {q(workdir)}",
        # The job runner's directory, where the wizard reads progress; else the workdir.
        'progress="${MW_JOB_DIR:-$PWD}/progress"',
        "mkdir -p tmp",
        'rm -f stream rc.* "$progress"',
        "mkfifo stream",
    ]
    fifos = []
    for r in receivers:
        fifo = f"to.{r.name}"
        fifos.append(fifo)
        # Without ConnectTimeout, ssh waits for the server's banner for ever: a replica whose
        # link drops between the TCP handshake and the banner would hang the whole stream.
        # ServerAlive* bounds the key exchange and every later silence.
        ssh = (f"ssh -i seed_key -o IdentitiesOnly=yes -o BatchMode=yes "
               f"-o UserKnownHostsFile=known_hosts -o StrictHostKeyChecking=yes "
               f"-o ConnectTimeout={connect_timeout} -o ServerAliveInterval=5 "
               f"-o ServerAliveCountMax=6 -c {CIPHER} -p {r.port} root@{q(r.address)}")
        lines += [
            f"rm -f {fifo}; mkfifo {fifo}",
            f"( {ssh} < {fifo} > recv.{r.name}.log 2>&1; echo $? > rc.{r.name} ) &",
            "senders+=($!)",
        ]
    lines += [
        f"tee {' '.join(fifos)} < stream > /dev/null &",
        "tee_pid=$!",
        # tee's read counter is the stream's byte count, for free.
        "( while kill -0 $tee_pid 2>/dev/null; do",
        "    awk '/^rchar/ {print $2}' /proc/$tee_pid/io > \"$progress.tmp\" 2>/dev/null"
        " && mv -f \"$progress.tmp\" \"$progress\"",
        f"    sleep {PROGRESS_INTERVAL_S}",
        "  done ) &",
    ]
    # The limiter last before the fifo: what tee counts is what leaves this host.
    limiter = ""
    if limit is not None:
        lines += limiter_lines(limit)
        limiter = f" | mw_rate_limit {limit}"
    if method == "logical":
        # The dump's header carries the GTID position it is consistent with.
        lines.append(f"{backup_cmd} 2> backup.log | tee >(grep -a -m1 'gtid_slave_pos' > "
                     f"gtid.txt; cat > /dev/null){limiter} > stream")
        lines.append("rcs=(\"${PIPESTATUS[@]}\"); backup_rc=${rcs[0]}")
    elif limiter:
        lines.append(f"{backup_cmd} 2> backup.log{limiter} > stream")
        lines.append("rcs=(\"${PIPESTATUS[@]}\"); backup_rc=${rcs[0]}")
    else:
        lines.append(f"{backup_cmd} > stream 2> backup.log")
        lines.append("backup_rc=$?")
    if limiter:
        lines.append("limit_rc=${rcs[-1]}")
    lines += [
        "wait $tee_pid; tee_rc=$?",
        "for p in \"${senders[@]}\"; do wait $p; done",
        "echo \"backup exit $backup_rc, tee exit $tee_rc"
        + (", rate limiter exit $limit_rc" if limit is not None else "") + "\"",
    ]
    # A receiver that broke (its host or link gone: ssh exits 255) makes tee, the backup and
    # the other receivers fail too: every receiver's exit first, so the cause can be named.
    lines.append("failed=0")
    for r in receivers:
        lines.append(f"rc=$(cat rc.{r.name} 2>/dev/null || echo 99); "
                     f"echo \"receiver {r.name} exit $rc\"; [ \"$rc\" = 0 ] || failed=1")
    for r in receivers:
        lines.append(f"[ \"$(cat rc.{r.name} 2>/dev/null || echo 99)\" = 0 ] || "
                     f"tail -3 recv.{r.name}.log")
    lines.append("[ $failed = 0 ] || exit 12")
    if limit is not None:
        # Before the backup's: a limiter that died makes the backup fail on its closed pipe.
        lines.append(f"[ $limit_rc -eq 0 ] || {{ echo 'the rate limiter (perl) failed; "
                     f"remove stream_limit to stream without it'; exit {LIMITER_EXIT}; }}")
    lines += [
        "[ $backup_rc -eq 0 ] || { echo 'backup failed:'; tail -20 backup.log; exit 10; }",
        "[ $tee_rc -eq 0 ] || exit 11",
    ]
    return "\n".join(lines) + "\n"
