"""Binance USD-M public REST paths and their handlers.

Handlers are plain synchronous functions ``(Exchange, Query) -> JSON-able`` (market data in
``market_data.py``, order book and tickers in ``book.py``, the shared state in ``state.py``);
the aiohttp layer in ``server.py`` only dispatches to them and turns ``BinanceError`` into
Binance's error body.
"""

from __future__ import annotations

from collections.abc import Callable

from liqrisk.tools.exchange.book import book_ticker, depth, ticker_24hr, ticker_price
from liqrisk.tools.exchange.market_data import (
    continuous_klines,
    empty_exchange_info,
    exchange_info,
    funding_info,
    funding_rate,
    index_price_klines,
    klines,
    mark_price_klines,
    open_interest,
    open_interest_hist,
    ping,
    premium_index,
    server_time,
)
from liqrisk.tools.exchange.state import Exchange, Query

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
