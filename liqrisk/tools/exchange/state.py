"""What every endpoint handler gets: the ``Exchange`` state and the request's ``Query``.

``Exchange`` holds the market view, the symbol table and the server's clock (epoch ms, UTC);
``Query`` parses a query string the way Binance does and raises ``BinanceError`` with
Binance's codes. The handlers themselves live in ``market_data.py`` and ``book.py``;
``routes.py`` maps paths to them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from liqrisk.tools.exchange import binance_shapes as bs
from liqrisk.tools.exchange.binance_shapes import BinanceError
from liqrisk.tools.exchange.series import MarketView, Series
from liqrisk.tools.exchange.source import MarketSource

#: Binance's standard funding interval; used when the data has too few funding rows to tell.
DEFAULT_FUNDING_INTERVAL_MS = 8 * bs.HOUR_MS


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
