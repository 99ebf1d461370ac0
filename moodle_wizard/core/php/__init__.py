"""PHP: the programs the wizard runs on Moodle app hosts (sent on stdin, never written to
disk), and `lexer`, the tokenizer the config.php edit uses to change exactly the bytes it means."""
