"""The cutover edit of Moodle's config.php: byte-exact except for the intended spans.

Moodle's config.php is PHP that admins edit by hand, so it is not parsed into a model and
written back: a small PHP tokenizer locates exactly three things and only those bytes change:

- the literal in `$CFG->dbhost = '...';` (replaced, keeping its quote style);
- `'dbport' => ...` in the `$CFG->dboptions` array literal (value replaced, or the entry
  appended to the array in the array's own layout);
- optionally a `'readonly' => [...]` entry (Moodle's read-only replica option, shape from
  lib/dml/moodle_read_slave_trait.php and config-dist.php).

Comments, whitespace, line endings (LF or CRLF), non-UTF-8 bytes and every other setting are
kept as they were. Anything the edit cannot do safely (no or two dbhost assignments, a dbhost
computed at run time, dboptions that is not a literal array or is changed again later) is
refused with `ConfigPhpError`, naming the problem and the fix. The values the site really uses
are read elsewhere, by evaluating the file with PHP; this module never interprets PHP.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigPhpError",
    "ReadonlyReplica",
    "ReadonlySettings",
    "config_php_diff",
    "edit_config_php",
    "mask_secret_settings",
    "php_single_quoted",
]

MASK = "********"


class ConfigPhpError(ValueError):
    """config.php cannot be edited safely; the message names the problem and the fix."""


@dataclass(frozen=True)
class ReadonlyReplica:
    """One entry of `$CFG->dboptions['readonly']['instance']`; None falls back to the
    primary's value in Moodle."""

    dbhost: str
    dbport: int | None = None
    dbuser: str | None = None
    dbpass: str | None = None


@dataclass(frozen=True)
class ReadonlySettings:
    instances: tuple[ReadonlyReplica, ...]
    # Seconds a written table keeps being read from the primary (Moodle's default is 1).
    latency: float | None = None
    connecttimeout: int | None = None


def php_single_quoted(value: str) -> str:
    """A PHP single-quoted literal: only backslash and quote are special there."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _php_double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped + '"'


# -- tokenizer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # html open close ws comment sq dq shell heredoc var ident num op
    start: int
    end: int
    text: str
    interpolated: bool = False


_OPEN_TAG = re.compile(r"<\?(?:php(?=\s|$)|=)", re.IGNORECASE)
_WS = re.compile(r"\s+")
_VAR = re.compile(r"\$[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*")
_IDENT = re.compile(r"\\?[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff\\]*")
_NUM = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?"
)
_HEREDOC = re.compile(r"<<<[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1\r?\n")
_OPS = sorted(
    ["<<=", ">>=", "**=", "...", "<=>", "===", "!==", "??=", "?->", "->", "=>", "::", "==",
     "!=", "<>", "<=", ">=", "&&", "||", "??", "++", "--", "+=", "-=", "*=", "/=", ".=", "%=",
     "&=", "|=", "^=", "<<", ">>", "**"],
    key=len,
    reverse=True,
)  # fmt: skip
_INTERPOLATION = re.compile(r"(?<!\\)(?:\\\\)*(?:\$[A-Za-z_{]|\{\$)")
WRITE_OPS = {"=", ".=", "+=", "-=", "*=", "/=", "%=", "??=", "|=", "&=", "^=", "<<=", ">>=", "**="}


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _scan_quoted(text: str, pos: int, quote: str) -> int:
    i, n = pos + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            return i + 1
        i += 1
    raise ConfigPhpError(
        f"unterminated string starting on line {_line_of(text, pos)}: the file is not valid "
        f"PHP; fix it (php -l) before the cutover"
    )


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos, n = 0, len(text)
    in_php = False

    def add(kind: str, end: int, interpolated: bool = False) -> None:
        nonlocal pos
        toks.append(_Tok(kind, pos, end, text[pos:end], interpolated))
        pos = end

    while pos < n:
        if not in_php:
            m = _OPEN_TAG.search(text, pos)
            if m is None:
                add("html", n)
                break
            if m.start() > pos:
                add("html", m.start())
            add("open", m.end())
            in_php = True
            continue
        ch = text[pos]
        two = text[pos : pos + 2]
        if ch.isspace():
            m = _WS.match(text, pos)
            assert m is not None
            add("ws", m.end())
        elif two == "?>":
            end = pos + 2
            if text.startswith("\r\n", end):
                end += 2
            elif text.startswith("\n", end):
                end += 1
            add("close", end)
            in_php = False
        elif (ch == "#" and two != "#[") or two == "//":
            end = pos
            while end < n and text[end] not in "\r\n" and not text.startswith("?>", end):
                end += 1
            add("comment", end)
        elif two == "/*":
            end = text.find("*/", pos + 2)
            if end < 0:
                raise ConfigPhpError(
                    f"unterminated /* comment on line {_line_of(text, pos)}: fix the file first"
                )
            add("comment", end + 2)
        elif ch == "'":
            add("sq", _scan_quoted(text, pos, "'"))
        elif ch in '"`':
            end = _scan_quoted(text, pos, ch)
            body = text[pos + 1 : end - 1]
            add("dq" if ch == '"' else "shell", end, bool(_INTERPOLATION.search(body)))
        elif text.startswith("<<<", pos) and (m := _HEREDOC.match(text, pos)):
            closing = re.compile(rf"^[ \t]*{m.group(2)}(?![A-Za-z0-9_])", re.MULTILINE)
            c = closing.search(text, m.end())
            if c is None:
                raise ConfigPhpError(f"unterminated heredoc on line {_line_of(text, pos)}")
            add("heredoc", c.end(), True)
        elif ch == "$" and (m := _VAR.match(text, pos)):
            add("var", m.end())
        elif (m := _NUM.match(text, pos)) and (ch.isdigit() or text[pos + 1 : pos + 2].isdigit()):
            add("num", m.end())
        elif m := _IDENT.match(text, pos):
            add("ident", m.end())
        else:
            op = next((o for o in _OPS if text.startswith(o, pos)), ch)
            add("op", pos + len(op))
    return toks


# -- locating the assignments ------------------------------------------------------------------


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


class _Code:
    """The significant tokens of the file with helpers to walk them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = [t for t in _tokenize(text) if t.kind not in ("ws", "comment", "html", "open")]
        # Bracket depth before each token: assignments inside blocks or calls are not edited.
        self.depth: list[int] = []
        depth = 0
        for t in self.toks:
            if t.kind == "op" and t.text in _CLOSERS:
                depth -= 1
            self.depth.append(depth)
            if t.kind == "op" and t.text in _OPENERS:
                depth += 1

    def line(self, i: int) -> int:
        return _line_of(self.text, self.toks[i].start)

    def is_op(self, i: int, *ops: str) -> bool:
        return i < len(self.toks) and self.toks[i].kind == "op" and self.toks[i].text in ops

    def match_close(self, i: int) -> int:
        """Index of the bracket closing the one at `i`."""
        want = _OPENERS[self.toks[i].text]
        level = self.depth[i]
        for j in range(i + 1, len(self.toks)):
            if self.depth[j] == level and self.is_op(j, ")", "]", "}"):
                if self.toks[j].text != want:
                    break
                return j
        raise ConfigPhpError(
            f"unbalanced brackets after line {self.line(i)}: the file is not valid PHP"
        )

    def cfg_property_refs(self, name: str) -> list[int]:
        """Indexes of `$CFG` tokens in `$CFG->name` (the property token must end there)."""
        refs = []
        for i, t in enumerate(self.toks[:-2]):
            if (
                t.kind == "var"
                and t.text == "$CFG"
                and self.is_op(i + 1, "->")
                and self.toks[i + 2].kind == "ident"
                and self.toks[i + 2].text == name
            ):
                refs.append(i)
        return refs

    def write_after(self, i: int) -> int | None:
        """If `$CFG->name` at `i` (optionally `[...]` subscripted) is assigned to, the index of
        the assignment operator."""
        j = i + 3
        while self.is_op(j, "["):
            j = self.match_close(j) + 1
        if j < len(self.toks) and self.toks[j].kind == "op" and self.toks[j].text in WRITE_OPS:
            return j
        return None


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    new: str


def _string_value(tok: _Tok) -> str | None:
    """The value of a non-interpolated PHP string literal token, else None."""
    if tok.kind == "sq":
        return re.sub(r"\\([\\'])", r"\1", tok.text[1:-1])
    if tok.kind == "dq" and not tok.interpolated:
        simple = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}
        return re.sub(
            r"\\(.)", lambda m: simple.get(m.group(1), m.group(1)), tok.text[1:-1], flags=re.S
        )
    return None


def _single_assignment(code: _Code, prop: str, fix: str) -> int:
    """Index of the `=` of the one top-level `$CFG->prop = ...` assignment."""
    writes = [
        (i, op)
        for i in code.cfg_property_refs(prop)
        if (op := code.write_after(i)) is not None and op == i + 3
    ]
    if not writes:
        raise ConfigPhpError(f"config.php has no `$CFG->{prop} = ...;` assignment; {fix}")
    if len(writes) > 1:
        lines = ", ".join(str(code.line(i)) for i, _ in writes)
        raise ConfigPhpError(
            f"$CFG->{prop} is assigned more than once (lines {lines}); the edit could be "
            f"overridden by a later line. Keep a single `$CFG->{prop} = ...;` and retry."
        )
    i, op = writes[0]
    if code.toks[op].text != "=":
        raise ConfigPhpError(
            f"$CFG->{prop} on line {code.line(i)} is changed with "
            f"{code.toks[op].text!r}, not set; write it as one plain assignment and retry"
        )
    if code.depth[i] != 0:
        raise ConfigPhpError(
            f"$CFG->{prop} on line {code.line(i)} is assigned inside a block or call, so "
            f"whether it applies depends on run-time conditions; move it to the top level"
        )
    return op


@dataclass
class _Element:
    first: int  # significant-token index range [first, last]
    last: int
    key: str | None  # literal key value; None for elements without a key
    value_first: int
    value_last: int


def _array_elements(code: _Code, open_i: int, close_i: int) -> tuple[list[_Element], bool]:
    """Split the array literal between `open_i` and `close_i` into elements."""
    elements: list[_Element] = []
    start = open_i + 1
    level = code.depth[open_i] + 1
    trailing_comma = False
    j = start
    while j <= close_i:
        at_end = j == close_i
        if at_end or (code.depth[j] == level and code.is_op(j, ",")):
            if j == start:
                if not at_end:
                    raise ConfigPhpError(
                        f"empty element in the dboptions array on line {code.line(j)}"
                    )
                trailing_comma = bool(elements)
            else:
                elements.append(_element(code, start, j - 1, level))
            start = j + 1
        j += 1
    return elements, trailing_comma


def _element(code: _Code, first: int, last: int, level: int) -> _Element:
    if code.is_op(first, "..."):
        raise ConfigPhpError(
            f"the dboptions array spreads another array on line {code.line(first)}; its keys "
            f"are only known at run time. Write dboptions as a plain array literal."
        )
    arrow = next(
        (k for k in range(first, last + 1) if code.depth[k] == level and code.is_op(k, "=>")),
        None,
    )
    if arrow is None:
        return _Element(first, last, None, first, last)
    if arrow != first + 1:
        raise ConfigPhpError(
            f"a dboptions key on line {code.line(first)} is an expression; write keys as "
            f"plain strings so the wizard can tell which entries it changes"
        )
    key_tok = code.toks[first]
    key = _string_value(key_tok) if key_tok.kind in ("sq", "dq") else None
    if key is None and key_tok.kind == "num":
        key = key_tok.text
    if key is None:
        raise ConfigPhpError(
            f"the dboptions key {key_tok.text!r} on line {code.line(first)} is not a literal; "
            f"write keys as plain strings"
        )
    if arrow + 1 > last:
        raise ConfigPhpError(f"dboptions entry without a value on line {code.line(first)}")
    return _Element(first, last, key, arrow + 1, last)


# -- rendering new entries -----------------------------------------------------------------------


def _php_scalar(value: str | int | float) -> str:
    if isinstance(value, str):
        return php_single_quoted(value)
    return repr(value)


def _readonly_value(settings: ReadonlySettings, unit: str | None) -> list[str]:
    """Lines of the `readonly` value; one line when `unit` is None (inline arrays)."""

    def arr(items: list[tuple[str | None, list[str]]], depth: int) -> list[str]:
        if unit is None:
            parts = [(f"{php_single_quoted(k)} => " if k else "") + v[0] for k, v in items]
            return ["[" + ", ".join(parts) + "]"]
        pad = unit * (depth + 1)
        out = ["["]
        for key, value in items:
            prefix = f"{pad}{php_single_quoted(key)} => " if key else pad
            out.append(prefix + value[0])
            out.extend(value[1:])
            out[-1] += ","
        out.append(unit * depth + "]")
        return out

    def instance(r: ReadonlyReplica, depth: int) -> list[str]:
        fields: list[tuple[str | None, list[str]]] = [("dbhost", [php_single_quoted(r.dbhost)])]
        for key in ("dbport", "dbuser", "dbpass"):
            value = getattr(r, key)
            if value is not None:
                fields.append((key, [_php_scalar(value)]))
        return arr(fields, depth)

    instances: list[tuple[str | None, list[str]]] = [
        (None, instance(r, 2)) for r in settings.instances
    ]
    top: list[tuple[str | None, list[str]]] = [("instance", arr(instances, 1))]
    if settings.connecttimeout is not None:
        top.append(("connecttimeout", [_php_scalar(settings.connecttimeout)]))
    if settings.latency is not None:
        top.append(("latency", [_php_scalar(settings.latency)]))
    return arr(top, 0)


def _check_readonly(settings: ReadonlySettings) -> None:
    if not settings.instances:
        raise ConfigPhpError("the readonly block needs at least one replica instance")
    for r in settings.instances:
        _check_host(r.dbhost, "readonly dbhost")
        if r.dbport is not None:
            _check_port(r.dbport)
    if settings.latency is not None and not 0 <= settings.latency <= 3600:
        raise ConfigPhpError(f"readonly latency {settings.latency} is not in 0..3600 seconds")
    if settings.connecttimeout is not None and not 1 <= settings.connecttimeout <= 3600:
        raise ConfigPhpError(
            f"readonly connecttimeout {settings.connecttimeout} is not in 1..3600 seconds"
        )


def _check_host(host: str, what: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", host):
        raise ConfigPhpError(f"{what} {host!r} is not a host name or address")
    if host.lower() == "localhost":
        raise ConfigPhpError(
            f"{what} 'localhost' makes PHP use the local socket, not TCP; use the VIP address"
        )


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigPhpError(f"port {port} is not in 1..65535")


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _indent_of_line(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    m = re.match(r"[ \t]*", text[start:pos])
    assert m is not None
    return m.group(0)


def _starts_line(text: str, pos: int) -> bool:
    return text[_line_start(text, pos) : pos].strip(" \t") == ""


def _insert_entries(
    code: _Code,
    open_i: int,
    close_i: int,
    elements: list[_Element],
    trailing_comma: bool,
    entries: list[tuple[str, ReadonlySettings | int]],
) -> list[_Edit]:
    """Edits that append `entries` to the array, following the array's own layout."""
    text = code.text
    close = code.toks[close_i]
    edits: list[_Edit] = []
    if _starts_line(text, close.start) and "\n" in text[code.toks[open_i].end : close.start]:
        line_start = _line_start(text, close.start)
        eol = "\r\n" if text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
        first = code.toks[elements[0].first].start if elements else None
        if first is not None and _starts_line(text, first):
            indent = _indent_of_line(text, first)
        else:
            closing_indent = _indent_of_line(text, close.start)
            indent = closing_indent + ("\t" if closing_indent.startswith("\t") else "    ")
        unit = indent or "    "
        if elements and not trailing_comma:
            after_last = code.toks[elements[-1].last].end
            edits.append(_Edit(after_last, after_last, ","))
        block = ""
        for key, value in entries:
            lines = [str(value)] if isinstance(value, int) else _readonly_value(value, unit)
            body = (eol + indent).join(lines)
            block += f"{indent}{php_single_quoted(key)} => {body},{eol}"
        edits.append(_Edit(line_start, line_start, block))
        return edits
    parts = []
    for key, value in entries:
        rendered = str(value) if isinstance(value, int) else _readonly_value(value, None)[0]
        parts.append(f"{php_single_quoted(key)} => {rendered}")
    if not elements:
        at = code.toks[open_i].end
        edits.append(_Edit(at, at, ", ".join(parts)))
    elif trailing_comma:
        at = code.toks[elements[-1].last + 1].end  # after the trailing comma
        edits.append(_Edit(at, at, " " + ", ".join(parts) + ","))
    else:
        at = code.toks[elements[-1].last].end
        edits.append(_Edit(at, at, ", " + ", ".join(parts)))
    return edits


# -- the edit --------------------------------------------------------------------------------


def _dbhost_edit(code: _Code, dbhost: str) -> _Edit:
    op = _single_assignment(
        code, "dbhost", "add `$CFG->dbhost = 'host';` (Moodle cannot work without it)"
    )
    if op + 2 >= len(code.toks):
        raise ConfigPhpError(f"$CFG->dbhost on line {code.line(op)} has no value")
    value = code.toks[op + 1]
    if _string_value(value) is None or not code.is_op(op + 2, ";"):
        raise ConfigPhpError(
            f"$CFG->dbhost on line {code.line(op)} is not a simple string literal "
            f"({value.text!r}...); the wizard cannot safely change a computed value. Set it to "
            f"a quoted host name, or change it by hand to the VIP address."
        )
    literal = _php_double_quoted(dbhost) if value.kind == "dq" else php_single_quoted(dbhost)
    return _Edit(value.start, value.end, literal)


def _dboptions_array(code: _Code) -> tuple[int, int]:
    op = _single_assignment(
        code,
        "dboptions",
        "add `$CFG->dboptions = array();` after $CFG->prefix (config-dist.php has one)",
    )
    for i in code.cfg_property_refs("dboptions"):
        if code.is_op(i + 3, "[") and code.write_after(i) is not None:
            raise ConfigPhpError(
                f"$CFG->dboptions is changed again on line {code.line(i)}; that line would "
                f"override the edit. Move the setting into the dboptions array and retry."
            )
    j = op + 1
    if j < len(code.toks) and code.toks[j].kind == "ident" and code.toks[j].text.lower() == "array":
        j += 1
        if not code.is_op(j, "("):
            j = -1
    elif not code.is_op(j, "["):
        j = -1
    if j < 0:
        raise ConfigPhpError(
            f"$CFG->dboptions on line {code.line(op)} is not a literal array; write it as "
            f"`$CFG->dboptions = array(...);` or `[...]` so the wizard can edit it safely"
        )
    close = code.match_close(j)
    if not code.is_op(close + 1, ";"):
        raise ConfigPhpError(
            f"$CFG->dboptions on line {code.line(op)} is an array combined with something "
            f"else; write it as a single array literal"
        )
    return j, close


def edit_config_php(
    original: bytes,
    *,
    dbhost: str,
    dbport: int,
    readonly: ReadonlySettings | None = None,
) -> bytes:
    """Return `original` with dbhost, dboptions['dbport'] (and optionally 'readonly') set.

    Running it on its own output with the same arguments returns that output unchanged.
    """
    _check_host(dbhost, "dbhost")
    _check_port(dbport)
    if readonly is not None:
        _check_readonly(readonly)
    text = original.decode("utf-8", "surrogateescape")
    code = _Code(text)
    edits = [_dbhost_edit(code, dbhost)]

    open_i, close_i = _dboptions_array(code)
    elements, trailing_comma = _array_elements(code, open_i, close_i)
    by_key: dict[str, _Element] = {}
    for el in elements:
        if el.key is not None:
            if el.key in by_key:
                before = code.line(by_key[el.key].first)
                raise ConfigPhpError(
                    f"dboptions has the key {el.key!r} twice (lines {before} and "
                    f"{code.line(el.first)}); PHP keeps the last one. Remove one and retry."
                )
            by_key[el.key] = el

    missing: list[tuple[str, ReadonlySettings | int]] = []
    port_el = by_key.get("dbport")
    if port_el is None:
        missing.append(("dbport", dbport))
    else:
        tok = code.toks[port_el.value_first]
        simple = port_el.value_first == port_el.value_last and (
            tok.kind == "num"
            or _string_value(tok) is not None
            or (tok.kind == "ident" and tok.text.lower() in ("null", "false", "true"))
        )
        if not simple:
            raise ConfigPhpError(
                f"dboptions['dbport'] on line {code.line(port_el.first)} is not a simple value; "
                f"set it to a number (e.g. 3306) and retry"
            )
        edits.append(_Edit(tok.start, tok.end, str(dbport)))

    if readonly is not None:
        ro_el = by_key.get("readonly")
        if ro_el is None:
            missing.append(("readonly", readonly))
        else:
            start = code.toks[ro_el.value_first].start
            end = code.toks[ro_el.value_last].end
            if _starts_line(text, code.toks[ro_el.first].start) and "\n" in text[start:end]:
                indent = _indent_of_line(text, code.toks[ro_el.first].start)
                line_start = _line_start(text, start)
                eol = "\r\n" if text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
                lines = _readonly_value(readonly, indent or "    ")
                new = (eol + indent).join(lines)
            else:
                new = _readonly_value(readonly, None)[0]
            edits.append(_Edit(start, end, new))
    if missing:
        edits += _insert_entries(code, open_i, close_i, elements, trailing_comma, missing)

    out = text
    for e in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[: e.start] + e.new + out[e.end :]
    return out.encode("utf-8", "surrogateescape")


# A string literal assigned to a setting whose name says it is a secret: `$CFG->dbpass = '..'`,
# `'dbpass' => ".."`, `$CFG->passwordsaltmain = ..`, a readonly instance's dbpass at any depth.
_SECRET_SETTING = re.compile(
    r"""((?:->|['"])\w*(?:pass|secret|salt|token)\w*['"]?\s*\]?\s*=>?\s*)"""
    r"""(?:'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""",
    re.IGNORECASE,
)


def mask_secret_settings(text: str) -> str:
    """Every literal assigned to a password-like setting, masked: the wizard may not know
    a password someone else put into config.php."""
    return _SECRET_SETTING.sub(lambda m: f"{m.group(1)}'{MASK}'", text)


def _mask(text: str, secrets: Iterable[str]) -> str:
    text = mask_secret_settings(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, php_single_quoted(secret)[1:-1], _php_double_quoted(secret)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def config_php_diff(
    original: bytes,
    edited: bytes,
    *,
    secrets: Sequence[str] = (),
    filename: str = "config.php",
    labels: tuple[str, str] = ("now", "after cutover"),
    mask: bool = True,
) -> str:
    """A unified diff of the edit for the plan, with every secret (and its escaped PHP form)
    and every literal of a password-like setting masked. Empty when nothing changes.
    `mask=False` is for counting changed lines only: never show that one."""
    before = original.decode("utf-8", "replace")
    after = edited.decode("utf-8", "replace")
    if mask:
        before, after = _mask(before, secrets), _mask(after, secrets)
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{filename} ({labels[0]})",
        tofile=f"{filename} ({labels[1]})",
    )
    lines = [line if line.endswith("\n") else line + "\n" for line in diff]
    return "".join(line.replace("\r\n", "\n") for line in lines)
