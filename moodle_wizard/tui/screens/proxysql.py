"""Screen 6: ProxySQL on the two proxy hosts - hostgroups, users, admin credentials,
cluster option."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Checkbox

from moodle_wizard.core.inventory import Role
from moodle_wizard.core.render.proxysql import PRIMARY_READER_WEIGHT, REPLICA_READER_WEIGHT
from moodle_wizard.core.secrets import MASK
from moodle_wizard.core.state import StepName
from moodle_wizard.tui.screens.section import SectionScreen
from moodle_wizard.tui.widgets.tick_box import TickBox

# The design's hostgroups (DESIGN.md 2.5), shown when the engine's inventory has no setting.
WRITER_HG, READER_HG = 10, 20


class ProxySQLScreen(SectionScreen):
    TOPIC = "proxysql"
    NUMBER = 6
    LABEL = "ProxySQL"
    NEXT = "vip"
    BACK = "replicas"
    STEP = StepName.PROXYSQL
    SECTIONS: ClassVar[tuple[str, ...]] = ("proxysql",)
    HELP = ("ProxySQL runs on both proxy hosts with identical configuration. The **writer "
            "hostgroup** holds the primary, the **reader hostgroup** the replicas (and the "
            "primary with a tiny weight, so reads fall back to it when no replica serves); "
            "ProxySQL's monitor moves a server between them by its read_only flag. A replica "
            "more than **max_replication_lag** seconds behind (default 30), or whose "
            "replication stopped, leaves the readers until it catches up. Users are routed by "
            "user, not by query: Moodle's user goes to the writer; an optional read-only user "
            "(for Moodle's `dboptions['readonly']`) to the reader.\n\nThe default admin "
            "credentials are replaced by generated ones, kept as secrets (never shown, never "
            "saved in the state). The **cluster** option joins the nodes in a ProxySQL "
            "Cluster for mysql_users only: a password changed on one node reaches the other "
            "within seconds. Its price: the Cluster user is a full admin of every node, and "
            "the admin interface must listen on each node's address, reachable from the "
            "other proxies only (the wizard adds an nftables table for that).")

    def extra(self) -> ComposeResult:
        # TLS is a migration setting (migration.tls: every database link, replication too),
        # offered here beside the backends it protects.
        yield TickBox("TLS in transit: a small CA on this machine, a certificate per database "
                      "server; replication and ProxySQL's backends then require TLS",
                      bool(self.wizard.draft.migration.get("tls")), id="proxysql-tls",
                      classes="form-check", compact=True, disabled=self.locked)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "proxysql-tls":
            event.stop()
            if not self.locked:
                self.wizard.draft.set("migration", "tls", True if event.value else None)
            self.show()

    def summary(self) -> Text:
        app = self.wizard
        d = app.draft
        proxies = d.role_hosts(Role.PROXY)
        source = d.role_hosts(Role.SOURCE)
        replicas = d.role_hosts(Role.REPLICA)
        writer = self.setting("writer_hostgroup", "writer_hg") or WRITER_HG
        reader = self.setting("reader_hostgroup", "reader_hg") or READER_HG
        ro_user = self.setting("readonly_user", "read_only_user", "reader_user")
        cluster = self.setting("cluster", "cluster_enabled")
        moodle = app.state.steps.discover.facts.moodle if app.state else None
        moodle_user = (moodle.dbuser if moodle else None) or (
            app.moodle.values.get("dbuser") if app.moodle else None)
        t = Text()
        t.append("nodes: ", style="bold")
        t.append(", ".join(f"{n} ({a})" for n, a, _ in proxies) or "none - add two proxy hosts "
                 "on the hosts screen", style="" if proxies else "red")
        t.append("\nwriter hostgroup ", style="bold")
        t.append(f"{writer}: " + ", ".join(n for n, _, _ in source))
        t.append("\nreader hostgroup ", style="bold")
        names = ", ".join(n for n, _, _ in replicas)
        t.append(f"{reader}: {names} (weight {REPLICA_READER_WEIGHT} each)" if replicas else
                 f"{reader}: ")
        # The primary's reader row is the fallback (render/proxysql.py server_rows).
        t.append(("; " if replicas else "") + ", ".join(n for n, _, _ in source) +
                 f" (weight {PRIMARY_READER_WEIGHT}) when no replica serves")
        lag = self.setting("max_replication_lag")
        t.append("\nlag limit: ", style="bold")
        t.append(f"{lag} s: a replica further behind, or whose replication stopped, leaves the "
                 "readers" if lag else "off (max_replication_lag = 0): a lagging or stopped "
                 "replica keeps serving reads", style="" if lag else "yellow")
        t.append("\nusers: ", style="bold")
        t.append(f"{moodle_user or 'Moodle user (from config.php)'} → {writer}")
        t.append(f"; {ro_user} → {reader}" if ro_user else "; no read-only user (optional)")
        t.append("\nmonitor: ", style="bold")
        t.append(f"{d.migration.get('monitor_user', 'mw_monitor')}, password {MASK} "
                 "(secret)")
        t.append("\nadmin: ", style="bold")
        t.append(f"generated by the wizard, password {MASK}; the default admin/admin is "
                 "replaced")
        t.append("\ncluster: ", style="bold")
        cluster_user = self.setting("cluster_user") or "mw_cluster"
        t.append(f"on: the nodes keep mysql_users in step (ProxySQL Cluster); {cluster_user} "
                 "is a full admin of both, and each admin port also listens on its node's "
                 "address, open to the other proxies only (nftables), refused to every other "
                 "host" if cluster else "off: both nodes get the same config; a changed "
                 "password goes to both with `moodle-wizard proxysql sync`",
                 style="yellow" if cluster else "")
        return t
