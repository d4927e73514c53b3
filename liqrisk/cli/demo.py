"""``liqrisk demo``: the main job. Compute liquidation features on generated candles and print a summary."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=30, help="days of 5m candles to generate (default 30)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("user_data/demo/features.feather"),
                        help="where to write the feature frame (feather)")


def start(args: argparse.Namespace) -> int:
    from liqrisk import compute_features
    from liqrisk.synthetic import random_market

    if args.days <= 0:
        print(f"liqrisk demo: --days must be positive, got {args.days}", file=sys.stderr)
        return 2
    market = random_market(args.days * 288, seed=args.seed)
    t = time.perf_counter()
    feats = compute_features(market["ohlcv"], open_interest=market["open_interest"],
                             funding_rate=market["funding_rate"], mark=market["mark"],
                             pair="BTC/USDT:USDT", timeframe="5m")
    took = time.perf_counter() - t
    last = feats.iloc[-1]
    close = market["ohlcv"]["close"].iloc[-1]
    print(f"{len(feats)} candles, {feats.shape[1]} liq_ columns in {took:.2f} s (incl. numba warm-up on first run)")
    print(f"last close {close:,.2f}")
    for w in ("12h", "1d", "1w"):
        print(f"  {w:>3}: nearest short cluster above {last[f'liq_above_nearest_price_{w}']:,.0f} "
              f"(+{last[f'liq_above_nearest_dist_{w}']:.2%}, ${last[f'liq_above_nearest_usd_{w}']:,.0f}), "
              f"nearest long cluster below {last[f'liq_below_nearest_price_{w}']:,.0f} "
              f"(-{last[f'liq_below_nearest_dist_{w}']:.2%}, ${last[f'liq_below_nearest_usd_{w}']:,.0f}), "
              f"imbalance {last[f'liq_imbalance_{w}']:+.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = feats.assign(date=market["ohlcv"]["date"])
    out.reset_index(drop=True).to_feather(args.out)
    print(f"features written to {args.out}")
    return 0
