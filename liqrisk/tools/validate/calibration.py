"""Fit the model's free parameters to real liquidations: daily and intraday sets together.

Data: ``real_sets.load_real_sets`` (the daily export's 7 coins and every per-candle
intraday CSV), each series split by time into a fit part and a test part. Rates are per
day (``turnover_per_day``, ``intra_turnover``), so one set serves 5m to 1d candles.

Parameters, kept few and physical (one shared set for every coin and timeframe):

* ``lev_alpha``: leverage mix over ``LEVERAGE_TIERS`` with weights ∝ L^(−lev_alpha)
  (0 = flat; 1 = each tier holds the same *margin*).
* ``close_share``: share entered at the close; the rest splits evenly between high and
  low (``entry_weights = [c, (1−c)/2, (1−c)/2]``).
* ``split_sensitivity`` and ``funding_weight``: how candle shape and funding move the
  long/short split.
* ``half_life_days``: a position's expected holding time, as the half-life of a 10x level;
  tier k decays with half-life ``half_life_days · 10 / L_k`` (higher leverage is held
  shorter). ``None`` = no decay.
* ``window``: the longest of the windows ``12h, 1d, <window>``, the one scored.
* ``turnover_per_day``: the share of OI closed and re-opened per day.
* ``intra_turnover``, ``intra_spread`` and ``intra_oi_range``: same-candle liquidations
  (OI re-opened per day, how widely each tier's distance is spread, and the multiple of
  OI's own high − low within the candle that is re-opened on top).
* ``intra_path``: share of the same-candle notional opened at the candle's extreme
  against its side (shorts at the low, longs at the high) and liquidated by the retrace
  to the close, instead of opened at the open.
* ``liquidatable_share``: ranks do not depend on it; it is set afterwards so that the
  estimate's total USD matches the actual total on the daily set's fit years (median
  over coins of Σactual / Σestimate, capped at 1).

Objective: the mean over *sets* (the daily set; each intraday file) of the mean Spearman
over the set's coins and sides, on the fit parts (``real_sets.set_objective``).
Spearman, because liquidation USD spans five orders of magnitude and a few cascade
candles would dominate any squared error; the mean over sets, so that neither the
daily set's 14 coin-sides nor any one series is tuned to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqrisk.tools.validate.real_sets import RealSeries, SeriesRun, run_series, score_runs, set_objective

LEVERAGE_TIERS = (5.0, 10.0, 25.0, 50.0, 100.0)


@dataclass(frozen=True)
class Params:
    """The fitted parameters (see the module docstring for their meaning)."""

    lev_alpha: float = 0.5
    close_share: float = 0.5
    split_sensitivity: float = 0.5
    funding_weight: float = 0.1
    half_life_days: float | None = None
    window: str = "1w"
    intra_turnover: float = 0.0
    intra_spread: float = 3.0
    intra_oi_range: float = 0.0
    intra_path: float = 0.0
    turnover_per_day: float = 0.0
    liquidatable_share: float = 1.0

    def config(self, tiers: Sequence[float] = LEVERAGE_TIERS) -> dict:
        """The LiqConfig keys these parameters stand for."""
        w = np.asarray(tiers, dtype=float) ** -self.lev_alpha
        w = w / w.sum()
        c = self.close_share
        hl = None if self.half_life_days is None else f"{round(self.half_life_days * 24)}h"
        return {
            "windows": ["12h", "1d", self.window], "leverage_tiers": [float(x) for x in tiers],
            "leverage_weights": [round(float(x), 4) for x in w],
            "entry_weights": [round(c, 4), round((1 - c) / 2, 4), round((1 - c) / 2, 4)],
            "split_sensitivity": self.split_sensitivity, "funding_weight": self.funding_weight,
            "half_life_10x": hl, "tier_half_life": None, "intra_turnover": self.intra_turnover, "intra_spread": self.intra_spread,
            "intra_oi_range": self.intra_oi_range, "intra_path": self.intra_path, "turnover_per_day": self.turnover_per_day,
            "liquidatable_share": self.liquidatable_share,
        }


#: Grids searched one coordinate at a time.
GRID: dict[str, tuple] = {
    "lev_alpha": (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0),
    "close_share": (0.0, 0.25, 0.5, 0.75, 1.0),
    "split_sensitivity": (0.0, 0.25, 0.5, 0.75, 1.0),
    "funding_weight": (0.0, 0.1, 0.2, 0.3),
    "half_life_days": (None, 2.0, 5.0, 10.0, 20.0),
    "window": ("1w", "2w", "4w"),
    "intra_turnover": (0.0, 0.02, 0.05, 0.1, 0.2, 0.5),
    "intra_spread": (1.0, 2.0, 3.0, 5.0, 8.0),
    "intra_oi_range": (0.0, 1.0, 2.0, 4.0, 8.0, 16.0),
    "intra_path": (0.0, 0.1, 0.25, 0.5, 0.75, 1.0),
    "turnover_per_day": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
}


def evaluate_params(series: Sequence[RealSeries], params: Params) -> list[SeriesRun]:
    """Run the engine on every series with ``params``."""
    cfg = params.config()
    return [run_series(s, cfg) for s in series]


def objective(runs: Sequence[SeriesRun], part: str = "fit") -> float:
    """Mean over sets of the mean Spearman over their coins and sides on ``part``."""
    return set_objective(score_runs(runs, parts=(part,)), part)


def fit(
    series: Sequence[RealSeries], *, start: Params | None = None, grid: dict[str, tuple] | None = None,
    passes: int = 2, progress: Callable[[str], None] | None = None,
) -> tuple[Params, float, list[dict]]:
    """Coordinate search over ``grid`` maximising ``objective`` on the fit parts.

    Deterministic and derivative-free (the objective is a step function of the
    parameters: ranks change in jumps). Each pass tries every grid value of every
    parameter in turn and keeps the best. Then ``liquidatable_share`` is set from totals.

    :returns: the fitted parameters, their objective, and the search log.
    """
    if passes < 1:
        raise ValueError(f"passes={passes} must be at least 1.")
    grid = grid or GRID
    best = start or Params()
    best_score = objective(evaluate_params(series, best))
    log = [{"params": best.__dict__.copy(), "score": best_score}]
    for p in range(passes):
        improved = False
        for name, values in grid.items():
            for v in values:
                if getattr(best, name) == v:
                    continue
                cand = Params(**{**best.__dict__, name: v})
                score = objective(evaluate_params(series, cand))
                log.append({"params": cand.__dict__.copy(), "score": score})
                if score > best_score + 1e-4:  # ignore noise-level gains: keep the simpler, earlier value
                    best, best_score, improved = cand, score, True
            if progress:
                progress(f"pass {p + 1}: {name} = {getattr(best, name)}  objective {best_score:.4f}")
        if not improved:
            break
    return with_share(series, best), best_score, log


def with_share(series: Sequence[RealSeries], params: Params) -> Params:
    """``params`` with ``liquidatable_share`` set so that estimated USD matches actual USD
    on the daily set's fit years (median over coins; measured at share 1)."""
    daily = [s for s in series if s.set == "daily"]
    if not daily:
        return params
    unit = Params(**{**params.__dict__, "liquidatable_share": 1.0})
    ratios = []
    for run in evaluate_params(daily, unit):
        m = run.mask("fit")
        est, act = run.est[m].sum(), run.act[m].sum()
        if est > 0:
            ratios.append(act / est)
    share = float(min(1.0, max(1e-4, np.median(ratios)))) if ratios else 1.0
    return Params(**{**params.__dict__, "liquidatable_share": round(share, 4)})


def report(runs: Sequence[SeriesRun]) -> pd.DataFrame:
    """One row per series, part (fit / test) and side, with ``beats_baseline``: the
    estimate's Spearman above the wick × OI baseline's and a positive partial Spearman."""
    df = score_runs(runs)
    df["margin"] = df["spearman"] - df["baseline"]
    df["beats_baseline"] = (df["margin"] > 0) & (df["partial"] > 0)
    return df
