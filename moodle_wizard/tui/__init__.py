"""The Textual face of the wizard. Holds no migration logic: it drives moodle_wizard.core."""
