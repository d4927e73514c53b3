"""``liqrisk calibrate``: fit the model's free parameters on real liquidations.

The fitting lives in ``liqrisk.tools.validate.calibration``; this module reads flags, prints the
fit / test table per series and side, and writes the fitted parameters as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liqrisk.cli._bounds import int_range, pair_name

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
    parser.add_argument("--recorded", default=None, metavar="DATADIR",
                        help="also fit on pairs recorded by 'liqrisk record' or a bot: a freqtrade data folder "
                             "(e.g. user_data/data/binance) with futures/ candles and OI and the "
                             "liqrisk_liquidations/ store; candles touching a recording gap are skipped")
    parser.add_argument("--recorded-pairs", nargs="+", default=None, metavar="PAIR", type=pair_name,
                        help="with --recorded: the pairs (default: every pair of the store)")
    parser.add_argument("--recorded-timeframe", default="5m",
                        help="with --recorded: the candles to score (default: %(default)s)")
    parser.add_argument("--recorded-exchanges", nargs="+", default=None, metavar="EXCHANGE",
                        help="with --recorded: the exchanges to sum (default: all recorded; Binance undercounts)")
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


def _recorded(args: argparse.Namespace) -> list:
    from liqrisk.errors import ConfigError
    from liqrisk.tools.record.store import store_root
    from liqrisk.tools.validate.real_sets import recorded_series

    root = store_root(args.recorded)
    pairs = args.recorded_pairs
    if not pairs:
        names = {p.name for ex in (root.iterdir() if root.is_dir() else []) if ex.is_dir() for p in ex.iterdir()}
        pairs = sorted(f"{n.split('_')[0]}/{n.split('_')[1]}:{n.split('_')[2]}" for n in names if n.count("_") == 2)
    if not pairs:
        raise ConfigError(f"--recorded {args.recorded}: no recording in {root}; record with liqrisk record or a bot "
                          "with liqrisk_record_liquidations.")
    out = [recorded_series(args.recorded, p, args.recorded_timeframe, args.recorded_exchanges) for p in pairs]
    print(f"recorded: {', '.join(pairs)} at {args.recorded_timeframe} from {root}; candles touching a recording gap "
          "skipped" + ("; Binance's stream is sampled (an undercount)" if not args.recorded_exchanges
                       or "binance" in args.recorded_exchanges else ""))
    return out


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
    if daily is None and intraday is None and args.recorded is None:
        return _fail("--data and --intraday are both 'none' and no --recorded: nothing to fit on.")
    if args.recorded is None and (args.recorded_pairs or args.recorded_exchanges):
        return _fail("--recorded-pairs and --recorded-exchanges go with --recorded DATADIR.")
    try:
        series = daily_series(daily, args.coins or COINS) if daily is not None else []
        if intraday is not None:
            files = sorted(intraday.glob("*.csv"))
            if not files:
                return _fail(f"--intraday {intraday}: no per-candle CSV files.")
            series += [intraday_series(p) for p in files]
        if args.recorded is not None:
            series += _recorded(args)
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
