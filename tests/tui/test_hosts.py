"""Screen 2: validation as typed, Test connections over real SSH (in this process), the
host-key modal, and a changed host key as an error screen."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.draft import InventoryDraft
from moodle_wizard.tui.screens.changed_key import ChangedKeyScreen
from moodle_wizard.tui.screens.discovery import DiscoveryScreen
from moodle_wizard.tui.screens.host_key import HostKeyModal
from moodle_wizard.tui.screens.hosts import HostsScreen
from moodle_wizard.tui.widgets.form_field import FormField
from tests.tui.conftest import lab_inventory_text, screen_text, wait_for
from tests.tui.sshd import CONFIG_PHP, inventory_for, ssh_hosts

MakeApp = Callable[..., WizardApp]
ROLES = {"db1": "source", "app": "app", "db2": "replica"}


async def open_hosts(app: WizardApp, pilot: object, draft: InventoryDraft | None = None
                     ) -> HostsScreen:
    app.new_migration(draft)
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, HostsScreen)
    return app.screen


def hint(screen: HostsScreen, name: str) -> str:
    return str(screen.field(name).query_one(".form-hint").render())


async def test_fields_are_checked_as_typed_with_the_engines_words(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(app, pilot)
        screen.field("source").input.focus()
        await pilot.press(*"db1=10.0.0.11;reboot")
        assert hint(screen, "source") == ("✗ db1: '10.0.0.11;reboot' is neither an IP address "
                                          "nor a host name")
        assert screen.field("source").has_class("-invalid")
        for _ in range(len(";reboot")):
            await pilot.press("backspace")
        assert hint(screen, "source").startswith("the one database server Moodle uses today")
        screen.field("name").input.focus()
        await pilot.press("ctrl+u", *"1st")
        assert "use letters, digits" in hint(screen, "name")
        screen.field("port").input.focus()
        await pilot.press("ctrl+u", *"70000")
        assert "less than or equal to 65535" in hint(screen, "port")
        screen.field("replicas").input.focus()
        await pilot.press(*"db2=10.0.0.12 db2=10.0.0.13")
        assert "'db2' is given twice" in hint(screen, "replicas")


async def test_next_is_refused_until_the_form_is_valid_then_writes_the_toml(
        make_app: MakeApp, state_dir: Path) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(app, pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, HostsScreen), "empty hosts: stays"
        assert any("required" in str(n.message) for n in app._notifications)
        assert app.focused is screen.field("source").input
        values = {"source": "db1=127.0.0.1", "app": "app=127.0.0.2",
                  "replicas": "db2=127.0.0.3", "name": "school"}
        for key, value in values.items():
            screen.field(key).value = value
        await pilot.pause()
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, DiscoveryScreen),
                       what="the discovery screen")
        written = state_dir / "school.inventory.toml"
        data = tomllib.loads(written.read_text())
        assert data["hosts"]["db1"] == {"address": "127.0.0.1", "role": "source",
                                        "ssh_user": "root", "ssh_port": 22}
        assert written.stat().st_mode & 0o777 == 0o600
        # Discovery starts by itself; these hosts do not answer SSH, and it says so.
        await wait_for(pilot, lambda: "discover" in app.errors, what="discovery to fail")
        assert "nothing was changed" in app.errors["discover"]
        assert "✗" in screen_text(app)


@pytest.mark.skipif(shutil.which("php") is None, reason="reading config.php needs php-cli")
async def test_test_connections_asks_host_keys_and_reads_config_php(
        make_app: MakeApp, tmp_path: Path) -> None:
    config = tmp_path / "config.php"
    known = tmp_path / "known_hosts"
    app = make_app(known_hosts=known)
    async with ssh_hosts(list(ROLES)) as hosts, app.run_test(size=(80, 24)) as pilot:
        config.write_text(CONFIG_PHP.replace("@PORT@", "1"))
        inventory = tmp_path / "inv.toml"
        inventory.write_text(inventory_for(hosts, config, roles=ROLES))
        screen = await open_hosts(app, pilot, InventoryDraft.from_file(inventory))
        await pilot.press("ctrl+t")
        seen = []
        for _ in hosts:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyModal),
                           what="a host-key question")
            modal = app.screen
            assert isinstance(modal, HostKeyModal)
            shown = str(modal.query_one("#fingerprint").render())
            assert shown == hosts[modal.host].fingerprint and shown.startswith("SHA256:")
            seen.append(modal.host)
            await pilot.press("r" if modal.host == "db2" else "a")
            await wait_for(pilot, lambda m=modal: app.screen is not m, what="the answer")
        assert sorted(seen) == sorted(hosts)
        await wait_for(pilot, lambda: not app.runner.busy, what="the checks to end")
        assert app.connection["db1"].ok and app.connection["app"].ok
        assert not app.connection["db2"].ok
        assert "refused" in app.connection["db2"].reason
        assert app.moodle is not None
        assert app.moodle.values["dbuser"] == "moodleuser"
        assert app.moodle.values["dbpass"] == "********"
        await pilot.pause()
        shown = screen_text(app)
        assert "S3cret-from-config" not in shown
        screen.query_one("#hosts-form").scroll_end(animate=False)
        await pilot.pause()
        shown = screen_text(app)
        assert "✓ db1" in shown.replace("  ", " ") or "✓" in shown
        assert "dbuser" in shown and "moodleuser" in shown
        # Accepted keys went to the known_hosts file the session was given; refused did not.
        text = known.read_text()
        assert f":{hosts['db1'].port}" in text and f":{hosts['db2'].port}" not in text


async def test_a_changed_host_key_is_an_error_screen_not_a_question(
        make_app: MakeApp, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    app = make_app(known_hosts=known)
    async with ssh_hosts(list(ROLES)) as hosts, app.run_test(size=(80, 24)) as pilot:
        async with ssh_hosts(["impostor"]) as other:
            lines = [h.known_hosts_line() for h in hosts.values()]
            # db1's entry holds another server's key: db1 now presents a "changed" key.
            lines[0] = lines[0].split(" ", 1)[0] + " " + \
                other["impostor"].known_hosts_line().split(" ", 1)[1]
            known.write_text("\n".join(lines) + "\n")
        inventory = tmp_path / "inv.toml"
        inventory.write_text(inventory_for(hosts, tmp_path / "config.php", roles=ROLES))
        await open_hosts(app, pilot, InventoryDraft.from_file(inventory))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangedKeyScreen),
                       what="the changed-key screen")
        text = str(app.screen.query_one("#changed-key-text").render())
        assert "has CHANGED" in text and "ssh-keygen -R" in text
        assert not any(isinstance(s, HostKeyModal) for s in app.screen_stack)
        await wait_for(pilot, lambda: not app.runner.busy, what="the checks to end")
        assert not app.connection["db1"].ok and app.connection["db1"].changed_key
        assert app.connection["app"].ok
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HostsScreen)


async def test_a_started_migration_shows_its_hosts_read_only(
        make_app: MakeApp, state_dir: Path) -> None:
    from tests.tui.conftest import save_migration

    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"},
                          inventory=lab_inventory_text())
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_saved(path)
        app.goto("hosts")
        await pilot.pause()
        assert isinstance(app.screen, HostsScreen)
        assert all(f.input.disabled for f in app.screen.query(FormField))
        assert app.screen.field("replicas").value == "db2=10.77.0.12, db3=10.77.0.13"


async def test_one_name_as_source_and_app_is_one_host_with_both_roles(make_app: MakeApp) -> None:
    """Moodle and its database on one server (issue 12): the same name and address in both
    fields is one host with roles = ["source", "app"], and it reads back the same."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_hosts(app, pilot)
        for field, text in (("source", "db1=10.0.0.11"), ("app", "db1=10.0.0.11"),
                            ("replicas", "db2=10.0.0.12")):
            screen.field(field).input.focus()
            await pilot.press("ctrl+u", *text)
        assert screen.leave(validate=True), "a valid inventory"
        assert app.draft.hosts["db1"].get("roles") == ["source", "app"]
        saved = tomllib.loads(app.draft.to_toml())["hosts"]
        assert saved["db1"] == {**saved["db1"], "roles": ["source", "app"]}
        assert "role" not in saved["db1"] and set(saved) == {"db1", "db2"}
        # Another app host later: db1 stays the source only.
        screen.field("app").input.focus()
        await pilot.press("ctrl+u", *"web=10.0.0.10")
        assert screen.leave(validate=True)
        assert app.draft.hosts["db1"].get("role") == "source"
        assert "roles" not in app.draft.hosts["db1"]
        assert app.draft.hosts["web"]["role"] == "app"
