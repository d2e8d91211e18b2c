"""Does a re-run agree with a published set? (`xlr compare --against results/NAME RESULTS`)

The same experiment run again (another machine, another device, later code) is compared with a published set
per method and setting, on the average over every test set: the method's accuracy and its gain over the
baseline (paired by seed within each side), matched by experiment, task and model name. Each is the difference of the two sides' seed means with Welch's
interval (the seeds of the two sides are independent runs). The comparisons of one report are Holm-corrected
together; a cell "differs" only when its corrected p-value is below 0.05, "agrees" otherwise (no difference
shown at these numbers of seeds), and "cannot check" with fewer than 2 seeds on a side."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from xlr.methods import BASELINE
from xlr.results import inference
from xlr.results.inference import Interval

AGREES, DIFFERS, CANNOT = "agrees", "differs", "cannot check"
ACCURACY, GAIN = "accuracy", f"gain over {BASELINE}"


@dataclass
class Agreement:
    task: str
    model: str
    method: str
    setting: str
    what: str                     # ACCURACY or GAIN
    theirs: list[float]           # the published set's values, seed by seed
    ours: list[float]
    interval: Interval | None     # ours - theirs, Welch
    status: str = CANNOT
    p_holm: float | None = None


def _per_seed(rows: list[dict], name) -> dict[tuple, dict]:
    """{(experiment, task, model name, method, setting): {seed: accuracy}} on the average over every test set."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r["language"] == "avg" and r.get("seed") is not None:
            key = (r["experiment"], r["task"], name(r["model"]), r["method"], r["setting"])
            out.setdefault(key, {})[r["seed"]] = float(r["accuracy"])
    return out


def _gains(cells: dict, key: tuple) -> dict:
    experiment, task, model, method, setting = key
    base = cells.get((experiment, task, model, BASELINE, setting), {})
    return {s: v - base[s] for s, v in cells[key].items() if s in base}


def agreements(theirs: list[dict], ours: list[dict], name) -> list[Agreement]:
    """Every (method, setting) both sides have, as accuracy and (for other methods than the baseline) as gain;
    `name` maps a model column to the name both sides share."""
    a, b = _per_seed(theirs, name), _per_seed(ours, name)
    out = []
    for key in sorted(a.keys() & b.keys()):
        pairs = [(ACCURACY, a[key], b[key])]
        if key[3] != BASELINE:
            pairs.append((GAIN, _gains(a, key), _gains(b, key)))
        for what, x, y in pairs:
            x, y = list(x.values()), list(y.values())
            if x and y:
                out.append(Agreement(*key[1:], what, x, y, inference.welch_interval(x, y)))
    for found, (verdict, p) in zip(out, inference.verdicts([f.interval for f in out])):
        found.p_holm = p
        found.status = CANNOT if found.interval is None else DIFFERS if verdict != inference.INCONCLUSIVE else AGREES
    return out


def rows(found: list[Agreement]) -> list[list[str]]:
    def side(values):
        return f"{statistics.fmean(values):.2f} (n={len(values)})"

    return [[f.method, f.setting, f.what, side(f.theirs), side(f.ours),
             "–" if f.interval is None else f.interval.text(2), "" if f.p_holm is None else f"{f.p_holm:.3f}",
             f.status] for f in found]


HEADERS = ["method", "setting", "what", "published (seeds)", "ours (seeds)", "ours − published [Welch 95%]",
           "p (Holm)", "re-run"]
