"""liqrisk against a Python peer: gptprojectmanager/liquidations' time-evolving heatmap.

Issue #16's target: liqrisk at least 1,000x faster per candle than the peer's
``calculate_time_evolving_heatmap`` (pure Python, ``Decimal`` arithmetic; the issue
measured 2.9 ms per candle), on the same 5,000 5m candles, measured in one run.

The peer's code is NOT part of this repository (nor copied into it): pass a local copy
of its repository with ``--peer-path DIR``, a folder holding
``src/liquidationheatmap/models/time_evolving_heatmap.py`` (and ``position.py`` beside
it). For example::

    git clone https://github.com/gptprojectmanager/liquidations /tmp/peer
    # or only the two modules it needs, from a clone or mirror:
    git --git-dir=/tmp/peer/.git archive HEAD src/liquidationheatmap | tar -x -C /tmp/peer-src

    .venv/bin/python benchmarks/bench_peer.py --peer-path /tmp/peer [--candles 5000] [--repeat 7]
    # the same on a freqtrade datadir's 5m candles and OI (e.g. from liqrisk simulate):
    .venv/bin/python benchmarks/bench_peer.py --peer-path /tmp/peer --datadir DIR --pair ETH/USDT:USDT [--start 10000]
    # like for like: one book (the peer keeps one, with no time window) instead of three:
    .venv/bin/python benchmarks/bench_peer.py --peer-path /tmp/peer --windows 1w

Without a usable ``--peer-path`` it prints why it skipped and exits 0.

What each side gets, from one synthetic market (``random_market(n, seed=7)``), or from
``--datadir``'s 5m futures, OI, funding and mark candles of ``--pair`` (candles
``--start`` .. ``--start + --candles``; freqtrade's data handler, ``load_market``):

* the peer: its own input format, as its tests build it: candle objects with
  ``open_time`` (datetime) and ``Decimal`` open/high/low/close/volume, and the OI change
  per candle in USD (``open_interest_value`` minus the previous candle's), as ``Decimal``.
  Converting the inputs is not timed. It keeps every position until a wick crosses it
  (no time window), one side per candle, 5 leverage tiers, and returns one heatmap
  snapshot per candle;
* liqrisk: ``compute_features`` with its defaults on the same candles plus their OI,
  funding and mark candles: 3 windows (12h/1d/1w), both sides, 5 tiers x 3 entry prices,
  nearest/strongest clusters and confluence per candle; median of ``--repeat`` runs
  after one warm-up call (the kernels loaded).

The ratio compares time per candle: the peer's one run (it takes seconds) against
liqrisk's median. Issue #16's target is on liqrisk's defaults (three windows);
``--windows`` sets others (the printout says which), e.g. ``1w`` for one book like the peer's. The peer's time grows with the positions it keeps alive (it walks every
one on every candle), so it depends on the market; liqrisk's hardly does.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

PEER_MODULE = "src.liquidationheatmap.models.time_evolving_heatmap"
PEER_FILE = Path(*PEER_MODULE.split(".")).with_suffix(".py")
TARGET_RATIO = 1000.0


@dataclass
class PeerCandle:
    """The candle shape the peer's ``CandleLike`` protocol and its tests use."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def load_peer(peer_path: Path | None):
    """(the peer's ``calculate_time_evolving_heatmap``, None), or (None, why it is unusable)."""
    if peer_path is None:
        return None, "no --peer-path given (a local copy of github.com/gptprojectmanager/liquidations)"
    if not (peer_path / PEER_FILE).is_file():
        return None, f"{peer_path / PEER_FILE} not found; --peer-path must be the peer repository's root folder"
    sys.path.insert(0, str(peer_path))  # the peer imports itself as ``src.liquidationheatmap...``
    try:
        module = importlib.import_module(PEER_MODULE)
    except Exception as e:  # the peer's code, not ours: report, don't crash
        return None, f"importing {PEER_MODULE} from {peer_path} failed: {e!r}"
    finally:
        sys.path.remove(str(peer_path))
    func = getattr(module, "calculate_time_evolving_heatmap", None)
    if func is None:
        return None, f"{PEER_MODULE} has no calculate_time_evolving_heatmap (another version of the peer?)"
    return func, None


def peer_inputs(market: dict) -> tuple[list[PeerCandle], list[Decimal]]:
    """The peer's inputs for the market's candles: Decimal OHLCV and the OI change in USD."""
    ohlcv = market["ohlcv"]
    oi_usd = market["open_interest"].set_index("date")["open_interest_value"].reindex(ohlcv["date"])
    delta = oi_usd.diff().fillna(0.0).to_numpy()
    rows = ohlcv[["open", "high", "low", "close", "volume"]].to_numpy()
    candles = [PeerCandle(d.to_pydatetime(), *(Decimal(str(float(x))) for x in row))
               for d, row in zip(ohlcv["date"], rows, strict=True)]
    return candles, [Decimal(str(float(x))) for x in delta]


def datadir_market(datadir: Path, pair: str, start: int, n: int) -> dict:
    """``n`` 5m candles of ``pair`` from ``start`` on, with the datadir's OI, funding and mark."""
    from liqrisk.tools.datadir import load_market

    m = load_market(pair, "5m", datadir=datadir)
    if m.open_interest is None:
        sys.exit(f"bench_peer: {datadir} has no 5m open_interest candles of {pair}; the peer needs OI.")
    ohlcv = m.ohlcv.iloc[start:start + n].reset_index(drop=True)
    if len(ohlcv) < n:
        sys.exit(f"bench_peer: {pair} has {len(m.ohlcv)} candles in {datadir}; {start} + {n} asked.")
    return {"ohlcv": ohlcv, "open_interest": m.open_interest, "funding_rate": m.funding_rate, "mark": m.mark}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-path", type=Path, help="local copy of github.com/gptprojectmanager/liquidations")
    parser.add_argument("--candles", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7, help="liqrisk runs (the peer runs once)")
    parser.add_argument("--datadir", type=Path, help="a freqtrade datadir with 5m futures and open_interest candles "
                        "(default: a synthetic market)")
    parser.add_argument("--pair", default="BTC/USDT:USDT", help="the pair (default: %(default)s)")
    parser.add_argument("--start", type=int, default=0, help="with --datadir: the first candle's index (default: 0)")
    parser.add_argument("--windows", nargs="+", help="liqrisk's windows (default: its defaults, 12h 1d 1w)")
    args = parser.parse_args()

    peer, why = load_peer(args.peer_path)
    if peer is None:
        print(f"bench_peer: skipped: {why}.")
        return 0

    import logging

    logging.disable(logging.WARNING)
    from liqrisk import LiqConfig, compute_features
    from liqrisk.core.synthetic import random_market

    n = args.candles
    if args.datadir is None:
        market = random_market(n, seed=7)
        source = "random_market(seed=7)"
    else:
        market = datadir_market(args.datadir, args.pair, args.start, n)
        source = f"{args.pair} in {args.datadir}, candles {args.start}..{args.start + n}"
    kw = {k: market[k] for k in ("open_interest", "funding_rate", "mark")}
    config = None if args.windows is None else {"windows": args.windows}
    windows = ", ".join(args.windows or LiqConfig().windows)
    compute_features(market["ohlcv"], **kw, pair=args.pair, config=config)  # load the compiled kernels
    ours = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        compute_features(market["ohlcv"], **kw, pair=args.pair, config=config)
        ours.append(time.perf_counter() - t)

    candles, oi_deltas = peer_inputs(market)
    t = time.perf_counter()
    snapshots = peer(candles=candles, oi_deltas=oi_deltas, symbol="BTCUSDT")
    peer_s = time.perf_counter() - t
    if len(snapshots) != n:
        print(f"bench_peer: the peer returned {len(snapshots)} snapshots for {n} candles; not comparable.")
        return 1

    ours_s = statistics.median(ours)
    ratio = peer_s / ours_s
    rows = [
        ("market", source, ""),
        (f"peer: calculate_time_evolving_heatmap, {n:,} x 5m", f"{peer_s:.2f} s", f"{peer_s / n * 1e3:.3f} ms/candle"),
        (f"liqrisk: compute_features, same {n:,} candles, windows {windows}", f"{ours_s * 1e3:.1f} ms median",
         f"{ours_s / n * 1e6:.2f} us/candle"),
        ("  runs (ms)", " ".join(f"{x * 1e3:.1f}" for x in ours), ""),
        ("peer's active price levels at the last candle", f"{len(snapshots[-1].cells)}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, per in rows:
        print(f"{name:<{width}}  {value:<18} {per}")
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(f"{'per-candle speed-up over the peer':<{width}}  {ratio:,.0f}x{'':<12} >= {TARGET_RATIO:,.0f}x  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
