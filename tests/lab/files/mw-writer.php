<?php
// The lab's stand-in for Moodle under load during a migration (issue 6, "the source is sacred"):
// every 20 ms it re-reads config.php as Moodle does on each request (evaluating it), connects
// with mysqli as Moodle's driver would, writes one row into mdl_mwlab_probe (apphost
// 'mw-writer') and disconnects. It stops when the stop file exists and prints one line of
// JSON: writes done, failures (time and error) and the times of the successful writes.
// Usage: php mw-writer.php CONFIG STOPFILE
$config = $argv[1];
$stop = $argv[2];
define('CLI_SCRIPT', true);
mysqli_report(MYSQLI_REPORT_OFF);
$ok = array();
$failed = array();
while (!file_exists($stop)) {
    $t = microtime(true);
    unset($CFG);
    require($config);
    $opts = isset($CFG->dboptions) ? $CFG->dboptions : array();
    $port = empty($opts['dbport']) ? 3306 : (int)$opts['dbport'];
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 2);
    $error = null;
    if (!@$db->real_connect($CFG->dbhost, $CFG->dbuser, $CFG->dbpass, $CFG->dbname, $port)) {
        $error = "connect to {$CFG->dbhost}:$port: " . mysqli_connect_error();
    } else {
        $token = bin2hex(random_bytes(8));
        $now = time();
        if (!$db->query("INSERT INTO {$CFG->prefix}mwlab_probe (token, apphost, timecreated) "
                . "VALUES ('$token', 'mw-writer', $now)")) {
            $error = "insert via {$CFG->dbhost}:$port: " . $db->error;
        }
        $db->close();
    }
    if ($error === null) {
        $ok[] = round($t, 3);
    } else {
        $failed[] = array(round($t, 3), $error);
    }
    $left = 0.02 - (microtime(true) - $t);
    if ($left > 0) {
        usleep((int)($left * 1e6));
    }
}
echo json_encode(array('ok' => $ok, 'failed' => $failed)), "\n";
