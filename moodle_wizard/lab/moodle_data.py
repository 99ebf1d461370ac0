"""A Moodle-shaped schema with generated rows, for the lab's standalone database. Pure SQL text.

The tables carry the columns Moodle really has for them (a subset where Moodle has dozens) and
Moodle's conventions: BIGINT(10) ids, `mdl_` prefix, InnoDB, utf8mb4_unicode_ci, DYNAMIC rows.
Rows come from MariaDB's SEQUENCE engine (`seq_1_to_N`), so generating 50 MB is one statement
per table instead of a round trip per row.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC"

SCHEMA = {
    "mdl_config": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        name VARCHAR(255) NOT NULL DEFAULT '',
        value LONGTEXT NOT NULL,
        PRIMARY KEY (id), UNIQUE KEY mdl_conf_nam_uix (name)""",
    "mdl_user": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        auth VARCHAR(20) NOT NULL DEFAULT 'manual',
        confirmed TINYINT(1) NOT NULL DEFAULT 0,
        deleted TINYINT(1) NOT NULL DEFAULT 0,
        suspended TINYINT(1) NOT NULL DEFAULT 0,
        mnethostid BIGINT(10) NOT NULL DEFAULT 0,
        username VARCHAR(100) NOT NULL DEFAULT '',
        password VARCHAR(255) NOT NULL DEFAULT '',
        idnumber VARCHAR(255) NOT NULL DEFAULT '',
        firstname VARCHAR(100) NOT NULL DEFAULT '',
        lastname VARCHAR(100) NOT NULL DEFAULT '',
        email VARCHAR(100) NOT NULL DEFAULT '',
        city VARCHAR(120) NOT NULL DEFAULT '',
        country VARCHAR(2) NOT NULL DEFAULT '',
        lang VARCHAR(30) NOT NULL DEFAULT 'en',
        timezone VARCHAR(100) NOT NULL DEFAULT '99',
        firstaccess BIGINT(10) NOT NULL DEFAULT 0,
        lastaccess BIGINT(10) NOT NULL DEFAULT 0,
        lastlogin BIGINT(10) NOT NULL DEFAULT 0,
        lastip VARCHAR(45) NOT NULL DEFAULT '',
        description LONGTEXT,
        timecreated BIGINT(10) NOT NULL DEFAULT 0,
        timemodified BIGINT(10) NOT NULL DEFAULT 0,
        PRIMARY KEY (id), UNIQUE KEY mdl_user_mneuse_uix (mnethostid, username),
        KEY mdl_user_del_ix (deleted), KEY mdl_user_ema_ix (email)""",
    "mdl_course": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        category BIGINT(10) NOT NULL DEFAULT 0,
        sortorder BIGINT(10) NOT NULL DEFAULT 0,
        fullname VARCHAR(1333) NOT NULL DEFAULT '',
        shortname VARCHAR(255) NOT NULL DEFAULT '',
        idnumber VARCHAR(100) NOT NULL DEFAULT '',
        summary LONGTEXT,
        format VARCHAR(21) NOT NULL DEFAULT 'topics',
        startdate BIGINT(10) NOT NULL DEFAULT 0,
        enddate BIGINT(10) NOT NULL DEFAULT 0,
        visible TINYINT(1) NOT NULL DEFAULT 1,
        timecreated BIGINT(10) NOT NULL DEFAULT 0,
        timemodified BIGINT(10) NOT NULL DEFAULT 0,
        PRIMARY KEY (id), KEY mdl_cour_cat_ix (category), KEY mdl_cour_sho_ix (shortname(191))""",
    "mdl_course_modules": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        course BIGINT(10) NOT NULL DEFAULT 0,
        module BIGINT(10) NOT NULL DEFAULT 0,
        instance BIGINT(10) NOT NULL DEFAULT 0,
        section BIGINT(10) NOT NULL DEFAULT 0,
        idnumber VARCHAR(100) DEFAULT NULL,
        added BIGINT(10) NOT NULL DEFAULT 0,
        score SMALLINT(4) NOT NULL DEFAULT 0,
        indent MEDIUMINT(5) NOT NULL DEFAULT 0,
        visible TINYINT(1) NOT NULL DEFAULT 1,
        completion TINYINT(1) NOT NULL DEFAULT 0,
        deletioninprogress TINYINT(1) NOT NULL DEFAULT 0,
        PRIMARY KEY (id), KEY mdl_courmodu_cou_ix (course), KEY mdl_courmodu_mod_ix (module),
        KEY mdl_courmodu_ins_ix (instance)""",
    "mdl_logstore_standard_log": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        eventname VARCHAR(255) NOT NULL DEFAULT '',
        component VARCHAR(100) NOT NULL DEFAULT '',
        action VARCHAR(100) NOT NULL DEFAULT '',
        target VARCHAR(100) NOT NULL DEFAULT '',
        objecttable VARCHAR(50) DEFAULT NULL,
        objectid BIGINT(10) DEFAULT NULL,
        crud VARCHAR(1) NOT NULL DEFAULT '',
        edulevel TINYINT(1) NOT NULL,
        contextid BIGINT(10) NOT NULL,
        contextlevel BIGINT(10) NOT NULL,
        contextinstanceid BIGINT(10) NOT NULL,
        userid BIGINT(10) NOT NULL,
        courseid BIGINT(10) DEFAULT NULL,
        relateduserid BIGINT(10) DEFAULT NULL,
        anonymous TINYINT(1) NOT NULL DEFAULT 0,
        other LONGTEXT,
        timecreated BIGINT(10) NOT NULL,
        origin VARCHAR(10) DEFAULT NULL,
        ip VARCHAR(45) DEFAULT NULL,
        realuserid BIGINT(10) DEFAULT NULL,
        PRIMARY KEY (id), KEY mdl_logsstanlog_tim_ix (timecreated),
        KEY mdl_logsstanlog_couanotim_ix (courseid, anonymous, timecreated),
        KEY mdl_logsstanlog_useconconcr_ix (userid, contextlevel, contextinstanceid, crud,
            edulevel, timecreated)""",
    "mdl_sessions": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        state BIGINT(10) NOT NULL DEFAULT 0,
        sid VARCHAR(128) NOT NULL DEFAULT '',
        userid BIGINT(10) NOT NULL,
        sessdata LONGTEXT,
        timecreated BIGINT(10) NOT NULL,
        timemodified BIGINT(10) NOT NULL,
        firstip VARCHAR(45) DEFAULT NULL,
        lastip VARCHAR(45) DEFAULT NULL,
        PRIMARY KEY (id), UNIQUE KEY mdl_sess_sid_uix (sid), KEY mdl_sess_sta_ix (state),
        KEY mdl_sess_tim_ix (timecreated), KEY mdl_sess_use_ix (userid)""",
    "mdl_lock_db": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        resourcekey VARCHAR(255) NOT NULL DEFAULT '',
        expires BIGINT(10) DEFAULT NULL,
        owner VARCHAR(36) DEFAULT NULL,
        PRIMARY KEY (id), UNIQUE KEY mdl_lockdb_res_uix (resourcekey), KEY mdl_lockdb_exp_ix (expires),
        KEY mdl_lockdb_own_ix (owner)""",
    "mdl_grade_grades": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        itemid BIGINT(10) NOT NULL,
        userid BIGINT(10) NOT NULL,
        rawgrade DECIMAL(10,5) DEFAULT NULL,
        rawgrademax DECIMAL(10,5) NOT NULL DEFAULT 100.00000,
        rawgrademin DECIMAL(10,5) NOT NULL DEFAULT 0.00000,
        usermodified BIGINT(10) DEFAULT NULL,
        finalgrade DECIMAL(10,5) DEFAULT NULL,
        hidden BIGINT(10) NOT NULL DEFAULT 0,
        locked BIGINT(10) NOT NULL DEFAULT 0,
        overridden BIGINT(10) NOT NULL DEFAULT 0,
        feedback LONGTEXT,
        feedbackformat BIGINT(10) NOT NULL DEFAULT 0,
        timecreated BIGINT(10) DEFAULT NULL,
        timemodified BIGINT(10) DEFAULT NULL,
        PRIMARY KEY (id), UNIQUE KEY mdl_gradgrad_useite_uix (userid, itemid),
        KEY mdl_gradgrad_ite_ix (itemid), KEY mdl_gradgrad_use_ix (userid)""",
    # Not a Moodle table: where the lab's moodle-probe writes its rows.
    "mdl_mwlab_probe": """
        id BIGINT(10) NOT NULL AUTO_INCREMENT,
        token VARCHAR(32) NOT NULL,
        apphost VARCHAR(100) NOT NULL DEFAULT '',
        timecreated BIGINT(10) NOT NULL,
        PRIMARY KEY (id), UNIQUE KEY mdl_mwlaprob_tok_uix (token)""",
}
MOODLE_TABLES = tuple(SCHEMA)

CONFIG_ROWS = (
    ("version", "2024042200.00"),
    ("release", "4.4 (Build: 20240422)"),
    ("siteidentifier", "mwlab1234567890abcdef"),
    ("dbsessions", "1"),
    ("lock_factory", "\\\\core\\\\lock\\\\db_record_lock_factory"),
    ("lang", "en"),
    ("timezone", "Europe/London"),
)

# Grant list from Moodle's installation docs for MySQL/MariaDB.
MOODLE_PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, CREATE TEMPORARY TABLES, DROP, INDEX, ALTER"
)
LOG_ROW_BYTES = 850  # measured on MariaDB 10.11 with the indexes above: data + index per row


@dataclass(frozen=True)
class DataPlan:
    users: int
    courses: int
    modules: int
    grades: int
    sessions: int
    logs: int

    @classmethod
    def for_megabytes(cls, data_mb: int) -> DataPlan:
        users = max(100, data_mb * 20)
        courses = max(10, data_mb // 2)
        modules = courses * 15
        grades = users * 5
        sessions = max(10, users // 5)
        logs = max(1000, data_mb * 1024 * 1024 // LOG_ROW_BYTES)
        return cls(users, courses, modules, grades, sessions, logs)


def _seq(n: int) -> str:
    return f"seq_1_to_{n}"


def schema_sql(database: str = "moodle") -> str:
    parts = [
        f"CREATE DATABASE IF NOT EXISTS `{database}` "
        "DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
        f"USE `{database}`;",
    ]
    for table, body in SCHEMA.items():
        parts.append(f"CREATE TABLE IF NOT EXISTS `{table}` ({body}\n) {TABLE_OPTIONS};")
    return "\n".join(parts) + "\n"


def data_sql(plan: DataPlan, database: str = "moodle") -> str:
    t0 = 1_700_000_000
    config_values = ", ".join(f"('{k}', '{v}')" for k, v in CONFIG_ROWS)
    return f"""
USE `{database}`;
SET SESSION unique_checks=0;
INSERT IGNORE INTO mdl_config (name, value) VALUES {config_values};
INSERT INTO mdl_user (auth, confirmed, mnethostid, username, password, firstname, lastname,
    email, city, country, firstaccess, lastaccess, lastlogin, lastip, description, timecreated,
    timemodified)
  SELECT 'manual', 1, 1, CONCAT('student', seq), SHA2(CONCAT('pw', seq), 256),
    ELT(1 + seq % 6, 'Ana', 'Ben', 'Chloe', 'Dmitri', 'Eva', 'Farid'),
    ELT(1 + seq % 5, 'Silva', 'Novak', 'Okafor', 'Lindqvist', 'Moreau'),
    CONCAT('student', seq, '@school.example'), 'Springfield', 'GB',
    {t0} + seq, {t0} + seq * 7, {t0} + seq * 5, CONCAT('10.1.', seq % 250, '.', seq % 200),
    REPEAT('About me. ', 1 + seq % 8), {t0} + seq, {t0} + seq * 3
  FROM {_seq(plan.users)};
INSERT INTO mdl_course (category, sortorder, fullname, shortname, idnumber, summary, format,
    startdate, enddate, visible, timecreated, timemodified)
  SELECT 1 + seq % 12, 10000 + seq, CONCAT('Course number ', seq, ': an introduction'),
    CONCAT('C', seq), CONCAT('ID', seq), REPEAT('Course summary text. ', 5 + seq % 20),
    'topics', {t0}, {t0} + 31536000, 1, {t0} + seq, {t0} + seq
  FROM {_seq(plan.courses)};
INSERT INTO mdl_course_modules (course, module, instance, section, added, visible)
  SELECT 1 + seq % {plan.courses}, 1 + seq % 22, seq, 1 + seq % 10, {t0} + seq, 1
  FROM {_seq(plan.modules)};
INSERT INTO mdl_grade_grades (itemid, userid, rawgrade, finalgrade, usermodified, feedback,
    timecreated, timemodified)
  SELECT 1 + (seq - 1) DIV {plan.users}, 1 + (seq - 1) % {plan.users}, seq % 101, seq % 101, 2,
    IF(seq % 3 = 0, 'Well done.', NULL), {t0} + seq, {t0} + seq
  FROM {_seq(plan.grades)};
INSERT INTO mdl_sessions (state, sid, userid, sessdata, timecreated, timemodified, firstip, lastip)
  SELECT 0, MD5(CONCAT('sid', seq)), 1 + seq % {plan.users}, REPEAT('s:4:"data";', 20),
    {t0} + seq, {t0} + seq * 2, '10.1.0.1', '10.1.0.2'
  FROM {_seq(plan.sessions)};
INSERT INTO mdl_lock_db (resourcekey, expires, owner)
  SELECT CONCAT('core_cron_', seq), NULL, NULL FROM seq_1_to_20;
INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, objecttable,
    objectid, crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid,
    relateduserid, anonymous, other, timecreated, origin, ip, realuserid)
  SELECT ELT(1 + seq % 4, '\\\\core\\\\event\\\\course_viewed', '\\\\mod_forum\\\\event\\\\post_created',
      '\\\\core\\\\event\\\\user_loggedin', '\\\\mod_quiz\\\\event\\\\attempt_submitted'),
    ELT(1 + seq % 4, 'core', 'mod_forum', 'core', 'mod_quiz'),
    ELT(1 + seq % 4, 'viewed', 'created', 'loggedin', 'submitted'),
    ELT(1 + seq % 4, 'course', 'post', 'user', 'attempt'),
    ELT(1 + seq % 4, NULL, 'forum_posts', 'user', 'quiz_attempts'), seq % 5000,
    ELT(1 + seq % 4, 'r', 'c', 'r', 'u'), seq % 3, 1 + seq % 900, 50, 1 + seq % {plan.courses},
    1 + seq % {plan.users}, 1 + seq % {plan.courses}, NULL, 0,
    CONCAT('{{"username":"student', seq % {plan.users}, '","extra":"', REPEAT('x', 120 + seq % 200),
      '"}}'),
    {t0} + seq, 'web', CONCAT('10.1.', seq % 250, '.', seq % 200), NULL
  FROM {_seq(plan.logs)};
"""


def moodle_user_sql(user: str, host: str, database: str = "moodle") -> str:
    """The Moodle user as a real install has it: from the app host only, on the Moodle schema.

    The password is set separately from a file, never on a command line.
    """
    return (
        f"CREATE USER IF NOT EXISTS '{user}'@'{host}';\n"
        f"GRANT {MOODLE_PRIVILEGES} ON `{database}`.* TO '{user}'@'{host}';\n"
    )
