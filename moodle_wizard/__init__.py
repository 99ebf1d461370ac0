"""moodle-wizard: take a standalone Moodle database to a replicated cluster, reversibly."""

__version__ = "0.1.0"
