"""What discovery learns: the source server, Moodle's config.php on each app host, and each
replica host as it was found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, JsonValue, field_validator

from moodle_wizard.core.errors import StepError
from moodle_wizard.core.facts.backup import ExistingBackup
from moodle_wizard.core.facts.base import Facts


class GtidState(Facts):
    # MariaDB: the binlog and current positions and the domain; MySQL: gtid_mode, enforce
    # and gtid_executed. Only one flavour's fields are set.
    binlog_pos: str | None = None
    current_pos: str | None = None
    domain_id: int | None = None
    mode: str | None = None
    enforce: str | None = None
    executed: str | None = None


class ExistingReplica(Facts):
    """A replica the source already has (SHOW SLAVE HOSTS / SHOW REPLICAS)."""

    server_id: int
    host: str | None = None
    port: int | None = None


class BinlogDumpThread(Facts):
    """A 'Binlog Dump' thread: a replica (registered or not) reading the binary log."""

    id: int
    user: str
    host: str
    command: str


class SourceFacts(Facts):
    flavor: str
    version: str
    version_string: str
    datadir: str
    server_id: int
    log_bin: bool
    binlog_format: str
    port: int
    read_only: bool
    hostname: str
    # As the server says it (ProxySQL will announce this to Moodle).
    server_version: str
    gtid: GtidState
    log_slave_updates: bool
    log_bin_basename: str | None = None
    # @@bind_address (None: a journal from before discovery read it).
    bind_address: str | None = None
    # None only in a journal from before discovery read the binary log's setup.
    binlog_retention_seconds: int | None = None
    existing_replicas: list[ExistingReplica] = Field(default_factory=list)
    binlog_dump_threads: list[BinlogDumpThread] = Field(default_factory=list)
    tables: int
    non_innodb: list[str] = Field(default_factory=list)
    data_bytes: int
    free_bytes: int


class LoginServer(Facts):
    """The server a login reached, as it names itself."""

    model_config = ConfigDict(coerce_numbers_to_str=True)
    host: str | None = None
    version: str | None = None
    server_id: str | None = None
    read_only: str | None = None


class LoginResult(Facts):
    """PHP's mysqli login with config.php's values."""

    ok: bool
    server: LoginServer | None = None
    error: str | None = None
    errno: int | None = None


class MoodleConfig(Facts):
    """config.php as PHP evaluates it (core/php/read_config.php), its passwords removed or
    masked before it becomes a fact."""

    # config.php is the operator's PHP: a number where Moodle expects a string is still read.
    model_config = ConfigDict(coerce_numbers_to_str=True)
    dbtype: str | None = None
    dblibrary: str | None = None
    dbhost: str | None = None
    dbname: str | None = None
    dbuser: str | None = None
    prefix: str | None = None
    dboptions: dict[str, JsonValue] = Field(default_factory=dict)
    wwwroot: str | None = None
    php_version: str | None = None
    mysqli: bool = False
    connect: LoginResult | None = None
    connect_readonly: LoginResult | None = None
    # Whether the SSH user can replace the file (what the cutover does).
    writable: bool = False

    @field_validator("dboptions", mode="before")
    @classmethod
    def _empty_php_array(cls, value: Any) -> Any:
        # PHP's json_encode writes an empty array as [], not {}.
        return {} if value == [] else value

    @classmethod
    def evaluated(cls, data: dict[str, Any]) -> MoodleConfig:
        """What core/php/read_config.php printed, without dbpass (a config's own copy of it
        stays with the caller, in memory)."""
        return cls.model_validate({k: v for k, v in data.items() if k != "dbpass"})

    @property
    def dbport(self) -> str:
        """dboptions['dbport'] as config.php has it ('' when unset)."""
        value = self.dboptions.get("dbport")
        return "" if value is None else str(value)


class MoodleFacts(MoodleConfig):
    """The first app host's config.php, and every app host's own."""

    apps: dict[str, MoodleConfig] = Field(default_factory=dict)


class ReplicaHostFacts(Facts):
    """A replica host as it is: server packages, datadir entries, running server, space."""

    packages: dict[str, str] = Field(default_factory=dict)
    datadir: str
    datadir_entries: list[str] = Field(default_factory=list)
    server_running: bool
    free_bytes: int


class DiscoverFacts(Facts):
    moodle: MoodleFacts | None = None
    source: SourceFacts | None = None
    replicas: dict[str, ReplicaHostFacts] = Field(default_factory=dict)
    # backup_method = "existing": the backup discovery found (None for the other methods).
    backup: ExistingBackup | None = None

    def require_moodle(self) -> MoodleFacts:
        """config.php as discovery read it (all the cutover needs)."""
        if self.moodle is None:
            raise StepError("discovery recorded no facts; run it again")
        return self.moodle

    def require(self) -> Discovered:
        """The facts every later step needs, or a clear error when discovery has not run."""
        moodle = self.require_moodle()
        if self.source is None:
            raise StepError("discovery recorded no facts; run it again")
        return Discovered(self.source, moodle, self.replicas, self.backup)


@dataclass(frozen=True)
class Discovered:
    """Discovery's facts once it has run (nothing optional)."""

    source: SourceFacts
    moodle: MoodleFacts
    replicas: dict[str, ReplicaHostFacts]
    backup: ExistingBackup | None = None

    @property
    def dbname(self) -> str:
        return self.moodle.dbname or ""

    @property
    def dbuser(self) -> str:
        return self.moodle.dbuser or ""
