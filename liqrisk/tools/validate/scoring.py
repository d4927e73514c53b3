"""One call: run the engine on freqtrade frames and score it against actual liquidations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.validate.actuals import actuals_per_candle, baselines, oi_at_open
from liqrisk.tools.validate.metrics import MIN_CANDLES, SIDES, format_table, series_metrics, side_metrics


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
        """Score a simulator oracle (``liqrisk.tools.sim.ceiling``: ``date``, ``oracle_long_usd``,
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
                        "timerange), beyond the model's warm-up of one window.")
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
    if timeframe_to_ns(window, key="window") <= timeframe_to_ns(timeframe):
        raise ConfigError(f"window {window} is not longer than the {timeframe} candles: levels would expire "
                          f"before a later candle can cross them; use a window of several candles (e.g. "
                          f"{'1w' if timeframe_to_ns(timeframe) >= 86_400 * 10**9 else '1d'}).")
    return window


def validate_frames(
    ohlcv: pd.DataFrame, actual: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None,
    pair: str, timeframe: str = "5m", config=None, window: str | None = None,
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
    from liqrisk.core.features import compute_features

    cfg = LiqConfig.from_mapping(config)
    window = pick_window(cfg, timeframe, window)
    cfg = cfg.replace(windows=(window,))
    dates = pd.DatetimeIndex(pd.to_datetime(ohlcv["date"], utc=True))
    mask = _scorable(dates, timeframe, window, start)
    feats = compute_features(ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
                             timeframe=timeframe, config=cfg)
    act = actuals_per_candle(actual, dates, timeframe, span_ms=span_ms)
    est = pd.DataFrame({"long_usd": feats[f"liq_long_est_usd_{window}"].to_numpy(),
                        "short_usd": feats[f"liq_short_est_usd_{window}"].to_numpy()})
    base = baselines(ohlcv, oi_at_open(dates, open_interest, timeframe))
    meta = {"pair": pair, "timeframe": timeframe, "window": window,
            "estimate_columns": [f"liq_long_est_usd_{window}", f"liq_short_est_usd_{window}"]}
    return evaluate(est, act, base, dates, mask=mask, meta=meta)


def _scorable(dates: pd.DatetimeIndex, timeframe: str, window: str, start=None) -> np.ndarray:
    """Candles at least one window after the first (the model starts empty) and from
    ``start`` on. DataError naming the cause when fewer than ``MIN_CANDLES`` are left, before
    the liquidations are blamed for it."""
    if len(dates) == 0:
        raise DataError(f"no {timeframe} candles to score.")
    window_ns = timeframe_to_ns(window, key="window")
    mask = np.asarray(dates >= dates[0] + pd.Timedelta(window_ns, "ns"))
    span = (f"the {timeframe} candles cover {pd.Timedelta(int(dates[-1].value - dates[0].value), 'ns')} "
            f"({dates[0]:%Y-%m-%d %H:%M} to {dates[-1]:%Y-%m-%d %H:%M} UTC)")
    if int(mask.sum()) < MIN_CANDLES:
        raise DataError(f"not enough candles for window {window}: the model needs {window} of history before "
                        f"the first scored candle and {MIN_CANDLES} candles to score, but {span}. Use a shorter "
                        "--window or more data.")
    if start is not None:
        mask &= np.asarray(dates >= pd.Timestamp(start))
        if int(mask.sum()) < MIN_CANDLES:
            raise DataError(f"only {int(mask.sum())} candle(s) to score from the timerange start {start} after the "
                            f"{window} warm-up; need at least {MIN_CANDLES}, and {span}. Start the timerange earlier "
                            "or use more data.")
    return mask
