"""What each step learns and records, as typed models (the journal's `facts`).

The journal stays JSON (core/state.py); these models are its `facts` parts, one per step.
Nothing outside them indexes a fact by a string: a typo is a mypy error, a missing or
foreign key in a saved file is a clear error when the journal is read.
"""

from moodle_wizard.core.facts.discover import (
    BinlogDumpThread,
    Discovered,
    DiscoverFacts,
    ExistingReplica,
    GtidState,
    LoginResult,
    LoginServer,
    MoodleConfig,
    MoodleFacts,
    ReplicaHostFacts,
    SourceFacts,
)
from moodle_wizard.core.facts.steps import (
    AppCutover,
    CnfBackup,
    CutoverFacts,
    KeepalivedNode,
    PrepareSourceFacts,
    ProxyNode,
    ProxySQLFacts,
    ReplicasFacts,
    SeedKeyFacts,
    VipFacts,
)

__all__ = [
    "AppCutover", "BinlogDumpThread", "CnfBackup", "CutoverFacts", "DiscoverFacts", "Discovered",
    "ExistingReplica", "GtidState", "KeepalivedNode", "LoginResult", "LoginServer", "MoodleConfig",
    "MoodleFacts", "PrepareSourceFacts", "ProxyNode", "ProxySQLFacts", "ReplicaHostFacts",
    "ReplicasFacts", "SeedKeyFacts", "SourceFacts", "VipFacts",
]
