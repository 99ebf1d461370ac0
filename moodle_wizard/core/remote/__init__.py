"""Talking to remote hosts: SSH, detached jobs, MySQL/MariaDB and ProxySQL admin."""
