"""The proxy-first order on the lab (issue 14): db1's binary log is off, so it must restart;
with `order = "auto"` the wizard puts ProxySQL, the VIP and the cutover first, and the restart
happens behind ProxySQL, which holds Moodle's requests instead of failing them (`auto` is the
default; the lab's inventory does not set it). A Moodle-like
writer (a connection per request, every 20 ms, re-reading config.php) runs through the whole
migration: no write may fail, and every write it was told succeeded is on every server."""

from __future__ import annotations

import re

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.wizard import ALLOW_RESTART, Wizard
from tests.lab.writer import MoodleWriter, longest_pause


def test_a_proxy_first_migration_fails_no_write(running_lab: Lab) -> None:
    lab = running_lab
    with Wizard(lab) as wizard:
        inventory = wizard.inventory("auto", **ALLOW_RESTART)  # order: the default, auto
        try:
            with MoodleWriter(lab) as writer:
                wait_for("the writer's first row", lambda: writer.rows("db1") > 0)
                run = wizard("run", "--inventory", inventory, "--yes")
                writes = writer.stop()
                assert run.returncode == 0, run.stdout + run.stderr
                acked, seen = len(writes["ok"]), [0]
                for host in ("db1", "db2", "db3"):
                    def all_rows(host: str = host) -> bool:
                        seen[0] = writer.rows(host)
                        return seen[0] == acked

                    try:
                        wait_for(f"every acknowledged write on {host}", all_rows)
                    except AssertionError:
                        raise AssertionError(
                            f"{host} has {seen[0]} of the writer's rows; {acked} writes were "
                            f"acknowledged, {len(writes['failed'])} failed: "
                            f"{writes['failed'][:3]}") from None
            state = wizard.state()
            assert state["order"] == "proxy-first", state["order"]
            out = run.stdout
            # The restart ran in the replicas step, after the cutover, behind ProxySQL.
            assert re.search(r"==> \[cutover\].*==> \[replicas\].*Restart mariadb on db1 "
                             r"\(announced; Moodle's requests wait in ProxySQL", out, re.S), out
            print(f"\nproxy-first migration with a writer: {len(writes['ok'])} writes, "
                  f"{len(writes['failed'])} failed, longest pause "
                  f"{longest_pause(writes['ok']):.2f} s")
            assert writes["failed"] == [], writes["failed"][:5]
        finally:
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, back.stdout + back.stderr
