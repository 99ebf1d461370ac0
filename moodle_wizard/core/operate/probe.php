<?php
// The drills' probe: what a Moodle client sees of the database during a switchover or a
// failover. Every INTERVAL seconds it does what one Moodle request does: a new mysqli
// connection to the VIP's client port as Moodle's user, one write, close. It prints one line
// per attempt, as it happens:
//   ok START END TOKEN            (TOKEN "-" when the write carries none)
//   fail START END ERRNO MESSAGE
// and "end" when it stops: when the stop file exists, or after MAX_S seconds (a wizard that
// died cannot leave it writing for ever).
// The wizard sends this file on stdin after a one-line prelude that sets $MW_PROBE (so the
// password is never on a command line nor in a file); $MW_PROBE['statement'] is the write,
// '{token}' in it replaced by a fresh random token (the drills count lost rows by it).
$c = $MW_PROBE;
mysqli_report(MYSQLI_REPORT_OFF);
$until = microtime(true) + $c['max_s'];
while (!file_exists($c['stop']) && microtime(true) < $until) {
    $t = microtime(true);
    $token = bin2hex(random_bytes(8));
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, $c['connect_timeout']);
    $line = null;
    if (!@$db->real_connect($c['host'], $c['user'], $c['password'], $c['database'],
                            $c['port'])) {
        $line = sprintf('fail %.4f %.4f %d connect: %s', $t, microtime(true),
                        mysqli_connect_errno(), mysqli_connect_error());
    } else {
        $sql = str_replace('{token}', $token, $c['statement']);
        if ($db->query($sql)) {
            $line = sprintf('ok %.4f %.4f %s', $t, microtime(true),
                            strpos($c['statement'], '{token}') === false ? '-' : $token);
        } else {
            $line = sprintf('fail %.4f %.4f %d write: %s', $t, microtime(true), $db->errno,
                            $db->error);
        }
        $db->close();
    }
    echo str_replace(array("\r", "\n"), ' ', $line), "\n";
    flush();
    $left = $c['interval'] - (microtime(true) - $t);
    if ($left > 0) {
        usleep((int)($left * 1e6));
    }
}
echo "end\n";
