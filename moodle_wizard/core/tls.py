"""TLS in transit (inventory `[migration] tls = true`): a small CA and a certificate per
database server, as command objects (core/command.py) so the runbook is what runs.

A Moodle database is students' personal data; with TLS on, replication (replica -> source) and
ProxySQL's backend connections (its monitor's too) are encrypted, and the replication and
monitor users must use TLS.

- The CA is made on the jump host, where the wizard runs, by `openssl` run locally: its key is
  written by openssl into `<migration id>.tls/` next to the migration's state file (directory
  0700, key 0600). Never in the state file, the journal, the logs or the runbook.
- Each database server's key is made ON that server (`openssl genpkey`, 0600, owned by mysql:
  it never leaves the host); only its CSR is read back, signed here, and the certificate and the
  CA certificate are put back next to the key.
- Everything on a server lives in TLS_DIR, which the wizard creates only if it is absent and
  marks with this migration's owner token (a file inside it): an existing directory that does
  not carry the token is refused in preflight and never touched; rollback removes the directory
  only when it carries the token.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moodle_wizard.core.command import Command, Script, WriteFile, placeholder, run_all
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.render.mycnf import quote_option_value
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import ServerVersion

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["CA_CERT", "SERVER_CERT", "SERVER_KEY", "TLS_DIR", "ca_commands", "cnf_lines",
           "enabled", "host_commands", "owner_token", "remove_script", "require_ssl",
           "sign", "ssl_change_source"]

TLS_DIR = "/etc/mysql/moodle-wizard-tls"
CA_CERT = f"{TLS_DIR}/ca.pem"
SERVER_CERT = f"{TLS_DIR}/server-cert.pem"
SERVER_KEY = f"{TLS_DIR}/server-key.pem"
CSR = f"{TLS_DIR}/server.csr"
# The file whose content proves the directory is this migration's.
MARKER = f"{TLS_DIR}/.moodle-wizard-owner"
KEY_BITS = 2048
# Certificates outlive a migration; the CA a little longer than its certificates.
CA_DAYS = 3650
CERT_DAYS = 3650
# How the runbook names the CA's directory (its real path depends on the operator's home).
CA_DIR_SHOWN = "<migration id>.tls next to the migration's state file"


def enabled(ctx: Context) -> bool:
    return ctx.inventory.migration.tls


def owner_token(ctx: Context) -> str:
    """This migration's token (its id and its state's birth, as the replicas' datadir marker):
    a directory left by an earlier migration of the same name is not taken for this one's."""
    state = ctx.state
    return f"{state.migration_id}@{state.created_at:%Y%m%dT%H%M%S%f}"


def cnf_lines() -> str:
    """The [mysqld] lines of the wizard's option file that turn TLS on."""
    return "".join(f"{name} = {quote_option_value(path)}\n" for name, path in
                   (("ssl_ca", CA_CERT), ("ssl_cert", SERVER_CERT), ("ssl_key", SERVER_KEY)))


def require_ssl(user: str, host: str, *, on: bool = True) -> Statement:
    """The account must connect with TLS (or, for rollback, need not any more)."""
    return Statement(f"ALTER USER IF EXISTS %s@%s REQUIRE {'SSL' if on else 'NONE'}",
                     (user, host))


def ssl_change_source(version: ServerVersion) -> Statement:
    """Replication over TLS, the migration's CA given as the CA file (the server's identity is
    not verified: MASTER_SSL_VERIFY_SERVER_CERT stays off, see the README): given after the
    replica's CHANGE MASTER and before START (other settings are kept as they are)."""
    if version.is_mariadb or not version.at_least(8, 0, 23):
        return Statement("CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA=%s", (CA_CERT,))
    return Statement("CHANGE REPLICATION SOURCE TO SOURCE_SSL=1, SOURCE_SSL_CA=%s", (CA_CERT,))


# -- the CA, on this machine ----------------------------------------------------------------


def ca_dir(ctx: Context) -> Path:
    if ctx.state_path is None:
        raise StepError("TLS needs the migration's directory for its CA, and this run keeps no "
                        "state (a dry run); run the migration")
    return ctx.state_path.parent / f"{ctx.state.migration_id}.tls"


@dataclass(frozen=True)
class Local:
    """argv run on this machine (the jump host) in the CA's directory. Never holds a secret:
    openssl writes the CA's key to a file itself."""

    argv: tuple[str, ...]
    note: str = ""
    host: str = ""

    def render(self) -> str:
        note = f"  # {self.note}" if self.note else ""
        sh = len(self.argv) == 3 and self.argv[:2] == ("sh", "-c")
        text = self.argv[2] if sh else shlex.join(self.argv)
        return f"on this machine, in {CA_DIR_SHOWN}: {text}{note}"

    async def run(self, ctx: Context) -> object:
        directory = _private_dir(ctx)
        proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=directory, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        _out, err = await proc.communicate()
        if proc.returncode:
            raise StepError(f"openssl failed on this machine ({shlex.join(self.argv)}): "
                            f"{err.decode(errors='replace').strip()[-300:]}")
        for name in ("ca.key", "ca.pem"):
            if (directory / name).exists():  # openssl's 0600; said, not assumed
                (directory / name).chmod(0o600 if name == "ca.key" else 0o644)
        return None


def _private_dir(ctx: Context) -> Path:
    """The CA's directory, made 0700 if missing, refused unless it is ours and private."""
    directory = ca_dir(ctx)
    directory.mkdir(mode=0o700, exist_ok=True)
    st = directory.lstat()
    if directory.is_symlink() or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StepError(f"{directory} must be yours and mode 0700 (it holds the CA's key); "
                        "fix its owner and mode, or move it away, and resume")
    return directory


@dataclass(frozen=True)
class LocalWrite:
    """A small file (no secret) written into the CA's directory on this machine."""

    name: str
    content: str
    host: str = ""

    def render(self) -> str:
        return f"on this machine, in {CA_DIR_SHOWN}: write {self.name}:\n{self.content}"

    async def run(self, ctx: Context) -> object:
        (_private_dir(ctx) / self.name).write_text(self.content)
        return None


def ca_commands(ctx: Context) -> list[Command]:
    """The CA's key and its self-signed certificate (each only if missing: a resumed run signs
    with the CA it started with)."""
    name = f"/CN=moodle-wizard CA {ctx.state.migration_id}"
    return [
        Local(("sh", "-c", "[ -s ca.key ] || openssl genpkey -quiet -algorithm RSA -pkeyopt "
                           f"rsa_keygen_bits:{KEY_BITS} -out ca.key"), note="the CA's key, 0600"),
        Local(("sh", "-c", "[ -s ca.pem ] || openssl req -x509 -new -key ca.key -sha256 "
                           f"-days {CA_DAYS} -subj {shlex.quote(name)} -out ca.pem")),
    ]


# -- a server's key and certificate ---------------------------------------------------------


def _refuse_foreign(owner: str) -> str:
    return (f"d={TLS_DIR}; owner={shlex.quote(owner)}\n"
            f'if [ -e "$d" ] || [ -L "$d" ]; then\n'
            f'  if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(cat {MARKER} 2>/dev/null)" != "$owner" ]'
            '; then\n'
            '    echo "$d exists and is not this migration\'s: move it away and resume" >&2\n'
            "    exit 3\n"
            "  fi\n")


def key_script(owner: str, name: str) -> str:
    """TLS_DIR made (only if absent, root:mysql 0750, marked), the server's key made there
    (0600, mysql, only if missing) and its CSR written next to it."""
    subject = shlex.quote(f"/CN={name}")
    return (_refuse_foreign(owner)
            + "else\n"
            '  install -d -m 0750 -o root -g mysql "$d"\n'
            f"  printf '%s\\n' \"$owner\" > {MARKER}\n"
            "fi\n"
            f"if [ ! -s {SERVER_KEY} ]; then\n"
            "  (umask 077; openssl genpkey -quiet -algorithm RSA -pkeyopt "
            f"rsa_keygen_bits:{KEY_BITS} -out {SERVER_KEY}.new)\n"
            f"  chown mysql:mysql {SERVER_KEY}.new\n"
            f"  mv -f {SERVER_KEY}.new {SERVER_KEY}\n"
            "fi\n"
            f"openssl req -new -key {SERVER_KEY} -subj {subject} -out {CSR}\n")


def remove_script(owner: str) -> str:
    """TLS_DIR removed only if it carries this migration's token (else left, and said)."""
    return (f"d={TLS_DIR}; owner={shlex.quote(owner)}\n"
            '[ -e "$d" ] || [ -L "$d" ] || exit 0\n'
            f'if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(cat {MARKER} 2>/dev/null)" != "$owner" ]'
            '; then\n'
            '  echo "$d is not this migration\'s: left as it is" >&2\n'
            "  exit 0\n"
            "fi\n"
            'rm -rf -- "$d"\n')


def check_script(owner: str) -> str:
    """Exit 3 if TLS_DIR exists and is not this migration's (preflight)."""
    return _refuse_foreign(owner) + "fi\n"


def sign(host: str, address: str) -> list[Command]:
    """The CSR read back from `host`, signed by the CA for its name and address."""
    ext = (f"subjectAltName = IP:{address}, DNS:{host}\nbasicConstraints = CA:FALSE\n"
           "extendedKeyUsage = serverAuth, clientAuth\n")
    return [LocalWrite(f"{host}.ext", ext),
            Local(("openssl", "x509", "-req", "-in", f"{host}.csr", "-CA", "ca.pem", "-CAkey",
                   "ca.key", "-CAserial", "ca.srl", "-CAcreateserial", "-sha256", "-days",
                   str(CERT_DAYS), "-extfile", f"{host}.ext", "-out", f"{host}.pem"),
                  note=f"{host}.csr is {CSR} as read from {host}")]


def _put(host: str, cert: str | None, ca: str | None) -> list[Command]:
    shown_cert = cert if cert is not None else placeholder("the certificate the CA signed")
    shown_ca = ca if ca is not None else placeholder("the CA certificate")
    return [WriteFile(host, SERVER_CERT, shown_cert, 0o644),
            WriteFile(host, CA_CERT, shown_ca, 0o644)]


def host_commands(ctx: Context, host: str) -> list[Command]:
    """What the runbook shows for one server's certificate (key, CSR, signature, put back)."""
    address = ctx.inventory.hosts[host].address
    return [Script(host, key_script(owner_token(ctx), host)), *sign(host, address),
            *_put(host, None, None)]


async def make_host_certificate(ctx: Context, host: str) -> None:
    """The same commands as host_commands, with the CSR and the certificates as they are."""
    address = ctx.inventory.hosts[host].address
    await Script(host, key_script(owner_token(ctx), host)).run(ctx)
    remote = await ctx.host(host)
    csr = await remote.read_file(CSR)
    if not csr:
        raise StepError(f"{host}: openssl wrote no {CSR}")
    directory = _private_dir(ctx)
    (directory / f"{host}.csr").write_bytes(csr)
    await run_all(ctx, sign(host, address))
    cert = (directory / f"{host}.pem").read_text()
    ca = (directory / "ca.pem").read_text()
    await run_all(ctx, _put(host, cert, ca))


def remove_ca(ctx: Context) -> None:
    """The CA's directory on this machine, with its key (rollback)."""
    if ctx.state_path is None:
        return
    directory = ca_dir(ctx)
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in directory.iterdir():
        entry.unlink()
    directory.rmdir()
