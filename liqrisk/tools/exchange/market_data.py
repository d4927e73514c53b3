"""Binance USD-M market-data endpoints: server time and symbols, candles, funding and mark price,
open interest.

Handlers are plain synchronous functions ``(Exchange, Query) -> JSON-able`` over the replayed
(or live) series; ``server.py`` dispatches to them through ``routes.ROUTES``. Times are epoch
milliseconds (UTC); a candle's time is its open.
"""

from __future__ import annotations

import math

import numpy as np

from liqrisk.tools.exchange import binance_shapes as bs
from liqrisk.tools.exchange.binance_shapes import BinanceError, num
from liqrisk.tools.exchange.series import Series
from liqrisk.tools.exchange.state import Exchange, Query, market_id

#: Interest rate part of Binance's funding formula (0.01 % per 8 h), sent in premiumIndex.
INTEREST_RATE = "0.00010000"


# -- general -----------------------------------------------------------------------------------


def ping(ex: Exchange, q: Query) -> dict:
    return {}


def server_time(ex: Exchange, q: Query) -> dict:
    return {"serverTime": ex.now()}


def exchange_info(ex: Exchange, q: Query) -> dict:
    return bs.exchange_info(list(ex.symbols.values()), ex.now())


def empty_exchange_info(ex: Exchange, q: Query) -> dict:
    """Spot and COIN-M markets: none, so a client that loads every market type still starts."""
    return {"timezone": "UTC", "serverTime": ex.now(), "rateLimits": bs.RATE_LIMITS,
            "exchangeFilters": [], "symbols": []}


# -- candles -----------------------------------------------------------------------------------


def _kline_rows(s: Series, sl: slice, interval_ms: int, mark: bool) -> list[list]:
    t = s.t[sl]
    c = {k: v[sl] for k, v in s.cols.items()}
    rows = []
    for i in range(len(t)):
        open_t = int(t[i])
        close_t = open_t + interval_ms - 1
        o, h, lo, cl = (num(c[k][i]) for k in ("open", "high", "low", "close"))
        if mark:
            # Mark price klines carry no volume; field 8 counts the 1 s samples behind the candle.
            rows.append([open_t, o, h, lo, cl, "0", close_t, "0", interval_ms // 1000, "0", "0", "0"])
            continue
        vol = float(c["volume"][i]) if math.isfinite(c["volume"][i]) else 0.0
        quote_vol = vol * (float(c["close"][i]) + float(c["open"][i])) / 2.0
        # Taker buy share leans with the candle's direction, as in real tape.
        buy_share = 0.55 if c["close"][i] >= c["open"][i] else 0.45
        trades = int(vol > 0) + int(quote_vol // 2000)
        rows.append([open_t, o, h, lo, cl, num(vol), close_t, num(round(quote_vol, 8)), trades,
                     num(round(vol * buy_share, 8)), num(round(quote_vol * buy_share, 8)), "0"])
    return rows


def _klines(ex: Exchange, q: Query, kind: str, symbol_param: str = "symbol") -> list[list]:
    pair = ex.pair(q, name=symbol_param)
    interval = q.interval()
    limit = q.limit("klines")
    start, end = q.times()
    s = ex.view.candles(pair, kind, interval)
    if s is None:
        return []
    sl = s.window(start, end, limit, ex.now())
    # "1M" has no fixed length; its candles close where the next one opens.
    interval_ms = bs.INTERVAL_MS[interval] or (int(np.median(np.diff(s.t))) if len(s) > 1 else 30 * bs.DAY_MS)
    return _kline_rows(s, sl, interval_ms, mark=(kind == "mark"))


def klines(ex: Exchange, q: Query) -> list[list]:
    return _klines(ex, q, "futures")


def continuous_klines(ex: Exchange, q: Query) -> list[list]:
    ctype = q.text("contractType", required=True)
    if ctype != "PERPETUAL":
        raise BinanceError("bad_value", param="contractType")
    return _klines(ex, q, "futures", symbol_param="pair")


def mark_price_klines(ex: Exchange, q: Query) -> list[list]:
    return _klines(ex, q, "mark")


def index_price_klines(ex: Exchange, q: Query) -> list[list]:
    """Index candles: the data has no index series; the mark price stands in for it."""
    return _klines(ex, q, "mark", symbol_param="pair")


# -- funding and mark price --------------------------------------------------------------------


def funding_rate(ex: Exchange, q: Query) -> list[dict]:
    pair = ex.pair(q, required=False)
    limit = q.limit("fundingRate")
    start, end = q.times()
    now = ex.now()
    records: list[dict] = []
    for p in [pair] if pair else list(ex.symbols):
        s = ex.view.funding(p)
        if s is None:
            continue
        sl = s.window(start, end, limit, now)
        mark = ex.view.finest(p, "mark") or ex.view.finest(p, "futures")
        for t, rate in zip(s.t[sl], s.cols["funding_rate"][sl], strict=True):
            mark_px = float("nan")
            if mark is not None:
                j = mark.last_index(int(t))
                mark_px = float(mark.cols["close"][j]) if j is not None else float("nan")
            records.append({"symbol": market_id(p), "fundingTime": int(t), "fundingRate": num(rate),
                            "markPrice": num(mark_px) or ""})
    records.sort(key=lambda r: r["fundingTime"])
    return records if start is not None else records[-limit:]


def _premium(ex: Exchange, pair: str) -> dict:
    now = ex.now()
    mark = ex.last_price(pair, "mark")
    s = ex.view.funding(pair)
    rate = 0.0
    if s is not None:
        rate = float(s.cols["funding_rate"][ex._anchor(s)])
    interval = ex.funding_interval_ms(s)
    next_funding = (now // interval + 1) * interval
    return {
        "symbol": market_id(pair),
        "markPrice": num(mark),
        "indexPrice": num(mark),
        "estimatedSettlePrice": num(mark),
        "lastFundingRate": num(rate),
        "interestRate": INTEREST_RATE,
        "nextFundingTime": int(next_funding),
        "time": now,
    }


def premium_index(ex: Exchange, q: Query) -> dict | list[dict]:
    return ex._all_or_one(q, lambda p: _premium(ex, p))


def funding_info(ex: Exchange, q: Query) -> list[dict]:
    out = []
    for p in ex.symbols:
        hours = ex.funding_interval_ms(ex.view.funding(p)) // bs.HOUR_MS
        out.append({"symbol": market_id(p), "adjustedFundingRateCap": "0.02000000",
                    "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": max(1, int(hours)),
                    "disclaimer": False})
    return out


# -- open interest -----------------------------------------------------------------------------


def open_interest(ex: Exchange, q: Query) -> dict:
    pair = ex.pair(q)
    s = ex.view.open_interest(pair, "5m")
    if s is None:
        for period in bs.OI_PERIODS[1:]:
            s = ex.view.open_interest(pair, period)
            if s is not None:
                break
    amount = float(s.cols["open_interest_amount"][ex._anchor(s)]) if s is not None else 0.0
    return {"symbol": market_id(pair), "openInterest": num(amount) or "0", "time": ex.now()}


def open_interest_hist(ex: Exchange, q: Query) -> list[dict]:
    """Open interest statistics. Like Binance, only the last ``OI_HISTORY_DAYS`` days are kept,
    counted back from the latest record at or before now; older requests get the rows that remain."""
    pair = ex.pair(q)
    period = q.text("period", required=True)
    if period not in bs.OI_PERIODS:
        raise BinanceError("bad_value", param="period")
    limit = q.limit("openInterestHist")
    start, end = q.times()
    s = ex.view.open_interest(pair, period)
    if s is None:
        return []
    now = ex.now()
    earliest = int(s.t[ex._anchor(s)]) - bs.OI_HISTORY_DAYS * bs.DAY_MS
    if end is not None and end < earliest:
        return []
    floor = int(np.searchsorted(s.t, earliest, side="left"))
    sl = s.window(None if start is None else max(start, earliest), end, limit, now)
    sl = slice(max(sl.start, floor), max(sl.stop, floor))
    sym = market_id(pair)
    return [
        {"symbol": sym, "sumOpenInterest": num(a), "sumOpenInterestValue": num(v), "timestamp": int(t)}
        for t, a, v in zip(s.t[sl], s.cols["open_interest_amount"][sl], s.cols["open_interest_value"][sl],
                           strict=True)
    ]

