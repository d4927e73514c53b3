"""Binance USD-M public REST endpoints over a ``MarketView``: parameter checks and response bodies.

Handlers here are plain synchronous functions ``(Exchange, Query) -> JSON-able``; the aiohttp
layer in ``server.py`` only dispatches to them and turns ``BinanceError`` into Binance's error
body. Times are epoch milliseconds (UTC); a candle's time is its open.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from liqrisk.tools.exchange import binance_shapes as bs
from liqrisk.tools.exchange.binance_shapes import BinanceError, num
from liqrisk.tools.exchange.series import MarketView, Series
from liqrisk.tools.exchange.source import MarketSource

#: Binance's standard funding interval; used when the data has too few funding rows to tell.
DEFAULT_FUNDING_INTERVAL_MS = 8 * bs.HOUR_MS

#: Interest rate part of Binance's funding formula (0.01 % per 8 h), sent in premiumIndex.
INTEREST_RATE = "0.00010000"


def market_id(pair: str) -> str:
    """ccxt symbol -> Binance id: "BTC/USDT:USDT" -> "BTCUSDT"."""
    base, rest = pair.split("/", 1)
    quote = rest.split(":", 1)[0]
    return base + quote


class Query:
    """Binance-style parsing of one request's query string (first value of each name)."""

    def __init__(self, params: Mapping[str, str]):
        self.params = params

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise BinanceError("mandatory", param=name)
            return None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 20:
            raise BinanceError("illegal_chars", param=name, legal=bs.INT_LEGAL)
        return int(value)

    def limit(self, endpoint: str) -> int:
        rule = bs.LIMITS[endpoint]
        value = self.integer("limit")
        if value is None:
            return rule.default
        if not rule.accepts(value):
            raise BinanceError("bad_value", param="limit")
        return value

    def times(self) -> tuple[int | None, int | None]:
        start, end = self.integer("startTime"), self.integer("endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError("start_after_end")
        return start, end

    def interval(self, name: str = "interval") -> str:
        value = self.text(name, required=True)
        if value not in bs.INTERVAL_MS:
            raise BinanceError("bad_interval")
        return value


class Exchange:
    """The state behind the endpoints: the market view, symbol table and the server's clock.

    ``clock`` returns the server time in epoch ms (the real clock by default). A live source is
    asked to ``refresh`` to that time at most every ``refresh_s`` seconds.
    """

    def __init__(self, source: MarketSource, *, clock: Callable[[], int] | None = None,
                 refresh_s: float = 0.5):
        self.view = MarketView(source)
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.refresh_s = refresh_s
        self._last_refresh = -math.inf
        self._refresh_lock = threading.Lock()
        self.refresh(force=True)
        self.by_id: dict[str, str] = {}
        self.symbols: dict[str, dict] = {}
        for pair in self.view.pairs:
            base, rest = pair.split("/", 1)
            quote, _, settle = rest.partition(":")
            if settle != quote:
                continue  # only linear (USDT-settled) perpetuals live on fapi
            price_series = self.view.finest(pair, "futures")
            if price_series is None:
                continue
            i = self._anchor(price_series)
            info = bs.symbol_info(market_id(pair), base, quote, settle,
                                  float(price_series.cols["close"][i]), int(price_series.t[0]))
            self.by_id[info["symbol"]] = pair
            self.symbols[pair] = info

    # -- helpers ---------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def refresh(self, *, force: bool = False) -> None:
        """Let a live source catch up with the clock (no-op for replay sources)."""
        mono = time.monotonic()
        with self._refresh_lock:
            if not force and mono - self._last_refresh < self.refresh_s:
                return
            self._last_refresh = mono
            self.view.source.refresh(self.now())

    def pair(self, q: Query, *, required: bool = True, name: str = "symbol") -> str | None:
        sym = q.text(name, required=required)
        if sym is None:
            return None
        pair = self.by_id.get(sym)
        if pair is None:
            raise BinanceError("bad_symbol")
        return pair

    def _anchor(self, s: Series) -> int:
        """Row standing for "now": the last at or before now, else the first (data in the future)."""
        i = s.last_index(self.now())
        return 0 if i is None else i

    def filters(self, pair: str) -> dict[str, str]:
        f = {flt["filterType"]: flt for flt in self.symbols[pair]["filters"]}
        return {"tickSize": f["PRICE_FILTER"]["tickSize"], "stepSize": f["LOT_SIZE"]["stepSize"]}

    def last_price(self, pair: str, kind: str = "futures") -> float:
        s = self.view.finest(pair, kind)
        if s is None and kind != "futures":
            s = self.view.finest(pair, "futures")
        if s is None:
            return float("nan")
        return float(s.cols["close"][self._anchor(s)])

    def funding_interval_ms(self, s: Series | None) -> int:
        if s is None or len(s) < 3:
            return DEFAULT_FUNDING_INTERVAL_MS
        return int(np.median(np.diff(s.t[-10:])))

    def _all_or_one(self, q: Query, build: Callable[[str], dict]) -> dict | list[dict]:
        pair = self.pair(q, required=False)
        if pair is not None:
            return build(pair)
        return [build(p) for p in self.symbols]


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


# -- order book and tickers --------------------------------------------------------------------


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


#: Path -> handler. Paths are the real ones under fapi.binance.com and api.binance.com.
ROUTES: dict[str, Callable[[Exchange, Query], object]] = {
    "/fapi/v1/ping": ping,
    "/fapi/v1/time": server_time,
    "/fapi/v1/exchangeInfo": exchange_info,
    "/fapi/v1/klines": klines,
    "/fapi/v1/continuousKlines": continuous_klines,
    "/fapi/v1/markPriceKlines": mark_price_klines,
    "/fapi/v1/indexPriceKlines": index_price_klines,
    "/fapi/v1/fundingRate": funding_rate,
    "/fapi/v1/fundingInfo": funding_info,
    "/fapi/v1/premiumIndex": premium_index,
    "/fapi/v1/openInterest": open_interest,
    "/fapi/v1/depth": depth,
    "/fapi/v1/ticker/24hr": ticker_24hr,
    "/fapi/v1/ticker/bookTicker": book_ticker,
    "/fapi/v1/ticker/price": ticker_price,
    "/fapi/v2/ticker/price": ticker_price,
    "/futures/data/openInterestHist": open_interest_hist,
    "/api/v3/ping": ping,
    "/api/v3/time": server_time,
    "/api/v3/exchangeInfo": empty_exchange_info,
    "/dapi/v1/ping": ping,
    "/dapi/v1/time": server_time,
    "/dapi/v1/exchangeInfo": empty_exchange_info,
}
