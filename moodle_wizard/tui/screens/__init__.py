"""One module per screen; modals each in their own.

SCREENS makes a screen by its topic and imports its module only then (plain function-local
imports, so the import graph still sees them): the first screen is painted without the modules,
and the engine's libraries, that only later screens need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen


def _welcome() -> Screen[Any]:
    from moodle_wizard.tui.screens.welcome import WelcomeScreen

    return WelcomeScreen()


def _hosts() -> Screen[Any]:
    from moodle_wizard.tui.screens.hosts import HostsScreen

    return HostsScreen()


def _discovery() -> Screen[Any]:
    from moodle_wizard.tui.screens.discovery import DiscoveryScreen

    return DiscoveryScreen()


def _backup() -> Screen[Any]:
    from moodle_wizard.tui.screens.backup import BackupScreen

    return BackupScreen()


def _replicas() -> Screen[Any]:
    from moodle_wizard.tui.screens.replicas import ReplicasScreen

    return ReplicasScreen()


def _proxysql() -> Screen[Any]:
    from moodle_wizard.tui.screens.proxysql import ProxySQLScreen

    return ProxySQLScreen()


def _vip() -> Screen[Any]:
    from moodle_wizard.tui.screens.vip import VipScreen

    return VipScreen()


def _review() -> Screen[Any]:
    from moodle_wizard.tui.screens.review import ReviewScreen

    return ReviewScreen()


def _dashboard() -> Screen[Any]:
    from moodle_wizard.tui.screens.dashboard import DashboardScreen

    return DashboardScreen()


def _operate() -> Screen[Any]:
    from moodle_wizard.tui.screens.operate import OperateScreen

    return OperateScreen()


SCREENS: dict[str, Callable[[], Screen[Any]]] = {
    "welcome": _welcome,
    "hosts": _hosts,
    "discovery": _discovery,
    "backup": _backup,
    "replicas": _replicas,
    "proxysql": _proxysql,
    "vip": _vip,
    "review": _review,
    "dashboard": _dashboard,
    "operate": _operate,
}
