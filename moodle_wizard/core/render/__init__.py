"""Pure renderers: keepalived.conf, my.cnf snippets and the config.php edit. No I/O here."""
