"""How well a per-candle series tracks actual liquidations: the metrics and the printed table.

Metrics (per side)
------------------
* ``spearman``: rank correlation of estimate and actual over the scored candles.
* ``pearson_log``: Pearson correlation of ``log1p(USD)``: magnitudes, robust to the
  heavy tail.
* the same two for three map-free baselines that need no model at all:
  ``wick_oi`` = ``(open − low)/open × OI`` for longs, ``(high − open)/open × OI`` for
  shorts (OI in USD known at the candle's open); ``range`` = ``(high − low)/open``;
  ``abs_return`` = ``|close/open − 1|``.
* ``partial_spearman``: rank partial correlation of estimate and actual controlling for
  the best baseline (the one with the highest Spearman on that side): the Pearson
  partial correlation of the ranks,
  ``(ρ_ea − ρ_eb·ρ_ab) / sqrt((1 − ρ_eb²)(1 − ρ_ab²))`` with Spearman ρ. Positive means
  the map adds information the wick alone does not carry.
* ``hit_rate``: share of the actual top-decile candles (k = ceil(n/10) largest) that
  are also among the estimate's k largest; a random ranking scores 0.10. Ties are
  broken by time (earlier candle first), so a run of zeros cannot fill the top decile
  by accident unless fewer than k candles are non-zero.

What this does not show: the estimate is a *where and how much* estimate, not a forecast
of direction. It is scored on the candle whose wick did the liquidating, so it measures
whether the modelled levels sit where real positions were, not whether price will go
there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from liqrisk.tools.validate.actuals import SIDES

BASELINES = ("wick_oi", "range", "abs_return")


#: Fewer scored candles than this give meaningless correlations.
MIN_CANDLES = 10


def spearman(x, y) -> float:
    """Spearman rank correlation; NaN when either input is constant or shorter than 3."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y)[0])


def pearson_log(x, y) -> float:
    """Pearson correlation of ``log1p`` of non-negative values; NaN when constant."""
    lx, ly = np.log1p(np.clip(x, 0, None)), np.log1p(np.clip(y, 0, None))
    if len(lx) < 3 or np.ptp(lx) == 0 or np.ptp(ly) == 0:
        return math.nan
    return float(np.corrcoef(lx, ly)[0, 1])


def partial_spearman(x, y, z) -> float:
    """Rank partial correlation of x and y given z: Pearson partial correlation of ranks."""
    r_xy, r_xz, r_yz = spearman(x, y), spearman(x, z), spearman(y, z)
    denom = math.sqrt(max((1.0 - r_xz**2) * (1.0 - r_yz**2), 0.0))
    if not denom or math.isnan(denom):
        return math.nan
    return (r_xy - r_xz * r_yz) / denom


def auc_any(series, act) -> float:
    """ROC AUC of ``series`` for "this candle had a liquidation" (act > 0): the chance that
    a random candle with liquidations scores higher than a random one without (ties count
    half). NaN when either kind of candle is missing.

    At 5m most candles have none, so Spearman mixes two questions: which candles have any
    liquidation (this), and how much (``spearman`` on the candles with act > 0)."""
    series, act = np.asarray(series, dtype=np.float64), np.asarray(act, dtype=np.float64)
    pos = act > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(series)  # average ranks: ties count half (Mann-Whitney U)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def top_decile_hit_rate(est, act) -> float:
    """Share of the actual top-decile candles that are in the estimate's top decile."""
    est, act = np.asarray(est, dtype=np.float64), np.asarray(act, dtype=np.float64)
    n = len(act)
    if n == 0:
        return math.nan
    k = max(1, math.ceil(n / 10))
    # stable argsort of the negated values: largest first, ties broken by time.
    top_e = np.argsort(-est, kind="stable")[:k]
    top_a = np.argsort(-act, kind="stable")[:k]
    return len(np.intersect1d(top_e, top_a)) / k


def series_metrics(series, act) -> dict:
    """The comparison figures of one more series (a baseline, the oracle) against ``act``,
    over the candles where the series is known."""
    x, act = np.asarray(series, dtype=np.float64), np.asarray(act, dtype=np.float64)
    ok = np.isfinite(x)  # e.g. OI unknown at the first candles: score the series where it exists
    xo, ao = x[ok], act[ok]
    return {"spearman": spearman(xo, ao), "pearson_log": pearson_log(xo, ao), "hit_rate": top_decile_hit_rate(xo, ao),
            "auc_any": auc_any(xo, ao), "spearman_nonzero": spearman(xo[ao > 0], ao[ao > 0]), "n": int(ok.sum())}


def side_metrics(est, act, base: pd.DataFrame) -> dict:
    """Every metric of one side over already-masked arrays (all the same length)."""
    est, act = np.asarray(est, dtype=np.float64), np.asarray(act, dtype=np.float64)
    res = {
        "n": len(act), "nonzero_actual": int((act > 0).sum()), "nonzero_estimate": int((est > 0).sum()),
        "sum_actual_usd": float(act.sum()), "sum_estimate_usd": float(est.sum()),
        "spearman": spearman(est, act), "pearson_log": pearson_log(est, act),
        "hit_rate": top_decile_hit_rate(est, act), "auc_any": auc_any(est, act),
        "spearman_nonzero": spearman(est[act > 0], act[act > 0]), "baselines": {},
    }
    for name in base.columns:
        res["baselines"][name] = series_metrics(base[name], act)
    ranked = [(v["spearman"], k) for k, v in res["baselines"].items() if not math.isnan(v["spearman"])]
    best = max(ranked)[1] if ranked else None
    res["best_baseline"] = best
    res["partial_spearman"] = math.nan
    if best:
        b = base[best].to_numpy(dtype=np.float64)
        ok = np.isfinite(b)
        res["partial_spearman"] = partial_spearman(est[ok], act[ok], b[ok])
    return res


def format_table(metrics: dict, meta: dict | None = None) -> str:
    """A small fixed-width table per side."""
    lines = []
    meta = meta or {}
    if meta:
        lines.append(f"{meta.get('pair', '')} {meta.get('timeframe', '')}  window {meta.get('window', '')}  "
                     f"{meta.get('first', '')} .. {meta.get('last', '')}  ({meta.get('n_candles', '')} candles)")

    def f(x) -> str:
        return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:6.3f}"

    def row(label: str, x: dict) -> str:
        return (f"  {label:<22}{f(x['spearman']):>9}{f(x['pearson_log']):>16}{f(x['hit_rate']):>16}"
                f"{f(x['auc_any']):>13}{f(x['spearman_nonzero']):>14}")

    for side in SIDES:
        m = metrics[side]
        lines.append("")
        lines.append(f"{side}s liquidated: {m['nonzero_actual']} of {m['n']} candles non-zero; actual "
                     f"{m['sum_actual_usd'] / 1e6:,.1f} M USD, estimate {m['sum_estimate_usd'] / 1e6:,.1f} M USD")
        lines.append(f"  {'series':<22}{'spearman':>9}{'pearson(log1p)':>16}{'top-decile hit':>16}"
                     f"{'any-liq AUC':>13}{'spearman|liq':>14}")
        lines.append(row("estimate", m))
        if "oracle" in m:
            lines.append(row("oracle ceiling (o)", m["oracle"]))
        for name, b in m["baselines"].items():
            lines.append(row(f"baseline {name}" + (" *" if name == m["best_baseline"] else ""), b))
        lines.append(f"  partial spearman of the estimate given the best baseline (*): {f(m['partial_spearman']).strip()}")
    lines.append("")
    lines.append("top-decile hit: share of the actual top 10% candles that are in the series' top 10% "
                 "(random = 0.10).")
    lines.append("any-liq AUC: chance that a candle with liquidations outranks one without (random = 0.50); "
                 "spearman|liq: Spearman over the candles with liquidations only.")
    if any("oracle" in metrics[side] for side in SIDES):
        lines.append(f"(o) oracle: expected liquidations given every cohort's opening time, side, entry and size, "
                     f"re-drawing only the leverage, bracket, lifetime and stop ({meta.get('oracle_replicates')} "
                     "draws); about the best any estimate can score on this market.")
    return "\n".join(lines)
