"""``liqrisk calibrate``: fit the model's free parameters on daily real liquidations.

The fitting lives in ``liqrisk.tools.validate.calibration``; this module reads flags, prints the
in-sample / out-of-sample table and writes the fitted parameters as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_USAGE = 2
DEFAULT_DATA = "../shared/data/calibration/coinglass-daily"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="folder with the daily CSVs (futures_ohlcv_1d.csv, futures_oi_agg_1d.csv, "
                             "liquidation_agg_1d.csv, funding_oi_weight_1d.csv) (default: %(default)s)")
    parser.add_argument("--coins", nargs="+", default=None, metavar="COIN",
                        help="coins to fit jointly (default: ADA BNB BTC DOGE ETH SOL XRP)")
    parser.add_argument("--passes", type=int, default=2, help="coordinate-search passes (default: %(default)s)")
    parser.add_argument("--no-fit", action="store_true",
                        help="only score the parameters of --params (default: liqrisk/calibrated.json)")
    parser.add_argument("--params", default=None, metavar="FILE",
                        help="start from / score these parameters (a JSON written by --out)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the fitted parameters and figures as JSON")


def _fail(message: str) -> int:
    print(f"liqrisk calibrate: {message}", file=sys.stderr)
    return EXIT_USAGE


def start(args: argparse.Namespace) -> int:
    import pandas as pd

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.validate.calibration import (
        COINS,
        TEST,
        TRAIN,
        Params,
        evaluate_params,
        fit,
        load_daily_markets,
        objective,
        report,
    )

    data = Path(args.data)
    if not data.is_dir():
        return _fail(f"--data {data}: no such folder (the daily calibration set is not part of liqrisk).")
    try:
        markets = load_daily_markets(data, args.coins or COINS)
        params = Params()
        path = Path(args.params) if args.params else Path(__file__).resolve().parents[1] / "calibrated.json"
        if args.params or args.no_fit:
            try:
                params = Params(**json.loads(path.read_text())["params"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                return _fail(f"--params {path}: cannot read fitted parameters ({e}).")
        if not args.no_fit:
            params, _score, _log = fit(markets, start=params, passes=args.passes, progress=print)
        runs = evaluate_params(markets, params)
    except LiqriskError as e:
        return _fail(str(e))
    table = report(runs, {"train 2021-2023": TRAIN, "test 2024-": TEST})
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.round(3).to_string(index=False))
    summary = {name: round(objective(runs, period), 4) for name, period in (("train", TRAIN), ("test", TEST))}
    print(f"\nparameters: {params}\nmean Spearman over coins and sides: {summary}")
    print(f"LiqConfig keys: {json.dumps(params.config())}")
    if args.out:
        doc = {"params": params.__dict__, "config": params.config(), "objective": summary,
               "timeframe": "1d", "coins": list(markets),
               "rows": json.loads(table.to_json(orient="records"))}
        try:
            Path(args.out).write_text(json.dumps(doc, indent=2))
        except OSError as e:
            return _fail(f"--out {args.out}: {e.strerror or e}")
        print(f"written to {args.out}")
    return 0
