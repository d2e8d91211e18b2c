"""Seed-level inference: how sure a difference between two methods (or two re-runs) is, counting the variance
between training runs, and the verdict it supports.

A trained run is one draw from the training process (its seed picks the head's initialisation, the data order,
dropout and the methods' noise). So a method's difference from the baseline is judged over seeds:

- `t_interval`: the per-seed paired differences, their mean and a t-interval with n - 1 degrees of freedom;
- `two_level_bootstrap`: seeds resampled, then test items within them (items drawn once for every aligned test
  set), the "multi-bootstrap" of Sellam et al. (2022, MultiBERTs). It counts both the seed variance and the
  test set's sampling; with fewer than `MIN_SEEDS_TWO_LEVEL` seeds it has too few distinct seed resamples
  (3 seeds give 10) and is not computed;
- `welch_interval`: two independent groups of seeds (a re-run on another machine, or another published set);
- `prediction_interval`: where one more seed's value would fall, mean +- t * sd * sqrt(1 + 1/n) (could a
  published number be one of our seeds?);
- `holm`: Holm's step-down correction across the comparisons one report makes;
- `verdict`: holds (the difference is above 0), fails (below) or inconclusive, from the Holm-adjusted p-value.

Below 5 seeds the t-interval decides. From 5 seeds the verdict takes whichever of the t-interval and the
two-level bootstrap has the larger p-value: a percentile bootstrap over a handful of seeds is too narrow on its
own (its seed level lacks the width of the t-distribution), and the t-interval does not count the sampling of
test items.
Nothing here knows torch, a run store or a file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
LEVEL = 0.95
ALPHA = 1 - LEVEL
MIN_SEEDS_TWO_LEVEL = 5  # seeds before the two-level bootstrap is computed (3 seeds: only 10 distinct resamples)
FEW_SEEDS = ("fewer than {n} seeds: the interval rests on a standard deviation of {k} values; read it as rough")
CHUNK = 200  # resamples per vectorized step


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval, its two-sided p-value against 0 and how it was made."""
    estimate: float
    low: float
    high: float
    p: float
    how: str

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, digits: int = 2) -> str:
        return f"{self.estimate:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def t_interval(values, level: float = LEVEL) -> Interval | None:
    """The mean of `values` (one per seed) with its t-interval over seeds; None with fewer than 2 values, or when
    they are all equal (no spread between seeds to judge a difference by)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return None
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    p = float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return Interval(mean, mean - half, mean + half, p, f"t over {n} seeds")


def welch_interval(a, b, level: float = LEVEL) -> Interval | None:
    """mean(b) - mean(a) for two independent groups of seeds, with Welch's interval; None when either group has
    fewer than 2 values, or neither varies."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    diff = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    how = f"Welch t over {len(a)} + {len(b)} seeds"
    if se == 0:
        return None
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Interval(diff, diff - half, diff + half, p, how)


def prediction_interval(values, level: float = LEVEL) -> tuple[float, float] | None:
    """Where one more seed's value would fall: mean +- t(n-1) * sd * sqrt(1 + 1/n); None with fewer than 3 values."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 3:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(x.std(ddof=1)) * math.sqrt(1 + 1 / n)
    return float(x.mean()) - half, float(x.mean()) + half


def bootstrap_p(boot: np.ndarray) -> float:
    """Two-sided p-value of 0 under a bootstrap distribution: twice the smaller tail at 0, counted as (k + 1) /
    (B + 1), so that no number of resamples gives p = 0."""
    tail = min(int(np.sum(boot <= 0)), int(np.sum(boot >= 0)))
    return float(min(1.0, 2 * (tail + 1) / (len(boot) + 1)))


def percentile_interval(estimate: float, boot: np.ndarray, how: str, level: float = LEVEL) -> Interval:
    low, high = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
    return Interval(estimate, float(low), float(high), bootstrap_p(boot), how)


def item_resamples(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of the per-item values D over `resamples` draws of its items with replacement."""
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        out[start:start + n] = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return out


def two_level_resamples(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """D is seeds x items (one run's per-item difference per row): each resample draws seeds with replacement, then
    items with replacement (one draw of items for all the drawn seeds), and takes the mean."""
    seeds, items = d.shape
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        seed_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=n)  # n x seeds
        item_counts = rng.multinomial(items, np.full(items, 1 / items), size=n)  # n x items
        out[start:start + n] = np.einsum("rs,si,ri->r", seed_counts, d, item_counts) / (seeds * items)
    return out


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(interval: Interval | None, adjusted_p: float | None = None, alpha: float = ALPHA) -> str:
    """holds when the difference is above 0, fails when below, inconclusive otherwise (or without an interval);
    `adjusted_p` (Holm) decides when given, else the interval itself."""
    if interval is None:
        return INCONCLUSIVE
    significant = (adjusted_p < alpha) if adjusted_p is not None else interval.excludes_zero
    if not significant:
        return INCONCLUSIVE
    return HOLDS if interval.estimate > 0 else FAILS


def verdicts(intervals: list[Interval | None], alpha: float = ALPHA) -> list[tuple[str, float | None]]:
    """(verdict, Holm-adjusted p) for each interval of one report; a missing interval is inconclusive and is not
    counted among the comparisons."""
    present = [i for i, x in enumerate(intervals) if x is not None]
    adjusted = dict(zip(present, holm([intervals[i].p for i in present])))
    return [(verdict(x, adjusted.get(i), alpha), adjusted.get(i)) for i, x in enumerate(intervals)]


def few_seeds_warning(n: int) -> str | None:
    """The warning a t-interval over n seeds carries (None from MIN_SEEDS_TWO_LEVEL seeds on)."""
    return FEW_SEEDS.format(n=MIN_SEEDS_TWO_LEVEL, k=n) if 2 <= n < MIN_SEEDS_TWO_LEVEL else None
