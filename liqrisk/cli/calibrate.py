"""``liqrisk calibrate``: fit the model's free parameters on real liquidations.

The fitting lives in ``liqrisk.tools.validate.calibration``; this module reads flags, prints the
fit / test table per series and side, and writes the fitted parameters as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liqrisk.cli._bounds import int_range

EXIT_USAGE = 2
DEFAULT_DATA = "../shared/data/calibration/coinglass-daily"
DEFAULT_INTRADAY = "../shared/data/real-intraday"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="folder with the daily CSVs (futures_ohlcv_1d.csv, futures_oi_agg_1d.csv, "
                             "liquidation_agg_1d.csv, funding_oi_weight_1d.csv) (default: %(default)s); "
                             "'none' leaves the daily set out")
    parser.add_argument("--intraday", default=DEFAULT_INTRADAY,
                        help="folder of per-candle CSVs named <COIN>_<tf>_*.csv with OHLCV, OI and actual "
                             "liquidations (default: %(default)s); 'none' leaves them out")
    parser.add_argument("--coins", nargs="+", default=None, metavar="COIN",
                        help="daily coins to use (default: ADA BNB BTC DOGE ETH SOL XRP)")
    parser.add_argument("--passes", type=int_range(1, 20, "coordinate-search passes"), default=2,
                        help="coordinate-search passes, 1..20 (default: %(default)s)")
    parser.add_argument("--no-fit", action="store_true",
                        help="only score the parameters of --params (default: liqrisk/calibrated.json)")
    parser.add_argument("--params", default=None, metavar="FILE",
                        help="start from / score these parameters (a JSON written by --out)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the fitted parameters and figures as JSON")


def _fail(message: str) -> int:
    print(f"liqrisk calibrate: {message}", file=sys.stderr)
    return EXIT_USAGE


def _folder(value: str, flag: str) -> Path | None:
    if value.lower() == "none":
        return None
    path = Path(value)
    if not path.is_dir():
        raise FileNotFoundError(f"{flag} {path}: no such folder (the real data sets are not part of liqrisk).")
    return path


def start(args: argparse.Namespace) -> int:
    import pandas as pd

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.validate.calibration import Params, evaluate_params, fit, objective, report, with_share
    from liqrisk.tools.validate.daily_set import COINS
    from liqrisk.tools.validate.real_sets import daily_series, intraday_series

    try:
        daily, intraday = _folder(args.data, "--data"), _folder(args.intraday, "--intraday")
    except FileNotFoundError as e:
        return _fail(str(e))
    if daily is None and intraday is None:
        return _fail("--data and --intraday are both 'none': nothing to fit on.")
    try:
        series = daily_series(daily, args.coins or COINS) if daily is not None else []
        if intraday is not None:
            files = sorted(intraday.glob("*.csv"))
            if not files:
                return _fail(f"--intraday {intraday}: no per-candle CSV files.")
            series += [intraday_series(p) for p in files]
        params = Params()
        path = Path(args.params) if args.params else Path(__file__).resolve().parents[1] / "calibrated.json"
        if args.params or args.no_fit:
            try:
                params = Params(**json.loads(path.read_text())["params"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                return _fail(f"--params {path}: cannot read fitted parameters ({e}).")
        if args.no_fit:
            params = with_share(series, params)
        else:
            params, _score, _log = fit(series, start=params, passes=args.passes, progress=print)
        runs = evaluate_params(series, params)
    except LiqriskError as e:
        return _fail(str(e))
    table = report(runs)
    with pd.option_context("display.width", 160, "display.max_rows", 400):
        print(table.round(3).to_string(index=False))
    summary = {part: round(objective(runs, part), 4) for part in ("fit", "test")}
    test = table[table["part"] == "test"]
    beats = f"{int(test['beats_baseline'].sum())} of {len(test)} coin-sides"
    print(f"\nparameters: {params}\nmean Spearman over sets (each the mean over its coins and sides): {summary}")
    print(f"test: beats the wick x OI baseline with a positive partial Spearman on {beats}; "
          f"mean margin {test['margin'].mean():+.3f}")
    print(f"LiqConfig keys: {json.dumps(params.config())}")
    if args.out:
        doc = {"params": params.__dict__, "config": params.config(), "objective": summary,
               "test_beats_baseline": beats, "test_mean_margin": round(float(test["margin"].mean()), 4),
               "sets": sorted(table["set"].unique().tolist()),
               "rows": json.loads(table.round(4).to_json(orient="records"))}
        try:
            Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as e:
            return _fail(f"--out {args.out}: {e.strerror or e}")
        print(f"written to {args.out}")
    return 0
