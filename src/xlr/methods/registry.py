"""The method registry: a method is declared once, as `register(Method(...))` in its own file in this package
(methods/<name>.py): its options (name, type, default, help), how it builds its objective from the model,
and an optional transform of the training pairs (RS-DA's augmentation). `xlr.methods` imports every file
of the package, so a new file is all a new method needs. The CLI generates its method flags from these
declarations, `--set` and TOML values are checked against them, and reports order methods by `position`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from xlr.errors import XlrError

if TYPE_CHECKING:
    from xlr.methods.base import Objective

BASELINE = "baseline"   # the method every gain is measured against

OPTION_TYPES = ("float", "int", "str", "path")


@dataclass(frozen=True)
class Option:
    """One option of a method: its name (the TOML key; the CLI flag is --name-with-dashes), type, default
    and help. Methods that share an option name share one CLI flag, so the name must mean the same kind of
    thing (`epsilon` is a fraction of the median word-embedding norm wherever it appears)."""
    name: str
    type: str
    default: object
    help: str
    choices: tuple = ()
    # the smallest valid value of a number, checked when the options are resolved (before any run starts)
    minimum: float | None = None
    # an option added after runs were stored, whose default is the behaviour from before it existed: at that
    # default it is left out of a run's identity, so those runs still count as finished
    added_later: bool = False

    def __post_init__(self):
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name}: type must be one of {OPTION_TYPES}")


@dataclass(frozen=True)
class Method:
    """A training method, declared once: `objective(model, options)` builds its loss; `transform(pairs,
    options, seed)`, if any, returns (the training pairs it trains on, a line saying what it did)."""
    name: str
    summary: str
    options: tuple = ()
    objective: Callable = None
    transform: Callable | None = None
    paper: bool = True          # False: beyond the paper (reports and docs/methods.md mark it so)
    position: int = 100         # its place in tables and help: the paper's methods in its order, then the rest

    @property
    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name} is registered twice")
    if method.objective is None:
        raise ValueError(f"method {method.name} declares no objective")
    METHODS[method.name] = method
    return method


def shared_options() -> dict[str, list[tuple[Method, Option]]]:
    """{option name: [(method, option), ...]} over the registry, in registration order: one CLI flag each."""
    out: dict[str, list] = {}
    for method in METHODS.values():
        for option in method.options:
            out.setdefault(option.name, []).append((method, option))
    for name, users in out.items():
        kinds = {o.type for _, o in users}
        if len(kinds) > 1:
            raise ValueError(f"option {name} has different types in {', '.join(m.name for m, _ in users)}")
    return out


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise XlrError(f"unknown method '{name}'; valid methods: {', '.join(METHODS)}") from None


def resolve_options(name: str, given: dict | None) -> dict:
    """The method's defaults overridden by `given`; unknown option names and wrong types are errors."""
    from xlr.settings import coerce

    method = get_method(name)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(method.defaults))
    if unknown:
        valid = ", ".join(method.defaults) or "none"
        raise XlrError(f"method {name} has no option {', '.join(unknown)} (its options: {valid})")
    for key, value in given.items():
        option = method.option(key)
        given[key] = coerce(f"methods.{name}.{key}", value, "str" if option.type == "path" else option.type)
        if option.choices and given[key] not in option.choices:
            raise XlrError(f"methods.{name}.{key} = {value!r}: {name} {key} must be one of "
                           f"{', '.join(map(repr, option.choices))}")
        if option.minimum is not None and not given[key] >= option.minimum:  # NaN too
            raise XlrError(f"methods.{name}.{key} = {value!r}: {name} {key} must be >= {option.minimum:g}")
    return {**method.defaults, **given}


def identity_options(name: str, options: dict) -> dict:
    """The resolved options that decide a run's results: without the options that are `added_later` and
    at their default (runs stored before they existed behaved so)."""
    later = {o.name: o.default for o in get_method(name).options if o.added_later}
    return {k: v for k, v in options.items() if not (k in later and v == later[k])}


def make_objective(name: str, options: dict, model=None) -> Objective:
    """The objective of a method with resolved options; `model` gives the embedding norm of radii. A method
    with a `transform` (RS-DA) changes the training data, not the loss: apply that to the pairs as well."""
    return get_method(name).objective(model, options)


def needs_model(name: str, model):
    if model is None:
        raise ValueError(f"{name} needs the model to scale its radius")
    return model
