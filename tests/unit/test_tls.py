"""TLS in transit (core/tls.py, core/steps/tls_steps.py): the scripts run for real against a
temporary directory standing for TLS_DIR (as root: the key's owner is checked), the CA and a
signature made with the real openssl, the statements and the option lines, the order."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core import tls
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.sql.version import parse_version
from moodle_wizard.core.state import MigrationOrder
from moodle_wizard.core.steps import tls_steps
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.lab.proxysql_standin.backend import backend_ssl
from tests.unit.plan_fixtures import context

OWNER = "mig@20261202T010203000004"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to mysql needs root")


def _sh(script: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """A script with TLS_DIR moved under tmp (the real one is /etc/mysql/...)."""
    return subprocess.run(["sh", "-eu", "-c", script.replace(tls.TLS_DIR, str(tmp / "tls"))],
                          capture_output=True, text=True, check=False)


@root_only
def test_key_script_makes_a_private_key_once_and_refuses_a_foreign_directory(
        tmp_path: Path) -> None:
    d = tmp_path / "tls"
    first = _sh(tls.key_script(OWNER, "db2"), tmp_path)
    assert first.returncode == 0, first.stderr
    key = d / "server-key.pem"
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == int(subprocess.run(["id", "-u", "mysql"], capture_output=True,
                                           text=True, check=True).stdout)
    assert stat.S_IMODE(d.stat().st_mode) == 0o750
    assert b"BEGIN CERTIFICATE REQUEST" in (d / "server.csr").read_bytes()
    before = key.read_bytes()
    again = _sh(tls.key_script(OWNER, "db2"), tmp_path)
    assert again.returncode == 0 and key.read_bytes() == before  # the key is kept
    # Another migration's directory (other token) is refused and left as it was.
    other = _sh(tls.key_script("other@1", "db2"), tmp_path)
    assert other.returncode == 3 and "not this migration's" in other.stderr
    assert _sh(tls.check_script("other@1"), tmp_path).returncode == 3
    assert _sh(tls.check_script(OWNER), tmp_path).returncode == 0
    assert key.read_bytes() == before


def test_a_directory_without_the_token_is_never_touched(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    (d / "server-key.pem").write_text("the operator's")
    assert _sh(tls.key_script(OWNER, "db1"), tmp_path).returncode == 3
    assert _sh(tls.remove_script(OWNER), tmp_path).returncode == 0
    assert (d / "server-key.pem").read_text() == "the operator's"
    assert _sh(tls.check_script(OWNER), tmp_path).returncode == 3


def test_remove_script_removes_only_its_own(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    (d / ".moodle-wizard-owner").write_text(OWNER + "\n")
    (d / "server-key.pem").write_text("k")
    assert _sh(tls.remove_script("other@1"), tmp_path).returncode == 0
    assert d.exists()
    assert _sh(tls.remove_script(OWNER), tmp_path).returncode == 0
    assert not d.exists()
    assert _sh(tls.remove_script(OWNER), tmp_path).returncode == 0  # idempotent


def _ctx(tmp_path: Path) -> Any:
    from datetime import datetime
    state = SimpleNamespace(migration_id="mig", created_at=datetime(2026, 12, 2))
    return SimpleNamespace(state_path=tmp_path / "mig.json", state=state)


def test_the_ca_signs_a_csr_for_the_host_name_and_address(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)

    async def run() -> None:
        for command in tls.ca_commands(ctx):
            await command.run(ctx)
        ca_dir = tls.ca_dir(ctx)
        key = ca_dir / "ca.key"
        before = key.read_bytes()
        for command in tls.ca_commands(ctx):  # a resumed run keeps the CA it started with
            await command.run(ctx)
        assert key.read_bytes() == before
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(tmp_path / "h.key"), "-subj", "/CN=db2", "-out",
                        str(ca_dir / "db2.csr")], check=True, capture_output=True)
        for command in tls.sign("db2", "10.77.0.12"):
            await command.run(ctx)

    asyncio.run(run())
    ca_dir = tls.ca_dir(ctx)
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca_dir / "ca.pem"),
                             str(ca_dir / "db2.pem")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(ca_dir / "db2.pem")],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:10.77.0.12" in text and "DNS:db2" in text
    tls.remove_ca(ctx)
    assert not ca_dir.exists()


def test_a_ca_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    tls.ca_dir(ctx).mkdir(mode=0o755)
    tls.ca_dir(ctx).chmod(0o755)
    with pytest.raises(StepError, match="mode 0700"):
        asyncio.run(tls.ca_commands(ctx)[0].run(ctx))


def test_no_ca_without_a_state_file() -> None:
    ctx = SimpleNamespace(state_path=None, state=SimpleNamespace(migration_id="m"))
    with pytest.raises(StepError, match="dry run"):
        tls.ca_dir(ctx)  # type: ignore[arg-type]


def test_option_lines_and_statements() -> None:
    assert tls.cnf_lines() == (f'ssl_ca = "{tls.CA_CERT}"\nssl_cert = "{tls.SERVER_CERT}"\n'
                               f'ssl_key = "{tls.SERVER_KEY}"\n')
    on = tls.require_ssl("mw_repl", "10.77.0.12")
    off = tls.require_ssl("mw_repl", "10.77.0.12", on=False)
    assert on.display() == "ALTER USER IF EXISTS 'mw_repl'@'10.77.0.12' REQUIRE SSL"
    assert off.display().endswith("REQUIRE NONE")
    maria = tls.ssl_change_source(parse_version("10.11.6-MariaDB", "mariadb")).display()
    mysql = tls.ssl_change_source(parse_version("8.4.3", "mysql")).display()
    assert maria == f"CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA='{tls.CA_CERT}'"
    assert mysql.startswith("CHANGE REPLICATION SOURCE TO SOURCE_SSL=1")


def test_the_standin_connects_with_tls_when_the_row_says_use_ssl() -> None:
    assert backend_ssl({"use_ssl": 0}) is None
    assert backend_ssl({}) is None
    assert backend_ssl({"use_ssl": 1}) is not None


def test_cipher_parsing() -> None:
    assert tls_steps._cipher("Ssl_cipher\tTLS_AES_256_GCM_SHA384\n") == "TLS_AES_256_GCM_SHA384"
    assert tls_steps._cipher("Ssl_cipher\t\n") == ""
    assert tls_steps._cipher("") == ""


def _with_tls(ctx: Any, order: str) -> None:
    inv = ctx.inventory
    ctx.inventory = inv.model_copy(update={"migration": inv.migration.model_copy(
        update={"tls": True, "order": order})})


def test_tls_runs_the_classic_order(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    assert choose_order(ctx)[0] == MigrationOrder.PROXY_FIRST  # the lab's source must restart
    _with_tls(ctx, "auto")
    order, why = choose_order(ctx)
    assert order == MigrationOrder.CLASSIC and "TLS" in why
    _with_tls(ctx, "proxy-first")
    with pytest.raises(StepError, match="TLS"):
        choose_order(ctx)


def test_tls_alone_makes_the_source_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    from moodle_wizard.core.steps.prepare_source import PrepareSource

    ctx = context("mariadb-10.11", monkeypatch)
    src = ctx.state.steps.discover.facts.source
    assert src is not None
    # A source whose binary log is already on as the wizard wants it.
    src.log_bin, src.log_slave_updates = True, True
    src.log_bin_basename, src.bind_address = "/var/log/mysql/mysql-bin", "0.0.0.0"
    src.server_id = PrepareSource(ctx).server_id()
    assert not PrepareSource(ctx).restart_needed()
    _with_tls(ctx, "classic")
    step = PrepareSource(ctx)
    assert step.restart_needed()
    assert "TLS alone" in tls_steps.restart_reason(step)
    assert step.cnf().endswith(tls.cnf_lines())
