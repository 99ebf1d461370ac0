"""TLS to ProxySQL's backends (`use_ssl`) and in the operations (layouts, repoint), only when
`[migration] tls = true`."""

from __future__ import annotations

from moodle_wizard.core.operate import commands as opcmd
from moodle_wizard.core.render.proxysql import server_rows, servers_statements


def test_proxysql_backends_use_ssl_only_when_asked() -> None:
    rows = server_rows(10, 20, 3306, "10.77.0.11", ("10.77.0.12",), 30)
    plain = [s.display() for s in servers_statements(10, 20, rows)]
    with_tls = [s.display() for s in servers_statements(10, 20, rows, use_ssl=True)]
    assert not any("use_ssl" in s for s in plain)
    assert with_tls[:-1] == plain
    assert with_tls[-1] == "UPDATE mysql_servers SET use_ssl = 1 WHERE hostgroup_id IN (10, 20)"


def test_operations_keep_tls_on_the_backends() -> None:
    """A switchover rewrites the servers: with TLS on, they keep use_ssl (the monitor user
    requires TLS, so without it every server would be shunned)."""
    want = opcmd.Layout(10, 20, 3306, "10.77.0.12", ("10.77.0.11",), use_ssl=True)
    lines = [c.render() for c in opcmd.layout("px1", want)]
    assert any("SET use_ssl = 1" in line for line in lines)
    assert lines[-2].endswith("LOAD MYSQL SERVERS TO RUNTIME")
    plain = opcmd.Layout(10, 20, 3306, "10.77.0.12", ("10.77.0.11",))
    assert not any("use_ssl" in c.render() for c in opcmd.layout("px1", plain))


def test_a_repointed_server_replicates_over_tls() -> None:
    """A former primary has no MASTER_SSL of its own: with TLS on, repoint sets it (the
    replication user requires TLS) before START; without, nothing changes."""
    from moodle_wizard.core.sql.dialect import Dialect
    from moodle_wizard.core.sql.version import parse_version

    d = Dialect(parse_version("10.11.6-MariaDB", "mariadb"))
    with_tls = [c.render() for c in opcmd.repoint("db1", d, "10.77.0.12", 3306, "mw_repl",
                                                  tls=True)]
    assert "MASTER_SSL=1" in with_tls[-2] and with_tls[-1].endswith("START SLAVE")
    plain = [c.render() for c in opcmd.repoint("db1", d, "10.77.0.12", 3306, "mw_repl")]
    assert not any("SSL" in line for line in plain)
