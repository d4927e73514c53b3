"""Fit the model's free parameters to real daily liquidations, across coins at once.

Data: a Coinglass-style daily export (one folder of CSVs; see ``load_daily_markets``):
daily Binance perpetual OHLCV, open interest aggregated over exchanges (USD), funding
(percent per 8h) and actual long / short liquidations summed over exchanges (USD).
The files are not part of liqrisk: point ``liqrisk calibrate --data`` at your copy.

Time alignment of the daily rows (all ``ts_utc`` are the day's UTC open, D):

* OHLCV row D is the candle [D, D+1d), known at D+1d.
* OI row D is the *close* of day D, the OI at D+1d. Passed as an ``open_interest``
  frame, the engine treats it as known at D+1d (freqtrade's candle rule), so candle D's
  OI change is ``OI_close(D) − OI_close(D−1)``: the change during day D, no lag and no
  lookahead.
* Funding row D is the day's last rate (percent per 8h); divided by 100 and used at
  D+1d, the close of candle D.
* Liquidation row D is the USD liquidated during [D, D+1d): candle D's actual.

Parameters, kept few and physical (one shared set for every coin):

* ``lev_alpha``: leverage mix over ``leverage_tiers`` with weights ∝ L^(−lev_alpha)
  (0 = flat; 1 = each tier holds the same *margin*).
* ``close_share``: share entered at the close; the rest splits evenly between high and
  low (``entry_weights = [c, (1−c)/2, (1−c)/2]``).
* ``split_sensitivity`` and ``funding_weight``: how candle shape and funding move the
  long/short split.
* ``half_life_days``: a position's expected holding time, as the half-life of a 10x level;
  tier k decays with half-life ``half_life_days · 10 / L_k`` (higher leverage is held
  shorter). ``None`` = no decay.
* ``window``: the scored window (1w, 2w, 4w on daily candles).
* ``intra_turnover`` and ``intra_spread``: same-candle liquidations (the share of OI
  re-opened per day, and how widely each tier's liquidation distance is spread).
* ``liquidatable_share``: ranks do not depend on it; it is set afterwards so that the
  estimate's total USD matches the actual total on the fitting years (median over
  coins of Σactual / Σestimate, capped at 1).

Objective: the mean over coins and sides of the Spearman correlation between the daily
estimate and the actual liquidations on the fitting years. Spearman, because liquidation
USD spans five orders of magnitude and a few cascade days would dominate any squared
error; the mean over coins, so that no single series is tuned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.config import LiqConfig
from liqrisk.errors import DataError
from liqrisk.tools.validate.actuals import baselines, oi_at_open
from liqrisk.tools.validate.metrics import SIDES, side_metrics, spearman

COINS = ("ADA", "BNB", "BTC", "DOGE", "ETH", "SOL", "XRP")
#: Liquidation series are zero padding before this day.
LIQUIDATIONS_START = pd.Timestamp("2020-12-23", tz="UTC")
TRAIN = (pd.Timestamp("2021-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"))
TEST = (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
LEVERAGE_TIERS = (5.0, 10.0, 25.0, 50.0, 100.0)
DAILY_FILES = {
    "ohlcv": "futures_ohlcv_1d.csv", "oi": "futures_oi_agg_1d.csv", "liq": "liquidation_agg_1d.csv",
    "funding": "funding_oi_weight_1d.csv",
}


@dataclass
class DailyMarket:
    """One coin's daily frames in freqtrade's columns, padding removed.

    ``actual``: ``date, long_usd, short_usd`` from ``LIQUIDATIONS_START`` on (USD).
    """

    coin: str
    pair: str
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame
    funding_rate: pd.DataFrame
    actual: pd.DataFrame


def _read(root: Path, key: str) -> pd.DataFrame:
    path = root / DAILY_FILES[key]
    if not path.is_file():
        raise DataError(f"data folder {root}: missing {DAILY_FILES[key]}; expected the daily files "
                        f"{sorted(DAILY_FILES.values())}.")
    frame = pd.read_csv(path)
    frame["date"] = pd.to_datetime(frame["ts_utc"], utc=True)
    return frame


def load_daily_markets(root: str | Path, coins: Iterable[str] = COINS) -> dict[str, DailyMarket]:
    """Read the daily export under ``root`` (see ``DAILY_FILES``) per coin.

    Rows before a series starts are padding (zeros or empty), not data: OHLCV rows need
    positive prices and volume, OI rows a positive ``oi_total_close``; each coin's frames
    start at its first OI row, so the engine never falls back to the volume proxy.
    """
    root = Path(root)
    ohlcv, oi, liq, fund = (_read(root, k) for k in ("ohlcv", "oi", "liq", "funding"))
    out = {}
    for coin in coins:
        o = ohlcv[ohlcv["symbol"] == f"{coin}USDT"]
        o = o[(o[["open", "high", "low", "close"]] > 0).all(axis=1) & (o["volume_usd"] > 0)]
        i = oi[(oi["symbol"] == coin) & (pd.to_numeric(oi["oi_total_close"], errors="coerce") > 0)]
        if o.empty or i.empty:
            raise DataError(f"data folder {root}: no OHLCV or OI rows for {coin}.")
        first = max(o["date"].min(), i["date"].min())
        o = o[o["date"] >= first]
        f = fund[(fund["symbol"] == coin) & fund["funding_close"].notna() & (fund["date"] >= first)]
        lq = liq[(liq["symbol"] == coin) & (liq["date"] >= LIQUIDATIONS_START)]
        out[coin] = DailyMarket(
            coin=coin, pair=f"{coin}/USDT:USDT",
            ohlcv=pd.DataFrame({"date": o["date"].to_numpy(), **{k: o[k].to_numpy(float) for k in
                                                                 ("open", "high", "low", "close")},
                                "volume": (o["volume_usd"] / o["close"]).to_numpy(float)}),
            open_interest=pd.DataFrame({"date": i["date"].to_numpy(),
                                        "open_interest_value": i["oi_total_close"].to_numpy(float)}),
            # percent per 8h -> fraction per 8h
            funding_rate=pd.DataFrame({"date": f["date"].to_numpy(),
                                       "funding_rate": f["funding_close"].to_numpy(float) / 100.0}),
            actual=pd.DataFrame({"date": lq["date"].to_numpy(), "long_usd": lq["liq_long_usd"].to_numpy(float),
                                 "short_usd": lq["liq_short_usd"].to_numpy(float)}),
        )
    return out


# ---------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Params:
    """The fitted parameters (see the module docstring for their meaning)."""

    lev_alpha: float = 0.5
    close_share: float = 0.5
    split_sensitivity: float = 0.5
    funding_weight: float = 0.1
    half_life_days: float | None = None
    window: str = "2w"
    intra_turnover: float = 0.0
    intra_spread: float = 3.0
    turnover_per_day: float = 0.0
    liquidatable_share: float = 1.0

    def config(self, tiers: Sequence[float] = LEVERAGE_TIERS) -> dict:
        """The LiqConfig keys these parameters stand for."""
        w = np.asarray(tiers, dtype=float) ** -self.lev_alpha
        w = w / w.sum()
        c = self.close_share
        hl = None
        if self.half_life_days is not None:
            hl = [f"{max(1, round(self.half_life_days * 24 * 10 / lev))}h" for lev in tiers]
        return {
            "windows": [self.window], "leverage_tiers": [float(x) for x in tiers],
            "leverage_weights": [round(float(x), 4) for x in w],
            "entry_weights": [round(c, 4), round((1 - c) / 2, 4), round((1 - c) / 2, 4)],
            "split_sensitivity": self.split_sensitivity, "funding_weight": self.funding_weight,
            "tier_half_life": hl, "intra_turnover": self.intra_turnover, "intra_spread": self.intra_spread, "turnover_per_day": self.turnover_per_day,
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
    "turnover_per_day": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
}


# ---------------------------------------------------------------------------------------
# Scoring


@dataclass
class CoinRun:
    """Daily estimate and actual for one coin (aligned rows)."""

    dates: pd.DatetimeIndex
    est: np.ndarray  # [n, 2] USD, long / short
    act: np.ndarray  # [n, 2] USD, NaN where unknown
    base: dict = field(default_factory=dict)


def run_coin(market: DailyMarket, params: Params) -> CoinRun:
    """Run the engine on one coin's daily candles with ``params``."""
    from liqrisk.core.features import compute_features
    from liqrisk.tools.validate.actuals import actuals_per_candle

    cfg = LiqConfig.from_mapping(params.config())
    feats = compute_features(market.ohlcv, open_interest=market.open_interest, funding_rate=market.funding_rate,
                             pair=market.pair, timeframe="1d", config=cfg)
    w = params.window
    est = np.column_stack([feats[f"liq_long_est_usd_{w}"].to_numpy(), feats[f"liq_short_est_usd_{w}"].to_numpy()])
    dates = pd.DatetimeIndex(market.ohlcv["date"])
    act = actuals_per_candle(market.actual, dates, "1d").to_numpy()
    base = baselines(market.ohlcv, oi_at_open(dates, market.open_interest, "1d"))
    return CoinRun(dates=dates, est=est, act=act, base=base)


def period_mask(run: CoinRun, period: tuple[pd.Timestamp, pd.Timestamp], window: str = "4w") -> np.ndarray:
    """Candles inside ``[start, end)`` with a known actual, after one window of warm-up."""
    from liqrisk._util import timeframe_to_ns

    warm = run.dates[0] + pd.Timedelta(timeframe_to_ns(window), "ns")
    return np.asarray((run.dates >= period[0]) & (run.dates < period[1]) & (run.dates >= warm)) & \
        np.isfinite(run.act).all(axis=1)


def objective(runs: dict[str, CoinRun], period) -> float:
    """Mean Spearman over coins and sides on ``period`` (every coin weighs the same)."""
    vals = []
    for run in runs.values():
        m = period_mask(run, period)
        for s in range(2):
            vals.append(spearman(run.est[m, s], run.act[m, s]))
    return float(np.nanmean(vals))


def evaluate_params(markets: dict[str, DailyMarket], params: Params) -> dict[str, CoinRun]:
    return {coin: run_coin(mk, params) for coin, mk in markets.items()}


def fit(
    markets: dict[str, DailyMarket], *, start: Params | None = None, grid: dict[str, tuple] | None = None,
    passes: int = 2, period=TRAIN, progress: Callable[[str], None] | None = None,
) -> tuple[Params, float, list[dict]]:
    """Coordinate search over ``grid`` maximising ``objective`` on ``period``.

    Deterministic and derivative-free (the objective is a step function of the
    parameters: ranks change in jumps). Each pass tries every grid value of every
    parameter in turn and keeps the best. Then ``liquidatable_share`` is set from totals.

    :returns: the fitted parameters, their objective, and the search log.
    """
    grid = grid or GRID
    best = start or Params()
    best_score = objective(evaluate_params(markets, best), period)
    log = [{"params": best.__dict__.copy(), "score": best_score}]
    for p in range(passes):
        improved = False
        for name, values in grid.items():
            for v in values:
                if getattr(best, name) == v:
                    continue
                cand = Params(**{**best.__dict__, name: v})
                score = objective(evaluate_params(markets, cand), period)
                log.append({"params": cand.__dict__.copy(), "score": score})
                if score > best_score + 1e-4:  # ignore noise-level gains: keep the simpler, earlier value
                    best, best_score, improved = cand, score, True
            if progress:
                progress(f"pass {p + 1}: {name} = {getattr(best, name)}  objective {best_score:.4f}")
        if not improved:
            break
    # Measured at share 1: the start's own share would otherwise scale the ratio.
    unit = Params(**{**best.__dict__, "liquidatable_share": 1.0})
    best = Params(**{**best.__dict__, "liquidatable_share": scale_share(evaluate_params(markets, unit), period)})
    return best, best_score, log


def scale_share(runs: dict[str, CoinRun], period) -> float:
    """``liquidatable_share`` so that estimated USD matches actual USD (median over coins)."""
    ratios = []
    for run in runs.values():
        m = period_mask(run, period)
        est, act = run.est[m].sum(), run.act[m].sum()
        if est > 0:
            ratios.append(act / est)
    if not ratios:
        return 1.0
    return float(min(1.0, max(1e-4, np.median(ratios))))


def report(runs: dict[str, CoinRun], periods: dict[str, tuple]) -> pd.DataFrame:
    """One row per (period, coin, side): the estimate's metrics and the best baseline's."""
    rows = []
    for pname, period in periods.items():
        for coin, run in runs.items():
            m = period_mask(run, period)
            for s, side in enumerate(SIDES):
                b = run.base[side].loc[m].reset_index(drop=True)
                met = side_metrics(run.est[m, s], run.act[m, s], b)
                best = met["best_baseline"]
                rows.append({
                    "period": pname, "coin": coin, "side": side, "n": met["n"],
                    "spearman": met["spearman"], "pearson_log": met["pearson_log"], "hit_rate": met["hit_rate"],
                    "best_baseline": best, "baseline_spearman": met["baselines"][best]["spearman"] if best else math.nan,
                    "partial_spearman": met["partial_spearman"],
                    "usd_ratio": met["sum_estimate_usd"] / met["sum_actual_usd"] if met["sum_actual_usd"] else math.nan,
                })
    df = pd.DataFrame(rows)
    df["beats_baseline"] = (df["spearman"] > df["baseline_spearman"]) & (df["partial_spearman"] > 0)
    return df
