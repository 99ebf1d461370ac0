"""mysql_native_password arithmetic (hashes and scrambles), no I/O."""

from __future__ import annotations

import hashlib
import re

_NATIVE_HASH = re.compile(r"\*[0-9A-Fa-f]{40}")


def is_native_hash(password: str) -> bool:
    """True for the ``*`` + 40 hex digits form MySQL stores (``PASSWORD('x')``)."""
    return bool(_NATIVE_HASH.fullmatch(password))  # "$" would allow a trailing newline


def native_hash(password: str) -> str:
    """``*`` + upper-case hex of SHA1(SHA1(password)), as MySQL's ``PASSWORD()``."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def stage2(password: str) -> bytes:
    """SHA1(SHA1(password)), from a cleartext password or its ``*HEX`` hash."""
    if is_native_hash(password):
        return bytes.fromhex(password[1:])
    return hashlib.sha1(hashlib.sha1(password.encode()).digest()).digest()


def scramble_matches(stored_stage2: bytes, scramble: bytes, nonce: bytes) -> bool:
    """Check a client's mysql_native_password response against the stored SHA1(SHA1(pw)).

    The client sends SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))); XOR-ing that
    back gives SHA1(pw), whose SHA1 must be the stored value.
    """
    if len(scramble) != 20:
        return False
    mask = hashlib.sha1(nonce + stored_stage2).digest()
    stage1 = bytes(a ^ b for a, b in zip(scramble, mask, strict=True))
    return hashlib.sha1(stage1).digest() == stored_stage2


def driver_password(password: str) -> str:
    """A password as aiomysql must be given it to send its UTF-8 bytes.

    aiomysql sends a str password's latin-1 bytes; MySQL servers hashed the UTF-8 bytes of what
    was set (as ProxySQL, a C client, sends them), so a non-ASCII password would be refused.
    """
    return password.encode("utf-8").decode("latin-1")
