"""How closely could ANY estimate track a simulated market's liquidations? A noise ceiling.

The simulator's truth is one random draw: each cohort's leverage, trader size (its
maintenance bracket), lifetime and stop are drawn at opening, and no price series can
reveal them. So even a perfect estimate, the expected liquidations given everything
observable, does not rank the realised liquidations perfectly.

``oracle_liquidations`` computes a generous version of that perfect estimate. It knows
what no OHLCV/OI estimate knows, every cohort's exact opening time, side, entry price and
notional, and the realised 1m price path; only the hidden draws are re-drawn from the
simulator's own distributions (``liqrisk.tools.sim.specs``), ``replicates`` times, and each
re-drawn cohort is run against the realised path: liquidated in the first minute whose
mark crosses its liquidation price, unless its stop (on the last price; checked first in
the same minute, since it lies between entry and the liquidation price) or its voluntary
close comes first. The mean over replicates is the oracle estimate per candle and side.

Its Spearman with the truth is about the best an estimate seeing less can reach, not a
strict bound: on mostly-zero truth Spearman rewards exact zeros, and an estimate with
fewer small non-zero values can score a little above the oracle (BTC at 10-30 cohorts
per minute, by up to 0.04). Approximations (all small): re-drawn cohorts do not move
the price (the path is the realised one), a cohort is first checked in the minute after
it opened, and cohorts opened before the window are left out (their survival to the
window start depended on the hidden draws). ``Ceiling.frame`` pairs the oracle with the
truth of the same cohorts; ``liqrisk validate --ceiling`` scores it against the whole
truth after the model's one-window warm-up, when few older cohorts are left (the two
Spearmans agree to 3 decimals at 3 cohorts per minute).

Units: USD (quote) of liquidated notional, qty · liquidation price, as in the truth;
candles keyed by their UTC open time; a liquidation belongs to the candle its minute is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.sim.specs import (
    LEVERAGES,
    LIFE_LEVERAGE_EXPONENT,
    SCALP_LIFE_MIN,
    SCALP_SHARE,
    STOP_PLACEMENT,
    STOP_SHARE,
    SWING_LIFE_MIN,
    leverage_tables,
)
from liqrisk.tools.sim.truth import TRUTH_DIRNAME
from liqrisk.tools.sim.writer import data_filename

MINUTE_MS = 60_000


def sparse_table(values: np.ndarray, op) -> np.ndarray:
    """``t[k, i] = op(values[i : i + 2**k])``, clipped at the end (k = 0 .. ceil(log2 n))."""
    n = values.size
    levels = max(1, int(np.ceil(np.log2(max(n, 1)))) + 1)
    t = np.empty((levels, n))
    t[0] = values
    for k in range(1, levels):
        half = 1 << (k - 1)
        t[k] = t[k - 1]
        if half < n:
            t[k, : n - half] = op(t[k - 1, : n - half], t[k - 1, half:])
    return t


@njit(cache=True, inline="always")
def _first_crossing(table, start, x, sign):
    """First index ``j >= start`` where the path reaches ``x``: ``values[j] <= x`` with the
    min table and ``sign`` +1, ``values[j] >= x`` with the max table and ``sign`` -1
    (``n`` if never)."""
    n = table.shape[1]
    pos = start
    for k in range(table.shape[0] - 1, -1, -1):
        if pos < n and sign * table[k, pos] > sign * x:  # the whole block stays short of x
            pos = min(pos + (1 << k), n)
    return pos


@njit(cache=True)
def liquidation_minutes(side, first_min, end_min, lp, stop, mark_lo, mark_hi, last_lo, last_hi):
    """Minute in which each cohort is liquidated on the path, or -1 if it is not.

    Cohort ``c`` (``side`` 0 long / 1 short) is watched from minute ``first_min[c]`` and
    closes voluntarily in minute ``end_min[c]`` (no liquidation from then on). It is
    liquidated in the first minute whose mark crosses ``lp[c]`` (long: low <= LP, short:
    high >= LP), unless the last price crossed its stop ``stop[c]`` (NaN: none) in that
    minute or before: the stop lies between entry and LP, so the price passes it first.
    The four path arrays are ``sparse_table`` s of the 1m mark low / high and last low / high.
    """
    n_min = mark_lo.shape[1]
    out = np.full(side.shape[0], -1, dtype=np.int64)
    for c in range(side.shape[0]):
        start = first_min[c]
        end = min(end_min[c], n_min)
        if start >= end:
            continue
        if side[c] == 0:
            mark, last, sign = mark_lo, last_lo, 1.0
        else:
            mark, last, sign = mark_hi, last_hi, -1.0
        j = _first_crossing(mark, start, lp[c], sign)
        if j < end and stop[c] == stop[c] and _first_crossing(last, start, stop[c], sign) <= j:
            continue
        if j < end:
            out[c] = j
    return out


@dataclass
class Ceiling:
    """Oracle estimate and the truth it is compared with, per candle (UTC open time).

    ``frame`` columns: ``date`` (candle open, UTC), ``oracle_long_usd``,
    ``oracle_short_usd`` (mean over ``replicates``), ``act_long_usd``, ``act_short_usd``
    (the truth of the same cohorts: those opened inside the window).
    """

    frame: pd.DataFrame
    replicates: int


def oracle_liquidations(datadir: str | Path, pair: str, *, timeframe_minutes: int = 5, replicates: int = 32,
                        seed: int = 0) -> Ceiling:
    """The oracle estimate for ``pair`` of a ``liqrisk simulate`` datadir.

    :param datadir: the exchange folder (``<datadir>/binance``: ``futures/`` and
        ``liqrisk_truth/``); needs the 1m futures and mark candles the simulator writes.
    :param timeframe_minutes: candle length the liquidations are summed over.
    :param replicates: re-draws averaged; the oracle's own noise shrinks as 1/sqrt of it.
    :raises DataError: a truth or 1m candle file is missing, or the window's 1m candles
        have gaps.
    :raises ConfigError: ``timeframe_minutes`` < 1.
    """
    datadir = Path(datadir)
    truth_dir = datadir / TRUTH_DIRNAME
    if int(timeframe_minutes) < 1:
        raise ConfigError(f"the oracle sums whole minutes; timeframe of {timeframe_minutes} minutes is too short.")
    needed = [truth_dir / "meta.json", truth_dir / "positions.parquet", truth_dir / "liquidations.parquet",
              data_filename(datadir / "futures", pair, "1m", "futures"),
              data_filename(datadir / "futures", pair, "1m", "mark")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise DataError(f"{pair}: the oracle needs a `liqrisk simulate` datadir; missing {', '.join(missing)}.")
    meta = pd.read_json(truth_dir / "meta.json", typ="series")
    start_ms, end_ms = int(meta["start_ms"]), int(meta["end_ms"])
    fut = pd.read_feather(needed[3])
    mark = pd.read_feather(needed[4])
    minute_ms = _ms(fut["date"])
    if not np.array_equal(minute_ms, _ms(mark["date"])):
        raise DataError(f"{pair}: the 1m futures and mark candles in {datadir} are not aligned.")
    in_window = (minute_ms >= start_ms) & (minute_ms < end_ms)
    minute_ms = minute_ms[in_window]
    if minute_ms.size == 0 or np.any(np.diff(minute_ms) != MINUTE_MS):
        raise DataError(f"{pair}: the 1m candles of the simulated window are missing or have gaps in {datadir}.")
    mark_lo = sparse_table(mark["low"].to_numpy(float)[in_window], np.minimum)
    mark_hi = sparse_table(mark["high"].to_numpy(float)[in_window], np.maximum)
    last_lo = sparse_table(fut["low"].to_numpy(float)[in_window], np.minimum)
    last_hi = sparse_table(fut["high"].to_numpy(float)[in_window], np.maximum)
    tf_ms = timeframe_minutes * MINUTE_MS
    candle_ms = np.unique(minute_ms // tf_ms * tf_ms)
    candle_of_minute = np.searchsorted(candle_ms, minute_ms // tf_ms * tf_ms)

    pos = pd.read_parquet(truth_dir / "positions.parquet",
                          columns=["cohort_id", "pair", "side", "open_ms", "entry_price", "qty"])
    pos = pos[(pos["pair"] == pair) & (pos["open_ms"] >= start_ms) & (pos["open_ms"] < end_ms)]
    side = (pos["side"].astype(str).to_numpy() == "short").astype(np.int8)
    first_min = ((pos["open_ms"].to_numpy() - start_ms) // MINUTE_MS + 1).astype(np.int64)
    offset = (pos["open_ms"].to_numpy() - start_ms) % MINUTE_MS / MINUTE_MS  # opening time within its minute
    entry = pos["entry_price"].to_numpy(float)
    qty = pos["qty"].to_numpy(float)

    tables = leverage_tables(pair)
    life_scale = (10.0 / LEVERAGES) ** LIFE_LEVERAGE_EXPONENT
    rng = np.random.default_rng(seed)
    n = side.size
    oracle = np.zeros((2, candle_ms.size))
    for _ in range(replicates):
        li = np.minimum(np.searchsorted(tables.lev_cdf, rng.random(n) * tables.lev_cdf[-1], side="right"),
                        LEVERAGES.size - 1)
        zi = np.minimum(np.searchsorted(tables.size_cdf, rng.random(n) * tables.size_cdf[-1], side="right"),
                        tables.sizes.size - 1)
        lp = entry * tables.factor[side, li, zi]
        life = rng.exponential(np.where(rng.random(n) < SCALP_SHARE, SCALP_LIFE_MIN, SWING_LIFE_MIN)) * life_scale[li]
        # The cohort opened during minute first_min - 1 and closes life minutes later.
        end_min = first_min - 1 + np.minimum(np.floor(life + offset), 1e9).astype(np.int64)
        stop = np.where(rng.random(n) < STOP_SHARE, entry + rng.uniform(*STOP_PLACEMENT, n) * (lp - entry), np.nan)
        j = liquidation_minutes(side, first_min, end_min, lp, stop, mark_lo, mark_hi, last_lo, last_hi)
        hit = j >= 0
        np.add.at(oracle, (side[hit], candle_of_minute[j[hit]]), qty[hit] * lp[hit])
    oracle /= replicates

    liq = pd.read_parquet(truth_dir / "liquidations.parquet", columns=["date", "pair", "side", "usd", "cohort_id"])
    liq = liq[(liq["pair"] == pair) & liq["cohort_id"].isin(pos["cohort_id"])]
    act = np.zeros_like(oracle)
    idx = np.searchsorted(candle_ms, liq["date"].to_numpy() // tf_ms * tf_ms)
    np.add.at(act, ((liq["side"].astype(str).to_numpy() == "short").astype(int), idx), liq["usd"].to_numpy(float))
    frame = pd.DataFrame({
        "date": pd.to_datetime(candle_ms, unit="ms", utc=True),
        "oracle_long_usd": oracle[0], "oracle_short_usd": oracle[1],
        "act_long_usd": act[0], "act_short_usd": act[1],
    })
    return Ceiling(frame, replicates)


def _ms(dates: pd.Series) -> np.ndarray:
    return pd.to_datetime(dates, utc=True).dt.as_unit("ms").astype("int64").to_numpy()
