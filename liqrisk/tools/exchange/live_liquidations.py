"""The local exchange's liquidation streams in ``--live`` mode: fed from the simulator, with faults.

``feed_live`` polls the live market (``liqrisk.tools.sim.stream.LiveMarket``) once a second:
when the simulator closes a minute, that minute's liquidations (their own simulated times,
so up to a minute in the past) go to the ``LiquidationWsServer`` as Binance ``forceOrder``
frames (sampled per symbol and second, as Binance does), Bybit ``allLiquidation`` batches
and OKX ``liquidation-orders`` pushes (sampled per instrument and second, sizes in contracts).
A frame whose push time has passed is pushed at once, so a stream runs up to a minute
behind the candles, and a connection dropped in that minute misses frames from before
the drop (a recorder pads its gaps by the push latency only; the test bed says so here).

``WsFaults`` are the WebSocket faults of ``liqrisk exchange --faults``: ``ws_drop:R`` and
``ws_delay:R`` (``split_ws_faults``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

import pandas as pd

logger = logging.getLogger(__name__)

#: Seconds between two looks at the live market for new liquidations.
POLL_S = 1.0


@dataclass(frozen=True)
class WsFaults:
    """Injected WebSocket faults, drawn from ``seed`` (reproducible).

    ``drop_per_s``: chance per wall-clock second that every connection is closed (code
    1001), new ones refused for ``down_s`` s. ``delay_share``: share of frames pushed
    ``delay_s`` s late (after frames pushed on time: order changes, as on a slow link).
    """

    drop_per_s: float = 0.0
    delay_share: float = 0.0
    down_s: float = 1.0
    delay_s: float = 3.0
    seed: int = 0

    def draw(self, tag: str, n: int) -> float:
        return int.from_bytes(hashlib.blake2b(f"{self.seed}|{tag}|{n}".encode(), digest_size=8).digest()) / 2.0**64


#: ``--faults`` kinds that are WebSocket faults (the rest are per HTTP request).
WS_FAULT_KINDS = {"ws_drop": "drop_per_s", "ws_delay": "delay_share"}


def split_ws_faults(spec: str | None, seed: int = 0) -> tuple[str, WsFaults | None]:
    """``"429:0.05,ws_drop:0.02"`` -> ``("429:0.05", WsFaults(drop_per_s=0.02))``.

    ``ws_drop:R``: chance per second (0..1) of dropping every liquidation WebSocket;
    ``ws_delay:R``: share of frames (0..1) pushed late.

    :raises ValueError: a rate that is not a number in [0, 1].
    """
    rest, kw = [], {}
    for part in (spec or "").split(","):
        name, _, value = part.strip().partition(":")
        if name.strip().lower() not in WS_FAULT_KINDS:
            if part.strip():
                rest.append(part.strip())
            continue
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate {value!r} of {name} must be a number in [0, 1]")
        kw[WS_FAULT_KINDS[name.strip().lower()]] = rate
    return ",".join(rest), (WsFaults(seed=seed, **kw) if kw else None)



async def feed_live(server, exchange, poll_s: float = POLL_S) -> None:
    """Feed ``server`` (a ``LiquidationWsServer``) the liquidations ``exchange``'s live source
    simulates from now on, until cancelled. A source without ``liquidations`` feeds nothing."""
    source = exchange.view.source
    if not hasattr(source, "liquidations"):
        return
    start = int(exchange.now()) - 60_000  # not the catch-up from the saved state to now
    since = dict.fromkeys(source.pairs, start)
    while True:
        try:
            await asyncio.to_thread(exchange.refresh)  # simulating a minute takes a while: off the loop
            frames = []
            for pair in source.pairs:
                ev = source.liquidations(pair, since[pair])
                if len(ev):
                    since[pair] = int(ev["date"].max()) + 1
                    frames.append(ev.assign(pair=pair))
            if frames:
                server.feed(pd.concat(frames, ignore_index=True))
        except asyncio.CancelledError:
            raise
        except Exception:  # keep serving; the next poll tries again
            logger.exception("feeding live liquidations failed")
        await asyncio.sleep(poll_s)
