"""GitHub Actions expressions (``${{ ... }}``), the subset the shipped workflows use, for the local runner.

Literals ('text', numbers, true, false, null), context paths (``inputs.x``, ``steps.id.outputs.y``,
``vars[matrix.name]``), ``!``, ``==``, ``!=``, ``<``, ``>``, ``&&``, ``||``, parentheses, and the functions
``format``, ``fromJSON``, ``toJSON``, ``contains``, ``startsWith``, ``endsWith``, ``success``, ``failure``,
``always``, ``cancelled``. Semantics as documented by GitHub: ``a || b`` is the first truthy operand,
``a && b`` the first falsy one; missing properties are null; string comparison ignores case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[()\[\].,!<>*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_EMBEDDED = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)


class ExpressionError(ValueError):
    pass


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: num, str, op or name. Shared with the contract tests' static evaluator."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", 0.0)


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Callable[[str], bool]) -> None:
        self.toks = tokens(text)
        self.i = 0
        self.contexts = contexts
        self.status = status

    def peek(self) -> str:
        return self.toks[self.i][1] if self.i < len(self.toks) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise ExpressionError("unexpected end of expression")
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        left = self.unary()
        while self.peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.unary()
            a, b = (x.lower() if isinstance(x, str) else x for x in (left, right))
            left = {"==": a == b, "!=": a != b}.get(op) if op in ("==", "!=") else _order(op, a, b)
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix(self.primary())

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
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == "(":
            return self.call(text)
        return self.contexts.get(text)

    def postfix(self, value: Any) -> Any:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key: Any = self.take()[1]
            else:
                key = self.or_()
                self.take("]")
            value = value.get(to_string(key)) if isinstance(value, Mapping) else None
        return value

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        lowered = name.lower()
        if lowered in ("success", "failure", "always", "cancelled"):
            return self.status(lowered)
        if lowered == "format":
            return re.sub(r"\{(\d+)\}", lambda m: to_string(args[int(m.group(1)) + 1]), to_string(args[0]))
        if lowered == "fromjson":
            return json.loads(to_string(args[0]))
        if lowered == "tojson":
            return json.dumps(args[0])
        if lowered == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(to_string(x).lower() == to_string(needle).lower() for x in hay)
            return to_string(needle).lower() in to_string(hay).lower()
        if lowered in ("startswith", "endswith"):
            a, b = (to_string(x).lower() for x in args)
            return a.startswith(b) if lowered == "startswith" else a.endswith(b)
        raise ExpressionError(f"function {name}() is not supported by the local runner")


def _order(op: str, a: Any, b: Any) -> bool:
    try:
        return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])
    except TypeError:
        return False


def evaluate(text: str, contexts: Mapping[str, Any], status: Callable[[str], bool] | None = None) -> Any:
    """One expression (without the ``${{ }}``)."""
    return _Parser(text, contexts, status or (lambda s: s in ("success", "always"))).parse()


def interpolate(value: Any, contexts: Mapping[str, Any], status: Callable[[str], bool] | None = None) -> Any:
    """A YAML value with embedded ``${{ }}``: a string that is one whole expression keeps its type."""
    if not isinstance(value, str):
        return value
    whole = _EMBEDDED.fullmatch(value.strip())
    if whole and value.count("${{") == 1:
        return evaluate(whole.group(1), contexts, status)
    return _EMBEDDED.sub(lambda m: to_string(evaluate(m.group(1), contexts, status)), value)


def condition(text: Any, contexts: Mapping[str, Any], status: Callable[[str], bool]) -> bool:
    """A step or job ``if:`` (an implicit ``success() &&`` unless it calls a status function)."""
    if text is None:
        return status("success")
    if isinstance(text, bool):
        return text and status("success")
    expr = str(text).strip()
    whole = _EMBEDDED.fullmatch(expr)
    expr = whole.group(1) if whole and expr.count("${{") == 1 else expr
    if not re.search(r"\b(success|failure|always|cancelled)\s*\(", expr):
        expr = f"success() && ({expr})"
    return truthy(evaluate(expr, contexts, status))
