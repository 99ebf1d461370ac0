"""The migration engine and everything it needs. Nothing below here imports Textual."""
