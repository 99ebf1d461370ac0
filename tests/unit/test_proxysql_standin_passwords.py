"""The stand-in logs in to backends (monitor, relayed sessions) with a password's UTF-8 bytes,
as ProxySQL (a C client) does; aiomysql on its own would send latin-1."""

from __future__ import annotations

import hashlib

from moodle_wizard.lab.proxysql_standin.passwords import driver_password, native_hash


def test_the_driver_sends_what_the_server_hashed() -> None:
    password = "mon-x q'd\"b\\s$(x)é"
    sent = driver_password(password).encode("latin-1")  # what aiomysql puts on the wire
    assert sent == password.encode("utf-8")
    # The server's stored hash (PASSWORD() over the UTF-8 bytes) matches what is sent.
    stored = "*" + hashlib.sha1(hashlib.sha1(sent).digest()).hexdigest().upper()
    assert stored == native_hash(password)


def test_ascii_passwords_are_unchanged() -> None:
    assert driver_password("plain-Password_1") == "plain-Password_1"
