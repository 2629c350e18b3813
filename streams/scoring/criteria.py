"""ASYCUDA-style selectivity criteria an analyst writes without code.

A criterion is a small boolean expression over the fields of a goods line and of its
manifest, e.g.::

    hs_code startswith "8401" and origin in [IR, KP]
    mode == AIR and value_per_kg < 0.5 and not (consignee_country in [DE, FR])
    routing_countries contains "SY" or transshipment_count >= 3

It is parsed here by a tiny recursive-descent parser (never ``eval``) into a tree, then
compiled to a polars expression evaluated on the goods-line frame: a manifest meets the
criterion when any of its lines does. Unknown fields, wrong operand types and syntax
errors raise :class:`CriteriaError` naming the problem and the known fields.

Grammar::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | condition
    condition  := FIELD op value | FIELD ["not"] "in" list | FIELD (startswith|endswith) (value|list)
                | FIELD contains value | FIELD matches STRING | FIELD          (a bool field)
    op         := == != < <= > >=
    value      := "string" | 'string' | number | true | false | BAREWORD (a code such as IR or AIR)
    list       := "[" value ("," value)* "]"

>>> tree = parse_criterion('hs_code startswith "8401" and origin in [IR, KP]')
>>> sorted(tree.fields())
['hs_code', 'origin']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

FieldKind = Literal["str", "num", "bool", "list"]


@dataclass(frozen=True)
class FieldInfo:
    kind: FieldKind
    doc: str


# The fields a criterion may use: one place, documented, and what the ruleset checker
# refuses anything outside of.
FIELDS: dict[str, FieldInfo] = {
    # manifest
    "manifest_id": FieldInfo("str", "the filing id"),
    "version": FieldInfo("num", "1 = original, 2+ = amendment"),
    "mode": FieldInfo("str", "SEA, AIR, ROAD or RAIL"),
    "filer_id": FieldInfo("str", "carrier / forwarder id"),
    "document_type": FieldInfo("str", "MASTER_BL, HOUSE_BL, MASTER_AWB, HOUSE_AWB, CMR, CIM"),
    "loading_port": FieldInfo("str", "UN/LOCODE of the loading port"),
    "discharge_port": FieldInfo("str", "UN/LOCODE of the discharge port"),
    "loading_country": FieldInfo("str", "country of the loading port"),
    "discharge_country": FieldInfo("str", "country of the discharge port"),
    "transshipment_ports": FieldInfo("list", "UN/LOCODEs of transshipment ports"),
    "transshipment_countries": FieldInfo("list", "countries of the transshipment ports"),
    "routing_countries": FieldInfo("list", "declared routing countries"),
    "transshipment_count": FieldInfo("num", "number of transshipment ports"),
    "lead_time_h": FieldInfo("num", "hours from filing to departure (negative: filed after)"),
    "total_gross_weight_kg": FieldInfo("num", "declared total gross weight"),
    "total_packages": FieldInfo("num", "declared total packages"),
    "container_count": FieldInfo("num", "number of containers"),
    "goods_count": FieldInfo("num", "number of goods lines"),
    "consignee_id": FieldInfo("str", "consignee identifier (empty when none)"),
    "consignee_country": FieldInfo("str", "consignee address country"),
    "consignor_id": FieldInfo("str", "consignor identifier (empty when none)"),
    "consignor_country": FieldInfo("str", "consignor address country"),
    "watchlist_score": FieldInfo("num", "best watchlist match score 0-1 (0 when none)"),
    "new_trader": FieldInfo("bool", "consignee or consignor has no screening history"),
    "trusted_trader": FieldInfo("bool", "a party holds a valid AEO/C-TPAT certificate"),
    "prior_findings": FieldInfo("num", "confirmed findings against the manifest's parties"),
    # goods line
    "hs_code": FieldInfo("str", "declared HS code (6-10 digits)"),
    "hs_chapter": FieldInfo("str", "first 2 digits of the HS code"),
    "hs_heading": FieldInfo("str", "first 4 digits of the HS code"),
    "hs_subheading": FieldInfo("str", "first 6 digits of the HS code"),
    "description": FieldInfo("str", "goods description, lower case"),
    "origin": FieldInfo("str", "country of origin of the line"),
    "packages": FieldInfo("num", "packages on the line"),
    "gross_weight_kg": FieldInfo("num", "gross weight of the line"),
    "value_amount": FieldInfo("num", "declared value in the declared currency"),
    "value_currency": FieldInfo("str", "ISO 4217 currency"),
    "value_usd": FieldInfo("num", "declared value converted to USD (null if no rate)"),
    "value_per_kg": FieldInfo("num", "USD value per kg of the line"),
    "un_number": FieldInfo("str", "UN dangerous goods number (empty when none)"),
    "dual_use": FieldInfo("bool", "the line's HS code is a controlled heading of the strategic list"),
    "dual_use_watch": FieldInfo("bool", "the line's HS code is a watch heading of the strategic list"),
}


class CriteriaError(ValueError):
    """A criterion that cannot be used; the message says where and why."""


# ---------------------------------------------------------------- tree


@dataclass(frozen=True)
class Node:
    def fields(self) -> set[str]:
        raise NotImplementedError

    def to_polars(self) -> pl.Expr:
        raise NotImplementedError


@dataclass(frozen=True)
class Condition(Node):
    field: str
    op: str  # == != < <= > >= in not_in startswith endswith contains matches is_true
    value: object = None  # str | float | bool | tuple | FieldRef

    def fields(self) -> set[str]:
        out = {self.field}
        if isinstance(self.value, FieldRef):
            out.add(self.value.name)
        return out

    def to_polars(self) -> pl.Expr:
        col = pl.col(self.field)
        kind = FIELDS[self.field].kind
        value: Any = self.value
        rhs: Any = pl.col(value.name) if isinstance(value, FieldRef) else value
        op = self.op
        if op == "is_true":
            return col.fill_null(False)
        if kind == "list":
            if op == "contains":
                return col.list.contains(rhs).fill_null(False)
            if op in ("in", "not_in"):
                overlap = col.list.eval(pl.element().is_in(list(value))).list.any().fill_null(False)
                return overlap if op == "in" else ~overlap
            raise AssertionError(op)
        if op == "==":
            return col.eq(rhs).fill_null(False)
        if op == "!=":
            return col.ne(rhs).fill_null(True)
        if op == "<":
            return col.lt(rhs).fill_null(False)
        if op == "<=":
            return col.le(rhs).fill_null(False)
        if op == ">":
            return col.gt(rhs).fill_null(False)
        if op == ">=":
            return col.ge(rhs).fill_null(False)
        if op in ("in", "not_in"):
            hit = col.is_in(list(value)).fill_null(False)
            return hit if op == "in" else ~hit
        if op in ("startswith", "endswith"):
            values = value if isinstance(value, tuple) else (value,)
            exprs = [
                col.str.starts_with(v) if op == "startswith" else col.str.ends_with(v)
                for v in values
            ]
            out = exprs[0]
            for e in exprs[1:]:
                out = out | e
            return out.fill_null(False)
        if op == "contains":
            return col.str.contains(str(value), literal=True).fill_null(False)
        if op == "matches":
            return col.str.contains(str(value)).fill_null(False)
        raise AssertionError(op)


@dataclass(frozen=True)
class FieldRef:
    name: str


@dataclass(frozen=True)
class And(Node):
    left: Node
    right: Node

    def fields(self) -> set[str]:
        return self.left.fields() | self.right.fields()

    def to_polars(self) -> pl.Expr:
        return self.left.to_polars() & self.right.to_polars()


@dataclass(frozen=True)
class Or(Node):
    left: Node
    right: Node

    def fields(self) -> set[str]:
        return self.left.fields() | self.right.fields()

    def to_polars(self) -> pl.Expr:
        return self.left.to_polars() | self.right.to_polars()


@dataclass(frozen=True)
class Not(Node):
    inner: Node

    def fields(self) -> set[str]:
        return self.inner.fields()

    def to_polars(self) -> pl.Expr:
        return ~self.inner.to_polars()


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*|\d[A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "startswith", "endswith", "contains", "matches", "true", "false"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # string number op word end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise CriteriaError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
        kind = m.lastgroup or "word"
        raw = m.group(kind)
        tokens.append(_Tok(kind, raw, m.start(kind)))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() == word

    def fail(self, message: str, tok: _Tok | None = None) -> CriteriaError:
        tok = tok or self.peek()
        where = "end of input" if tok.kind == "end" else f"{tok.text!r} at position {tok.pos}"
        return CriteriaError(f"{message} (at {where})")

    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            raise self.fail("expected 'and', 'or' or end of criterion")
        return node

    def expr(self) -> Node:
        node = self.and_expr()
        while self.is_word("or"):
            self.take()
            node = Or(node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.is_word("and"):
            self.take()
            node = And(node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.take()
            return Not(self.not_expr())
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.expr()
            close = self.take()
            if close.text != ")":
                raise self.fail("expected ')'", close)
            return node
        return self.condition()

    def field_name(self) -> str:
        tok = self.take()
        if tok.kind != "word" or tok.text.lower() in _KEYWORDS:
            raise self.fail("expected a field name", tok)
        name = tok.text
        if name not in FIELDS:
            raise CriteriaError(
                f"unknown field {name!r} at position {tok.pos}; known fields: {', '.join(sorted(FIELDS))}"
            )
        return name

    def condition(self) -> Node:
        name = self.field_name()
        kind = FIELDS[name].kind
        tok = self.peek()
        # a bool field on its own
        if tok.kind == "end" or (tok.kind == "op" and tok.text == ")") or self.is_word("and") or self.is_word("or"):
            if kind != "bool":
                raise self.fail(f"field {name!r} ({kind}) needs a comparison")
            return Condition(name, "is_true")
        if tok.kind == "op" and tok.text in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            value = self.value(name, allow_field=True)
            if kind == "list":
                raise self.fail(f"field {name!r} is a list: use 'contains' or 'in'", tok)
            if tok.text in ("<", "<=", ">", ">=") and kind != "num":
                raise self.fail(f"field {name!r} is not a number; '{tok.text}' needs a number field", tok)
            self._check_type(name, value, tok)
            return Condition(name, tok.text, value)
        if self.is_word("not"):
            self.take()
            if not self.is_word("in"):
                raise self.fail("expected 'in' after 'not'")
            self.take()
            return Condition(name, "not_in", self.list_value(name))
        if self.is_word("in"):
            self.take()
            return Condition(name, "in", self.list_value(name))
        if self.is_word("startswith") or self.is_word("endswith"):
            op = self.take().text.lower()
            if kind != "str":
                raise self.fail(f"'{op}' needs a text field; {name!r} is {kind}")
            if self.peek().text == "[":
                values = self.list_value(name)
            else:
                values = (self.value(name, allow_field=False),)
            if not all(isinstance(v, str) for v in values):
                raise self.fail(f"'{op}' needs text values")
            return Condition(name, op, values)
        if self.is_word("contains"):
            self.take()
            if kind not in ("str", "list"):
                raise self.fail(f"'contains' needs a text or list field; {name!r} is {kind}")
            value = self.value(name, allow_field=False)
            if not isinstance(value, str):
                raise self.fail("'contains' needs a text value")
            return Condition(name, "contains", value)
        if self.is_word("matches"):
            self.take()
            if kind != "str":
                raise self.fail(f"'matches' needs a text field; {name!r} is {kind}")
            tok = self.take()
            if tok.kind != "string":
                raise self.fail("'matches' needs a quoted regular expression", tok)
            pattern = _unquote(tok.text)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(f"bad regular expression: {exc}", tok) from None
            return Condition(name, "matches", pattern)
        raise self.fail(f"expected an operator after field {name!r} (== != < <= > >= in, not in, startswith, endswith, contains, matches)")

    def _check_type(self, name: str, value: object, tok: _Tok) -> None:
        kind = FIELDS[name].kind
        if isinstance(value, FieldRef):
            other = FIELDS[value.name].kind
            if other != kind:
                raise self.fail(f"cannot compare {name!r} ({kind}) with {value.name!r} ({other})", tok)
            return
        if kind == "num" and not isinstance(value, float):
            raise self.fail(f"field {name!r} is a number; got {value!r}", tok)
        if kind == "str" and not isinstance(value, str):
            raise self.fail(f"field {name!r} is text; quote the value", tok)
        if kind == "bool" and not isinstance(value, bool):
            raise self.fail(f"field {name!r} is true/false; got {value!r}", tok)

    def list_value(self, name: str) -> tuple:
        open_tok = self.take()
        if open_tok.text != "[":
            raise self.fail("expected '[' to start a list", open_tok)
        values: list[object] = []
        while True:
            values.append(self.value(name, allow_field=False))
            sep = self.take()
            if sep.text == "]":
                break
            if sep.text != ",":
                raise self.fail("expected ',' or ']' in list", sep)
        kind = FIELDS[name].kind
        for v in values:
            if kind in ("str", "list") and not isinstance(v, str):
                raise self.fail(f"list for {name!r} must hold text values; got {v!r}")
            if kind == "num" and not isinstance(v, float):
                raise self.fail(f"list for {name!r} must hold numbers; got {v!r}")
        return tuple(values)

    def value(self, name: str, allow_field: bool) -> object:
        tok = self.take()
        if tok.kind == "string":
            return _unquote(tok.text)
        if tok.kind == "number":
            if FIELDS[name].kind in ("str", "list"):
                return tok.text  # codes such as "8401" may be written unquoted
            return float(tok.text)
        if tok.kind == "word":
            low = tok.text.lower()
            if low in ("true", "false"):
                return low == "true"
            if low in _KEYWORDS:
                raise self.fail("expected a value", tok)
            if allow_field and tok.text in FIELDS:
                return FieldRef(tok.text)
            if tok.text.islower() and allow_field:
                raise CriteriaError(
                    f"unknown field {tok.text!r} at position {tok.pos}; quote it if it is a value; "
                    f"known fields: {', '.join(sorted(FIELDS))}"
                )
            if FIELDS[name].kind == "num":
                raise self.fail(f"field {name!r} is a number; got {tok.text!r}", tok)
            return tok.text  # a bare code: IR, AIR, CNSHA
        raise self.fail("expected a value", tok)


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def parse_criterion(text: str) -> Node:
    """Parse one criterion into a tree; raises CriteriaError with position and reason.

    >>> parse_criterion("mode == AIR and value_per_kg < 1").fields() == {"mode", "value_per_kg"}
    True
    """
    if not isinstance(text, str) or not text.strip():
        raise CriteriaError("empty criterion")
    return _Parser(text).parse()


def compile_criterion(text: str) -> pl.Expr:
    """A polars boolean expression over the goods-line frame for this criterion."""
    return parse_criterion(text).to_polars()
