"""Registries and option types: YAML name -> component, with the component's signature as its schema.

A component is a function or a class. Its keyword-only parameters (with type
hints and defaults) are its YAML options; positional parameters are context the
builder supplies (shapes, the base learning rate, a random generator, ...).
Validation, ``nnlab list`` and the README's table of components all read the
options from here, so there is no second schema to keep in sync.  A leaf module: it imports
nothing of nnlab but the exception types and the formatter, so every layer (components, data,
config) may build on it.

Type hints may carry bounds (``Annotated[float, Gt(0)]``; the aliases below);
``check_value`` enforces them: bool, int, float, str, Literal, Optional/Union,
list[...] and Annotated bounds, which is all a config needs.  (A hand-written
checker instead of pydantic: importing and building pydantic models cost ~0.17 s,
more than half of `nnlab validate`'s startup budget.)  A component may also define
``check(options) -> None`` (a staticmethod raising ``ValueError``) for rules that
span several options.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from nnlab.errors import ConfigError
from nnlab.text import printable, shown


@dataclass(frozen=True)
class Bound:
    """A bound in an Annotated hint: Annotated[float, Gt(0)] means value > 0."""

    op: str  # gt | ge | lt | le
    value: float


def Gt(value): return Bound("gt", value)  # noqa: E704, N802
def Ge(value): return Bound("ge", value)  # noqa: E704, N802
def Lt(value): return Bound("lt", value)  # noqa: E704, N802
def Le(value): return Bound("le", value)  # noqa: E704, N802


# op -> (symbol, words, test)
_BOUNDS = {"gt": (">", "greater than", lambda v, b: v > b), "ge": (">=", "greater than or equal to", lambda v, b: v >= b),
           "lt": ("<", "less than", lambda v, b: v < b), "le": ("<=", "less than or equal to", lambda v, b: v <= b)}


# Constrained number types for component signatures (enforced by check_value).
Positive = Annotated[float, Gt(0)]
NonNegative = Annotated[float, Ge(0)]
PositiveInt = Annotated[int, Gt(0)]
NonNegativeInt = Annotated[int, Ge(0)]
Fraction = Annotated[float, Ge(0), Lt(1)]  # [0, 1)
UnitInterval = Annotated[float, Ge(0), Le(1)]  # [0, 1]

_EMPTY = inspect.Parameter.empty


@dataclass
class Option:
    name: str
    annotation: Any
    default: Any = _EMPTY

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    def type_text(self) -> str:
        return type_text(self.annotation)


@dataclass
class Component:
    """One registered component: its YAML name, the object, and its options."""

    kind: str
    name: str
    obj: Callable
    options: dict[str, Option] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.obj) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def defaults(self) -> dict[str, Any]:
        return {k: o.default for k, o in self.options.items() if not o.required}


def type_text(annotation: Any) -> str:
    """A short human name for a type hint: 'float > 0', 'int >= 1', 'bool', ..."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        parts = [type_text(base)]
        parts += [f"{_BOUNDS[m.op][0]} {m.value}" for m in meta if isinstance(m, Bound)]
        return " ".join(parts[:1]) + ("" if len(parts) == 1 else " " + ", ".join(parts[1:]))
    if origin is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join("null" if a is type(None) else type_text(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return f"list of {type_text(args[0])}" if args else "list"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def component_options_text(comp: "Component") -> str:
    """'lr: float > 0 (0.001), nesterov: bool (false)' for nnlab list and the README."""
    parts = []
    for o in comp.options.values():
        default = "required" if o.required else shown(o.default)
        parts.append(f"{o.name}: {o.type_text()} ({default})")
    return ", ".join(parts) or "-"


def article(word: str) -> str:
    """'an optimizer', 'a schedule'."""
    return f"{'an' if str(word)[:1].lower() in 'aeiou' else 'a'} {word}"


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'extends'?)' for a near miss; nothing for the word itself or no close choice."""
    close = [c for c in difflib.get_close_matches(str(word), list(choices), n=2, cutoff=0.6) if c != word]
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_key_message(key: str, allowed, what: str = "key", owner: str = "") -> str:
    allowed = sorted(allowed)
    owner = f" for {owner}" if owner else ""
    if not allowed:  # not "choose from none"
        takes = f"{owner[5:]} takes no {what}s" if owner else f"no {what}s are allowed here"
        return f"unknown {what} '{printable(key)}': {takes}"
    return (f"unknown {what} '{printable(key)}'{owner}; choose from {', '.join(allowed)}"
            f"{did_you_mean(key, allowed)}")


def is_number(text: str) -> bool:
    """Whether text reads as a number (float() accepts it)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


class Invalid(ValueError):
    """A value that does not fit its type hint; the message says what is allowed.

    ``hint`` goes after the shown value: 'must be a whole number, got '300' (text; write it without quotes)'.
    """

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def invalid_line(where: str, exc: Invalid, value: Any) -> str:
    """'where: must be ..., got <value> <hint>': one problem, one line."""
    return f"{where}: {exc}, got {shown(value)}{getattr(exc, 'hint', '')}"


def check_value(value: Any, annotation: Any) -> Any:
    """Return ``value`` converted to fit ``annotation`` (int -> float, 3.0 -> 3; see _number),
    or raise Invalid with 'must be ...'."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        value = check_value(value, base)
        for m in meta:
            if isinstance(m, Bound):
                _, words, ok = _BOUNDS[m.op]
                if not ok(value, m.value):
                    raise Invalid(f"must be {words} {m.value}")
        return value
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value in choices and not isinstance(value, bool):
            return value
        raise Invalid(f"must be one of {', '.join(map(str, choices))}{did_you_mean(value, map(str, choices))}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        first = None
        for a in args:
            if a is type(None):
                continue
            try:
                return check_value(value, a)
            except Invalid as exc:
                # a list is told what is wrong with its items, not that it is not a number
                is_list_arm = typing.get_origin(a) in (list, tuple) or a in (list, tuple)
                if is_list_arm and isinstance(value, (list, tuple)):
                    first = exc
                first = first or exc
        raise first or Invalid("must be null")
    if origin in (list, tuple) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise Invalid("must be a list such as [1, 2]")
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(check_value(v, item))
            except Invalid as exc:
                raise Invalid(f"item {i + 1} {exc}", exc.hint) from None
        return out
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise Invalid("must be true or false")
    if annotation in (int, float):
        return _number(value, annotation)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise Invalid("must be text")
    if annotation is type(None):
        if value is None:
            return None
        raise Invalid("must be null")
    return value


def _number(value: Any, kind: type) -> Any:
    """The one rule for numbers in a config.

    * an int option takes a whole number written as a number: 3, and also 3.0 or 1e2
      (-> 3, 100), since YAML reads 1e2 as a float;
    * a float option takes any number: 3 -> 3.0;
    * text is never a number, even '300' (quoted in the YAML): it is rejected with a hint to
      drop the quotes, and so are true/false; inf and nan are rejected for every option (an infinite
      learning rate or slope is a typo, not a setting).
    """
    wanted = "a whole number" if kind is int else "a valid number"
    if isinstance(value, str):
        try:
            float(value.strip())
        except ValueError:
            raise Invalid(f"must be {wanted}") from None
        raise Invalid(f"must be {wanted}", " (text; write it without quotes)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"must be {wanted}")
    if kind is float:
        if not math.isfinite(value):  # .inf, 1e400 (YAML reads both as inf) and .nan: never a setting
            raise Invalid("must be a finite number")
        return float(value)
    if isinstance(value, int):
        return value
    if value.is_integer():
        return int(value)
    raise Invalid(f"must be {wanted}")


def check_options(options: dict[str, "Option"], given: dict, where: str, errors: list[str], *,
                  owner: str = "", what: str = "key") -> dict | None:
    """Validate ``given`` against a schema (name -> Option); return it with defaults filled in.

    Appends one line per problem (unknown key with a did-you-mean, missing value, bad
    value) to ``errors`` and returns None if there was any.
    """
    bad = False
    out = {}
    for key in given:
        if key not in options:
            errors.append(f"{where}.{printable(key)}: " + unknown_key_message(key, options, what=what, owner=owner))
            bad = True
    for name, opt in options.items():
        if name not in given:
            if opt.required:
                errors.append(f"{where}.{name}: missing required value")
                bad = True
            else:
                out[name] = copy.deepcopy(opt.default)
            continue
        try:
            out[name] = check_value(given[name], opt.annotation)
        except Invalid as exc:
            errors.append(invalid_line(f"{where}.{name}", exc, given[name]))
            bad = True
    return None if bad else plain(out)


def schema(fn) -> dict[str, "Option"]:
    """The options of a function or class: its keyword-only parameters."""
    return _options(fn)


class Registry:
    """Name -> component for one kind (activation, optimizer, ...)."""

    def __init__(self, kind: str, items: dict[str, Callable] | None = None, plural: str | None = None):
        """A registry filled explicitly from ``items`` (YAML name -> class or function), in listing order."""
        self.kind = kind
        self.plural = plural or kind + "s"
        self._items: dict[str, Component] = {}
        for key, obj in (items or {}).items():
            self.add(key, obj)

    def add(self, name: str, obj: Callable) -> Callable:
        """Add one component under ``name``; its keyword-only parameters become its options."""
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._items[name] = Component(self.kind, name, obj, _options(obj))
        return obj

    def remove(self, name: str) -> Callable:
        """Take a component out again (a plugin withdrawn, a test's throwaway component); returns it."""
        return self._items.pop(name).obj

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(self._items.values())

    def names(self) -> list[str]:
        return list(self._items)

    def get(self, name: str, where: str = "") -> Component:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            choices = sorted(self._items)
            head = f"{where}: " if where else ""
            raise ConfigError(
                f"{head}unknown {self.kind} {shown(name)}; choose from {', '.join(choices)}"
                f"{did_you_mean(name, choices)}"
            ) from None

    def resolve(self, spec: Any, where: str, errors: list[str]) -> dict | None:
        """Validate a bare name or a {name, options...} mapping; return it with defaults filled in.

        Appends one message per problem to ``errors`` and returns None if there was any.
        """
        if isinstance(spec, str):
            name, given = spec, {}
        elif isinstance(spec, dict):
            if "name" not in spec:
                errors.append(f"{where}: {article(self.kind)} mapping needs a 'name' key; "
                              f"choose from {', '.join(sorted(self._items))}")
                return None
            name, given = spec["name"], {k: v for k, v in spec.items() if k != "name"}
        else:
            errors.append(f"{where}: must be {article(self.kind)} name or a mapping with 'name', got {shown(spec)}")
            return None
        try:
            comp = self.get(name, f"{where}.name" if isinstance(spec, dict) else where)
        except ConfigError as e:
            errors.extend(e.lines)
            return None
        values = check_options(comp.options, given, where, errors, what="option", owner=f"{self.kind} '{name}'")
        if values is None:
            return None
        check = getattr(comp.obj, "check", None)
        if check is not None:
            try:
                check(values)
            except ValueError as exc:
                errors.append(f"{where}: {exc}")
                return None
        return {"name": name, **values}

    def build(self, spec: dict | str, *args, **context):
        """Instantiate (or call) the component of a resolved spec with its options."""
        if isinstance(spec, str):
            spec = {"name": spec}
        comp = self.get(spec["name"])
        opts = {k: v for k, v in spec.items() if k != "name"}
        return comp.obj(*args, **context, **opts)


def _options(obj) -> dict[str, Option]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # pragma: no cover - unresolvable hints are a programming error
        hints = {}
    opts = {}
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            opts[p.name] = Option(p.name, hints.get(p.name, Any), p.default)
    return opts


def plain(value):
    """Validated values -> YAML-friendly plain types (tuples to lists)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
