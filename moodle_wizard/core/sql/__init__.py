"""Everything the wizard knows about SQL servers, without I/O.

- `version`: which server it is (`ServerVersion`, `parse_version`) and the version table.
- `quoting`: identifiers and literals, the mask shown in place of secrets.
- `statement`: `Statement`, one SQL text with its parameters (what runs and what is shown).
- `dialect`: `Dialect`, the SQL and tool names for one server version.
- `parsers`: server output (replica status, replica hosts, binlog retention, backup binlog info).
- `gtid`: MariaDB GTID positions and binlog states as values: parsed, compared, and what one
  server has that another lacks (errant or lost transactions).
- `accounts`: copying an account to another host from SHOW GRANTS / SHOW CREATE USER.
- `support`: which servers the wizard supports (MariaDB 10.5 to 11.8; MySQL and Percona
  refused) and the version each replica must run.
"""
