from moodle_wizard.cli import main

raise SystemExit(main())
