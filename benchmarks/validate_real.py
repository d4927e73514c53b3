"""How well the default keys rank real liquidations, on every real set, out of sample.

For each series of ``../shared/data`` (the daily set's 7 coins, 2024 on; each intraday
per-candle CSV, its later part) it prints, per side, the Spearman correlation with the
actual USD liquidated per candle of:

* the default keys (``LiqConfig()``, fitted on the earlier parts: see
  ``liqrisk/calibrated.json``), with the partial Spearman given the baseline;
* the map-free wick × OI baseline, ``(open − low)/open × OI`` (longs), ``(high −
  open)/open × OI`` (shorts), OI known at the candle's open;
* the keys liqrisk shipped before the real-data fit (``OLD_DEFAULTS``), for comparison.

Then the targets: beat the baseline on every coin-side with a positive partial
Spearman, by ≥ +0.03 on average; ≥ 0.80 (longs) and ≥ 0.75 (shorts) on every intraday
set. Losers are printed like winners.

    .venv/bin/python benchmarks/validate_real.py [--part test|fit|all] [--data DIR] [--no-taker]

``--no-taker`` adds one pass with the sets' ``taker_buy_volume`` dropped (the candle-shape
split) and prints, per coin-side, the default's Spearman with and without the taker split.

Skips (exit 0, with the reason) where ``../shared`` is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
#: The keys LiqConfig() gave before they were fitted on real data (chosen on the simulator).
OLD_DEFAULTS = {"leverage_weights": [0.30, 0.30, 0.20, 0.12, 0.08], "tier_half_life": None, "half_life_10x": None,
                "entry_weights": [0.5, 0.25, 0.25], "split_sensitivity": 0.5, "funding_weight": 0.1,
                "turnover_per_day": 0.0, "intra_turnover": 0.0, "intra_oi_range": 0.0, "intra_path": 0.0,
                "liquidatable_share": 1.0, "cluster_threshold": 0.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="the shared data folder (default: %(default)s)")
    parser.add_argument("--part", default="test", choices=("test", "fit", "all"))
    parser.add_argument("--no-taker", action="store_true",
                        help="also score without the taker buy volume (candle-shape split) and compare")
    args = parser.parse_args()
    data = Path(args.data)
    daily, intraday = data / "calibration" / "coinglass-daily", data / "real-intraday"
    if not (daily.is_dir() and intraday.is_dir()):
        print(f"skipped: the real data sets are not at {data} (internal reference data, not shipped).")
        return 0

    from liqrisk.tools.validate.real_sets import load_real_sets, run_series, score_runs

    t0 = time.perf_counter()
    series = load_real_sets(daily, intraday)
    new = score_runs([run_series(s) for s in series], parts=(args.part,))
    old = score_runs([run_series(s, OLD_DEFAULTS) for s in series], parts=(args.part,))
    df = new.assign(old=old["spearman"].to_numpy(), margin=new["spearman"] - new["baseline"])
    df["wins"] = (df["margin"] > 0) & (df["partial"] > 0)
    print(f"Real data, {args.part} part: Spearman with actual liquidations per candle "
          f"(longest window 1w; {time.perf_counter() - t0:.0f} s)\n")
    head = f"{'series':<13}{'candles':>8}  {'long: default / baseline (partial) / old':<44}{'short: default / baseline (partial) / old'}"
    print(head)
    for (name, coin), g in df.groupby(["set", "coin"], sort=False):
        cells = []
        for side in ("long", "short"):
            r = g[g["side"] == side].iloc[0]
            mark = "" if r["wins"] else " LOSES"
            cells.append(f"{r['spearman']:.3f} / {r['baseline']:.3f} ({r['partial']:+.2f}) / {r['old']:.3f}{mark}")
        label = f"{name} {coin}" if name == "daily" else name
        print(f"{label:<13}{int(g['n'].iloc[0]):>8}  {cells[0]:<44}{cells[1]}")
    wins = int(df["wins"].sum())
    print(f"\ndefault beats the baseline with a positive partial Spearman on {wins} of {len(df)} coin-sides; "
          f"mean margin {df['margin'].mean():+.3f} (smallest {df['margin'].min():+.3f}); "
          f"old defaults: mean margin {(df['old'] - df['baseline']).mean():+.3f}")
    intra = df[df["set"] != "daily"]
    for side, target in (("long", 0.80), ("short", 0.75)):
        s = intra[intra["side"] == side]
        miss = s[s["spearman"] < target]
        status = "met" if miss.empty else "missed on " + ", ".join(f"{a} ({b:.3f})" for a, b in zip(miss["set"], miss["spearman"], strict=True))
        print(f"intraday {side}s >= {target:.2f}: {status}")
    if args.no_taker:
        import dataclasses

        has = [s for s in series if "taker_buy_volume" in s.ohlcv.columns]
        if not has:
            print("\nno set carries taker_buy_volume: nothing to compare")
            return 0
        bare = [dataclasses.replace(s, ohlcv=s.ohlcv.drop(columns="taker_buy_volume")) for s in has]
        without = score_runs([run_series(s) for s in bare], parts=(args.part,))
        taker = df[df["set"].isin({s.set for s in has})].reset_index(drop=True)
        gain = taker["spearman"].to_numpy() - without["spearman"].to_numpy()
        print(f"\ntaker split vs candle-shape split ({args.part} part, sets with taker_buy_volume):")
        for (name, side, a, b, d) in zip(taker["set"], taker["side"], taker["spearman"], without["spearman"], gain,
                                         strict=True):
            print(f"{name:<13}{side:<7}{a:.4f} / {b:.4f}  {d:+.4f}")
        print(f"mean {gain.mean():+.4f} (smallest {gain.min():+.4f}, largest {gain.max():+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
