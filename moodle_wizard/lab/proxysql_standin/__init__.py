"""A ProxySQL *stand-in* for the moodle-wizard lab. It is not ProxySQL.

ProxySQL is not packaged by Debian, so the lab's proxy hosts run this small
server instead when no real ``proxysql`` binary is available. It imitates the
parts of ProxySQL 2.7 the wizard relies on (see
``/work/shared/reference/proxysql-admin.md``):

- the admin interface (``admin-mysql_ifaces``, default 0.0.0.0:6032): the same
  tables, the MEMORY / RUNTIME / DISK layers with LOAD/SAVE, ``SET`` of
  variables, ``runtime_checksums_values`` and the ``ProxySQL Admin Error``
  error style (SQLite underneath, as in ProxySQL itself);
- the client interface (``mysql-interfaces``, default 0.0.0.0:6033): frontend
  users from ``mysql_users``, routed by ``default_hostgroup`` to an ONLINE
  backend, the session relayed byte for byte after authentication;
- a read_only monitor that moves servers between the writer and reader
  hostgroups of ``mysql_replication_hostgroups``;
- ProxySQL Cluster for ``mysql_users`` (``cluster.py``): peers from
  ``proxysql_servers`` polled with ``admin-cluster_username``, the exact version
  check, ``stats_proxysql_servers_checksums``, diff_check/epoch rules and the pull
  into MEMORY, RUNTIME (peer's epoch) and DISK. Not imitated: TLS of the link,
  ProxySQL's checksum algorithm (a stand-in never clusters with a real ProxySQL),
  the sync of any other module (refused, not pretended), the servers' metrics;
- with ``--daemon``, ProxySQL's two processes (``watchdog``): an angel that holds
  the pid file and restarts a crashed child, and the child that serves.

Run it with ``python -m moodle_wizard.lab.proxysql_standin``. It is for the
lab only and says so in its version string, version comment and log lines.
"""

from __future__ import annotations

#: What ``SELECT @@version`` / ``admin-version`` report. It starts like a real
#: 2.7.2 version (clients parse the numbers) and then says what it really is.
STANDIN_VERSION = "2.7.2-0-standin"

#: ``@@version_comment`` on the admin port (ProxySQL says "(ProxySQL Admin Module)").
ADMIN_VERSION_COMMENT = "(ProxySQL Admin Module stand-in, moodle-wizard lab, not ProxySQL)"

#: ``@@version_comment`` as answered on the client port before a backend is chosen.
CLIENT_VERSION_COMMENT = "(ProxySQL stand-in, moodle-wizard lab)"

#: Prefix of every log line, so nobody mistakes the log for a real ProxySQL's.
LOG_NAME = "proxysql-standin"
