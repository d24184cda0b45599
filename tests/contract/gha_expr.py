"""A small evaluator of GitHub Actions expressions (``${{ ... }}``), enough to tell when a job runs,
which environment it names and which variable holds its role.

Values the contract tests cannot know (``needs.*``, ``secrets.*``, ``github.event.*``, matrices built with
``fromJSON``) evaluate to ``UNKNOWN``. ``UNKNOWN`` is contagious and counts as "maybe", so a job whose ``if:``
evaluates to ``UNKNOWN`` is assumed to run: the tests over-approximate which subjects a job can get.
``vars.NAME`` evaluates to ``VarRef("NAME")``, so the variable a ``role-to-assume`` reads can be named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.expressions import ExpressionError
from sandbox.expressions import tokens as _tokens

__all__ = ["UNKNOWN", "ExprError", "VarRef", "evaluate", "interpolate", "truthy"]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True, slots=True)
class VarRef:
    """The value of a configuration variable, by name (its content is set by Terraform or the user)."""

    name: str


ExprError = ExpressionError  # one tokenizer for the runner and this static evaluator (sandbox/expressions.py)


def truthy(value: Any) -> Any:
    """True, False or UNKNOWN."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, VarRef):
        return UNKNOWN
    return bool(value) and value != 0


def _eq(a: Any, b: Any) -> Any:
    if a is UNKNOWN or b is UNKNOWN or isinstance(a, VarRef) or isinstance(b, VarRef):
        return UNKNOWN
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def _not(v: Any) -> Any:
    t = truthy(v)
    return UNKNOWN if t is UNKNOWN else not t


def _status(*_: Any) -> Any:
    return UNKNOWN


def _fmt(template: Any, *args: Any) -> Any:
    if template is UNKNOWN or any(a is UNKNOWN or isinstance(a, VarRef) for a in args):
        return UNKNOWN
    return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), str(template))


def _starts(a: Any, b: Any) -> Any:
    if not isinstance(a, str) or not isinstance(b, str):
        return UNKNOWN
    return a.lower().startswith(b.lower())


def _contains(a: Any, b: Any) -> Any:
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if isinstance(a, str) and isinstance(b, str):
        return b.lower() in a.lower()
    if isinstance(a, list):
        return b in a
    return UNKNOWN


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "always": lambda: True,
    "success": _status,
    "failure": _status,
    "cancelled": _status,
    "format": _fmt,
    "startswith": _starts,
    "endswith": lambda a, b: UNKNOWN if not isinstance(a, str) else a.lower().endswith(str(b).lower()),
    "contains": _contains,
    "fromjson": lambda *_: UNKNOWN,
    "tojson": lambda *_: UNKNOWN,
    "join": lambda *_: UNKNOWN,
    "hashfiles": lambda *_: UNKNOWN,
}


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.context = context
        self.text = text

    def peek(self) -> str:
        return self.toks[self.i][1] if self.i < len(self.toks) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks) or (expected is not None and self.toks[self.i][1] != expected):
            raise ExprError(f"expected {expected!r} in {self.text!r}")
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Any:
        value = self.or_()
        if self.i != len(self.toks):
            raise ExprError(f"trailing tokens in {self.text!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            t = truthy(value)
            value = value if t is True else right if t is False else UNKNOWN
        return value

    def and_(self) -> Any:
        value = self.cmp()
        while self.peek() == "&&":
            self.take()
            right = self.cmp()
            t = truthy(value)
            value = right if t is True else value if t is False else (False if truthy(right) is False else UNKNOWN)
        return value

    def cmp(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.unary()
            if op == "==":
                value = _eq(value, right)
            elif op == "!=":
                value = _not(_eq(value, right))
            else:
                value = UNKNOWN
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return _not(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                value = self._member(value, self.take()[1])
            else:
                key = self.or_()
                self.take("]")
                value = self._member(value, key)
        return value

    @staticmethod
    def _member(value: Any, key: Any) -> Any:
        if value is _VARS:
            return VarRef(str(key)) if isinstance(key, str) else UNKNOWN
        if isinstance(value, Mapping) and isinstance(key, str):
            return value.get(key, value.get(key.lower(), UNKNOWN if value.get("__open__") else None))
        return UNKNOWN

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind != "name":
            raise ExprError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            self.take()
            args: list[Any] = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            fn = FUNCTIONS.get(text.lower())
            if fn is None:
                raise ExprError(f"unknown function {text!r} in {self.text!r}")
            return fn(*args)
        if text == "vars":
            return _VARS
        return self.context.get(text, UNKNOWN)


_VARS: Any = object()


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate the inside of one ``${{ }}``."""
    return _Parser(expression, context).parse()


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, context: Mapping[str, Any]) -> Any:
    """A YAML value that may hold ``${{ }}``: a whole expression keeps its type, a template becomes a string."""
    if not isinstance(value, str):
        return value
    whole = _TEMPLATE.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), context)
    parts: list[str] = []
    last = 0
    for m in _TEMPLATE.finditer(value):
        parts.append(value[last : m.start()])
        part = evaluate(m.group(1), context)
        if part is UNKNOWN or isinstance(part, VarRef):
            return UNKNOWN
        parts.append("" if part is None else str(part).lower() if isinstance(part, bool) else str(part))
        last = m.end()
    parts.append(value[last:])
    return "".join(parts)
