"""``run_demo``: the offline main job, data → local exchange → ``freqtrade backtesting`` → heatmap.

It chains the steps of ``data.py``, ``processes.py`` and ``freqtrade_run.py`` and always stops
the exchange. ``Reporter`` is how it tells its caller what happens; the ``liqrisk demo``
command only adds flags and rich printing. Nothing here imports freqtrade, so the module loads
fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liqrisk.tools.demo.data import (
    DEFAULT_DAYS,
    DEFAULT_PAIRS,
    DEFAULT_SEED,
    EXCHANGE,
    DataInfo,
    backtest_timerange,
    ensure_data,
)
from liqrisk.tools.demo.errors import OfflineError
from liqrisk.tools.demo.freqtrade_run import (
    BacktestResult,
    backtest_args,
    config_server_url,
    latest_backtest,
    load_config,
    pick_strategies,
    read_backtest,
    run_config,
)
from liqrisk.tools.demo.processes import (
    ExchangeProcess,
    log_tail,
    port_free,
    run_freqtrade,
    subprocess_env,
    url_port,
)

DEFAULT_CONFIG = Path("user_data/config.offline.json")


# -- heatmap ------------------------------------------------------------------------------------


def heatmap_available() -> bool:
    """True when this install has the ``liqrisk heatmap`` subcommand."""
    try:
        return importlib.util.find_spec("liqrisk.cli.heatmap") is not None
    except (ImportError, ValueError):
        return False


def heatmap_command(config: Path, pair: str, timerange: str, out: Path, *, timeframe: str = "5m",
                    window: str = "1d", extra: Sequence[str] = ()) -> list[str]:
    """``liqrisk heatmap`` for one pair over the backtest's timerange, as a subprocess command."""
    return [sys.executable, "-m", "liqrisk.cli", "heatmap", "--config", str(config), "--pair", pair,
            "--timeframe", timeframe, "--window", window, "--timerange", timerange, "--out", str(out), *extra]


def _heatmap_flags() -> str:
    """The ``liqrisk heatmap --help`` text, to pass only the flags this install knows."""
    try:
        res = subprocess.run([sys.executable, "-m", "liqrisk.cli", "heatmap", "--help"], capture_output=True,
                             text=True, env=subprocess_env(), timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout


# -- the whole run ------------------------------------------------------------------------------


@dataclass
class DemoOptions:
    """Settings of ``run_demo``; paths are relative to ``cwd`` (the project root)."""

    datadir: Path = Path("user_data/data")
    config: Path = DEFAULT_CONFIG
    userdir: Path = Path("user_data")  # freqtrade's --userdir; created when missing
    result_dir: Path | None = None  # None: <userdir>/backtest_results
    plot_dir: Path | None = None  # None: <userdir>/plot (the heatmap)
    log_dir: Path | None = None  # None: <userdir>/logs (the exchange's and freqtrade's output)
    strategy_path: Path = Path("strategies")
    strategies: list[str] | None = None  # None: LiqRiskSample + LiqRiskSampleBaseline, else what is there
    pairs: list[str] = field(default_factory=lambda: list(DEFAULT_PAIRS))
    days: int = DEFAULT_DAYS
    seed: int = DEFAULT_SEED
    end: str | None = None
    resimulate: bool = False
    timerange: str | None = None  # None: the data's span minus the warm-up
    port: int | None = None  # None: the config's port (a free one when that is busy)
    heatmap: bool = True
    heatmap_pair: str | None = None  # None: the first pair
    cache: str = "none"
    freqtrade_timeout: float = 1800.0

    def __post_init__(self) -> None:
        self.result_dir = self.result_dir or self.userdir / "backtest_results"
        self.plot_dir = self.plot_dir or self.userdir / "plot"
        self.log_dir = self.log_dir or self.userdir / "logs"


@dataclass
class DemoResult:
    data: DataInfo
    strategies: list[str]
    timerange: str
    url: str
    config: Path
    command: list[str]
    backtest: BacktestResult
    freqtrade_log: Path
    exchange_log: Path
    exchange_exit: int | None
    heatmap: Path | None
    notes: list[str]
    seconds: dict[str, float]


class Reporter:
    """What ``run_demo`` tells its caller; the CLI overrides these with rich output."""

    def note(self, message: str) -> None:
        """A one-line message."""

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Callable[[str], None]]:
        """A long step; the yielded function takes status updates (e.g. freqtrade's log lines)."""
        yield lambda _line: None

    def simulation_progress(self, pairs: Sequence[str], total_minutes: int) -> Callable[[str, int], None] | None:
        """A ``progress(pair, minutes_done)`` callback for the simulation, or None."""
        return None

    def simulation_done(self) -> None:
        """The simulation has finished (close progress bars)."""


def run_demo(opts: DemoOptions, reporter: Reporter | None = None, cwd: Path | str | None = None) -> DemoResult:
    """Data → local exchange → ``freqtrade backtesting`` → heatmap → results, always stopping the exchange.

    Raises OfflineError (a step failed; the message says which, with the log's tail) and
    KeyboardInterrupt (Ctrl-C, or SIGTERM inside ``sigterm_as_interrupt``), after cleaning up.
    """
    rep = reporter or Reporter()
    root = Path(cwd) if cwd is not None else Path.cwd()

    def at(p: Path) -> Path:
        return p if p.is_absolute() else root / p

    seconds: dict[str, float] = {}
    notes: list[str] = []
    at(opts.userdir).mkdir(parents=True, exist_ok=True)
    if not at(opts.config).is_file():
        raise OfflineError(f"config {opts.config} not found; run from the project root or give the config "
                           "file's path.")
    strategies, note = pick_strategies(at(opts.strategy_path), opts.strategies)
    if note:
        rep.note(note)
        notes.append(note)

    t0 = time.perf_counter()
    progress = rep.simulation_progress(opts.pairs, opts.days * 1440)
    try:
        data = ensure_data(at(opts.datadir), opts.pairs, days=opts.days, seed=opts.seed, end=opts.end,
                           force=opts.resimulate, progress=progress)
    finally:
        rep.simulation_done()
    seconds["data"] = time.perf_counter() - t0
    rep.note(f"data: {data.reason}" if data.action != "simulated"
             else f"data: simulated {len(data.pairs)} pairs x {opts.days} days in {data.seconds:.1f} s "
                  f"into {opts.datadir} ({data.reason})")
    timerange = opts.timerange or backtest_timerange(data.start, data.end)

    cfg = load_config(at(opts.config))
    port = opts.port if opts.port is not None else url_port(config_server_url(cfg))
    if port and not port_free(port):
        msg = f"port {port} is in use; the local exchange takes a free port and freqtrade a temporary config"
        rep.note(msg)
        notes.append(msg)
        port = 0
    log_dir = at(opts.log_dir)
    exchange = ExchangeProcess(at(opts.datadir), port=port, log=log_dir / "liqrisk-exchange.log", cwd=root)
    ft_log = log_dir / "liqrisk-demo-backtesting.log"
    heatmap_png: Path | None = None
    with tempfile.TemporaryDirectory(prefix="liqrisk-demo-") as tmp, contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        with rep.step("starting the local exchange"):
            stack.enter_context(exchange)
        seconds["exchange_start"] = time.perf_counter() - t0
        rep.note(f"local exchange (replay of {opts.datadir}) on {exchange.url}, log {rel(exchange.log, root)}")
        config, note = run_config(at(opts.config), exchange.url, data.pairs, tmp)
        if note:
            rep.note(note)
            notes.append(note)
        args = backtest_args(opts.config if config == at(opts.config) else config, datadir=opts.datadir,
                             userdir=opts.userdir, strategy_path=opts.strategy_path, strategies=strategies,
                             timerange=timerange, result_dir=opts.result_dir, cache=opts.cache)
        command = ["freqtrade", *args]
        at(opts.result_dir).mkdir(parents=True, exist_ok=True)
        started = time.time()
        t0 = time.perf_counter()
        with rep.step(f"freqtrade backtesting {' + '.join(strategies)} {timerange}") as status:
            code = run_freqtrade(args, log=ft_log, cwd=root, timeout=opts.freqtrade_timeout, on_line=status)
        seconds["backtesting"] = time.perf_counter() - t0
        if code != 0:
            raise OfflineError(f"freqtrade backtesting exited with code {code}; log {ft_log}:\n{log_tail(ft_log)}")
        result_path = latest_backtest(at(opts.result_dir))
        if result_path.stat().st_mtime < started - 1:
            raise OfflineError(f"freqtrade wrote no new result to {opts.result_dir} (newest: {result_path.name}); "
                               f"see {ft_log}.")
        backtest = read_backtest(result_path)

        if opts.heatmap:
            heatmap_png, note = _run_heatmap(opts, data, config, timerange, root, rep, seconds)
            if note:
                rep.note(note)
                notes.append(note)
    exchange_exit = exchange.stop()
    return DemoResult(data=data, strategies=strategies, timerange=timerange, url=exchange.url, config=config,
                      command=command, backtest=backtest, freqtrade_log=ft_log, exchange_log=exchange.log,
                      exchange_exit=exchange_exit, heatmap=heatmap_png, notes=notes, seconds=seconds)


def _run_heatmap(opts: DemoOptions, data: DataInfo, config: Path, timerange: str, root: Path, rep: Reporter,
                 seconds: dict[str, float]) -> tuple[Path | None, str]:
    if not heatmap_available():
        return None, "heatmap skipped: this install has no `liqrisk heatmap` command yet"
    pair = opts.heatmap_pair or data.pairs[0]
    plot_dir = opts.plot_dir if opts.plot_dir.is_absolute() else root / opts.plot_dir
    plot_dir.mkdir(parents=True, exist_ok=True)
    out = plot_dir / f"liqrisk-heatmap-{pair.split(':')[0].replace('/', '_')}-5m-1d-{timerange}.png"
    datadir = (opts.datadir if opts.datadir.is_absolute() else root / opts.datadir) / EXCHANGE
    known = _heatmap_flags()
    extra = [flag for flag in ("--no-progress",) if flag in known]
    if "--datadir" in known:
        extra += ["--datadir", str(datadir)]
    if "--truth" in known and data.action != "existing":
        extra.append("--truth")  # the simulator's actual liquidations on top of the estimate
    cmd = heatmap_command(config, pair, timerange, out, extra=extra)
    log = (opts.log_dir if opts.log_dir.is_absolute() else root / opts.log_dir) / "liqrisk-demo-heatmap.log"
    t0 = time.perf_counter()
    with rep.step(f"liqrisk heatmap {pair} 1d window"), log.open("w", encoding="utf-8") as fh:
        try:
            code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
                                  env=subprocess_env(), timeout=600).returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds["heatmap"] = time.perf_counter() - t0
    if code != 0 or not out.is_file():
        return None, f"heatmap failed (exit {code}); the backtest is unaffected; see {rel(log, root)}"
    return out, ""


def rel(path: Path, root: Path | None = None) -> str:
    try:
        return str(Path(path).relative_to(root or Path.cwd()))
    except ValueError:
        return str(path)

