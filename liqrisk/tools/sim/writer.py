"""``simulate_datadir``: run the market for a window and write freqtrade's data files.

Files, under ``<datadir>/<exchange>/futures/`` with freqtrade's feather layout and names
(``BTC/USDT:USDT`` → ``BTC_USDT_USDT-<tf>-<candle type>.feather``, lz4 as freqtrade
stores them):

* ``-1m/-5m/-1h-futures``: last-price OHLCV, prices rounded to the tick, volume in base
  units (opens + closes + stops + liquidations + background trading);
* ``-1m/-5m/-1h-mark``: mark-price OHLC, volume 0 (as Binance's mark klines);
* ``-1h-funding_rate``: one row per 8-hourly settlement (00, 08, 16 UTC), like a real
  ``download-data``; ``funding_rate`` is a fraction per 8 h;
* ``-5m/-1h-open_interest``: row T = open interest at time T (base units, and USD at
  the mark), Binance ``openInterestHist`` semantics.

The window is ``[end − days, end)`` with candle-open times in UTC; ``end`` defaults to
``DEFAULT_END`` so the data does not depend on the day it is generated. A warm-up of
``WARMUP_DAYS`` before the window fills the market with positions. Ground truth goes
to ``<datadir>/<exchange>/liqrisk_truth/`` (see ``liqrisk.tools.sim.truth``).

``cohorts_per_minute`` sets the market density (mean cohort openings per minute,
default ``liqrisk.tools.sim.specs.COHORTS_PER_MINUTE``): the same open interest split into
more, smaller cohorts, so more candles see liquidations. Time, memory and the size of
``positions.parquet`` grow about linearly with it. It is recorded in ``meta.json`` and,
with the model parameters, in the saved state, which ``LiveMarket`` continues at the
same density.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError
from liqrisk.tools.datadir import check_exchange_name
from liqrisk.tools.sim import frames as F
from liqrisk.tools.sim import truth as T
from liqrisk.tools.sim.pair_market import PairMarket
from liqrisk.tools.sim.specs import BUCKET_WIDTH, COHORTS_PER_MINUTE, check_cohorts_per_minute, parse_pair

DEFAULT_END = "2025-03-31"
WARMUP_DAYS = 5
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
OHLCV_TIMEFRAMES = ("1m", "5m", "1h")
OI_TIMEFRAMES = ("5m", "1h")
MODEL_VERSION = 1
#: Ends a simulation may have (UTC): candle dates are nanoseconds, which stop in 2262.
END_RANGE = (pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))


def pair_to_filename(pair: str) -> str:
    """freqtrade's ``misc.pair_to_filename`` (BTC/USDT:USDT → BTC_USDT_USDT)."""
    for ch in ["/", " ", ".", "@", "$", "+", ":"]:
        pair = pair.replace(ch, "_")
    return pair


def data_filename(futures_dir: Path, pair: str, timeframe: str, candle_type: str) -> Path:
    return futures_dir / f"{pair_to_filename(pair)}-{timeframe}-{candle_type}.feather"


def parse_end(end: str | int | datetime | None) -> int:
    """``end`` (ISO date/datetime, UTC ms, or datetime) → UTC ms on a whole hour, within
    ``END_RANGE``."""
    if end is None:
        end = DEFAULT_END
    try:
        ts = pd.Timestamp(int(end), unit="ms") if isinstance(end, int | np.integer) else pd.Timestamp(end)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        ok = END_RANGE[0] <= ts <= END_RANGE[1]
    except (ValueError, TypeError, OverflowError) as e:
        raise ConfigError(f"end={end!r} is not a date; use e.g. 2025-03-31 or 2025-03-31T08:00.") from e
    if not ok:
        raise ConfigError(f"end={end!r} must lie between {END_RANGE[0]:%Y-%m-%d} and {END_RANGE[1]:%Y-%m-%d} "
                          "(UTC); e.g. 2025-03-31.")
    ms = int(end) if isinstance(end, int | np.integer) else int(ts.value // 1_000_000)
    if ms % HOUR_MS:
        raise ConfigError(f"end={end!r} must be on a whole UTC hour (candles of 1h must be complete).")
    return ms


def write_feather(df: pd.DataFrame, path: Path) -> None:
    """Feather with lz4, as freqtrade's FeatherDataHandler stores frames.

    freqtrade asks for lz4 level 9, which is 20x slower to write for 15% smaller files;
    the default level reads back the same.
    """
    df.reset_index(drop=True).to_feather(path, compression="lz4")


@dataclass
class PairOutput:
    pair: str
    files: list[Path]
    liquidations: pd.DataFrame
    levels: pd.DataFrame
    positions: pd.DataFrame
    first_close: float
    last_close: float


@dataclass
class SimulationResult:
    """Where things went and what the run produced."""

    exchange_dir: Path
    futures_dir: Path
    truth_dir: Path
    pairs: list[str]
    start_ms: int
    end_ms: int
    seed: int
    seconds: float
    cohorts_per_minute: float = COHORTS_PER_MINUTE
    files: list[Path] = field(default_factory=list)
    n_liquidations: int = 0
    liquidated_usd: float = 0.0
    price_range: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def timerange(self) -> str:
        """freqtrade ``--timerange`` covering the data, e.g. ``20250101-20250331``."""
        fmt = "%Y%m%d"
        start = datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)
        end = datetime.fromtimestamp(self.end_ms / 1000, tz=UTC)
        return f"{start:{fmt}}-{end:{fmt}}"


def check_pairs(pairs) -> list[str]:
    out = []
    for pair in pairs:
        parse_pair(pair)
        if pair not in out:
            out.append(pair)
    if not out:
        raise ConfigError("pairs is empty; give at least one, e.g. BTC/USDT:USDT.")
    return out


def _simulate_pair(pair: str, pairs: list[str], seed: int, start_ms: int, n_minutes: int, futures_dir: Path,
                   state_dir: Path, progress: Callable[[str, int], None] | None, *,
                   cohorts_per_minute: float = COHORTS_PER_MINUTE) -> PairOutput:
    warm_minutes = WARMUP_DAYS * 1440
    end_ms = start_ms + n_minutes * F.MINUTE_MS
    market = PairMarket(pair, seed, start_ms - warm_minutes * F.MINUTE_MS, cohorts_per_minute=cohorts_per_minute)
    warm = market.advance(warm_minutes)
    main = market.advance(n_minutes, None if progress is None else (lambda done: progress(pair, done)))
    spec = market.spec

    files: list[Path] = []
    fut = main.fut.copy()
    fut[:, :4] = F.round_to_tick(fut[:, :4], spec.tick)
    fut[:, 4] = np.round(fut[:, 4], 3)
    for tf in OHLCV_TIMEFRAMES:
        minutes = F.TIMEFRAME_MINUTES[tf]
        t, v = F.aggregate_ohlc(start_ms, fut[:, :4], fut[:, 4], minutes)
        path = data_filename(futures_dir, pair, tf, "futures")
        write_feather(F.ohlcv_frame(t, v), path)
        files.append(path)
        t, v = F.aggregate_ohlc(start_ms, main.mark, None, minutes)
        path = data_filename(futures_dir, pair, tf, "mark")
        write_feather(F.ohlcv_frame(t, v), path)
        files.append(path)
    in_window = (main.funding_ms >= start_ms) & (main.funding_ms < end_ms)
    path = data_filename(futures_dir, pair, "1h", "funding_rate")
    write_feather(F.funding_frame(main.funding_ms[in_window], main.funding_rate[in_window]), path)
    files.append(path)
    for tf in OI_TIMEFRAMES:
        t, amount, value = F.open_interest_rows(
            start_ms, main.oi, main.mark[:, 3], float(warm.oi[-1]), float(warm.mark[-1, 3]),
            F.TIMEFRAME_MINUTES[tf],
        )
        keep = t < end_ms
        path = data_filename(futures_dir, pair, tf, "open_interest")
        write_feather(F.open_interest_frame(t[keep], np.round(amount[keep], 3), np.round(value[keep], 2)), path)
        files.append(path)

    liquidations = pd.concat(
        [T.liquidations_table(market, b, start_ms, end_ms, pairs) for b in (warm, main)], ignore_index=True
    )
    levels = pd.concat(
        [T.levels_table(market, b, start_ms, end_ms, pairs) for b in (warm, main)], ignore_index=True
    )
    positions = T.positions_table(market, start_ms, pairs)
    np.savez(state_dir / f"{pair_to_filename(pair)}.npz", **market.state_dict())
    return PairOutput(pair, files, liquidations, levels, positions, float(fut[0, 0]), float(fut[-1, 3]))


def simulate_datadir(
    datadir: str | Path,
    pairs,
    *,
    days: int,
    seed: int = 42,
    end: str | int | datetime | None = None,
    exchange: str = "binance",
    progress: Callable[[str, int], None] | None = None,
    workers: int | None = None,
    cohorts_per_minute: float = COHORTS_PER_MINUTE,
) -> SimulationResult:
    """Simulate ``pairs`` over ``days`` days ending at ``end`` and write everything.

    :param datadir: freqtrade's ``--datadir`` root (e.g. ``user_data/data``); files go
        to ``<datadir>/<exchange>/futures``.
    :param exchange: exchange id, the folder under ``datadir`` (``[a-z0-9_]+``; ConfigError
        otherwise, so the files cannot land outside ``datadir``).
    :param progress: called as ``progress(pair, minutes_done)`` from worker threads.
    :param cohorts_per_minute: market density, mean cohort openings per minute (> 0,
        at most ``liqrisk.tools.sim.specs.MAX_COHORTS_PER_MINUTE``); ConfigError otherwise.
    """
    t0 = time.perf_counter()
    cohorts_per_minute = check_cohorts_per_minute(cohorts_per_minute)
    pairs = check_pairs(pairs)
    check_exchange_name(exchange)
    if int(days) != days or days <= 0:
        raise ConfigError(f"days={days!r} must be a positive whole number.")
    days = int(days)
    end_ms = parse_end(end)
    start_ms = end_ms - days * DAY_MS
    exchange_dir = Path(datadir) / exchange
    futures_dir = exchange_dir / "futures"
    truth_dir = exchange_dir / T.TRUTH_DIRNAME
    state_dir = truth_dir / "state"
    for d in (futures_dir, state_dir):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create {d}: {e.strerror or e}; choose a writable --datadir.") from e
        if not os.access(d, os.W_OK):
            raise ConfigError(f"{d} is not writable; choose a writable --datadir.")

    n_minutes = days * 1440
    workers = workers or min(len(pairs), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = list(
            pool.map(
                lambda p: _simulate_pair(p, pairs, seed, start_ms, n_minutes, futures_dir, state_dir, progress,
                                         cohorts_per_minute=cohorts_per_minute),
                pairs,
            )
        )

    liquidations = pd.concat([o.liquidations for o in outputs], ignore_index=True)
    liquidations = liquidations.sort_values(["date", "pair"], kind="stable").reset_index(drop=True)
    levels = pd.concat([o.levels for o in outputs], ignore_index=True)
    positions = pd.concat([o.positions for o in outputs], ignore_index=True)
    T.write_table(liquidations, truth_dir / "liquidations.parquet")
    T.write_table(levels, truth_dir / "levels_1h.parquet")
    T.write_table(positions, truth_dir / "positions.parquet")
    meta = {
        "model_version": MODEL_VERSION,
        "seed": int(seed),
        "exchange": exchange,
        "pairs": pairs,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "days": days,
        "warmup_days": WARMUP_DAYS,
        "cohorts_per_minute": cohorts_per_minute,
        "bucket_width_log": BUCKET_WIDTH,
        "bucket_width_pct": 0.25,
        "units": {
            "date": "UTC milliseconds (int64)",
            "price": "quote per base unit",
            "usd": "quote currency (USDT)",
            "qty": "base units",
            "funding_rate": "fraction per 8h",
        },
    }
    (truth_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    result = SimulationResult(
        exchange_dir=exchange_dir, futures_dir=futures_dir, truth_dir=truth_dir, pairs=pairs,
        start_ms=start_ms, end_ms=end_ms, seed=int(seed), seconds=time.perf_counter() - t0,
        cohorts_per_minute=cohorts_per_minute,
        files=[f for o in outputs for f in o.files], n_liquidations=len(liquidations),
        liquidated_usd=float(liquidations["usd"].sum()),
        price_range={o.pair: (o.first_close, o.last_close) for o in outputs},
    )
    return result
