"""What the changing steps record before they change something: the evidence their rollback
and `finish` act on (never more than that evidence proves)."""

from __future__ import annotations

from pydantic import Field

from moodle_wizard.core.facts.base import Facts


class CnfBackup(Facts):
    """The server config file prepare-source writes, and its text before (None: there was
    no such file)."""

    path: str
    previous: str | None


class PrepareSourceFacts(Facts):
    cnf: CnfBackup | None = None
    # The source's binary logs before the step turned the log on (rollback removes only
    # the ones the step made).
    binlogs_before: list[str] | None = None
    log_dir_created: bool = False
    # Global settings as they were, set back by rollback.
    runtime_before: dict[str, str] = Field(default_factory=dict)
    # (user, host) accounts the step created on the source.
    accounts_created: list[tuple[str, str]] = Field(default_factory=list)
    heartbeat_created: bool = False


class SeedKeyFacts(Facts):
    """The temporary seed key's line in the replica's authorized_keys."""

    marker: str
    fingerprint: str


class DpkgRecord(Facts):
    """dpkg's list on a replica host before the step's apt-get ran, and what it added (the
    packages asked for and the ones apt-get installed for them)."""

    installed_before: list[str]
    config_files_before: list[str] = Field(default_factory=list)
    # Installed after apt-get finished and not before (None: it did not finish).
    added: list[str] | None = None


class ReplicasFacts(Facts):
    # Per replica: the packages the step installed (only those that were missing).
    installed_packages: dict[str, list[str]] = Field(default_factory=dict)
    # Per replica where it installed any: dpkg's list before and what apt-get added.
    dpkg: dict[str, DpkgRecord] = Field(default_factory=dict)
    stopped_servers: list[str] = Field(default_factory=list)
    # Per replica: binary logs of the default name that existed before.
    binlogs_before: dict[str, list[str]] = Field(default_factory=dict)
    # Per replica: where an operator's datadir was moved aside.
    moved_datadirs: dict[str, str] = Field(default_factory=dict)
    created_datadirs: list[str] = Field(default_factory=list)
    configured: list[str] = Field(default_factory=list)
    prepared: list[str] = Field(default_factory=list)
    # The GTID position the seed is consistent with.
    gtid: str | None = None
    checksummed_tables: int | None = None
    # True: added by a wizard from before the per-migration marker.
    seed_key: SeedKeyFacts | bool | None = None


class ProxyNode(Facts):
    """ProxySQL on one proxy host as the step found it."""

    was_running: bool
    db_files: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    # Where the config databases were copied (None: there were none).
    backup: str | None = None
    # What the admin interface listened on before the step configured it (once read;
    # None read means ProxySQL had no such variable).
    admin_ifaces_read: bool = False
    admin_ifaces: str | None = None


class ProxySQLFacts(Facts):
    nodes: dict[str, ProxyNode] = Field(default_factory=dict)
    installed: list[str] = Field(default_factory=list)
    accounts_created: list[tuple[str, str]] = Field(default_factory=list)
    # (hostgroup, host) pairs verify saw at runtime.
    runtime_servers: list[tuple[int, str]] = Field(default_factory=list)


class KeepalivedNode(Facts):
    conf_backup: str | None = None
    script_existed: bool = False


class VipFacts(Facts):
    nodes: dict[str, KeepalivedNode] = Field(default_factory=dict)
    virtual_router_id: int | None = None
    installed: list[str] = Field(default_factory=list)
    conf_sha256: dict[str, str] = Field(default_factory=dict)
    holder: str | None = None
    reached: str | None = None


class AppCutover(Facts):
    """One app host's config.php: its copy and the hashes that prove which text is there."""

    path: str
    backup: str
    mode: str
    sha256_before: str
    sha256_after: str | None = None
    reached: str | None = None
    changed_since_cutover: bool = False


class CutoverFacts(Facts):
    apps: dict[str, AppCutover] = Field(default_factory=dict)
