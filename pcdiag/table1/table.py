"""The benchmark table as markdown and LaTeX, and the paired comparisons as text."""

from __future__ import annotations

import math

from pcdiag.table1.stats import Comparison, Summary

HEADER = ("cell", "best epoch", "last epoch", "top-5 of 7", "s / seed", "PCX paper")
CAPTION = ("Test accuracy (%) over {seeds} seeds: mean +- std (numpy std, ddof 0, as PCX's "
           "seed.py) of each seed's best epoch and of its last epoch; top-5 of 7: mean of "
           "the best-epoch accuracies without the two lowest seeds (PCX's avg5); s / seed: "
           "wall seconds of the recipe (vectorised over seeds, compile and evaluation "
           "included) divided by the number of seeds.")


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


def _pm(mean: float, std: float, tex: bool = False) -> str:
    sep = r" $\pm$ " if tex else " ± "
    return f"{_pct(mean)}{sep}{_pct(std)}"


def rows(entries: list[tuple[str, Summary, float, str]], tex: bool = False) -> list[list[str]]:
    out = []
    for cell, s, seconds, paper in entries:
        flag = f" ({s.diverged} diverged)" if s.diverged else ""
        out.append([cell + flag, _pm(s.best_mean, s.best_std, tex),
                    _pm(s.last_mean, s.last_std, tex), _pct(s.top5_mean),
                    "n/a" if not math.isfinite(seconds) else f"{seconds:.0f}", paper or "-"])
    return out


def markdown(entries, seeds: int) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(entries)]
    return "\n".join(lines) + "\n\n" + CAPTION.format(seeds=seeds) + "\n"


def latex(entries, seeds: int) -> str:
    body = [" & ".join(r.replace("_", r"\_") for r in row) + r" \\" for row in
            rows(entries, tex=True)]
    caption = CAPTION.format(seeds=seeds).replace("+-", r"$\pm$").replace("%", r"\%")
    return _latex_table(HEADER, body, caption)


def _latex_table(header, body: list[str], caption: str) -> str:
    """A booktabs table of five numeric columns beside the cell's name."""
    return "\n".join([
        r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lccccc}",
        r"\toprule", " & ".join(header) + r" \\", r"\midrule", *body, r"\bottomrule",
        r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table}", ""])


def comparisons_markdown(comparisons: list[Comparison]) -> str:
    if not comparisons:
        return ""
    lines = ["| PC recipe | BP recipe | PC - BP (points) | 95% CI (paired t) | p paired | "
             "p Welch | verdict |", "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        lines.append(f"| {c.pc} | {c.bp} | {100 * c.mean_difference:+.2f} | "
                     f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}] | {c.p_paired:.3g} | "
                     f"{c.p_welch:.3g} | {c.verdict} |")
    return ("\n".join(lines) + "\n\nSeeds paired: the same seed gives both the same initial "
            "weights and batch order. Best-epoch accuracies; 'within seed noise' when the "
            "paired 95% interval contains 0.\n")


# --------------------------------------------------------------- lower is better (test MSE)

MSE_HEADER = ("cell", "best epoch", "last epoch", "top-5 of 7", "mean image", "s / seed")
MSE_CAPTION = ("Test reconstruction MSE (x10^-3; per pixel, pixels in [0, 1]; lower is better) "
               "after {epochs} (PCX: {pcx}) over {seeds} seeds: mean +- std (numpy std, "
               "ddof 0) of each seed's best (lowest) epoch, as PCX's hypertune --test-seed keeps "
               "it, and of its last epoch; top-5 of 7: mean without the two highest seeds "
               "(PCX's avg5); mean image: the MSE of predicting the mean training image for "
               "every test image (the scale: no learning); s / seed: wall seconds of the recipe "
               "(vectorised over seeds, compile and evaluation included) divided by the number "
               "of seeds.")


def _milli(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{1000 * x:.2f}"


def _pm_milli(mean: float, std: float, tex: bool = False) -> str:
    sep = r" $\pm$ " if tex else " ± "
    return f"{_milli(mean)}{sep}{_milli(std)}"


def mse_rows(entries: list[tuple[str, Summary, float, float]], tex: bool = False
             ) -> list[list[str]]:
    """entries: (cell, summary, seconds per seed, mean-image MSE)."""
    out = []
    for cell, s, seconds, chance in entries:
        flag = f" ({s.diverged} diverged)" if s.diverged else ""
        out.append([cell + flag, _pm_milli(s.best_mean, s.best_std, tex),
                    _pm_milli(s.last_mean, s.last_std, tex), _milli(s.top5_mean),
                    _milli(chance), "n/a" if not math.isfinite(seconds) else f"{seconds:.0f}"])
    return out


def _mse_caption(seeds: int, epochs: str, pcx: str) -> str:
    epochs = f"{epochs} epoch" + ("" if epochs == "1" else "s")
    return MSE_CAPTION.format(seeds=seeds, epochs=epochs, pcx=pcx)


def mse_title(seeds: int, epochs: str, pcx: str) -> str:
    """The table's first line: the score, its scale and the training budget."""
    unit = "epoch" if epochs == "1" else "epochs"
    return (f"Test MSE (x10^-3, lower is better) after {epochs} {unit} (PCX: {pcx}), "
            f"{seeds} seeds")


def mse_markdown(entries, seeds: int, epochs: str, pcx: str) -> str:
    lines = [f"**{mse_title(seeds, epochs, pcx)}**", "",
             "| " + " | ".join(MSE_HEADER) + " |", "|" + "---|" * len(MSE_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in mse_rows(entries)]
    return "\n".join(lines) + "\n\n" + _mse_caption(seeds, epochs, pcx) + "\n"


def mse_latex(entries, seeds: int, epochs: str, pcx: str) -> str:
    body = [" & ".join(r.replace("_", r"\_") for r in row) + r" \\" for row in
            mse_rows(entries, tex=True)]
    caption = (_mse_caption(seeds, epochs, pcx).replace("+-", r"$\pm$")
               .replace("x10^-3", r"$\times 10^{-3}$"))
    return _latex_table(MSE_HEADER, body, caption)


def mse_comparisons_markdown(comparisons: list[Comparison]) -> str:
    if not comparisons:
        return ""
    lines = ["| recipe A | recipe B | A - B (x10^-3) | 95% CI (paired t) | p paired | "
             "p Welch | verdict |", "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        lines.append(f"| {c.pc} | {c.bp} | {1000 * c.mean_difference:+.3f} | "
                     f"[{1000 * c.ci_low:+.3f}, {1000 * c.ci_high:+.3f}] | {c.p_paired:.3g} | "
                     f"{c.p_welch:.3g} | {c.verdict} |")
    return ("\n".join(lines) + "\n\nSeeds paired: the same seed gives both the same data order "
            "(and, PC with iPC, the same initial decoder). Each seed's best "
            "(lowest) test MSE; better is lower; a difference counts only where the paired 95% "
            "interval excludes 0, else 'within seed noise'.\n")
