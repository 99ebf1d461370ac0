"""One module per migration step, each with preflight / plan / apply / verify / rollback."""
