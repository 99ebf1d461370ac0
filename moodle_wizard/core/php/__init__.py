"""PHP programs the wizard runs on Moodle app hosts (sent on stdin, never written to disk)."""
