"""One module per screen; modals each in their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from moodle_wizard.tui.screens.backup import BackupScreen
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.discovery import DiscoveryScreen
from moodle_wizard.tui.screens.hosts import HostsScreen
from moodle_wizard.tui.screens.operate import OperateScreen
from moodle_wizard.tui.screens.proxysql import ProxySQLScreen
from moodle_wizard.tui.screens.replicas import ReplicasScreen
from moodle_wizard.tui.screens.review import ReviewScreen
from moodle_wizard.tui.screens.vip import VipScreen
from moodle_wizard.tui.screens.welcome import WelcomeScreen

SCREENS: dict[str, Callable[[], Screen[Any]]] = {
    "welcome": WelcomeScreen,
    "hosts": HostsScreen,
    "discovery": DiscoveryScreen,
    "backup": BackupScreen,
    "replicas": ReplicasScreen,
    "proxysql": ProxySQLScreen,
    "vip": VipScreen,
    "review": ReviewScreen,
    "dashboard": DashboardScreen,
    "operate": OperateScreen,
}
