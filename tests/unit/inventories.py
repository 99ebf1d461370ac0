"""One small inventory for unit tests that never reach a host (every address is loopback)."""

MINIMAL_INVENTORY = """\
[migration]
name = "site"

[hosts.db1]
address = "127.0.0.1"
role = "source"

[hosts.db2]
address = "127.0.0.2"
role = "replica"

[hosts.app]
address = "127.0.0.3"
role = "app"
"""
