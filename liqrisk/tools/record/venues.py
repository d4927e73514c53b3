"""What differs between the exchanges' public liquidation streams, as data.

Each entry says how ccxt names the exchange, which ccxt ``side`` means that a *long*
was liquidated, how late an event can reach us after its own time, and where ccxt keeps
the WebSocket URL (so that tests point it at ``127.0.0.1``).

Sources:

* Binance USD-M ``<symbol>@forceOrder`` / ``!forceOrder@arr``
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams):
  ``S`` is the side of the *liquidation order*, so ``SELL`` closes a long. Sampled: only
  the latest liquidation per symbol in each 1000 ms is pushed, so a recording is an
  undercount in bursts. ccxt reads price from ``ap`` (average fill) and size from ``l``.
* Bybit v5 ``allLiquidation.<symbol>``
  (https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation): every
  liquidation, pushed in batches every 500 ms; ``S`` is the *position* side, "when you
  receive a Buy update, this means that a long position has been liquidated".
* OKX v5 public ``liquidation-orders`` (instType ``SWAP``;
  https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel): "for
  futures and swaps, each contract will only show a maximum of one order per one-second
  period", so it is sampled like Binance (an undercount). A push carries a ``data`` list
  (one entry per instrument ``BTC-USDT-SWAP``), each with a ``details`` list of ``{side,
  posSide, bkPx, sz, bkLoss, ts}``. ``side`` is the liquidation *order* side (``sell``
  closes a long); ``posSide`` is ``long``/``short`` in hedge mode but ``net`` in net mode,
  so only ``side`` tells every case. ``sz`` is in contracts: coins = ``sz`` x the
  instrument's ``ctVal`` (ccxt's ``contractSize``). The price is ``bkPx``, the bankruptcy
  price (not the fill price Binance gives). ccxt's ``parse_ws_liquidation`` reads only
  ``details[0]``; the recorder reads every entry (``details_key``).

None of the three gives an event id: the de-duplication key is ``time|side|price|qty``
(``store.event_key``) for all of them, with ``qty`` in coins after the contract size.
"""

from __future__ import annotations

from dataclasses import dataclass

from liqrisk.errors import ConfigError


@dataclass(frozen=True)
class Venue:
    """One exchange's liquidation stream, as ccxt pro sees it."""

    name: str
    #: ccxt class in ``ccxt.pro``.
    ccxt_id: str
    #: ccxt's lower-case ``side`` of an event that liquidated a long position.
    long_side: str
    #: Longest delay from an event's time to its push, in ms (sampling / batching period).
    latency_ms: int
    #: True when the exchange pushes only a sample (Binance: the latest per symbol per second).
    sampled: bool
    #: ccxt has ``watch_liquidations_for_symbols`` (one call for every pair).
    multi_symbol: bool
    #: Path inside ``exchange.urls`` of the linear-perpetual public WebSocket URL.
    ws_url_path: tuple[str, ...]
    #: The exchange's own id of a linear perpetual, from ``base`` and ``quote``.
    market_id_format: str = "{base}{quote}"
    #: Coins per contract by base currency, for markets built offline (default 1.0). A real
    #: run loads them from the exchange (ccxt's ``contractSize``).
    contract_sizes: tuple[tuple[str, float], ...] = ()
    #: Key of a list inside one raw event of which ccxt parses only the first entry.
    details_key: str | None = None

    def contract_size(self, base: str) -> float:
        return dict(self.contract_sizes).get(base, 1.0)

    def market_id(self, pair: str) -> str:
        """``'BTC/USDT:USDT'`` -> ``'BTCUSDT'`` (Binance, Bybit), ``'BTC-USDT-SWAP'`` (OKX)."""
        base, quote, _ = split_pair(pair)
        return self.market_id_format.format(base=base, quote=quote)


VENUES: dict[str, Venue] = {
    "binance": Venue("binance", "binanceusdm", long_side="sell", latency_ms=1000, sampled=True,
                     multi_symbol=True, ws_url_path=("api", "ws", "linear")),
    "bybit": Venue("bybit", "bybit", long_side="buy", latency_ms=500, sampled=False,
                   multi_symbol=False, ws_url_path=("api", "ws", "public", "linear")),
    # ccxt appends '/public' to urls.api.ws; OKX's BTC/ETH USDT swaps have ctVal 0.01 / 0.1
    "okx": Venue("okx", "okx", long_side="sell", latency_ms=1000, sampled=True, multi_symbol=True,
                 ws_url_path=("api", "ws"), market_id_format="{base}-{quote}-SWAP",
                 contract_sizes=(("BTC", 0.01), ("ETH", 0.1)), details_key="details"),
}


def venue(name: str) -> Venue:
    """The ``Venue`` called ``name`` ('binance', 'bybit', 'okx').

    :raises ConfigError: unknown exchange.
    """
    try:
        return VENUES[name]
    except KeyError:
        raise ConfigError(f"exchange {name!r} has no liquidation recorder; use one of "
                          f"{', '.join(VENUES)}.") from None


def split_pair(pair: str) -> tuple[str, str, str]:
    """``'BTC/USDT:USDT'`` -> ``('BTC', 'USDT', 'USDT')``.

    :raises ConfigError: not a ccxt perpetual symbol ``BASE/QUOTE:SETTLE``.
    """
    base, _, rest = pair.partition("/")
    quote, _, settle = rest.partition(":")
    if not (base and quote and settle):
        raise ConfigError(f"pair {pair!r} is not a ccxt perpetual symbol; write it as BASE/QUOTE:SETTLE, "
                          "e.g. BTC/USDT:USDT.")
    return base, quote, settle


def market_id(pair: str) -> str:
    """The exchanges' own symbol of a linear perpetual: ``'BTC/USDT:USDT'`` -> ``'BTCUSDT'``."""
    base, quote, _ = split_pair(pair)
    return base + quote


def offline_markets(pairs: list[str], spec: Venue | None = None) -> list[dict]:
    """ccxt market structures for linear USDT perpetuals, built without a REST call.

    Used when the WebSocket URL points at a local server, which has no REST API to load
    markets from. Ids and contract sizes are ``spec``'s (default: Binance's, 1 base unit).
    """
    spec = spec or VENUES["binance"]
    out = []
    for pair in pairs:
        base, quote, settle = split_pair(pair)
        mid = spec.market_id(pair)
        out.append({
            "id": mid, "lowercaseId": mid.lower(), "symbol": pair, "base": base, "quote": quote, "settle": settle,
            "baseId": base, "quoteId": quote, "settleId": settle, "type": "swap", "spot": False, "margin": False,
            "swap": True, "future": False, "option": False, "index": False, "active": True, "contract": True,
            "linear": True, "inverse": False, "subType": "linear", "contractSize": spec.contract_size(base),
            "expiry": None, "expiryDatetime": None, "strike": None, "optionType": None, "taker": 0.0005, "maker": 0.0002,
            "precision": {"amount": 1e-8, "price": 1e-8}, "limits": {"amount": {}, "price": {}, "cost": {},
                                                                      "leverage": {}},
            "created": None, "info": {},
        })
    return out


def set_ws_url(exchange, spec: Venue, url: str) -> None:
    """Point ``exchange``'s linear public WebSocket at ``url`` (ccxt keeps it in ``urls``)."""
    node = exchange.urls
    for key in spec.ws_url_path[:-1]:
        node = node[key]
    node[spec.ws_url_path[-1]] = url
