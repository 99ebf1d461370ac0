"""The lab's inventory for the wizard, as text (pure: `lab.inventory_path` writes it).

A host with one role has `role = "..."`. A host with several (the single-server shape's db1:
the source and Moodle's app server) has `roles = [...]`, the form core/inventory.py is to
accept for it; the default lab never writes it, so its inventory is unchanged.

`lab up --backup` adds the backup host (role = "backup") to it, and writes the same inventory
with backup_method = "existing" and a [backup] section for each kind of backup it took.
"""

from __future__ import annotations

from pathlib import Path

from moodle_wizard.lab.topology import LabHost, Topology


def role_line(host: LabHost) -> str:
    if len(host.roles) == 1:
        return f'role = "{host.role}"'
    return "roles = [" + ", ".join(f'"{r}"' for r in host.roles) + "]"


def inventory_text(topo: Topology, labdir: Path,
                   existing_backup: tuple[str, str] | None = None) -> str:
    """existing_backup: (host, path) of the backup to seed the replicas from."""
    method = ('"existing"          # the nightly backup in [backup], not a new one'
              if existing_backup else '"physical"   # or "logical"')
    lines = [
        "# moodle-wizard inventory for the local lab (written by `moodle-wizard lab inventory`).",
        "# Run the wizard from the lab's jump host: moodle-wizard lab shell jump",
        "# Secrets are never in here: they come from [secrets] file (0600) or the environment.",
        "",
        "[migration]",
        'name = "mwlab"',
        f"backup_method = {method}",
        'moodle_config = "/var/www/moodle/config.php"',
        f"db_port = {topo.shape.db_port}",
        'source_restart = "ask"       # turning the binary log on needs one restart of db1',
        "",
        "[secrets]",
        f'file = "{labdir / "secrets.json"}"',
        "",
    ]
    if existing_backup:
        host, path = existing_backup
        lines += [
            "# The school's nightly backup of db1, on the backup host: the replicas are seeded",
            "# from it, and catch up from db1's binary log.",
            "[backup]",
            f'host = "{host}"',
            f'path = "{path}"',
            "",
        ]
    lines += [
        "# ProxySQL on the proxy hosts: the wizard replaces the package's admin:admin with a",
        "# generated admin user; Moodle's user goes to the writer hostgroup, the optional",
        "# read-only user (dboptions['readonly'] in config.php) to the replicas.",
        "[proxysql]",
        'initial_admin_user = "admin"',
        'admin_user = "mw_admin"',
        "writer_hostgroup = 10",
        "reader_hostgroup = 20",
        'readonly_user = "moodle_ro"',
        "",
        "# The address Moodle will use: keepalived moves it between px1 and px2.",
        "[vip]",
        f'address = "{topo.vip}"',
        'interface = "eth0"',
        "",
    ]
    for h in topo.hosts:
        lines += [
            f"[hosts.{h.name}]",
            f'address = "{topo.host_address(h.name)}"',
            role_line(h),
            'ssh_user = "root"',
            "ssh_port = 22",
            "",
        ]
    return "\n".join(lines)
