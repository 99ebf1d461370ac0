"""The local lab: a small data centre of real servers in network namespaces (root only)."""
