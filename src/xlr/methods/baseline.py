"""baseline: plain fine-tuning with cross-entropy, the method every gain is measured against."""
from __future__ import annotations

from xlr.methods.base import CrossEntropy
from xlr.methods.registry import BASELINE, Method, register


register(Method(
    BASELINE, "plain fine-tuning with cross-entropy",
    objective=lambda model, options: CrossEntropy(),
    position=0))
