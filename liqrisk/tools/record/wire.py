"""The liquidation frames each venue pushes, built from a table of events (the local test bed).

Events are ``date`` (ms UTC), ``pair``, ``side`` of the liquidated position, ``price`` and
``qty`` (coins). ``liquidation_ws.LiquidationWsServer`` pushes these frames; tests compare
a recording with ``wire_events``, the events exactly as a client parses them back.

* Binance ``forceOrder``: sampled per symbol and whole UTC second ``[s, s + 1000)`` (only
  the latest event, pushed at ``s + 1000``); ``S`` is the *order* side (SELL = a long).
* Bybit ``allLiquidation``: every event, batched per 500 ms; ``S`` is the *position* side.
* OKX ``liquidation-orders`` (instType SWAP): sampled like Binance (OKX: "a maximum of one
  order per one-second period" per contract; which one it keeps is not documented, the
  latest is kept here), every instrument of a second in one push at ``s + 1000``: ``data``
  holds one entry per instrument, its ``details`` the events (several only when sampling
  is off). ``side`` is the order side, ``posSide`` is the position side in hedge mode or
  ``net`` (every other millisecond here), ``sz`` is in contracts (coins / the venue's
  contract size), ``bkPx`` the price.

Numbers go out as strings with ``SIG_DIGITS`` significant digits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk.tools.record.venues import VENUES, split_pair

BINANCE_SAMPLE_MS = 1000
BYBIT_BATCH_MS = 500
OKX_SAMPLE_MS = 1000
SIG_DIGITS = 8
EVENT_FIELDS = ("date", "pair", "side", "price", "qty")
#: OKX's topic in the test bed: ``<channel>:<instType>``.
OKX_TOPIC = "liquidation-orders:SWAP"


def symbol(pair: str) -> str:
    """Binance's and Bybit's symbol: ``'BTC/USDT:USDT'`` -> ``'BTCUSDT'``."""
    base, _, rest = pair.partition("/")
    return base + rest.partition(":")[0]


def num(x: float) -> str:
    return np.format_float_positional(float(x), precision=SIG_DIGITS, unique=False, fractional=False, trim="-")


def clean(events) -> pd.DataFrame:
    frame = pd.DataFrame(events)
    missing = [c for c in EVENT_FIELDS if c not in frame.columns]
    if missing:
        raise ValueError(f"liquidation events need columns {EVENT_FIELDS}; missing {missing}")
    frame = frame[list(EVENT_FIELDS)].astype({"date": "int64", "price": "float64", "qty": "float64"})
    frame["pair"] = frame["pair"].astype(str)
    frame["side"] = frame["side"].astype(str)
    return frame.sort_values("date", kind="stable").reset_index(drop=True)


def binance_sample(events) -> pd.DataFrame:
    """What a sampled stream (Binance, OKX) pushes of ``events``: per pair and UTC second,
    the latest event (the last one listed when times tie)."""
    frame = clean(events)
    sec = frame["date"] // BINANCE_SAMPLE_MS
    keep = ~pd.DataFrame({"pair": frame["pair"], "sec": sec}).duplicated(keep="last")
    return frame[keep].reset_index(drop=True)


def okx_contracts(pair: str, qty: float) -> str:
    """``sz`` on OKX's wire: coins in contracts of the pair's contract size."""
    return num(qty / VENUES["okx"].contract_size(split_pair(pair)[0]))


def wire_events(events, style: str, sampled: bool = True) -> pd.DataFrame:
    """``events`` as a client of ``style`` ('binance' / 'bybit' / 'okx') receives them:
    sampled (Binance, OKX) and rounded to the digits on the wire; OKX quantities are the
    contracts on the wire times the contract size. Columns ``date, pair, side, price, qty``."""
    frame = binance_sample(events) if style in ("binance", "okx") and sampled else clean(events)
    frame["price"] = [float(num(x)) for x in frame["price"]]
    if style == "okx":
        spec = VENUES["okx"]
        frame["qty"] = [float(okx_contracts(p, q)) * spec.contract_size(split_pair(p)[0])
                        for p, q in zip(frame["pair"], frame["qty"], strict=True)]
    else:
        frame["qty"] = [float(num(x)) for x in frame["qty"]]
    return frame


def binance_frames(events, sampled: bool = True) -> list[tuple[int, str, dict]]:
    """``(push ms, stream, payload)`` of Binance's ``forceOrder`` stream; unsampled, every
    event is pushed at its own time."""
    out = []
    for row in (binance_sample(events) if sampled else clean(events)).itertuples(index=False):
        push = (row.date // BINANCE_SAMPLE_MS + 1) * BINANCE_SAMPLE_MS if sampled else int(row.date)
        q, p = num(row.qty), num(row.price)
        order = {"s": symbol(row.pair), "S": "SELL" if row.side == "long" else "BUY", "o": "LIMIT", "f": "IOC",
                 "q": q, "p": p, "ap": p, "X": "FILLED", "l": q, "z": q, "T": int(row.date)}
        out.append((push, f"{symbol(row.pair).lower()}@forceOrder", {"e": "forceOrder", "E": push, "o": order}))
    return out


def bybit_frames(events, batch_ms: int = BYBIT_BATCH_MS) -> list[tuple[int, str, dict]]:
    """``(push ms, topic, payload)`` of Bybit's ``allLiquidation`` stream, one frame per
    symbol and batch."""
    frame = clean(events)
    out = []
    for (batch, pair), rows in frame.groupby([frame["date"] // batch_ms, "pair"], sort=True):
        push = int(batch + 1) * batch_ms
        topic = f"allLiquidation.{symbol(pair)}"
        data = [{"T": int(r.date), "s": symbol(pair), "S": "Buy" if r.side == "long" else "Sell",
                 "v": num(r.qty), "p": num(r.price)} for r in rows.itertuples(index=False)]
        out.append((push, topic, {"topic": topic, "type": "snapshot", "ts": push, "data": data}))
    return out


def okx_frames(events, sampled: bool = True) -> list[tuple[int, str, dict]]:
    """``(push ms, topic, payload)`` of OKX's ``liquidation-orders`` SWAP channel: one push
    per second holding every instrument's events of that second (the sample, or all)."""
    spec = VENUES["okx"]
    frame = binance_sample(events) if sampled else clean(events)
    out = []
    for sec, rows in frame.groupby(frame["date"] // OKX_SAMPLE_MS, sort=True):
        push = int(sec + 1) * OKX_SAMPLE_MS
        data = []
        for pair, prow in rows.groupby("pair", sort=True):
            base, quote, _ = split_pair(pair)
            details = [{"bkLoss": "0", "bkPx": num(r.price), "ccy": "",
                        "posSide": r.side if r.date % 2 == 0 else "net", "side": "sell" if r.side == "long" else "buy",
                        "sz": okx_contracts(pair, r.qty), "ts": str(int(r.date))} for r in prow.itertuples(index=False)]
            data.append({"details": details, "instFamily": f"{base}-{quote}", "instId": spec.market_id(pair),
                         "instType": "SWAP", "uly": f"{base}-{quote}"})
        out.append((push, OKX_TOPIC, {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": data}))
    return out
