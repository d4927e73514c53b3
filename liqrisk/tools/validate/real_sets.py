"""The real data the model keys are fitted on and judged by, with honest fit / test splits.

Two kinds of set (see ``../shared/README.md`` for their sources and caveats):

* the daily set: one folder of Coinglass-style daily CSVs, 7 coins
  (``daily_set.load_daily_markets``); fit 2021–2023, test 2024 on;
* per-candle intraday CSVs (``candle_csv.read_candle_csv``), one pair and timeframe
  each, named ``<COIN>_<tf>_<source>_….csv``; fit on the first part by time, test on
  the rest (``FIT_SHARE``: half of a year of 4h candles, 60% of two months of 1h);
* pairs recorded by ``liqrisk record`` or a bot (``recorded_series``): candles and OI of a
  freqtrade datadir, actuals from its ``liqrisk_liquidations`` store, split like the
  intraday sets over the candles the recording covers (gaps are unknown, not zero).

Each series is scored from one warm-up after its first candle (``WARMUP``), so the
model's levels are complete. Scores are per side: the Spearman correlation of the
longest window's ``liq_<side>_est_usd_<w>`` with the actual USD liquidated per candle,
the same for the map-free wick × OI baseline, and the estimate's partial Spearman given
the baseline (positive: the map adds what the wick does not carry).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.config import LiqConfig
from liqrisk.core.features import compute_features
from liqrisk.errors import DataError
from liqrisk.tools.validate.actuals import SIDES, actuals_per_candle, baselines, oi_at_open
from liqrisk.tools.validate.candle_csv import read_candle_csv
from liqrisk.tools.validate.daily_set import COINS, TEST, TRAIN, load_daily_markets
from liqrisk.tools.validate.metrics import partial_spearman, spearman

#: Share of an intraday series' scored candles (by time) that is fitted on; the rest is test.
FIT_SHARE = {"1h": 0.6, "4h": 0.5}
DEFAULT_FIT_SHARE = 0.5
#: Candles before first date + WARMUP[timeframe] are not scored (the model starts empty).
WARMUP = {"1d": pd.Timedelta("28D")}
DEFAULT_WARMUP = pd.Timedelta("7D")
_NAME = re.compile(r"^(?P<coin>[A-Z0-9]+)_(?P<tf>\d+[mhdw])_")


@dataclass
class RealSeries:
    """One pair's real frames, its set name and where fit ends and test begins.

    Frames as ``compute_features`` takes them; ``actual``: ``date, long_usd, short_usd``
    (USD liquidated inside each candle). ``split``: the first test candle's open (UTC).
    """

    set: str
    coin: str
    pair: str
    timeframe: str
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame | None
    funding_rate: pd.DataFrame | None
    actual: pd.DataFrame
    split: pd.Timestamp
    start: pd.Timestamp  # first candle scored (after the warm-up and, for the daily set, 2021)


def daily_series(root: str | Path, coins: Iterable[str] = COINS) -> list[RealSeries]:
    """The daily set's coins, fit ``TRAIN`` / test ``TEST``."""
    out = []
    for coin, m in load_daily_markets(root, coins).items():
        first = pd.Timestamp(m.ohlcv["date"].iloc[0]) + WARMUP["1d"]
        out.append(RealSeries(set="daily", coin=coin, pair=m.pair, timeframe="1d", ohlcv=m.ohlcv,
                              open_interest=m.open_interest, funding_rate=m.funding_rate, actual=m.actual,
                              split=TEST[0], start=max(first, TRAIN[0])))
    return out


def intraday_series(path: str | Path) -> RealSeries:
    """One per-candle CSV named ``<COIN>_<tf>_…``; its set is ``"<COIN> <tf>"``."""
    path = Path(path)
    m = _NAME.match(path.name)
    if not m:
        raise DataError(f"{path}: the name must start with <COIN>_<timeframe>_ (e.g. BTC_1h_source.csv).")
    f = read_candle_csv(path)
    if f.timeframe != m["tf"]:
        raise DataError(f"{path}: the name says {m['tf']} but the candles are {f.timeframe} apart.")
    dates = pd.DatetimeIndex(f.ohlcv["date"])
    start = dates[0] + WARMUP.get(f.timeframe, DEFAULT_WARMUP)
    scored = dates[dates >= start]
    if len(scored) < 20:
        raise DataError(f"{path}: only {len(scored)} candles after the warm-up; too few to split and score.")
    split = scored[int(len(scored) * FIT_SHARE.get(f.timeframe, DEFAULT_FIT_SHARE))]
    return RealSeries(set=f"{m['coin']} {f.timeframe}", coin=m["coin"], pair=f"{m['coin']}/USDT:USDT",
                      timeframe=f.timeframe, ohlcv=f.ohlcv, open_interest=f.open_interest, funding_rate=None,
                      actual=f.actual, split=split, start=start)


def recorded_series(datadir: str | Path, pair: str, timeframe: str = "5m",
                    exchanges: list[str] | None = None) -> RealSeries:
    """One recorded pair: ``<datadir>/futures`` candles, OI and funding, and the recorded
    liquidations in ``<datadir>/liqrisk_liquidations`` summed over ``exchanges`` (default:
    all recorded). Its set is ``"<COIN> <tf> recorded"``.

    :raises DataError: no candles, no recording, or fewer than 20 covered candles after the
        warm-up."""
    from liqrisk.tools.datadir import load_market
    from liqrisk.tools.record.read import read_recorded

    market = load_market(pair, timeframe, datadir=datadir)
    actual = read_recorded(datadir, pair, exchanges, timeframe=timeframe).actuals
    dates = pd.DatetimeIndex(pd.to_datetime(market.ohlcv["date"], utc=True))
    start = dates[0] + WARMUP.get(timeframe, DEFAULT_WARMUP)
    known = pd.DatetimeIndex(actual["date"])
    scored = known[(known >= start) & known.isin(dates)]
    if len(scored) < 20:
        raise DataError(f"{pair} {timeframe} in {datadir}: {len(scored)} recorded candles after the warm-up "
                        f"({start:%Y-%m-%d %H:%M}); need 20 to split and score (record longer, or download "
                        "older candles for the warm-up).")
    split = scored[int(len(scored) * FIT_SHARE.get(timeframe, DEFAULT_FIT_SHARE))]
    coin = pair.split("/")[0]
    return RealSeries(set=f"{coin} {timeframe} recorded", coin=coin, pair=pair, timeframe=timeframe,
                      ohlcv=market.ohlcv, open_interest=market.open_interest, funding_rate=market.funding_rate,
                      actual=actual, split=split, start=start)


def load_real_sets(daily: str | Path | None, intraday: str | Path | None) -> list[RealSeries]:
    """Every series of the daily folder and of the ``*.csv`` files in the intraday folder."""
    out = daily_series(daily) if daily is not None else []
    if intraday is not None:
        files = sorted(Path(intraday).glob("*.csv"))
        if not files:
            raise DataError(f"{intraday}: no per-candle CSV files.")
        out += [intraday_series(p) for p in files]
    return out


@dataclass
class SeriesRun:
    """Estimate, actual and wick × OI baseline per candle of one series (USD, [n, 2])."""

    series: RealSeries
    dates: pd.DatetimeIndex
    est: np.ndarray
    act: np.ndarray
    base: np.ndarray

    def mask(self, part: str) -> np.ndarray:
        """Candles scored in ``part``: "fit", "test" or "all"."""
        ok = np.isfinite(self.act).all(axis=1) & np.isfinite(self.base).all(axis=1) & np.isfinite(self.est).all(axis=1)
        ok &= np.asarray(self.dates >= self.series.start)
        if part == "fit":
            ok &= np.asarray(self.dates < self.series.split)
        elif part == "test":
            ok &= np.asarray(self.dates >= self.series.split)
        elif part != "all":
            raise ValueError(f"part={part!r} must be 'fit', 'test' or 'all'.")
        return ok


def longest_window(config: LiqConfig) -> str:
    return max(config.windows, key=lambda w: timeframe_to_ns(w, key="windows"))


def run_series(s: RealSeries, config=None) -> SeriesRun:
    """Run the engine on ``s`` with ``config`` (``LiqConfig`` or dict) and line everything up."""
    cfg = LiqConfig.from_mapping(config)
    window = longest_window(cfg)
    feats = compute_features(s.ohlcv, open_interest=s.open_interest, funding_rate=s.funding_rate, pair=s.pair,
                             timeframe=s.timeframe, config=cfg)
    dates = pd.DatetimeIndex(pd.to_datetime(s.ohlcv["date"], utc=True))
    est = np.column_stack([feats[f"liq_{side}_est_usd_{window}"].to_numpy() for side in SIDES])
    act = actuals_per_candle(s.actual, dates, s.timeframe).to_numpy(dtype=np.float64)
    b = baselines(s.ohlcv, oi_at_open(dates, s.open_interest, s.timeframe))
    base = np.column_stack([b[side]["wick_oi"].to_numpy() for side in SIDES])
    return SeriesRun(series=s, dates=dates, est=est, act=act, base=base)


def score_runs(runs: Iterable[SeriesRun], parts: Iterable[str] = ("fit", "test")) -> pd.DataFrame:
    """One row per series, part and side: ``n, spearman, baseline, partial``."""
    rows = []
    for r in runs:
        for part in parts:
            m = r.mask(part)
            for k, side in enumerate(SIDES):
                e, a, b = r.est[m, k], r.act[m, k], r.base[m, k]
                rows.append({"set": r.series.set, "coin": r.series.coin, "timeframe": r.series.timeframe,
                             "part": part, "side": side, "n": int(m.sum()), "spearman": spearman(e, a),
                             "baseline": spearman(b, a), "partial": partial_spearman(e, a, b)})
    return pd.DataFrame(rows)


def set_objective(scores: pd.DataFrame, part: str = "fit") -> float:
    """Mean over sets of each set's mean Spearman over its coins and sides on ``part``.

    Sets weigh the same, so the daily set's 14 coin-sides do not outweigh one 1h pair.
    """
    s = scores[scores["part"] == part]
    return float(s.groupby("set")["spearman"].mean().mean())
