"""Seed statistics of a benchmark: best and last epoch, PCX's top-5-of-7, and the
paired-seed comparison of a PC recipe with BP on the same model.

Conventions (PCX's seed.py): each seed keeps its best epoch's test accuracy; the spread is
numpy's std (ddof = 0, the population std, as PCX reports it); "top-5 of 7" is the mean of
the best-epoch accuracies without the two lowest seeds (PCX's ``sort(best)[2:]``).

The paired comparison uses scipy.stats (a well-kept, widely reviewed implementation):
seeds pair because the same seed gives PC and BP the same initial weights and the same batch
order (the seed's key splits into the init key and the shuffle key, and the networks share
their shapes). It reports the mean difference of the best-epoch accuracies with the 95%
confidence interval of the paired t-test (`scipy.stats.ttest_rel`), its p value, and Welch's
unpaired test (`scipy.stats.ttest_ind(equal_var=False)`) as a check that does not rely on
the pairing. The difference is "within seed noise" when the paired interval contains 0.

A score where lower is better (generation's test MSE, pcdiag.tasks: ``Score.higher_is_better``
False) takes each seed's lowest epoch (PCX's pc_hypertune.py keeps ``min(test_losses)``), the
same ddof-0 std, and "top-5 of 7" without the two highest seeds (PCX's ``sort(v)[:5]``); its
comparison is "better" where the difference is negative.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    """One recipe over its seeds (accuracies as fractions)."""

    best_mean: float
    best_std: float
    last_mean: float
    last_std: float
    top5_mean: float
    seeds: int
    diverged: int


def summarise(test_accuracy: np.ndarray, diverged_at: np.ndarray | None = None,
              higher_is_better: bool = True) -> Summary:
    """From test scores (seed, epoch): best epoch per seed (NaN epochs of a diverged
    run are skipped), last epoch, PCX's top-5-of-7 (all but the two worst seeds)."""
    acc = np.asarray(test_accuracy, np.float64)
    best = best_per_seed(acc, higher_is_better)
    last = acc[:, -1]
    if len(best) <= 2:
        top = np.array([np.nan])
    else:
        top = np.sort(best)[2:] if higher_is_better else np.sort(best)[:-2]
    diverged = int(np.sum(np.asarray(diverged_at) >= 0)) if diverged_at is not None else 0
    return Summary(float(np.mean(best)), float(np.std(best)), float(np.mean(last)),
                   float(np.std(last)), float(np.mean(top)), len(best), diverged)


def best_per_seed(test_accuracy: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Each seed's best epoch: the highest score, or the lowest where lower is better (NaN
    epochs skipped; a seed without a finite one gets -inf, or +inf)."""
    acc = np.asarray(test_accuracy, np.float64)
    if not higher_is_better:
        return np.nanmin(np.where(np.isnan(acc), np.inf, acc), axis=1)
    return np.nanmax(np.where(np.isnan(acc), -np.inf, acc), axis=1)


@dataclass(frozen=True)
class Comparison:
    """PC minus BP over paired seeds (accuracies as fractions). Where lower is better
    (`higher_is_better` False) the first recipe is any of the two (`labels` name them) and
    the verdict says which is better: the one with the lower score."""

    pc: str
    bp: str
    mean_difference: float
    ci_low: float
    ci_high: float
    p_paired: float
    p_welch: float
    seeds: int
    higher_is_better: bool = True
    labels: tuple[str, str] = ("PC", "BP")

    @property
    def verdict(self) -> str:
        if not (np.isfinite(self.ci_low) and np.isfinite(self.ci_high)):
            return "undetermined"
        if self.ci_low <= 0 <= self.ci_high:
            return "within seed noise"
        if not self.higher_is_better:
            return f"{self.labels[0 if self.mean_difference < 0 else 1]} better (lower)"
        return "PC higher" if self.mean_difference > 0 else "BP higher"


def compare(pc_name: str, pc_best: np.ndarray, bp_name: str, bp_best: np.ndarray,
            confidence: float = 0.95, *, higher_is_better: bool = True,
            labels: tuple[str, str] = ("PC", "BP")) -> Comparison:
    """Paired t-test (CI of the mean difference) and Welch's test of PC against BP (of the
    first recipe against the second)."""
    from scipy import stats

    pc_best, bp_best = np.asarray(pc_best, np.float64), np.asarray(bp_best, np.float64)
    diff = pc_best - bp_best
    if len(diff) < 2 or np.all(diff == diff[0]):
        nan = float("nan")
        return Comparison(pc_name, bp_name, float(np.mean(diff)), nan, nan, nan, nan, len(diff),
                          higher_is_better, labels)
    paired = stats.ttest_rel(pc_best, bp_best)
    ci = paired.confidence_interval(confidence)
    welch = stats.ttest_ind(pc_best, bp_best, equal_var=False)
    return Comparison(pc_name, bp_name, float(np.mean(diff)), float(ci.low), float(ci.high),
                      float(paired.pvalue), float(welch.pvalue), len(diff), higher_is_better,
                      labels)


def paired_interval(a, b, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """The mean of the paired differences a - b (seed by seed) over the pairs where both are
    finite (a diverged run has no accuracy), its `confidence` paired t interval (`compare`;
    NaN with fewer than 2 pairs or when every difference is the same), and the number of
    pairs; all NaN and 0 pairs where none is."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan"), float("nan"), float("nan"), 0
    with warnings.catch_warnings():  # seeds collapsed to one value make scipy's unpaired
        # (Welch) check warn; the paired interval is unaffected
        warnings.simplefilter("ignore", RuntimeWarning)
        c = compare("a", a[both], "b", b[both], confidence)
    return c.mean_difference, c.ci_low, c.ci_high, int(both.sum())
