"""How well estimated liquidations track actual ones: metrics, per candle and side.

Pure numpy / pandas / scipy; ``liqrisk validate`` (``liqrisk.cli.validate``) and
``liqrisk calibrate`` call it.

What is compared
----------------
Candle t (UTC open time d_t, timeframe tf) covers ``[d_t, d_t + tf)``. Its estimate is
``liq_long_est_usd_<w>`` / ``liq_short_est_usd_<w>``: USD of modelled long / short levels
that t's wick crossed (quote currency, known at t's close). Its actual is the USD of
long / short positions force-liquidated inside ``[d_t, d_t + tf)`` ("long" = longs were
liquidated, which happens on the way *down*).

Actual liquidations come as

* per-candle totals ``date, long_usd, short_usd`` (``date`` = the row's UTC open time;
  rows may be finer than the candles and are then summed, never coarser), or
* per-event records ``date, side, usd`` (``price`` optional; ``side`` 'long'/'short'),
  the format of ``liqrisk simulate``'s ``liqrisk_truth/liquidations.parquet``; events
  are summed into the candle that contains them.

Numeric dates are UTC epoch milliseconds. Candles inside the actuals' span with no
event count as zero; for per-candle totals a missing row is *missing*, not zero.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError, DataError

SIDES = ("long", "short")
BASELINES = ("wick_oi", "range", "abs_return")
#: Fewer scored candles than this give meaningless correlations.
MIN_CANDLES = 10
_MS = 1_000_000  # ns per ms


# ---------------------------------------------------------------------------------------
# Actual liquidations


def read_actuals(path: str | Path, *, pair: str | None = None) -> pd.DataFrame:
    """Read an actual-liquidations file (.csv, .feather, .parquet, .json) as given.

    An optional ``pair`` column is filtered on ``pair``. The columns are checked by
    ``actuals_per_candle``.

    :raises ConfigError: no such file or unknown extension.
    :raises DataError: unreadable file, or no rows for ``pair``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--liquidations {path}: no such file.")
    readers = {".csv": pd.read_csv, ".feather": pd.read_feather, ".parquet": pd.read_parquet,
               ".json": pd.read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"--liquidations {path}: unknown format {path.suffix!r}; use .csv, .feather, .parquet "
                          "or .json.")
    try:
        frame = reader(path)
    except Exception as e:  # pandas raises many kinds for unreadable files
        raise DataError(f"--liquidations {path}: cannot read it ({e}).") from e
    if pair is not None and "pair" in frame.columns:
        pairs = frame["pair"].astype(str)
        if not (pairs == pair).any():
            raise DataError(f"--liquidations {path}: no rows for {pair}; the file has pairs "
                            f"{sorted(pairs.unique())[:10]}.")
        frame = frame[pairs == pair]
    return frame.reset_index(drop=True)


def _dates_ns(values, what: str) -> np.ndarray:
    try:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype=np.int64), unit="ms", utc=True))
        else:
            idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{what}: 'date' cannot be parsed as UTC datetimes or epoch milliseconds ({e}).") from e
    if idx.hasnans:
        raise DataError(f"{what}: 'date' has missing values; drop those rows.")
    return idx.as_unit("ns").asi8


def _usd(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: column {column!r} is not numeric ({e}).") from e
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what}: column {column!r} has {int(bad.sum())} missing or infinite value(s) (first at row "
                        f"{int(np.argmax(bad))}); drop those rows or fill them with 0.")
    if (values < 0).any():
        i = int(np.argmax(values < 0))
        raise DataError(f"{what}: column {column!r} has negative USD ({values[i]:g} at row {i}); liquidated USD "
                        "is >= 0 (the side says which positions were liquidated).")
    return values


def actuals_per_candle(
    actual: pd.DataFrame, candle_dates, timeframe: str, *, span_ms: tuple[int, int] | None = None,
    what: str = "liquidations",
) -> pd.DataFrame:
    """Actual liquidated USD per candle and side.

    :param actual: per-candle totals (``date, long_usd, short_usd``) or per-event records
        (``date, side, usd``); see the module docstring.
    :param candle_dates: the candles' UTC open times (strictly increasing).
    :param timeframe: the candles' timeframe, e.g. ``"5m"``.
    :param span_ms: ``[start, end)`` in epoch ms that the events cover (the simulator's
        ``meta.json``); default: from the candle of the first event to that of the last.
        Ignored for per-candle totals.
    :returns: ``long_usd, short_usd`` (quote currency) with one row per candle, same
        order; NaN where the actuals say nothing about the candle.
    :raises DataError: missing columns, negative or missing USD, unknown sides, rows
        coarser than or misaligned with the candles, no overlap with the candles.
    """
    tf = timeframe_to_ns(timeframe)
    dates = pd.DatetimeIndex(pd.to_datetime(candle_dates, utc=True)).as_unit("ns").asi8
    n = len(dates)
    out = np.full((n, 2), np.nan)
    if not isinstance(actual, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame, got {type(actual).__name__}.")
    cols = set(actual.columns)
    if "date" not in cols:
        raise DataError(f"{what}: needs a 'date' column (UTC, candle open time or event time); got "
                        f"{list(actual.columns)}.")
    if {"long_usd", "short_usd"} <= cols:
        kind = "totals"
    elif {"side", "usd"} <= cols:
        kind = "events"
    else:
        raise DataError(f"{what}: needs either per-candle columns date, long_usd, short_usd or per-event columns "
                        f"date, side ('long'/'short'), usd; got {list(actual.columns)}.")
    if actual.empty:
        raise DataError(f"{what}: the file has no rows.")
    when = _dates_ns(actual["date"], what)
    if n == 0:
        raise DataError(f"{what}: there are no candles to compare with.")
    first, last = pd.Timestamp(when.min(), tz="UTC"), pd.Timestamp(when.max(), tz="UTC")
    data_span = f"candles cover {pd.Timestamp(dates[0], tz='UTC')} .. {pd.Timestamp(dates[-1] + tf, tz='UTC')}"

    if kind == "totals":
        long_usd = _usd(actual, "long_usd", what)
        short_usd = _usd(actual, "short_usd", what)
        uniq = np.unique(when)
        step = int(np.diff(uniq).min()) if len(uniq) > 1 else tf
        if len(uniq) != len(when):
            raise DataError(f"{what}: per-candle totals have duplicate dates; sum them per date first.")
        if step > tf or tf % step:
            raise DataError(f"{what}: rows are {pd.Timedelta(step)} apart but --timeframe is {timeframe}: the file's "
                            "rows cannot be split into candles; use a --timeframe that is a multiple of the rows' "
                            "spacing, or give per-event records.")
        if np.any(when % step):
            raise DataError(f"{what}: row dates are not aligned to their {pd.Timedelta(step)} spacing (first: "
                            f"{pd.Timestamp(when[np.argmax(when % step != 0)], tz='UTC')}); dates must be row open "
                            "times in UTC.")
        pos = np.searchsorted(dates, when, side="right") - 1
        inside = (pos >= 0) & (when < dates[np.maximum(pos, 0)] + tf)
        if not inside.any():
            raise DataError(f"{what}: dates {first} .. {last} lie outside the data ({data_span}).")
        pos = pos[inside]
        # A candle counts only if every row it consists of is present (a partial sum is not the actual).
        rows_per_candle = tf // step
        count = np.bincount(pos, minlength=n)
        full = count == rows_per_candle
        out[:, 0] = np.where(full, np.bincount(pos, weights=long_usd[inside], minlength=n), np.nan)
        out[:, 1] = np.where(full, np.bincount(pos, weights=short_usd[inside], minlength=n), np.nan)
    else:
        usd = _usd(actual, "usd", what)
        side = actual["side"].astype(str).str.lower().to_numpy()
        bad = ~np.isin(side, SIDES)
        if bad.any():
            raise DataError(f"{what}: 'side' must be 'long' or 'short' (the liquidated position's side); got "
                            f"{sorted(set(side[bad]))[:5]}.")
        pos = np.searchsorted(dates, when, side="right") - 1
        inside = (pos >= 0) & (when < dates[np.maximum(pos, 0)] + tf)
        if not inside.any():
            raise DataError(f"{what}: events {first} .. {last} lie outside the data ({data_span}).")
        if span_ms is not None:  # candles wholly inside the recorded span
            covered = (dates >= span_ms[0] * _MS) & (dates + tf <= span_ms[1] * _MS)
        else:  # candles that overlap [first event, last event]
            covered = (dates + tf > when.min()) & (dates <= when.max())
        for s, name in enumerate(SIDES):
            sel = inside & (side == name)
            total = np.bincount(pos[sel], weights=usd[sel], minlength=n)
            out[:, s] = np.where(covered, total, np.nan)
    return pd.DataFrame({"long_usd": out[:, 0], "short_usd": out[:, 1]})


# ---------------------------------------------------------------------------------------
# Baselines


def oi_at_open(candle_dates, open_interest: pd.DataFrame | None, timeframe: str) -> np.ndarray:
    """OI in USD known at each candle's open (NaN if unknown).

    An OI row stamped D of spacing tf_oi is known at D + tf_oi (freqtrade's candle
    rule, the same as the engine's). ``open_interest_value`` (quote) is used.
    """
    dates = pd.DatetimeIndex(pd.to_datetime(candle_dates, utc=True)).as_unit("ns").asi8
    if open_interest is None or open_interest.empty or "open_interest_value" not in open_interest.columns:
        return np.full(len(dates), np.nan)
    oi_dates = pd.DatetimeIndex(pd.to_datetime(open_interest["date"], utc=True)).as_unit("ns").asi8
    values = pd.to_numeric(open_interest["open_interest_value"], errors="coerce").to_numpy(dtype=np.float64)
    order = np.argsort(oi_dates, kind="stable")
    oi_dates, values = oi_dates[order], values[order]
    ok = np.isfinite(values) & (values > 0)
    step = int(np.median(np.diff(oi_dates))) if len(oi_dates) > 1 else timeframe_to_ns(timeframe)
    avail, values = oi_dates[ok] + step, values[ok]
    idx = np.searchsorted(avail, dates, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)] if len(values) else np.nan, np.nan)


def baselines(ohlcv: pd.DataFrame, oi_open_usd: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Map-free baselines per side, one column per baseline (see the module docstring).

    :param ohlcv: candles with open, high, low, close (quote currency).
    :param oi_open_usd: OI in USD known at each candle's open; without it ``wick_oi`` is
        the bare wick (a constant OI does not change ranks).
    """
    o, h, lo, c = (ohlcv[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    oi = np.ones(len(o)) if oi_open_usd is None else np.asarray(oi_open_usd, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        down = np.clip((o - lo) / o, 0.0, None)
        up = np.clip((h - o) / o, 0.0, None)
        rng = (h - lo) / o
        ret = np.abs(c / o - 1.0)
    return {
        "long": pd.DataFrame({"wick_oi": down * oi, "range": rng, "abs_return": ret}),
        "short": pd.DataFrame({"wick_oi": up * oi, "range": rng, "abs_return": ret}),
    }


# ---------------------------------------------------------------------------------------
# Metrics


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


@dataclass
class ValidationResult:
    """Per-candle comparison and its metrics.

    ``frame``: one row per scored candle: ``date`` (UTC open), ``est_long_usd``,
    ``est_short_usd``, ``act_long_usd``, ``act_short_usd`` and the baselines
    ``<side>_<baseline>``. ``metrics``: ``{"long": {...}, "short": {...}}`` as
    ``side_metrics`` returns, plus ``meta`` (pair, timeframe, window, span).
    """

    frame: pd.DataFrame
    metrics: dict
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"meta": self.meta, **{s: _clean(self.metrics[s]) for s in SIDES}}

    def table(self) -> str:
        """Plain-text table per side (what ``liqrisk validate`` prints)."""
        return format_table(self.metrics, self.meta)

    def add_oracle(self, oracle: pd.DataFrame, replicates: int) -> None:
        """Score a simulator oracle (``liqrisk.sim.ceiling``: ``date``, ``oracle_long_usd``,
        ``oracle_short_usd``) on the same candles and actuals: ``metrics[side]["oracle"]``
        and the frame's ``oracle_<side>_usd`` columns. Candles it lacks count as NaN."""
        key = pd.to_datetime(oracle["date"], utc=True).dt.as_unit("ms")
        aligned = oracle.assign(date=key).set_index("date").reindex(self.frame["date"].dt.as_unit("ms"))
        for side in SIDES:
            col = f"oracle_{side}_usd"
            self.frame[col] = aligned[col].to_numpy(dtype=np.float64)
            self.metrics[side]["oracle"] = series_metrics(self.frame[col], self.frame[f"act_{side}_usd"])
        self.meta["oracle_replicates"] = int(replicates)


def _clean(obj):
    """JSON-safe: NaN -> None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def evaluate(
    estimate: pd.DataFrame, actual: pd.DataFrame, base: dict[str, pd.DataFrame], dates, *,
    mask: np.ndarray | None = None, meta: dict | None = None,
) -> ValidationResult:
    """Score ``estimate`` (``long_usd, short_usd`` per candle) against ``actual``.

    All inputs are row-aligned with ``dates`` (UTC candle opens). Candles are scored
    where ``mask`` is True and the actual and estimate are known on both sides.

    :raises DataError: fewer than ``MIN_CANDLES`` candles left to score.
    """
    est = estimate[["long_usd", "short_usd"]].to_numpy(dtype=np.float64)
    act = actual[["long_usd", "short_usd"]].to_numpy(dtype=np.float64)
    keep = np.isfinite(act).all(axis=1) & np.isfinite(est).all(axis=1)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    n = int(keep.sum())
    if n < MIN_CANDLES:
        raise DataError(f"only {n} candle(s) have both an estimate and an actual value after the warm-up; need at "
                        f"least {MIN_CANDLES}. Check that the liquidations file covers the data's dates (and the "
                        "--timerange), beyond the model's warm-up of one window.")
    dates = pd.DatetimeIndex(pd.to_datetime(dates, utc=True))[keep]
    frame = pd.DataFrame({"date": dates, "est_long_usd": est[keep, 0], "est_short_usd": est[keep, 1],
                          "act_long_usd": act[keep, 0], "act_short_usd": act[keep, 1]})
    metrics = {}
    for s, name in enumerate(SIDES):
        b = base[name].loc[keep].reset_index(drop=True)
        for col in b.columns:
            frame[f"{name}_{col}"] = b[col].to_numpy()
        metrics[name] = side_metrics(est[keep, s], act[keep, s], b)
    meta = dict(meta or {})
    meta.update(n_candles=n, first=str(dates[0]), last=str(dates[-1]))
    return ValidationResult(frame=frame, metrics=metrics, meta=meta)


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


# ---------------------------------------------------------------------------------------
# One call: engine + actuals + metrics


def pick_window(config, timeframe: str, window: str | None = None) -> str:
    """The window whose ``liq_*_est_usd_<w>`` is scored: ``window``, else the longest
    configured one (it holds every level the shorter windows hold, and more).

    :raises ConfigError: the window is not longer than one candle (a 12h window on daily
        candles would drop every level before the next candle could cross it).
    """
    from liqrisk.config import LiqConfig

    cfg = LiqConfig.from_mapping(config)
    if window is None:
        window = max(cfg.windows, key=lambda w: timeframe_to_ns(w, key="windows"))
    if timeframe_to_ns(window, key="--window") <= timeframe_to_ns(timeframe):
        raise ConfigError(f"--window {window} is not longer than the {timeframe} candles: levels would expire "
                          f"before a later candle can cross them; use a window of several candles (e.g. "
                          f"{'1w' if timeframe_to_ns(timeframe) >= 86_400 * 10**9 else '1d'}).")
    return window


def validate_frames(
    ohlcv: pd.DataFrame, actual: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None,
    pair: str = "BTC/USDT:USDT", timeframe: str = "5m", config=None, window: str | None = None,
    start=None, span_ms: tuple[int, int] | None = None,
) -> ValidationResult:
    """Run the engine on freqtrade frames and score it against ``actual``.

    :param ohlcv, open_interest, funding_rate, mark: as for ``compute_features``.
    :param actual: actual liquidations (see ``actuals_per_candle``).
    :param window: the scored window (default: the longest in ``config``); the engine runs
        with this window only.
    :param start: score candles with open time >= start (e.g. the --timerange start;
        history before it is the model's warm-up).
    :param span_ms: the events' recorded span (simulator truth), epoch ms.
    :returns: the scored candles are those at least one window after the first candle
        (the model starts empty: before that its levels are incomplete), from ``start``
        on, where the actual is known.
    """
    from liqrisk.config import LiqConfig
    from liqrisk.frame import compute_features

    cfg = LiqConfig.from_mapping(config)
    window = pick_window(cfg, timeframe, window)
    cfg = cfg.replace(windows=(window,))
    feats = compute_features(ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
                             timeframe=timeframe, config=cfg)
    dates = pd.DatetimeIndex(pd.to_datetime(ohlcv["date"], utc=True))
    act = actuals_per_candle(actual, dates, timeframe, span_ms=span_ms)
    est = pd.DataFrame({"long_usd": feats[f"liq_long_est_usd_{window}"].to_numpy(),
                        "short_usd": feats[f"liq_short_est_usd_{window}"].to_numpy()})
    mask = np.asarray(dates >= dates[0] + pd.Timedelta(timeframe_to_ns(window, key="windows"), "ns"))
    if start is not None:
        mask &= np.asarray(dates >= pd.Timestamp(start))
    base = baselines(ohlcv, oi_at_open(dates, open_interest, timeframe))
    meta = {"pair": pair, "timeframe": timeframe, "window": window,
            "estimate_columns": [f"liq_long_est_usd_{window}", f"liq_short_est_usd_{window}"]}
    return evaluate(est, act, base, dates, mask=mask, meta=meta)
