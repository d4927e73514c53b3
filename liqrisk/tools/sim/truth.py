"""Ground truth of a simulated market: what the liquidation engine is judged against.

``liqrisk simulate`` writes it beside freqtrade's data, outside ``futures/`` so that
freqtrade ignores it::

    <datadir>/<exchange>/liqrisk_truth/
        liquidations.parquet   every forced liquidation
        levels_1h.parquet      hourly snapshots of outstanding liquidation levels
        positions.parquet      every position cohort alive inside the window
        meta.json              seed, window, pairs, density (cohorts_per_minute), bucket width,
                               units, model version
        state/<PAIR>.npz       model state at the end (``liqrisk.tools.sim.stream`` continues it)

All times are UTC milliseconds (int64); prices are quote per base unit (USDT); ``usd``
is quote currency; ``side`` is the side of the position ("long" = a long position).

``liquidations.parquet`` (sorted by date, pair):
    date (ms of the trigger; cascade rounds are 250 ms apart), pair, side, price (the
    cohort's exact liquidation price, ``liquidation_price(entry, leverage, side,
    maintenance_margin_rate=mmr, cum=cum, notional=position_notional)``), usd (qty ·
    price), qty (base units), leverage (effective, after the bracket cap),
    entry_price, position_notional (USD of one trader's position, which sets the
    bracket), mmr (fraction), cum (USD), mark (mark price when it triggered: ≤ price for
    longs, ≥ price for shorts), cohort_id.

``levels_1h.parquet``:
    date (the hour T; state at T, like Binance's open-interest rows), pair, side,
    bucket (int), price (geometric centre of the bucket), usd (Σ qty · liquidation
    price of the open cohorts whose liquidation price is in the bucket). Bucket k
    covers ``[exp(k·w), exp((k+1)·w))`` with ``w = ln(1.0025)``: 0.25% wide, the same
    grid for every hour and pair. Only non-empty buckets are listed.

``positions.parquet``:
    cohort_id, pair, side, open_ms, end_ms (-1 if still open at the end), status
    ("open", "closed", "liquidated", "stopped"), entry_price, liq_price, stop_price
    (NaN if none), qty, usd (qty · entry), leverage, nominal_leverage,
    position_notional, mmr, cum. Cohorts opened in the warm-up before the window and
    still open at its start are included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk.tools.sim.pair_market import Block, PairMarket
from liqrisk.tools.sim.specs import BUCKET_WIDTH

TRUTH_DIRNAME = "liqrisk_truth"
SIDES = np.array(["long", "short"])
STATUSES = np.array(["open", "closed", "liquidated", "stopped"])


def _labels(codes: np.ndarray, names: np.ndarray) -> pd.Categorical:
    # Categoricals: fast to build for millions of rows, dictionary-encoded in parquet.
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(names))


def _pair_column(pair: str, n: int, pairs: list[str] | None) -> pd.Categorical:
    """``pair`` repeated; the same categories for every pair so that concat keeps them."""
    pairs = pairs or [pair]
    return pd.Categorical.from_codes(np.full(n, pairs.index(pair), dtype=np.int16), categories=pairs)


def liquidations_table(market: PairMarket, block: Block, start_ms: int, end_ms: int,
                       pairs: list[str] | None = None) -> pd.DataFrame:
    """Liquidation events of ``block`` inside ``[start_ms, end_ms)``."""
    sel = (block.liq_ms >= start_ms) & (block.liq_ms < end_ms)
    ids = block.liq_id[sel]
    c = market.cohorts()
    price = c["liq_price"][ids]
    qty = c["qty"][ids]
    return pd.DataFrame(
        {
            "date": block.liq_ms[sel],
            "pair": _pair_column(market.pair, ids.size, pairs),
            "side": _labels(c["side"][ids], SIDES),
            "price": price,
            "usd": qty * price,
            "qty": qty,
            "leverage": c["leverage"][ids],
            "entry_price": c["entry"][ids],
            "position_notional": c["position_notional"][ids],
            "mmr": c["mmr"][ids],
            "cum": c["cum"][ids],
            "mark": block.liq_mark[sel],
            "cohort_id": ids,
        }
    )


def levels_table(market: PairMarket, block: Block, start_ms: int, end_ms: int,
                 pairs: list[str] | None = None) -> pd.DataFrame:
    """Hourly outstanding-liquidation snapshots of ``block`` inside ``[start_ms, end_ms)``."""
    sel = (block.snap_ms >= start_ms) & (block.snap_ms < end_ms)
    bucket = block.snap_bucket[sel]
    return pd.DataFrame(
        {
            "date": block.snap_ms[sel],
            "pair": _pair_column(market.pair, bucket.size, pairs),
            "side": _labels(block.snap_side[sel], SIDES),
            "bucket": bucket.astype(np.int32),
            "price": np.exp((bucket + 0.5) * BUCKET_WIDTH),
            "usd": block.snap_usd[sel],
        }
    )


def positions_table(market: PairMarket, start_ms: int, pairs: list[str] | None = None) -> pd.DataFrame:
    """Every cohort still open at ``start_ms`` or opened later."""
    c = market.cohorts()
    ids = np.flatnonzero((c["end_ms"] < 0) | (c["end_ms"] >= start_ms))
    qty = c["qty"][ids]
    entry = c["entry"][ids]
    return pd.DataFrame(
        {
            "cohort_id": ids,
            "pair": _pair_column(market.pair, ids.size, pairs),
            "side": _labels(c["side"][ids], SIDES),
            "open_ms": c["open_ms"][ids],
            "end_ms": c["end_ms"][ids],
            "status": _labels(c["status"][ids], STATUSES),
            "entry_price": entry,
            "liq_price": c["liq_price"][ids],
            "stop_price": c["stop_price"][ids],
            "qty": qty,
            "usd": qty * entry,
            "leverage": c["leverage"][ids],
            "nominal_leverage": c["nominal_leverage"][ids],
            "position_notional": c["position_notional"][ids],
            "mmr": c["mmr"][ids],
            "cum": c["cum"][ids],
        }
    )


def write_table(df: pd.DataFrame, path) -> None:
    """Parquet with dictionary-encoded pair/side (small on disk, plain strings on read)."""
    df.to_parquet(path, index=False, compression="zstd")
