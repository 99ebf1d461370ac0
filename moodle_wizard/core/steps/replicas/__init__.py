"""The replicas step, one module per part: `host` (packages, stopping a server, the datadir and
its marker: `datadir`), `seeding` (the temporary key: `seed_key`; the stream: `seed`),
`replication` (GTID position, CHANGE MASTER), `consistency` (verify: lag, marker row,
checksums), assembled with its plan and rollback plan in `step`."""

from moodle_wizard.core.steps.replicas.consistency import checksum_sql
from moodle_wizard.core.steps.replicas.step import Replicas

__all__ = ["Replicas", "checksum_sql"]
