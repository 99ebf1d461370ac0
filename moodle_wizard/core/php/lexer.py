"""A small PHP lexer and a query layer over its tokens, for editing PHP files byte-exactly.

It never interprets PHP: `tokenize` splits the text into tokens that keep their exact spans
(strings, heredocs, comments, `?>` with its newline, HTML outside the tags), and `Code` walks
the significant ones (bracket depth, matching brackets, `$CFG->name` references and writes,
the elements of an array literal),
so a caller can replace exactly the bytes it means to and nothing else. Text the lexer cannot
read (an unterminated string, comment or heredoc, unbalanced brackets) raises
`PhpSourceError` with the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moodle_wizard.core.errors import OperatorError

__all__ = [
    "WRITE_OPS",
    "ArrayElement",
    "Code",
    "PhpSourceError",
    "Token",
    "array_elements",
    "line_of",
    "php_double_quoted",
    "php_single_quoted",
    "string_value",
    "tokenize",
]


class PhpSourceError(OperatorError, ValueError):
    """The PHP text cannot be read safely; the message names the line and the fix."""


def php_single_quoted(value: str) -> str:
    """A PHP single-quoted literal: only backslash and quote are special there."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def php_double_quoted(value: str) -> str:
    """A PHP double-quoted literal: backslash, quote and `$` (interpolation) escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped + '"'


@dataclass(frozen=True)
class Token:
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


def line_of(text: str, pos: int) -> int:
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
    raise PhpSourceError(
        f"unterminated string starting on line {line_of(text, pos)}: the file is not valid "
        f"PHP; fix it (php -l) before the cutover"
    )


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    pos, n = 0, len(text)
    in_php = False

    def add(kind: str, end: int, interpolated: bool = False) -> None:
        nonlocal pos
        toks.append(Token(kind, pos, end, text[pos:end], interpolated))
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
                raise PhpSourceError(
                    f"unterminated /* comment on line {line_of(text, pos)}: fix the file first"
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
                raise PhpSourceError(f"unterminated heredoc on line {line_of(text, pos)}")
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


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


class Code:
    """The significant tokens of the file with helpers to walk them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = [t for t in tokenize(text) if t.kind not in ("ws", "comment", "html", "open")]
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
        return line_of(self.text, self.toks[i].start)

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
        raise PhpSourceError(
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


def string_value(tok: Token) -> str | None:
    """The value of a non-interpolated PHP string literal token, else None."""
    if tok.kind == "sq":
        return re.sub(r"\\([\\'])", r"\1", tok.text[1:-1])
    if tok.kind == "dq" and not tok.interpolated:
        simple = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}
        return re.sub(
            r"\\(.)", lambda m: simple.get(m.group(1), m.group(1)), tok.text[1:-1], flags=re.S
        )
    return None


@dataclass
class ArrayElement:
    first: int  # significant-token index range [first, last]
    last: int
    key: str | None  # literal key value; None for elements without a key
    value_first: int
    value_last: int


def array_elements(
    code: Code, open_i: int, close_i: int, what: str
) -> tuple[list[ArrayElement], bool]:
    """Split the array literal between the brackets at `open_i` and `close_i` into elements
    (and whether it ends with a comma); `what` names the array in messages. Keys must be
    literals, so the caller knows which entries it changes."""
    elements: list[ArrayElement] = []
    start = open_i + 1
    level = code.depth[open_i] + 1
    trailing_comma = False
    j = start
    while j <= close_i:
        at_end = j == close_i
        if at_end or (code.depth[j] == level and code.is_op(j, ",")):
            if j == start:
                if not at_end:
                    raise PhpSourceError(
                        f"empty element in the {what} array on line {code.line(j)}"
                    )
                trailing_comma = bool(elements)
            else:
                elements.append(_element(code, start, j - 1, level, what))
            start = j + 1
        j += 1
    return elements, trailing_comma


def _element(code: Code, first: int, last: int, level: int, what: str) -> ArrayElement:
    if code.is_op(first, "..."):
        raise PhpSourceError(
            f"the {what} array spreads another array on line {code.line(first)}; its keys "
            f"are only known at run time. Write {what} as a plain array literal."
        )
    arrow = next(
        (k for k in range(first, last + 1) if code.depth[k] == level and code.is_op(k, "=>")),
        None,
    )
    if arrow is None:
        return ArrayElement(first, last, None, first, last)
    if arrow != first + 1:
        raise PhpSourceError(
            f"a {what} key on line {code.line(first)} is an expression; write keys as "
            f"plain strings so the wizard can tell which entries it changes"
        )
    key_tok = code.toks[first]
    key = string_value(key_tok) if key_tok.kind in ("sq", "dq") else None
    if key is None and key_tok.kind == "num":
        key = key_tok.text
    if key is None:
        raise PhpSourceError(
            f"the {what} key {key_tok.text!r} on line {code.line(first)} is not a literal; "
            f"write keys as plain strings"
        )
    if arrow + 1 > last:
        raise PhpSourceError(f"{what} entry without a value on line {code.line(first)}")
    return ArrayElement(first, last, key, arrow + 1, last)

