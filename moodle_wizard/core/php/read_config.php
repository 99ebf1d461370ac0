<?php
// moodle-wizard: evaluate a Moodle config.php with PHP itself, so any valid config.php is
// understood, and try the database login it describes. Moodle's lib/setup.php (which would
// bootstrap all of Moodle) is neutralised: the file is evaluated as a copy in a private 0700
// temporary directory whose lib/setup.php is empty. The copy is removed on exit.
// Usage: php -- /path/to/config.php    Prints one line of JSON.
// A candidate that is not written yet (the cutover's edit) comes instead as base64 in
// $mw_candidate, set by a line the wizard puts before this script on stdin; $mw_no_connect
// skips the logins (the VIP may not answer yet).
// Read from stdin, the CLI defines no STDERR constant: without this, every message below
// would be an 'Undefined constant' error instead.
if (!defined('STDERR')) {
    define('STDERR', fopen('php://stderr', 'w'));
}
$path = isset($argv[1]) ? $argv[1] : '';
if (isset($mw_candidate)) {
    $content = base64_decode($mw_candidate);
} else {
    if (!file_exists($path)) {
        fwrite(STDERR, "no config.php at $path\n");
        exit(3);
    }
    if (!is_readable($path)) {
        fwrite(STDERR, "config.php at $path is not readable by this user\n");
        exit(4);
    }
    $content = file_get_contents($path);
}
$dir = sys_get_temp_dir() . '/moodle-wizard-' . bin2hex(random_bytes(8));
umask(077);
mkdir($dir, 0700);
mkdir("$dir/lib", 0700);
file_put_contents("$dir/lib/setup.php", "<?php\n");
register_shutdown_function(function () use ($dir) {
    @unlink("$dir/config.php");
    @unlink("$dir/lib/setup.php");
    @rmdir("$dir/lib");
    @rmdir($dir);
});
file_put_contents("$dir/config.php", $content);
if (!defined('CLI_SCRIPT')) {
    define('CLI_SCRIPT', true);
}
ob_start();
require("$dir/config.php");
ob_end_clean();
if (!isset($CFG) || !is_object($CFG)) {
    fwrite(STDERR, "$path does not define \$CFG\n");
    exit(5);
}
$opts = isset($CFG->dboptions) && is_array($CFG->dboptions) ? $CFG->dboptions : array();
$out = array(
    'dbtype' => isset($CFG->dbtype) ? $CFG->dbtype : null,
    'dblibrary' => isset($CFG->dblibrary) ? $CFG->dblibrary : null,
    'dbhost' => isset($CFG->dbhost) ? $CFG->dbhost : null,
    'dbname' => isset($CFG->dbname) ? $CFG->dbname : null,
    'dbuser' => isset($CFG->dbuser) ? $CFG->dbuser : null,
    'dbpass' => isset($CFG->dbpass) ? $CFG->dbpass : null,
    'prefix' => isset($CFG->prefix) ? $CFG->prefix : null,
    'dboptions' => $opts,
    'wwwroot' => isset($CFG->wwwroot) ? $CFG->wwwroot : null,
    'writable' => isset($mw_candidate) ? null : is_writable($path) && is_writable(dirname($path)),
    'php_version' => PHP_VERSION,
    'mysqli' => extension_loaded('mysqli'),
);
// Try the login exactly as Moodle's mysqli driver would.
function mw_try_login($host, $user, $pass, $dbname, $port, $socket) {
    mysqli_report(MYSQLI_REPORT_OFF);
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 5);
    if (@$db->real_connect($host, $user, $pass, $dbname, $port, $socket ? $socket : null, 0)) {
        $r = $db->query('SELECT @@hostname AS host, VERSION() AS version, '
            . '@@server_id AS server_id, @@read_only AS read_only');
        $row = $r ? $r->fetch_assoc() : array();
        $db->close();
        return array('ok' => true, 'server' => $row);
    }
    return array('ok' => false, 'error' => mysqli_connect_error(),
        'errno' => mysqli_connect_errno());
}
$out['connect'] = null;
$out['connect_readonly'] = null;
if ($out['mysqli'] && $out['dbhost'] !== null && empty($mw_no_connect)) {
    $port = empty($opts['dbport']) ? (int)ini_get('mysqli.default_port') : (int)$opts['dbport'];
    $socket = empty($opts['dbsocket']) ? ini_get('mysqli.default_socket') : $opts['dbsocket'];
    $out['connect'] = mw_try_login($CFG->dbhost, $CFG->dbuser, $CFG->dbpass, $CFG->dbname,
        $port, $socket);
    // Moodle's read-only replica option: the first instance, with the primary's values as
    // its defaults (lib/dml/moodle_read_slave_trait.php).
    if (!empty($opts['readonly']['instance'][0])) {
        $ro = $opts['readonly']['instance'][0];
        $ro = is_array($ro) ? $ro : array('dbhost' => $ro);
        $out['connect_readonly'] = mw_try_login($ro['dbhost'],
            empty($ro['dbuser']) ? $CFG->dbuser : $ro['dbuser'],
            empty($ro['dbpass']) ? $CFG->dbpass : $ro['dbpass'], $CFG->dbname,
            empty($ro['dbport']) ? $port : (int)$ro['dbport'], $socket);
    }
}
echo json_encode($out), "\n";
