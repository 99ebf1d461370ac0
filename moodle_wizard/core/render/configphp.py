"""The cutover edit of Moodle's config.php: byte-exact except for the intended spans.

Moodle's config.php is PHP that admins edit by hand, so it is not parsed into a model and
written back: the tokens of `core.php.lexer` locate exactly three things and only those bytes
change:

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

import re
from dataclasses import dataclass

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.php.lexer import (
    ArrayElement,
    Code,
    PhpSourceError,
    array_elements,
    php_double_quoted,
    php_single_quoted,
    string_value,
)

__all__ = [
    "ConfigPhpError",
    "ReadonlyReplica",
    "ReadonlySettings",
    "edit_config_php",
]


class ConfigPhpError(OperatorError, ValueError):
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



@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    new: str



def _single_assignment(code: Code, prop: str, fix: str) -> int:
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
    code: Code,
    open_i: int,
    close_i: int,
    elements: list[ArrayElement],
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


def _dbhost_edit(code: Code, dbhost: str) -> _Edit:
    op = _single_assignment(
        code, "dbhost", "add `$CFG->dbhost = 'host';` (Moodle cannot work without it)"
    )
    if op + 2 >= len(code.toks):
        raise ConfigPhpError(f"$CFG->dbhost on line {code.line(op)} has no value")
    value = code.toks[op + 1]
    if string_value(value) is None or not code.is_op(op + 2, ";"):
        raise ConfigPhpError(
            f"$CFG->dbhost on line {code.line(op)} is not a simple string literal "
            f"({value.text!r}...); the wizard cannot safely change a computed value. Set it to "
            f"a quoted host name, or change it by hand to the VIP address."
        )
    literal = php_double_quoted(dbhost) if value.kind == "dq" else php_single_quoted(dbhost)
    return _Edit(value.start, value.end, literal)


def _dboptions_array(code: Code) -> tuple[int, int]:
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
    try:
        return _edit(original, dbhost=dbhost, dbport=dbport, readonly=readonly)
    except PhpSourceError as exc:  # the lexer's word for "not valid PHP": same message
        raise ConfigPhpError(str(exc)) from None


def _edit(original: bytes, *, dbhost: str, dbport: int, readonly: ReadonlySettings | None) -> bytes:
    _check_host(dbhost, "dbhost")
    _check_port(dbport)
    if readonly is not None:
        _check_readonly(readonly)
    text = original.decode("utf-8", "surrogateescape")
    code = Code(text)
    edits = [_dbhost_edit(code, dbhost)]

    open_i, close_i = _dboptions_array(code)
    elements, trailing_comma = array_elements(code, open_i, close_i, "dboptions")
    by_key: dict[str, ArrayElement] = {}
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
            or string_value(tok) is not None
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

