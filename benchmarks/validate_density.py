"""How well the estimate tracks the simulator's exact 5m truth, against market density.

For each density (``liqrisk simulate --cohorts-per-minute``), simulate the pairs, then
score ``liq_*_est_usd`` against the truth with ``liqrisk.tools.validate`` (5m, one window):
Spearman, the any-liquidation AUC, Spearman over liquidation candles, and the best
map-free baseline, per pair and side, for the default model keys and for
``turnover_per_day`` set to the simulator's own turnover (1440 / mean position lifetime,
in minutes), and for the simulator's keys (that turnover and its leverage mix). Beside
them, the noise ceiling (``liqrisk.tools.sim.ceiling``): the Spearman of an
oracle that knows every cohort's opening, and of the same oracle with its smallest values
set to zero at the cut that scores best in hindsight (Spearman on mostly-zero truth
rewards exact zeros; an optimistic bound). This is the table in the README's
"Validation" section.

    .venv/bin/python benchmarks/validate_density.py [--densities 3 10 30 100] [--days 40]
        [--pairs BTC/USDT:USDT SOL/USDT:USDT] [--window 1w] [--seed 42] [--draws 16]

Cost grows about linearly with density: 100/min for 2 pairs x 40 days takes ~1 min and
~5 GB of memory (the simulator keeps every cohort). Data goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from liqrisk.tools.datadir import load_market
from liqrisk.tools.sim import specs
from liqrisk.tools.sim.ceiling import oracle_liquidations
from liqrisk.tools.sim.writer import simulate_datadir
from liqrisk.tools.validate.actuals import read_actuals
from liqrisk.tools.validate.metrics import spearman
from liqrisk.tools.validate.scoring import validate_frames


def simulator_turnover_per_day() -> float:
    """Share of open interest the simulator closes and re-opens per day."""
    return 1440.0 / specs.mean_cohort_life_minutes()


def simulator_keys() -> dict:
    """Model keys that describe the simulator's own positions: its turnover and its
    leverage mix (``specs.LEVERAGES`` / ``LEVERAGE_WEIGHTS``), the model's free choices
    set to the values that generated the truth."""
    weights = specs.LEVERAGE_WEIGHTS / specs.LEVERAGE_WEIGHTS.sum()
    return {"turnover_per_day": round(simulator_turnover_per_day(), 2),
            "leverage_tiers": specs.LEVERAGES.tolist(), "leverage_weights": weights.round(4).tolist()}


def best_cut_spearman(series: np.ndarray, act: np.ndarray) -> float:
    """Spearman of ``series`` with its smallest non-zero values set to 0, at the share
    (0, 2.5%, .. 95% of the non-zero values) that scores best against ``act``."""
    nonzero = series[series > 0]
    if nonzero.size == 0:
        return spearman(series, act)
    return max(spearman(np.where(series > np.quantile(nonzero, q), series, 0.0), act)
               for q in np.linspace(0.0, 0.95, 39))


def score(datadir: Path, pairs: list[str], configs: dict[str, dict], window: str, draws: int) -> list[dict]:
    meta = json.loads((datadir / "binance" / "liqrisk_truth" / "meta.json").read_text())
    truth = datadir / "binance" / "liqrisk_truth" / "liquidations.parquet"
    rows = []
    for pair in pairs:
        market = load_market(pair, "5m", datadir=datadir / "binance")
        actual = read_actuals(truth, pair=pair)
        oracle = oracle_liquidations(datadir / "binance", pair, replicates=draws)
        for keys, config in configs.items():
            res = validate_frames(market.ohlcv, actual, open_interest=market.open_interest,
                                  funding_rate=market.funding_rate, mark=market.mark, pair=pair, timeframe="5m",
                                  config=config, window=window, span_ms=(meta["start_ms"], meta["end_ms"]))
            res.add_oracle(oracle.frame, oracle.replicates)
            for side, m in res.metrics.items():
                best = m["baselines"][m["best_baseline"]]
                rows.append({"pair": pair, "keys": keys, "side": side, "spearman": m["spearman"],
                             "auc_any": m["auc_any"], "spearman_nonzero": m["spearman_nonzero"],
                             "baseline": m["best_baseline"], "baseline_spearman": best["spearman"],
                             "oracle_spearman": m["oracle"]["spearman"],
                             "oracle_best_cut": best_cut_spearman(res.frame[f"oracle_{side}_usd"].to_numpy(),
                                                                  res.frame[f"act_{side}_usd"].to_numpy()),
                             "actual_nonzero": m["nonzero_actual"] / m["n"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--densities", type=float, nargs="+", default=[3.0, 10.0, 30.0, 100.0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--pairs", nargs="+", default=["BTC/USDT:USDT", "SOL/USDT:USDT"])
    parser.add_argument("--window", default="1w")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--draws", type=int, default=16, help="oracle re-draws (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the first candle's OI gap warns once per pair and run

    turnover = round(simulator_turnover_per_day(), 2)
    configs = {"default keys": {}, f"turnover_per_day {turnover}": {"turnover_per_day": turnover},
               "simulator's keys": simulator_keys()}
    print(f"{len(args.pairs)} pairs x {args.days} days, 5m, window {args.window}, seed {args.seed}")
    print(f"{'cohorts/min':>11} {'keys':<22} {'spearman':>15} {'any-liq AUC':>13} {'spearman|liq':>13} "
          f"{'best baseline':>14} {'oracle':>10} {'oracle, cut':>12} {'candles w/ liq':>15} {'sim s':>6}")
    every = []
    for density in args.densities:
        with tempfile.TemporaryDirectory(prefix="liqrisk-density-") as tmp:
            t0 = time.perf_counter()
            simulate_datadir(tmp, args.pairs, days=args.days, seed=args.seed, cohorts_per_minute=density)
            sim_s = time.perf_counter() - t0
            rows = score(Path(tmp), args.pairs, configs, args.window, args.draws)
        for keys in configs:
            sel = [r for r in rows if r["keys"] == keys]

            def span(key: str, rows=sel) -> str:
                values = [r[key] for r in rows]
                return f"{min(values):.2f}-{max(values):.2f}"

            mean = statistics.fmean(r["spearman"] for r in sel)
            print(f"{density:>11g} {keys:<22} {span('spearman'):>9} ({mean:.2f}) {span('auc_any'):>13} "
                  f"{span('spearman_nonzero'):>13} {span('baseline_spearman'):>14} {span('oracle_spearman'):>10} "
                  f"{span('oracle_best_cut'):>12} {span('actual_nonzero'):>15} "
                  f"{sim_s:>6.1f}", flush=True)
        every += [{"cohorts_per_minute": density, **r} for r in rows]
    print("ranges are over pairs and sides; (mean Spearman). best baseline: the map-free series with the highest "
          "Spearman; oracle: Spearman of the noise ceiling (knows every opening, re-draws leverage, bracket, "
          "lifetime, stop); oracle, cut: the same with its smallest values zeroed at the best cut in hindsight; "
          "candles w/ liq: share of candles with any actual liquidation.")
    if args.json:
        args.json.write_text(json.dumps(every, indent=1))
        print(f"rows written to {args.json}")


if __name__ == "__main__":
    main()
