"""Breakpoint conditions and watch expressions: a small, safe expression language.

An expression is tokenized and parsed by hand (a Pratt parser) and compiled to
nested Python closures. Nothing here calls ``eval``, ``exec``, ``compile`` or
``ast``: an expression can read simulator state through a :class:`Resolver`
and compute with the values, and nothing else.

Grammar
-------
Operators, lowest precedence first::

    expr        := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | comparison
    comparison  := membership [("==" | "!=" | "<" | "<=" | ">" | ">=") membership]
    membership  := bit_or [("in" | "not" "in") bit_or]
    bit_or      := bit_xor ("|" bit_xor)*
    bit_xor     := bit_and ("^" bit_and)*
    bit_and     := shift ("&" shift)*
    shift       := sum (("<<" | ">>") sum)*
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/" | "%") unary)*
    unary       := ("-" | "~") unary | primary
    primary     := INT | STRING | "true" | "false" | "none" | path | "(" expr ")"
    path        := NAME ("." NAME | "[" expr "]")*

Comparisons and membership tests do not chain: ``a < b < c`` is a parse error
(write ``a < b and b < c``).

Tokens:

- ``INT``: decimal (``4096``), hex (``0x1000``) or binary (``0b101``);
  underscores may separate digits (``0x7fff_f000``). Decimal integers have no
  leading zeros; there are no floats and no octal.
- ``STRING``: single or double quotes, with the escapes ``\\\\``, ``\\'``,
  ``\\"``, ``\\n`` and ``\\t``.
- ``NAME``: ASCII letters, digits and ``_``, not starting with a digit and not
  starting with ``__`` (so no dunder can ever be named). ``-`` is minus, never
  part of a name. The keywords are ``and or not in true false none``.

Examples: ``A.mmap_seq``, ``A.pte[0x10000].pfn``, ``thread.A1.state``,
``frame[3].words[0]``, ``A.vma[0x10000].vm_flags & 0x2``,
``"A1" in A.mmap_lock.readers``, ``A1.label == "wp_page_copy:copy"``.

Semantics
---------
- Arithmetic and bitwise operators take ints only; a bool is *not* an int
  here (``true + 1`` is an :class:`EvalError`). ``/`` is floor division and
  ``%`` its remainder (as in Python); dividing by zero is an EvalError. A shift
  count must be between 0 and :data:`MAX_SHIFT`.
- ``==`` and ``!=`` compare any two values with Python equality (so
  ``true == 1`` holds). ``< <= > >=`` order two ints or two strings.
- ``x in c`` needs ``c`` to be a string (then ``x`` must be a string: a
  substring test), a list, tuple, set, frozenset or mapping (a key test).
- ``and``, ``or`` and ``not`` use truthiness (``none``, ``0``, ``""`` and
  empty collections are false), short-circuit, and always return a bool.
- A path is looked up one step at a time through a :class:`Resolver`: its root
  name with :meth:`Resolver.root`, each ``.field`` with :meth:`Resolver.attr`
  and each ``[key]`` with :meth:`Resolver.item`. A lookup that fails becomes an
  EvalError naming the path, e.g. ``A.pte has no entry 0x10001``.

In messages, ints of 4096 and above (in magnitude) are shown in hex, smaller
ones in decimal; a huge one is cut in the middle.

Limits and errors
-----------------
An expression has at most :data:`MAX_LENGTH` characters and nests at most
:data:`MAX_DEPTH` levels (parentheses, unary operators, subscripts); a chain of
one operator level (``a or b or ...``, ``a + b - ...``) is not nesting. Parsing
and evaluation take time linear in the length. Every problem is an
:class:`ExprError` with a ``position`` into ``source``; one found while
evaluating is its subclass :class:`EvalError`.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, TypeGuard

import attrs

__all__ = [
    "DYNAMIC",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_SHIFT",
    "EvalError",
    "Expr",
    "ExprError",
    "MappingResolver",
    "PathRef",
    "PathStep",
    "Resolver",
    "evaluate",
    "parse",
    "typed",
]

MAX_DEPTH: Final = 100
"""How deeply an expression may nest (parentheses, operators, subscripts)."""

MAX_SHIFT: Final = 1024
"""The largest shift count ``<<`` and ``>>`` accept."""

MAX_LENGTH: Final = 10_000
"""The longest expression, in characters (parsing and evaluating stay linear in it)."""

_MAX_SHOWN: Final = 60
"""Values in messages are cut to this many characters."""

_MAX_LITERAL: Final = 256
"""The longest integer literal, in characters."""


# --------------------------------------------------------------------------- errors


class ExprError(Exception):
    """Any problem with an expression: it does not parse, or (as :class:`EvalError`)
    it cannot be evaluated against this state. Catch this one class.

    Attributes:
        message: What is wrong, in one line.
        position: 0-based character offset into ``source`` where it went wrong.
        source: The text that was parsed.
    """

    def __init__(self, message: str, position: int, source: str) -> None:
        super().__init__(message, position, source)
        self.message = message
        self.position = position
        self.source = source

    def __str__(self) -> str:
        return f"{self.message}\n{_caret(self.source, self.position)}"


class EvalError(ExprError):
    """An expression that parsed but cannot be evaluated against this state.

    A resolver hook may raise one without a position; the evaluator fills in
    the position of the part being looked up before it reaches the caller.
    ``str()`` is the message alone (a watch shows it in one line).
    """

    def __init__(self, message: str, position: int | None = None, source: str | None = None) -> None:
        super().__init__(message, position or 0, source or "")
        self.located = position is not None

    def __str__(self) -> str:
        return self.message


def _caret(source: str, position: int, width: int = 72) -> str:
    """Render the line of ``source`` holding ``position`` with a caret under it.

    A line longer than ``width`` is cut to a window around the position.
    """
    start = source.rfind("\n", 0, position) + 1
    end = source.find("\n", position)
    line = source[start : end if end >= 0 else len(source)]
    column = position - start
    if len(line) > width:
        left = max(0, min(column - width // 2, len(line) - width))
        shown = line[left : left + width]
        lead = "..." if left > 0 else ""
        line = lead + shown + ("..." if left + width < len(line) else "")
        column = column - left + len(lead)
    pad = "".join("\t" if c == "\t" else " " for c in line[:column])
    return f"    {line}\n    {pad}^"


def excerpt(source: str, position: int, width: int = _MAX_SHOWN) -> str:
    """``source`` cut to ``width`` characters around ``position`` ("…" where cut), to quote
    it in a one-line message: a 26,000-character expression was quoted whole."""
    if len(source) <= width:
        return source
    left = max(0, min(position - width // 2, len(source) - width))
    return ("…" if left else "") + source[left : left + width] + ("…" if left + width < len(source) else "")


def _located(err: EvalError, position: int, source: str) -> EvalError:
    if not err.located:
        err.position, err.source, err.located = position, source, True
    return err


# ------------------------------------------------------------------ value helpers


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    if value is None:
        return "none"
    return type(value).__name__


def typed(value: object) -> str:
    """A value with its type, as the language's messages write it: `int 0`, `str "a"`."""
    return f"{_type_name(value)} {_fmt(value)}"


def _quote(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + body.replace("\n", "\\n").replace("\t", "\\t") + '"'


def _fmt(value: object) -> str:
    """Show a value the way the expression language would spell it."""
    if value is None:
        return "none"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return format_int(int(value), _MAX_SHOWN)
    if isinstance(value, str):
        text = _quote(value[:_MAX_SHOWN])
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def format_int(number: int, width: int = _MAX_SHOWN) -> str:
    """Decimal below 4096 in magnitude, else hex; a hex longer than ``width`` is cut in the middle.

    Never ``str()`` of a huge int (Python refuses over 4300 digits) and never a
    megabyte of hex in one line.
    """
    if abs(number) < 4096:
        return str(number)
    text = hex(number)
    if len(text) <= width:
        return text
    digits = len(text) - (3 if number < 0 else 2)
    keep = max(4, (width - 20) // 2)
    return f"{text[: len(text) - digits + keep]}…{text[-keep:]} ({digits:,} hex digits)"


# ---------------------------------------------------------------------- resolvers


class Resolver(Protocol):
    """How an expression reads state; the evaluator knows nothing else about it.

    A hook may raise :class:`EvalError` with its own message. ``KeyError``,
    ``IndexError``, ``AttributeError`` and ``TypeError`` are turned into an
    EvalError that names the path being looked up.
    """

    def root(self, name: str) -> object:
        """Return the value of a root name such as ``A`` or ``frame``."""
        ...

    def attr(self, obj: object, name: str) -> object:
        """Return field ``name`` of ``obj`` (``A.mmap_seq``)."""
        ...

    def item(self, obj: object, key: object) -> object:
        """Return entry ``key`` of ``obj`` (``A.pte[0x10000]``)."""
        ...


class MappingResolver:
    """A resolver over nested mappings, lists, tuples and attrs/dataclass instances.

    It is safe by construction: ``attr`` reads only mapping keys and declared
    attrs or dataclass fields (never an arbitrary ``getattr``, never a name
    beginning with ``__``), and ``item`` subscripts only mappings, lists and
    tuples.
    """

    __slots__ = ("_roots",)

    def __init__(self, roots: Mapping[str, object]) -> None:
        self._roots = roots

    def root(self, name: str) -> object:
        try:
            return self._roots[name]
        except KeyError:
            known = ", ".join(sorted(str(k) for k in self._roots))
            hint = f" (known names: {known})" if known else ""
            raise EvalError(f"unknown name {name!r}{hint}") from None

    def attr(self, obj: object, name: str) -> object:
        if name.startswith("__"):
            raise EvalError(f"field names beginning with '__' are not allowed: {name!r}")
        if isinstance(obj, Mapping):
            return obj[name]
        if name in _field_names(type(obj)):
            return getattr(obj, name)
        raise AttributeError(name)

    def item(self, obj: object, key: object) -> object:
        if isinstance(obj, Mapping):
            return obj[key]
        if isinstance(obj, (list, tuple)):
            if not _is_int(key):
                raise TypeError(key)
            return obj[key]
        raise TypeError(obj)


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """The declared fields of an attrs or dataclass class; empty for anything else."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if attrs.has(cls):
            names = frozenset(f.name for f in attrs.fields(cls))
        elif dataclasses.is_dataclass(cls):
            names = frozenset(f.name for f in dataclasses.fields(cls))
        else:
            names = frozenset()
        _FIELD_NAMES[cls] = names
    return names


# ---------------------------------------------------------------------- tokenizer

_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "none"})
_NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS: Final = _NAME_START | frozenset("0123456789")
_DIGITS: Final = frozenset("0123456789")
_SPACE: Final = frozenset(" \t\r\n\f\v")
_OPERATORS: Final = (
    "==", "!=", "<=", ">=", "<<", ">>",
    "<", ">", "|", "^", "&", "+", "-", "*", "/", "%", "~", "(", ")", "[", "]", ".",
)  # fmt: skip
_NOT_OPERATORS: Final = {
    "&&": "'&&' is not an operator; use 'and'",
    "||": "'||' is not an operator; use 'or'",
    "//": "'//' is not needed: '/' already rounds down",
    "**": "'**' is not supported",
    "=": "'=' is not an operator; did you mean '=='?",
    "!": "'!' is not an operator; use 'not'",
}
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_DECIMAL: Final = re.compile(r"[1-9](?:_?[0-9])*|0(?:_?0)*")
_HEX: Final = re.compile(r"0[xX](?:_?[0-9a-fA-F])+")
_BINARY: Final = re.compile(r"0[bB](?:_?[01])+")


@attrs.frozen
class _Token:
    kind: str  # "int", "str", "name", "eof", or the operator / keyword itself
    value: object
    start: int
    end: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(source)
    i = 0
    while i < n:
        c = source[i]
        if c in _SPACE:
            i += 1
        elif c in _DIGITS:
            j = i
            while j < n and source[j] in _NAME_CHARS:
                j += 1
            tokens.append(_Token("int", _int_literal(source, i, j), i, j))
            if j + 1 < n and source[j] == "." and source[j + 1] in _DIGITS:
                raise ExprError("floating-point numbers are not supported", i, source)
            i = j
        elif c in _NAME_START:
            j = i
            while j < n and source[j] in _NAME_CHARS:
                j += 1
            word = source[i:j]
            if word.startswith("__"):
                raise ExprError("names beginning with '__' are not allowed", i, source)
            kind = word if word in _KEYWORDS else "name"
            tokens.append(_Token(kind, word, i, j))
            i = j
        elif c in "'\"":
            i = _string_literal(source, i, tokens)
        else:
            for bad, why in _NOT_OPERATORS.items():
                if source.startswith(bad, i) and not any(
                    source.startswith(op, i) and len(op) >= len(bad) for op in _OPERATORS
                ):
                    raise ExprError(why, i, source)
            for op in _OPERATORS:
                if source.startswith(op, i):
                    tokens.append(_Token(op, op, i, i + len(op)))
                    i += len(op)
                    break
            else:
                raise ExprError(f"unexpected character {c!r}", i, source)
    tokens.append(_Token("eof", None, n, n))
    return tokens


def _int_literal(source: str, start: int, end: int) -> int:
    text = source[start:end]
    if len(text) > _MAX_LITERAL:
        raise ExprError("integer literal is too long", start, source)
    if _HEX.fullmatch(text):
        return int(text[2:].replace("_", ""), 16)
    if _BINARY.fullmatch(text):
        return int(text[2:].replace("_", ""), 2)
    if _DECIMAL.fullmatch(text):
        return int(text.replace("_", ""))
    if text[:2] in ("0o", "0O"):
        raise ExprError("octal literals are not supported; use 0x or 0b", start, source)
    if re.fullmatch(r"0[0-9_]+", text):
        raise ExprError("decimal integers cannot have leading zeros", start, source)
    raise ExprError(f"invalid integer literal {text!r}", start, source)


def _string_literal(source: str, start: int, tokens: list[_Token]) -> int:
    quote = source[start]
    chars: list[str] = []
    i = start + 1
    n = len(source)
    while i < n:
        c = source[i]
        if c == quote:
            tokens.append(_Token("str", "".join(chars), start, i + 1))
            return i + 1
        if c == "\\":
            if i + 1 >= n:
                break
            escaped = _ESCAPES.get(source[i + 1])
            if escaped is None:
                raise ExprError(
                    f"unknown escape '{source[i : i + 2]}' in string (known: \\\\ \\' \\\" \\n \\t)",
                    i,
                    source,
                )
            chars.append(escaped)
            i += 2
        else:
            chars.append(c)
            i += 1
    raise ExprError("unterminated string", start, source)


def _describe(tok: _Token) -> str:
    if tok.kind == "eof":
        return "end of input"
    if tok.kind == "str":
        return "string " + _fmt(tok.value)
    if tok.kind == "int":
        return "number " + _fmt(tok.value)
    if tok.kind == "name":
        return f"name {tok.value!r}"
    return f"'{tok.kind}'"


# --------------------------------------------------------------------------- AST


@attrs.frozen
class _Const:
    value: object
    start: int
    depth: int = 1


@attrs.frozen
class _Field:
    name: str
    dot: int  # offset of the "."
    start: int  # offset of the name


@attrs.frozen
class _Index:
    key: _Node
    bracket: int  # offset of the "["


@attrs.frozen
class _Path:
    root: str
    start: int
    steps: tuple[_Field | _Index, ...]
    depth: int


@attrs.frozen
class _Unary:
    op: str  # "-", "~" or "not"
    operand: _Node
    start: int
    depth: int


@attrs.frozen
class _Binary:
    op: str  # an infix operator, "in" or "not in"
    left: _Node
    right: _Node
    start: int  # offset of the operator
    depth: int


@attrs.frozen
class _BoolOp:
    op: str  # "and" or "or"
    operands: tuple[_Node, ...]
    start: int
    depth: int


@attrs.frozen
class _Chain:
    """``a + b - c``: operators of one precedence level, applied left to right."""

    first: _Node
    rest: tuple[tuple[str, _Node, int], ...]  # (operator, operand, offset of the operator)
    start: int
    depth: int


_Node = _Const | _Path | _Unary | _Binary | _BoolOp | _Chain

DYNAMIC: Final = object()
"""The key of a `[...]` step that is computed, not written as a literal."""


@attrs.frozen
class PathStep:
    """One step of a path as written: `.field` (field set) or `[key]` (key: the literal, or DYNAMIC)."""

    field: str | None
    key: object
    position: int  # offset of the field name, or of the key


@attrs.frozen
class PathRef:
    """A path an expression reads (`A1.vmf.orig_pte`), for checking its names before it runs."""

    root: str
    position: int
    steps: tuple[PathStep, ...]


_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_BINDING: Final = {
    "or": 1, "and": 2,
    "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
    "in": 5, "not": 5,
    "|": 6, "^": 7, "&": 8, "<<": 9, ">>": 9,
    "+": 10, "-": 10, "*": 11, "/": 11, "%": 11,
}  # fmt: skip
_NOT_OPERAND: Final = 3  # `not` binds comparisons and everything tighter
_UNARY_OPERAND: Final = 11  # `-`/`~` bind only a primary


class _Parser:
    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise ExprError(
                f"expression is too long: {len(source):,} characters (at most {MAX_LENGTH:,})", MAX_LENGTH, source
            )
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.nesting = 0
        self.names: set[str] = set()
        self.paths: list[PathRef] = []

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, message: str, position: int) -> ExprError:
        return ExprError(message, position, self.source)

    def depth_of(self, depth: int, position: int) -> int:
        if depth > MAX_DEPTH:
            raise self.error(f"expression nests more than {MAX_DEPTH} levels deep", position)
        return depth

    def parse(self) -> _Node:
        if self.peek().kind == "eof":
            raise self.error("empty expression", 0)
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != "eof":
            raise self.error(f"unexpected {_describe(tok)} after a complete expression", tok.start)
        return node

    def expression(self, min_binding: int) -> _Node:
        """Operators binding tighter than ``min_binding``, in a loop: a long chain such as
        ``a or b or ...`` or ``a + b + ...`` neither recurses nor nests, and is built in
        linear time (``_Group``)."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(f"expression nests more than {MAX_DEPTH} levels deep", self.peek().start)
        left = self.prefix()
        group: _Group | None = None  # the and/or or arithmetic chain being built
        chained: str | None = None  # "==" or "in" once left is such a test
        while True:
            tok = self.peek()
            binding = _BINDING.get(tok.kind, 0)
            if binding <= min_binding:
                break
            self.advance()
            op = tok.kind
            if op == "not":
                after = self.advance()
                if after.kind != "in":
                    raise self.error(
                        f"expected 'in' after 'not', found {_describe(after)}",
                        after.start,
                    )
                op = "not in"
            kind = "==" if op in _COMPARISONS else "in" if op in ("in", "not in") else None
            if kind is not None and chained == kind:
                what = "comparisons" if kind == "==" else "membership tests"
                raise self.error(
                    f"{what} cannot be chained; join them with 'and' (write 'a {op} b and b {op} c')",
                    tok.start,
                )
            right = self.expression(binding)
            if op in ("and", "or") or op in _INT_OPS:
                # Bindings never rise along one loop, so a group ends for good when the level changes.
                if group is None or group.binding != binding:
                    if group is not None:
                        left = group.build(self)
                    group = _Group(binding, op, left, tok.start)
                group.add(op, right, tok.start)
            else:
                if group is not None:
                    left, group = group.build(self), None
                depth = max(left.depth, right.depth) + 1
                left = _Binary(op, left, right, tok.start, self.depth_of(depth, tok.start))
            chained = kind
        if group is not None:
            left = group.build(self)
        self.nesting -= 1
        return left

    def prefix(self) -> _Node:
        tok = self.advance()
        kind = tok.kind
        if kind in ("int", "str"):
            return _Const(tok.value, tok.start)
        if kind in ("true", "false", "none"):
            return _Const({"true": True, "false": False, "none": None}[kind], tok.start)
        if kind == "name":
            return self.path(tok)
        if kind == "(":
            inner = self.expression(0)
            close = self.advance()
            if close.kind != ")":
                raise self.error(
                    f"expected ')' to close the '(' at position {tok.start}, found {_describe(close)}",
                    close.start,
                )
            return inner
        if kind in ("-", "~", "not"):
            operand = self.expression(_NOT_OPERAND if kind == "not" else _UNARY_OPERAND)
            return _Unary(kind, operand, tok.start, self.depth_of(operand.depth + 1, tok.start))
        raise self.error(f"expected a value, found {_describe(tok)}", tok.start)

    def path(self, root: _Token) -> _Path:
        assert isinstance(root.value, str)
        self.names.add(root.value)
        steps: list[_Field | _Index] = []
        depth = 1
        while True:
            tok = self.peek()
            if tok.kind == ".":
                self.advance()
                name = self.advance()
                if name.kind != "name":
                    raise self.error(
                        f"expected a field name after '.', found {_describe(name)}",
                        name.start,
                    )
                assert isinstance(name.value, str)
                steps.append(_Field(name.value, tok.start, name.start))
            elif tok.kind == "[":
                self.advance()
                key = self.expression(0)
                close = self.advance()
                if close.kind != "]":
                    raise self.error(
                        f"expected ']' to close the '[' at position {tok.start}, found {_describe(close)}",
                        close.start,
                    )
                steps.append(_Index(key, tok.start))
                depth = max(depth, self.depth_of(key.depth + 1, tok.start))
            else:
                break
        self.paths.append(PathRef(root.value, root.start, tuple(_public(step) for step in steps)))
        return _Path(root.value, root.start, tuple(steps), depth)


def _public(step: _Field | _Index) -> PathStep:
    if isinstance(step, _Field):
        return PathStep(step.name, None, step.start)
    key = step.key
    if isinstance(key, _Unary) and key.op == "-" and isinstance(key.operand, _Const) and _is_int(key.operand.value):
        return PathStep(None, -key.operand.value, _start_of(key))  # `frame[-1]`: a literal too
    return PathStep(None, key.value if isinstance(key, _Const) else DYNAMIC, _start_of(key))


def _start_of(node: _Node) -> int:
    if isinstance(node, _Chain):
        return _start_of(node.first)
    if isinstance(node, _Binary):
        return _start_of(node.left)
    if isinstance(node, _BoolOp):
        return _start_of(node.operands[0])
    return node.start


class _Group:
    """A chain of ``and``/``or`` (one operator) or of arithmetic at one precedence level."""

    def __init__(self, binding: int, op: str, first: _Node, start: int) -> None:
        self.binding = binding
        self.op = op
        self.first = first
        self.start = start
        self.rest: list[tuple[str, _Node, int]] = []
        self.depth = first.depth

    def add(self, op: str, operand: _Node, position: int) -> None:
        self.rest.append((op, operand, position))
        self.depth = max(self.depth, operand.depth)

    def build(self, parser: _Parser) -> _Node:
        depth = parser.depth_of(self.depth + 1, self.start)
        if self.op in ("and", "or"):
            return _BoolOp(self.op, (self.first, *(node for _, node, _ in self.rest)), self.start, depth)
        return _Chain(self.first, tuple(self.rest), self.start, depth)


# ----------------------------------------------------------------------- compiler

_Fn = Callable[["Resolver"], object]


def _compile(node: _Node, source: str) -> _Fn:
    if isinstance(node, _Const):
        value = node.value
        return lambda r: value
    if isinstance(node, _Path):
        return _compile_path(node, source)
    if isinstance(node, _Unary):
        return _compile_unary(node, source)
    if isinstance(node, _BoolOp):
        return _compile_boolop(node, source)
    if isinstance(node, _Chain):
        return _compile_chain(node, source)
    return _compile_binary(node, source)


def _compile_path(node: _Path, source: str) -> _Fn:
    root, root_pos = node.root, node.start
    # (field name or None, key function or None, end of the prefix in source, position)
    steps: list[tuple[str | None, _Fn | None, int, int]] = []
    for step in node.steps:
        if isinstance(step, _Field):
            steps.append((step.name, None, step.dot, step.start))
        else:
            key_pos = step.bracket + 1
            while key_pos < len(source) and source[key_pos] in _SPACE:
                key_pos += 1
            steps.append((None, _compile(step.key, source), step.bracket, key_pos))

    def prefix(end: int) -> str:
        """The path up to a step, as written (only sliced when a message needs it: linear)."""
        text = source[root_pos:end].rstrip()
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."

    def fn(r: Resolver) -> object:
        try:
            obj = r.root(root)
        except EvalError as err:
            raise _located(err, root_pos, source) from None
        except (LookupError, AttributeError, TypeError, ValueError):
            raise EvalError(f"unknown name {root!r}", root_pos, source) from None
        for name, index, end, pos in steps:
            if name is not None:
                try:
                    obj = r.attr(obj, name)
                except EvalError as err:
                    raise _located(err, pos, source) from None
                except (LookupError, AttributeError, TypeError, ValueError):
                    why = f"{prefix(end)} is none, so it" if obj is None else prefix(end)
                    raise EvalError(f"{why} has no field {name!r}", pos, source) from None
            else:
                assert index is not None
                key = index(r)
                try:
                    obj = r.item(obj, key)
                except EvalError as err:
                    raise _located(err, pos, source) from None
                except LookupError:
                    raise EvalError(f"{prefix(end)} has no entry {_fmt(key)}", pos, source) from None
                except (TypeError, AttributeError, ValueError, OverflowError):
                    if obj is None:
                        message = f"{prefix(end)} is none, so it has no entry {_fmt(key)}"
                    else:
                        message = (
                            f"{prefix(end)} ({_type_name(obj)}) cannot be indexed by {_type_name(key)} {_fmt(key)}"
                        )
                    raise EvalError(message, pos, source) from None
        return obj

    return fn


def _compile_unary(node: _Unary, source: str) -> _Fn:
    operand = _compile(node.operand, source)
    op, pos = node.op, node.start
    if op == "not":
        return lambda r: not operand(r)
    impl: Callable[[int], int] = operator.neg if op == "-" else operator.invert

    def fn(r: Resolver) -> object:
        value = operand(r)
        if type(value) is int or _is_int(value):
            return impl(value)
        raise EvalError(
            f"unary '{op}' needs an int, got {_type_name(value)} {_fmt(value)}",
            pos,
            source,
        )

    return fn


def _compile_boolop(node: _BoolOp, source: str) -> _Fn:
    fns = tuple(_compile(operand, source) for operand in node.operands)
    if node.op == "and":

        def all_true(r: Resolver) -> object:
            for f in fns:
                if not f(r):
                    return False
            return True

        return all_true

    def any_true(r: Resolver) -> object:
        for f in fns:
            if f(r):
                return True
        return False

    return any_true


def _compile_chain(node: _Chain, source: str) -> _Fn:
    first = _compile(node.first, source)
    rest = tuple((op, _INT_OPS[op], _compile(operand, source), pos) for op, operand, pos in node.rest)

    def arith(r: Resolver) -> object:
        a = first(r)
        for op, impl, operand, pos in rest:
            b = operand(r)
            if not ((type(a) is int and type(b) is int) or (_is_int(a) and _is_int(b))):
                bools = " (bools are not ints)" if isinstance(a, bool) or isinstance(b, bool) else ""
                raise EvalError(
                    f"'{op}' needs two ints{bools}, got {_type_name(a)} {_fmt(a)} and {_type_name(b)} {_fmt(b)}",
                    pos,
                    source,
                )
            try:
                a = impl(a, b)
            except EvalError as err:
                raise _located(err, pos, source) from None
        return a

    return arith


def _div(a: int, b: int) -> int:
    if b == 0:
        raise EvalError("division by zero")
    return a // b


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise EvalError("modulo by zero")
    return a % b


def _shift_count(b: int) -> None:
    if not 0 <= b <= MAX_SHIFT:
        raise EvalError(f"shift count must be between 0 and {MAX_SHIFT}, got {_fmt(b)}")


def _lshift(a: int, b: int) -> int:
    _shift_count(b)
    return a << b


def _rshift(a: int, b: int) -> int:
    _shift_count(b)
    return a >> b


_INT_OPS: Final[dict[str, Callable[[int, int], int]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": _mod,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
    "<<": _lshift,
    ">>": _rshift,
}
_ORDER_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CONTAINERS: Final = (list, tuple, set, frozenset, Mapping)


def _compile_binary(node: _Binary, source: str) -> _Fn:
    left = _compile(node.left, source)
    right = _compile(node.right, source)
    op, pos = node.op, node.start

    def mismatch(what: str, a: object, b: object) -> EvalError:
        return EvalError(
            f"'{op}' {what}, got {_type_name(a)} {_fmt(a)} and {_type_name(b)} {_fmt(b)}",
            pos,
            source,
        )

    if op == "==":
        return lambda r: bool(left(r) == right(r))
    if op == "!=":
        return lambda r: bool(left(r) != right(r))
    if op in ("in", "not in"):
        negate = op == "not in"

        def member(r: Resolver) -> object:
            a, b = left(r), right(r)
            if isinstance(b, str):
                if not isinstance(a, str):
                    raise mismatch("on a str needs a str on the left", a, b)
                found = a in b
            elif isinstance(b, _CONTAINERS):
                try:
                    found = a in b
                except TypeError:
                    raise mismatch("cannot look this value up", a, b) from None
            else:
                raise mismatch("needs a str, list, tuple, set or mapping on the right", a, b)
            return found != negate

        return member
    order = _ORDER_OPS[op]

    def compare(r: Resolver) -> object:
        a, b = left(r), right(r)
        if (_is_int(a) and _is_int(b)) or (isinstance(a, str) and isinstance(b, str)):
            return order(a, b)
        raise mismatch("orders two ints or two strs", a, b)

    return compare


# --------------------------------------------------------------------------- API


@attrs.frozen
class Expr:
    """A parsed expression, ready to evaluate; equal when the source is equal.

    Attributes:
        source: The text it was parsed from.
        names: The root names it reads (``{"A", "thread"}`` for
            ``A.mmap_seq > 1 and thread.A1.state == "running"``).
    """

    source: str
    names: frozenset[str]
    _fn: _Fn = attrs.field(eq=False, repr=False)
    paths: tuple[PathRef, ...] = attrs.field(default=(), eq=False, repr=False)
    """Every path it reads, as written (those inside `[...]` keys too)."""
    single: bool = attrs.field(default=False, eq=False, repr=False)
    """Is it one value read as it is (`A.mmap_seq`), not one worked out (`A.mmap_seq + 1`, `x == 4`)?"""

    def evaluate(self, resolver: Resolver) -> object:
        """Evaluate against ``resolver``; raise :class:`EvalError` (with a position) if it cannot."""
        try:
            return self._fn(resolver)
        except EvalError as err:
            raise _located(err, 0, self.source) from None

    def __str__(self) -> str:
        return self.source

    def __reduce__(self) -> tuple[Callable[[str], Expr], tuple[str]]:
        return (parse, (self.source,))


def parse(source: str) -> Expr:
    """Parse ``source`` into an :class:`Expr`; raise :class:`ExprError` if it is not one."""
    parser = _Parser(source)
    node = parser.parse()
    single = isinstance(node, _Path)
    return Expr(source, frozenset(parser.names), _compile(node, source), tuple(parser.paths), single)


def evaluate(expr: Expr, resolver: Resolver) -> object:
    """Evaluate ``expr`` against ``resolver``; raise :class:`EvalError` if it cannot."""
    return expr.evaluate(resolver)
