"""After the migration: operating the primary and its replicas (issue 13).

- `choice`: pure decisions from facts already read (GTID positions and states, replica
  status): may this replica become primary in a switchover, which replica a failover
  promotes (or what to ask the operator), and which transactions a failover lost. Nothing
  here connects to a server; the commands that read the facts and act on them build on it.
"""
