"""The seed stream: one backup read on the source, fanned out to every replica. Pure text.

The stream never passes through the wizard: a detached job on the source runs the backup and
sends it over SSH straight to each replica, where a forced command (in a temporary key's
authorized_keys line, restricted to the source's address) unpacks it. Encrypted, because a
Moodle database is personal data; aes128-gcm because it is the fastest cipher on hosts with
AES instructions. One `tee` feeds every replica, so the source is read once whatever the
number of replicas. The job writes the bytes read so far (from tee's /proc io counters) to
`progress` every second, and each receiver's exit status to `rc.NAME`.

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

from moodle_wizard.core.remote import privatedir

SEED_DIR = f"{privatedir.BASE_DIR}/seed"
KEY_COMMENT = "moodle-wizard-seed"
CIPHER = "aes128-gcm@openssh.com"
CONNECT_TIMEOUT = 20


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
        return (f"{backup} {auth}--backup --stream=xbstream --log-copy-interval=50 "
                f"--target-dir={shlex.quote(workdir)}/tmp")
    binary, *options = dump
    dbs = " ".join(shlex.quote(d) for d in databases)
    return (f"{binary} {auth}{' '.join(options)} --routines --triggers --events "
            f"--hex-blob --databases {dbs}")


def sender_script(method: str, backup_cmd: str, receivers: Sequence[Receiver],
                  workdir: str, connect_timeout: int = CONNECT_TIMEOUT, *,
                  check_workdir: bool = True) -> str:
    """The bash script of the source's seed job. With `check_workdir` (always, except for
    tests that run it in a scratch directory), it first proves `workdir` root's own."""
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
        "    sleep 1",
        "  done ) &",
    ]
    if method == "logical":
        # The dump's header carries the GTID position it is consistent with.
        lines.append(f"{backup_cmd} 2> backup.log | tee >(grep -a -m1 'gtid_slave_pos' > "
                     "gtid.txt; cat > /dev/null) > stream")
        lines.append("backup_rc=${PIPESTATUS[0]}")
    else:
        lines.append(f"{backup_cmd} > stream 2> backup.log")
        lines.append("backup_rc=$?")
    lines += [
        "wait $tee_pid; tee_rc=$?",
        "for p in \"${senders[@]}\"; do wait $p; done",
        "echo \"backup exit $backup_rc, tee exit $tee_rc\"",
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
    lines += [
        "[ $backup_rc -eq 0 ] || { echo 'backup failed:'; tail -20 backup.log; exit 10; }",
        "[ $tee_rc -eq 0 ] || exit 11",
    ]
    return "\n".join(lines) + "\n"
