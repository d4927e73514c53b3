"""Binance USD-M order-book and ticker endpoints over a synthetic book around the last price.

The data has candles, not order books: ``depth`` and ``bookTicker`` draw a book with a one-tick
spread and sizes growing away from the touch, the same for every request within one second;
``ticker/24hr`` and ``ticker/price`` summarise the candles. Prices and sizes respect each
symbol's tick and step sizes.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from liqrisk.tools.exchange import binance_shapes as bs
from liqrisk.tools.exchange.binance_shapes import num
from liqrisk.tools.exchange.state import Exchange, Query, market_id


def _rng(pair: str, now: int) -> np.random.Generator:
    """Book noise that changes once a second and is the same for every request in that second."""
    seed = int.from_bytes(hashlib.blake2b(f"{pair}|{now // 1000}".encode(), digest_size=8).digest(), "big")
    return np.random.default_rng(seed)


def _book(ex: Exchange, pair: str, levels: int) -> tuple[list[list[str]], list[list[str]]]:
    """A synthetic book around the last price: one-tick spread, levels a few ticks apart, size
    growing away from the touch. Prices and sizes respect the symbol's tick and step sizes."""
    f = ex.filters(pair)
    tick, step = float(f["tickSize"]), float(f["stepSize"])
    mid = ex.last_price(pair)
    if not math.isfinite(mid) or mid <= 0:
        return [], []
    gap = max(1, round(mid * 2e-5 / tick))  # levels ~0.2 bp apart: 1000 levels span ~2 %
    best_bid = math.floor(mid / tick) * tick
    rng = _rng(pair, ex.now())
    # Touch size worth ~20k quote units, deeper levels larger and noisier.
    base_qty = 2e4 / mid
    depth = np.arange(levels)
    qty = base_qty * (1.0 + 0.05 * depth) * rng.lognormal(0.0, 0.6, size=(2, levels))
    qty = np.maximum(np.round(qty / step) * step, step)
    bids, asks = [], []
    for i in range(levels):
        bp = best_bid - i * gap * tick
        ap = best_bid + tick + i * gap * tick
        if bp > 0:
            bids.append([bs.fixed(bp, f["tickSize"]), bs.fixed(qty[0, i], f["stepSize"])])
        asks.append([bs.fixed(ap, f["tickSize"]), bs.fixed(qty[1, i], f["stepSize"])])
    return bids, asks


def depth(ex: Exchange, q: Query) -> dict:
    pair = ex.pair(q)
    limit = q.limit("depth")
    bids, asks = _book(ex, pair, limit)
    now = ex.now()
    return {"lastUpdateId": now * 10, "E": now, "T": now, "bids": bids, "asks": asks}


def _book_ticker(ex: Exchange, pair: str) -> dict:
    bids, asks = _book(ex, pair, 1)
    now = ex.now()
    bid = bids[0] if bids else ["0", "0"]
    ask = asks[0] if asks else ["0", "0"]
    return {"symbol": market_id(pair), "bidPrice": bid[0], "bidQty": bid[1], "askPrice": ask[0],
            "askQty": ask[1], "time": now, "lastUpdateId": now * 10}


def book_ticker(ex: Exchange, q: Query) -> dict | list[dict]:
    return ex._all_or_one(q, lambda p: _book_ticker(ex, p))


def _ticker_24hr(ex: Exchange, pair: str) -> dict:
    """24 h statistics over the candles whose open lies in the 24 h ending with the latest candle."""
    s = ex.view.finest(pair, "futures")
    assert s is not None  # symbols without futures candles are not listed
    i = ex._anchor(s)
    tf = s.interval_ms or bs.MINUTE_MS
    last_t = int(s.t[i])
    j = int(np.searchsorted(s.t, last_t + tf - bs.DAY_MS, side="left"))
    c = {k: v[j:i + 1] for k, v in s.cols.items()}
    vol = float(np.nansum(c["volume"]))
    quote_vol = float(np.nansum(c["volume"] * (c["open"] + c["close"]) / 2.0))
    open_px, last_px = float(c["open"][0]), float(c["close"][-1])
    f = ex.filters(pair)
    count = max(1, int(quote_vol // 2000)) if vol > 0 else 0
    first_id = last_t // 1000
    return {
        "symbol": market_id(pair),
        "priceChange": bs.fixed(last_px - open_px, f["tickSize"]),
        "priceChangePercent": f"{(last_px / open_px - 1.0) * 100.0:.3f}" if open_px else "0.000",
        "weightedAvgPrice": num(round(quote_vol / vol, 8)) if vol > 0 else num(last_px),
        "lastPrice": num(last_px),
        "lastQty": f["stepSize"],
        "openPrice": num(open_px),
        "highPrice": num(float(np.nanmax(c["high"]))),
        "lowPrice": num(float(np.nanmin(c["low"]))),
        "volume": num(round(vol, 8)),
        "quoteVolume": num(round(quote_vol, 8)),
        "openTime": int(s.t[j]),
        "closeTime": last_t + tf - 1,
        "firstId": first_id,
        "lastId": first_id + count,
        "count": count,
    }


def ticker_24hr(ex: Exchange, q: Query) -> dict | list[dict]:
    return ex._all_or_one(q, lambda p: _ticker_24hr(ex, p))


def ticker_price(ex: Exchange, q: Query) -> dict | list[dict]:
    now = ex.now()
    return ex._all_or_one(q, lambda p: {"symbol": market_id(p), "price": num(ex.last_price(p)), "time": now})

