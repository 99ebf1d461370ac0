"""The stand-in's Cluster rules, case by case, as lib/ProxySQL_Cluster.cpp has them:
set_checksums' diff_check counting, the pull decision after each poll, the peer chosen."""

from __future__ import annotations

import pytest

from moodle_wizard.lab.proxysql_standin.cluster_state import (
    Action,
    Own,
    PeerChecksum,
    Verdict,
    decide,
    observe,
    peer_to_sync,
)

OWN = "0xAAAA"
NEW = "0xBBBB"

# (peer version, peer epoch, diff_check, own version, own epoch, diffs) -> verdict
DECISIONS: list[tuple[str, tuple[int, int, int, int, int, int], Verdict]] = [
    ("newer epoch, diff_check reached", (5, 200, 3, 4, 100, 3), Verdict(Action.PULL)),
    ("newer epoch, diff_check above", (5, 200, 7, 4, 100, 3), Verdict(Action.PULL)),
    ("newer epoch, diff_check not yet", (5, 200, 2, 4, 100, 3), Verdict(Action.WAIT)),
    ("older epoch: the other node pulls", (5, 100, 9, 4, 200, 3), Verdict(Action.WAIT)),
    ("own version 1 (just booted) pulls an older epoch", (5, 100, 3, 1, 200, 3),
     Verdict(Action.PULL)),
    ("diffs 0: never", (5, 200, 50, 4, 100, 0), Verdict(Action.OFF)),
    ("in step (diff_check 0)", (5, 200, 0, 4, 200, 3), Verdict(Action.WAIT)),
    ("equal epochs: conflict, not logged at 29", (5, 150, 29, 4, 150, 3),
     Verdict(Action.CONFLICT, log=False)),
    ("equal epochs: conflict logged every diffs*10", (5, 150, 30, 4, 150, 3),
     Verdict(Action.CONFLICT, log=True)),
    ("equal epochs: logged again at 60", (5, 150, 60, 4, 150, 3),
     Verdict(Action.CONFLICT, log=True)),
    ("peer version 1: never pulled from", (1, 300, 5, 4, 100, 3),
     Verdict(Action.PEER_VERSION_ONE, log=False)),
    ("peer version 1: warned every diffs*10", (1, 300, 30, 4, 100, 3),
     Verdict(Action.PEER_VERSION_ONE, log=True)),
    ("peer version 1 in step", (1, 300, 0, 4, 100, 3), Verdict(Action.WAIT)),
]


@pytest.mark.parametrize(("case", "values", "expected"), DECISIONS,
                         ids=[case for case, _, _ in DECISIONS])
def test_decide(case: str, values: tuple[int, int, int, int, int, int],
                expected: Verdict) -> None:
    version, epoch, diff_check, own_version, own_epoch, diffs = values
    peer = PeerChecksum(version=version, epoch=epoch, checksum=NEW, diff_check=diff_check)
    assert decide(peer, Own(own_version, own_epoch, OWN), diffs) == expected, case


# A sequence of polls: (peer row or None for "global checksum unchanged", own checksum,
# expected diff_check, expected "new checksum detected").
Poll = tuple[tuple[int, int, str] | None, str, int, bool]
SEQUENCES: list[tuple[str, list[Poll]]] = [
    ("a LOAD on the peer: 1, 2, 3 polls", [
        ((2, 100, OWN), OWN, 0, True),
        ((3, 200, NEW), OWN, 1, True),
        (None, OWN, 2, False),
        (None, OWN, 3, False),
    ]),
    ("rows again with the same checksum count on", [
        ((3, 200, NEW), OWN, 1, True),
        ((3, 200, NEW), OWN, 2, False),
    ]),
    ("pulled: own checksum now equal resets to 0", [
        ((3, 200, NEW), OWN, 1, True),
        (None, OWN, 2, False),
        (None, NEW, 0, False),
        (None, NEW, 0, False),
    ]),
    ("equal to own from the start: never counts", [
        ((3, 200, OWN), OWN, 0, True),
        ((3, 200, OWN), OWN, 0, False),
    ]),
    ("a second change restarts the count", [
        ((3, 200, NEW), OWN, 1, True),
        (None, OWN, 2, False),
        ((4, 210, "0xCCCC"), OWN, 1, True),
    ]),
]


@pytest.mark.parametrize(("case", "polls"), SEQUENCES, ids=[c for c, _ in SEQUENCES])
def test_observe(case: str, polls: list[Poll]) -> None:
    seen = PeerChecksum()
    for number, (row, own, diff_check, detected) in enumerate(polls, start=1):
        assert observe(seen, row, own, now=1000 + number) == detected, (case, number)
        assert seen.diff_check == diff_check, (case, number)
        assert seen.updated_at == 1000 + number
        if row is not None:
            assert (seen.version, seen.epoch, seen.checksum) == row


def _peer(version: int, epoch: int, diff_check: int) -> PeerChecksum:
    return PeerChecksum(version=version, epoch=epoch, checksum=NEW, diff_check=diff_check)


PEER_CHOICES: list[tuple[str, dict[str, PeerChecksum], str | None]] = [
    ("the highest epoch", {"a": _peer(3, 100, 3), "b": _peer(3, 200, 3)}, "b"),
    ("a higher epoch not ready yet: skip this round",
     {"a": _peer(3, 100, 3), "b": _peer(3, 200, 1)}, None),
    ("version 1 peers are never chosen", {"a": _peer(1, 300, 9), "b": _peer(3, 200, 3)}, "b"),
    ("nobody ready", {"a": _peer(3, 100, 2)}, None),
]


@pytest.mark.parametrize(("case", "peers", "chosen"), PEER_CHOICES,
                         ids=[c for c, _, _ in PEER_CHOICES])
def test_peer_to_sync(case: str, peers: dict[str, PeerChecksum], chosen: str | None) -> None:
    assert peer_to_sync(peers, 3) == chosen, case
