<?php
// Lab stand-in for Moodle's lib/setup.php. The real file bootstraps all of Moodle; this one only
// records that config.php was evaluated to its end, so PHP can check a config.php in the lab.
defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
$CFG->libdir = __DIR__;
