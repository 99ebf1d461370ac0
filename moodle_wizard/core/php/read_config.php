<?php
// moodle-wizard: evaluate a Moodle config.php with PHP itself, so any valid config.php is
// understood, and try the database logins it describes. Prints one line of JSON.
//
// Usage: php -- /path/to/config.php, with this script on stdin after a PHP line the wizard
// puts before it that sets $mw_config = '<config.php as base64>' (plus $mw_no_connect = true
// to skip the logins: the VIP may not answer yet). No closing tag in these comments: PHP ends
// a // comment there.
//
// The text comes on stdin, never from a file the wizard writes: a killed evaluation leaves no
// copy of the passwords anywhere, and PHP (run as the file's owner or the web server's user,
// never as root) need not be able to open config.php itself. The text is included through a
// stream wrapper whose URL keeps the real path (mwconfig:///var/www/moodle/config.php), so
// __DIR__ . '/lib/setup.php' (which would bootstrap all of Moodle) resolves to an empty file
// and any other file config.php includes next to it is read from the real directory, as
// this user (as Moodle would).
// Read from stdin, the CLI defines no STDERR constant: without this, every message below
// would be an 'Undefined constant' error instead.
if (!defined('STDERR')) {
    define('STDERR', fopen('php://stderr', 'w'));
}
$path = isset($argv[1]) ? $argv[1] : 'config.php';
if (!isset($mw_config)) {
    fwrite(STDERR, "no config.php text was given on stdin\n");
    exit(2);
}
$content = base64_decode($mw_config, true);
unset($mw_config);
if ($content === false) {
    fwrite(STDERR, "the config.php text on stdin is not base64\n");
    exit(2);
}

class mw_config_stream {
    const SCHEME = 'mwconfig';
    public $context;
    public static $files = array();
    private $data = '';
    private $pos = 0;

    public static function url($path) {
        return self::SCHEME . '://' . $path;
    }

    private static function real($url) {
        return substr($url, strlen(self::SCHEME) + 3);
    }

    public function stream_open($url, $mode, $options, &$opened) {
        if (isset(self::$files[$url])) {
            $this->data = self::$files[$url];
            return true;
        }
        $data = @file_get_contents(self::real($url));
        if ($data === false) {
            return false;
        }
        $this->data = $data;
        return true;
    }

    public function stream_read($count) {
        $chunk = (string)substr($this->data, $this->pos, $count);
        $this->pos += strlen($chunk);
        return $chunk;
    }

    public function stream_eof() {
        return $this->pos >= strlen($this->data);
    }

    public function stream_stat() {
        return array('size' => strlen($this->data), 'mode' => 0100644);
    }

    public function url_stat($url, $flags) {
        if (isset(self::$files[$url])) {
            return array('size' => strlen(self::$files[$url]), 'mode' => 0100644);
        }
        return @stat(self::real($url));
    }

    public function stream_set_option($option, $arg1, $arg2) {
        return false;
    }
}
stream_wrapper_register(mw_config_stream::SCHEME, 'mw_config_stream');
$url = mw_config_stream::url($path);
mw_config_stream::$files[$url] = $content;
mw_config_stream::$files[mw_config_stream::url(dirname($path) . '/lib/setup.php')] = "<?php\n";
unset($content);
if (!defined('CLI_SCRIPT')) {
    define('CLI_SCRIPT', true);
}
ob_start();
require($url);
ob_end_clean();
mw_config_stream::$files = array();
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
// Moodle's read-only replicas, in every shape lib/dml/moodle_read_slave_trait.php accepts:
// one host name, one array, or a list of either.
function mw_readonly_instances($opts) {
    if (!isset($opts['readonly']['instance'])) {
        return array();
    }
    $list = $opts['readonly']['instance'];
    if (!is_array($list) || !isset($list[0])) {
        $list = array($list);
    }
    $out = array();
    foreach ($list as $one) {
        $out[] = is_array($one) ? $one : array('dbhost' => $one);
    }
    return $out;
}
$out['connect'] = null;
$out['connect_readonly'] = null;
if ($out['mysqli'] && $out['dbhost'] !== null && empty($mw_no_connect)) {
    $port = empty($opts['dbport']) ? (int)ini_get('mysqli.default_port') : (int)$opts['dbport'];
    $socket = empty($opts['dbsocket']) ? ini_get('mysqli.default_socket') : $opts['dbsocket'];
    $out['connect'] = mw_try_login($CFG->dbhost, $CFG->dbuser, $CFG->dbpass, $CFG->dbname,
        $port, $socket);
    // The first instance, with the primary's values as its defaults (as Moodle does).
    $instances = mw_readonly_instances($opts);
    if ($instances && !empty($instances[0]['dbhost'])) {
        $ro = $instances[0];
        $out['connect_readonly'] = mw_try_login($ro['dbhost'],
            empty($ro['dbuser']) ? $CFG->dbuser : $ro['dbuser'],
            empty($ro['dbpass']) ? $CFG->dbpass : $ro['dbpass'], $CFG->dbname,
            empty($ro['dbport']) ? $port : (int)$ro['dbport'], $socket);
    }
}
echo json_encode($out), "\n";
