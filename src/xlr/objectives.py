"""Training objectives: each one computes the loss of one training batch.

The Trainer subclass in training.py delegates its loss to one of these, so adding a method means adding
one class here. Evaluation batches never go through an objective: they use plain cross-entropy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from xlr.errors import XlrError


class Objective:
    name = "objective"

    def loss(self, model, inputs: dict):
        """Return (loss, outputs) for one training batch; `model` may be DDP-wrapped."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The resolved settings, recorded with the run."""
        return {}


class CrossEntropy(Objective):
    """baseline: plain fine-tuning, min_f sum L(f(x), y)."""

    name = "baseline"

    def loss(self, model, inputs):
        outputs = model(**inputs)
        return outputs.loss, outputs


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    # option name -> default; the TOML `[methods.NAME]` table and CLI flags may override these
    defaults: dict = field(default_factory=dict)


METHODS: dict[str, Method] = {
    "baseline": Method("baseline", "plain fine-tuning with cross-entropy"),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise XlrError(f"unknown method '{name}'; valid methods: {', '.join(METHODS)}") from None


def resolve_options(name: str, given: dict | None) -> dict:
    """The method's defaults overridden by `given`; unknown option names are an error."""
    method = get_method(name)
    given = dict(given or {})
    unknown = sorted(set(given) - set(method.defaults))
    if unknown:
        valid = ", ".join(method.defaults) or "none"
        raise XlrError(f"method {name} has no option {', '.join(unknown)} (its options: {valid})")
    return {**method.defaults, **given}


def make_objective(name: str, options: dict, model=None) -> Objective:
    """The objective for a method; `model` lets methods scale their settings to its embeddings."""
    get_method(name)
    return CrossEntropy()
