"""``liqrisk demo``: the main job. Simulate a market, serve it locally, backtest with unmodified freqtrade.

Steps (``liqrisk.tools.demo.runner.run_demo``): simulate 90 days of BTC/ETH/SOL/XRP USDT perpetuals into
``user_data/data`` unless they are there; start ``liqrisk exchange`` on 127.0.0.1; run
``freqtrade backtesting`` on the sample strategy and its baseline; draw a heatmap; stop the
exchange; print the results. ``--features-only`` is the older quick demo: features on
generated candles, no freqtrade.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from liqrisk.cli import _bounds as B
from liqrisk.tools.demo.runner import Reporter

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liqrisk.tools.demo.data import DEFAULT_PAIRS, DEFAULT_SEED
    from liqrisk.tools.demo.freqtrade_run import DEFAULT_STRATEGIES

    parser.add_argument("--datadir", type=Path, default=Path("user_data/data"),
                        help="freqtrade data folder; simulated into when needed (default: %(default)s)")
    parser.add_argument("--config", type=Path, default=Path("user_data/config.offline.json"),
                        help="freqtrade config pointing at the local exchange (default: %(default)s)")
    parser.add_argument("--strategy-path", type=Path, default=Path("strategies"),
                        help="folder of the strategies (default: %(default)s)")
    parser.add_argument("--strategy-list", nargs="+", metavar="NAME", default=None,
                        help=f"strategies to backtest (default: {' '.join(DEFAULT_STRATEGIES)}; "
                             "every strategy in --strategy-path while those are missing)")
    parser.add_argument("--strategy", dest="strategy_list", nargs="+", metavar="NAME",
                        help="same as --strategy-list")
    parser.add_argument("--pairs", nargs="+", metavar="PAIR", default=list(DEFAULT_PAIRS), type=B.pair_name,
                        help="pairs to simulate and backtest (default: %(default)s)")
    parser.add_argument("--days", type=B.days, default=None,
                        help=f"days to simulate, 1..{B.DAYS_MAX} (default: 90; 30 with --features-only)")
    parser.add_argument("--seed", type=B.seed, default=DEFAULT_SEED,
                        help=f"simulation seed, 0..{B.SEED_MAX} (default: %(default)s)")
    parser.add_argument("--end", default=None, help="UTC end of the simulated data (default: 2025-03-31)")
    parser.add_argument("--resimulate", action="store_true", help="simulate even when matching data is there")
    parser.add_argument("--timerange", default=None,
                        help="backtest timerange, e.g. 20250201-20250331 (default: the data minus an 8-day warm-up)")
    parser.add_argument("--port", type=B.port, default=None,
                        help="local exchange port, 0..65535, 0 for any free one (default: the config's, 8765; a "
                             "free one if that is busy)")
    parser.add_argument("--userdir", type=Path, default=Path("user_data"),
                        help="freqtrade user folder; logs/, plot/ and backtest_results/ go there (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=None,
                        help="freqtrade --backtest-directory (default: <userdir>/backtest_results)")
    parser.add_argument("--no-heatmap", action="store_true", help="skip the heatmap picture")
    parser.add_argument("--cache", choices=["none", "day", "week", "month"], default="none",
                        help="freqtrade's backtest cache; 'none' always runs the backtest (default: %(default)s)")
    parser.add_argument("--features-only", action="store_true",
                        help="only compute features on generated candles and print the nearest clusters (no freqtrade)")
    parser.add_argument("--out", type=Path, default=Path("user_data/demo/features.feather"),
                        help="--features-only: where to write the feature frame (default: %(default)s)")


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"liqrisk demo: {message}", file=sys.stderr)
    return code


def start(args: argparse.Namespace) -> int:
    from liqrisk.tools.demo.data import DEFAULT_DAYS

    if args.days is None:
        args.days = 30 if args.features_only else DEFAULT_DAYS
    if args.features_only:
        return _features_only(args)
    bad = _check_dates(args)
    if bad:
        return _fail(bad)

    from rich.console import Console

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.demo.errors import OfflineError
    from liqrisk.tools.demo.processes import sigterm_as_interrupt
    from liqrisk.tools.demo.runner import DemoOptions, run_demo

    console = Console(stderr=True, soft_wrap=True)
    opts = DemoOptions(
        datadir=args.datadir, config=args.config, strategy_path=args.strategy_path,
        strategies=args.strategy_list, pairs=list(dict.fromkeys(args.pairs)), days=args.days, seed=args.seed,
        end=args.end, resimulate=args.resimulate, timerange=args.timerange, port=args.port,
        userdir=args.userdir, result_dir=args.results, heatmap=not args.no_heatmap, cache=args.cache,
    )
    t0 = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            result = run_demo(opts, _RichReporter(console))
    except KeyboardInterrupt:
        console.print("[yellow]liqrisk demo: interrupted; the local exchange is stopped.[/]")
        return EXIT_INTERRUPTED
    except OfflineError as e:  # a step of the run failed
        return _fail(str(e), EXIT_FAILED)
    except LiqriskError as e:  # a bad flag or config value
        return _fail(str(e))
    _print_summary(result, time.perf_counter() - t0)
    return 0


def _check_dates(args: argparse.Namespace) -> str | None:
    """--end and --timerange checked before anything is simulated; the message, or None."""
    from liqrisk.errors import ConfigError
    from liqrisk.tools.sim.writer import parse_end

    try:
        parse_end(args.end)
    except ConfigError as e:
        return f"--end: {e}"
    if args.timerange:
        from freqtrade.configuration import TimeRange

        try:
            TimeRange.parse_timerange(args.timerange)
        except Exception as e:  # noqa: BLE001 - freqtrade raises OperationalException or ValueError
            return f"--timerange {args.timerange}: {e}"
    return None


class _RichReporter(Reporter):
    """Progress bars for the simulation, a spinner with freqtrade's last log line for long steps."""

    def __init__(self, console):
        self.console = console
        self._progress = None

    def note(self, message: str) -> None:
        self.console.print(f"[cyan]•[/] {message}", highlight=False)

    @contextlib.contextmanager
    def step(self, title: str):
        t0 = time.perf_counter()
        with self.console.status(f"{title} ...") as status:
            def update(line: str) -> None:
                line = line.strip()
                if line:
                    status.update(f"{title} ... [dim]{line[-100:]}[/]")

            yield update
        self.console.print(f"[green]✓[/] {title} ({time.perf_counter() - t0:.1f} s)", highlight=False)

    def simulation_progress(self, pairs, total_minutes):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(TextColumn("simulating {task.description:<16}"), BarColumn(),
                            TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(), console=self.console,
                            transient=True)
        tasks = {pair: progress.add_task(pair, total=total_minutes, start=False) for pair in pairs}
        self._progress = progress

        def on_progress(pair: str, done: int) -> None:
            if not progress.live.is_started:
                progress.start()
            progress.start_task(tasks[pair])
            progress.update(tasks[pair], completed=done)

        return on_progress

    def simulation_done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _print_summary(result, total_s: float) -> None:
    from rich.console import Console
    from rich.table import Table

    from liqrisk.tools.demo.runner import rel

    out = Console(soft_wrap=True)
    bt = result.backtest
    tf = bt.strategies[0].timeframe if bt.strategies else "?"
    market = "simulated market" if result.data.action != "existing" else "existing data"
    cur = bt.strategies[0].stake_currency if bt.strategies else "USDT"
    table = Table(title=f"Backtest {result.timerange}: {len(result.data.pairs)} pairs, {tf} candles, {market}",
                  title_justify="left")
    table.add_column("strategy", no_wrap=True)
    for col in ("trades", "win %", "profit %", cur, "max DD %"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in bt.strategies:
        table.add_row(s.strategy, str(s.trades), f"{s.winrate * 100:.1f}", f"{s.profit_ratio * 100:+.2f}",
                      f"{s.profit_abs:+,.2f}", f"{s.max_drawdown_ratio * 100:.2f}")
    out.print(table)
    sample, base = bt.get("LiqRiskSample"), bt.get("LiqRiskSampleBaseline")
    if sample and base:
        out.print(f"LiqRiskSample vs its baseline: profit {(sample.profit_ratio - base.profit_ratio) * 100:+.2f} "
                  f"points, max drawdown {(sample.max_drawdown_ratio - base.max_drawdown_ratio) * 100:+.2f} points, "
                  f"trades {sample.trades - base.trades:+d}", highlight=False)
    out.print(f"results:  {rel(bt.path)}", highlight=False)
    out.print(f"          all of freqtrade's tables: freqtrade backtesting-show --backtest-directory "
              f"{rel(bt.path.parent)} --backtest-filename {bt.path.name}", highlight=False)
    out.print(f"heatmap:  {rel(result.heatmap)}" if result.heatmap else "heatmap:  not drawn (see the note above)",
              highlight=False)
    out.print(f"logs:     {rel(result.freqtrade_log)}, {rel(result.exchange_log)}", highlight=False)
    out.print(f"data:     {rel(result.data.datadir)} ({result.data.action}; "
              f"{result.data.start:%Y-%m-%d} to {result.data.end:%Y-%m-%d})", highlight=False)
    out.print(f"command:  {' '.join(result.command)}", highlight=False)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    out.print(f"took {total_s:.0f} s ({steps})", highlight=False)


def _features_only(args: argparse.Namespace) -> int:
    from liqrisk import compute_features
    from liqrisk.core.synthetic import random_market

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
