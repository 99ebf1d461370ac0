"""core.php.lexer on its own: the tokens tile the text (what makes the config.php edit
byte-exact), strings keep their exact spans, and text it cannot read names the line."""

from __future__ import annotations

import itertools

import pytest

from moodle_wizard.core.php.lexer import (
    Code,
    PhpSourceError,
    array_elements,
    string_value,
    tokenize,
)

SOURCES = [
    b"<?php  // Moodle configuration file\r\n$CFG->dbhost = 'db1';\r\n",
    b"<html>\n<?php\n# note\n$CFG->dboptions = array('dbport' => 3306, /* x */ 'a' => [1, 2],);\n"
    b"?>\ntrailing <b>html</b>\n<?= $x ?>",
    b"<?php\n$s = <<<EOT\n  $CFG->dbhost = 'not code';\n  EOT;\n$t = \"a {$b} \\$c\";\n",
    b"<?php\n$CFG->wwwroot = 'http://\xe9\xff.example';\n",  # not UTF-8: kept byte for byte
]


@pytest.mark.parametrize("source", SOURCES)
def test_tokens_cover_every_byte_in_order(source: bytes) -> None:
    text = source.decode("utf-8", "surrogateescape")
    toks = tokenize(text)
    assert "".join(t.text for t in toks) == text
    assert all(a.end == b.start for a, b in itertools.pairwise(toks))


def test_code_finds_top_level_cfg_writes_and_array_elements() -> None:
    text = (
        "<?php\nif ($x) { $CFG->dbhost = 'a'; }\n$CFG->dbhost = \"b\\tc\";\n"
        "$CFG->dboptions = ['dbport' => 1, 'readonly' => ['x' => 2]];\n"
    )
    code = Code(text)
    refs = code.cfg_property_refs("dbhost")
    assert [code.depth[i] for i in refs] == [1, 0]
    op = code.write_after(refs[1])
    assert op is not None and string_value(code.toks[op + 1]) == "b\tc"
    (ref,) = code.cfg_property_refs("dboptions")
    open_i = ref + 4
    elements, trailing = array_elements(code, open_i, code.match_close(open_i), "dboptions")
    assert [e.key for e in elements] == ["dbport", "readonly"] and not trailing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<?php\n\n$a = 'open;\n", "unterminated string starting on line 3"),
        ("<?php\n/* never closed\n", "unterminated /* comment on line 2"),
        ("<?php\n$a = <<<EOT\nno end\n", "unterminated heredoc on line 2"),
    ],
)
def test_unreadable_php_names_the_line(text: str, message: str) -> None:
    with pytest.raises(PhpSourceError) as info:
        tokenize(text)
    assert message in str(info.value)


def test_unbalanced_brackets_are_refused() -> None:
    code = Code("<?php\n$CFG->dboptions = [1, (2];\n")
    (ref,) = code.cfg_property_refs("dboptions")
    with pytest.raises(PhpSourceError, match="unbalanced brackets"):
        code.match_close(ref + 4)
