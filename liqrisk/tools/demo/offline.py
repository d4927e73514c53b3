"""Run unmodified freqtrade offline against the local exchange: the building blocks of ``liqrisk demo``.

Everything here runs real processes on 127.0.0.1 only:

* ``ensure_data`` simulates the market into a freqtrade datadir unless matching files are there
  (``liqrisk_truth/meta.json`` records seed, days, end and pairs of a simulated datadir);
* ``ExchangeProcess`` starts ``python -m liqrisk.cli exchange`` as a subprocess, waits until
  ``GET /fapi/v1/ping`` answers and always stops it (SIGTERM, then SIGKILL);
* ``run_config`` points a freqtrade config at the server's URL (and the data's pairs), in a
  temporary copy when anything differs from the file;
* ``run_freqtrade`` runs a freqtrade command with its output in a log file, stopping it on
  Ctrl-C or a timeout;
* ``read_backtest`` reads the per-strategy summary of the zip freqtrade's
  ``backtesting --export trades`` wrote.

``run_demo`` chains them: data, exchange, ``freqtrade backtesting``, heatmap, summary. The
``liqrisk demo`` command only adds flags and printing. Nothing here imports freqtrade, so the
module loads fast; freqtrade always runs in its own process, exactly as a user would run it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from liqrisk.errors import LiqriskError

DEFAULT_PAIRS: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT")
DEFAULT_DAYS = 90
DEFAULT_SEED = 42
DEFAULT_STRATEGIES: tuple[str, ...] = ("LiqRiskSample", "LiqRiskSampleBaseline")
DEFAULT_CONFIG = Path("user_data/config.offline.json")
EXCHANGE = "binance"
HOST = "127.0.0.1"
#: The ccxt URL key whose value names the server a config points at (``http://127.0.0.1:8765/fapi/v1``).
URL_KEY = "fapiPublic"
#: Days of data before the backtest starts, at most: the strategies' startup candles (the ``1w``
#: window) come from there. Shorter datadirs keep a third of their span.
WARMUP_DAYS = 8


class OfflineError(LiqriskError):
    """A step of the offline run failed; the message says which and how to fix it."""


# -- data ---------------------------------------------------------------------------------------


@dataclass
class DataInfo:
    """What is in the datadir the run uses.

    ``start``/``end``: UTC span covered by every pair's 5m futures candles (``end`` exclusive).
    ``action``: "simulated" (written now), "reused" (simulated earlier with the same settings)
    or "existing" (files not written by ``liqrisk simulate``; used as they are).
    """

    datadir: Path
    pairs: list[str]
    start: datetime
    end: datetime
    action: str
    reason: str
    seconds: float = 0.0


def _pair_file(futures_dir: Path, pair: str, timeframe: str, kind: str) -> Path:
    from liqrisk.tools.sim.writer import data_filename

    return data_filename(futures_dir, pair, timeframe, kind)


def simulated_matches(datadir: Path, pairs: Sequence[str], *, days: int, seed: int, end: str | None) -> str | None:
    """None when ``datadir`` holds a simulation with these settings (and its 5m files), else why not."""
    from liqrisk.tools.sim.specs import COHORTS_PER_MINUTE
    from liqrisk.tools.sim.writer import MODEL_VERSION, parse_end

    exchange_dir = Path(datadir) / EXCHANGE
    meta_path = exchange_dir / "liqrisk_truth" / "meta.json"
    if not meta_path.is_file():
        return f"no simulation in {exchange_dir} yet"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"{meta_path} is unreadable: {e}"
    want = {"model_version": MODEL_VERSION, "seed": seed, "days": days, "end_ms": parse_end(end)}
    for key, value in want.items():
        if meta.get(key) != value:
            return f"it was simulated with {key}={meta.get(key)!r}, this run wants {value!r}"
    # The main job simulates at the default density; a denser validation run is another
    # market (older metas predate the key and were all made at the default).
    density = meta.get("cohorts_per_minute", COHORTS_PER_MINUTE)
    if density != COHORTS_PER_MINUTE:
        return f"it was simulated with cohorts_per_minute={density!r}, this run wants {COHORTS_PER_MINUTE!r}"
    missing = [p for p in pairs if p not in meta.get("pairs", [])]
    if missing:
        return f"pairs {missing} were not simulated"
    for pair in pairs:
        for tf, kind in (("5m", "futures"), ("1h", "funding_rate"), ("5m", "open_interest"), ("1h", "mark")):
            path = _pair_file(exchange_dir / "futures", pair, tf, kind)
            if not path.is_file():
                return f"{path} is missing"
    return None


def data_span(datadir: Path, pairs: Sequence[str]) -> tuple[datetime, datetime]:
    """UTC span (start, exclusive end) covered by the 5m futures candles of every pair."""
    import pandas as pd

    futures_dir = Path(datadir) / EXCHANGE / "futures"
    starts, ends = [], []
    for pair in pairs:
        path = _pair_file(futures_dir, pair, "5m", "futures")
        if not path.is_file():
            raise OfflineError(f"{path} is missing; run `liqrisk simulate --datadir {datadir}` or drop {pair}.")
        dates = pd.read_feather(path, columns=["date"])["date"]
        if dates.empty:
            raise OfflineError(f"{path} has no candles.")
        starts.append(dates.iloc[0].to_pydatetime())
        ends.append(dates.iloc[-1].to_pydatetime() + timedelta(minutes=5))
    start, end = max(starts), min(ends)
    if end <= start:
        raise OfflineError(f"the pairs' data in {futures_dir} do not overlap in time.")
    return start.astimezone(UTC), end.astimezone(UTC)


def ensure_data(
    datadir: Path | str,
    pairs: Sequence[str] = DEFAULT_PAIRS,
    *,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    end: str | None = None,
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> DataInfo:
    """Simulate ``pairs`` into ``datadir`` unless the same simulation (or other data for every pair) is there.

    A datadir simulated with other settings is simulated again (its files are overwritten). Files
    not written by ``liqrisk simulate`` (e.g. from ``freqtrade download-data``) are never
    overwritten: they are used as they are unless ``force``.
    :param progress: ``progress(pair, minutes_done)`` while simulating, from worker threads.
    """
    from liqrisk.tools.sim.writer import simulate_datadir

    datadir = Path(datadir)
    pairs = list(dict.fromkeys(pairs))
    why = simulated_matches(datadir, pairs, days=days, seed=seed, end=end)
    has_meta = (datadir / EXCHANGE / "liqrisk_truth" / "meta.json").is_file()
    futures_dir = datadir / EXCHANGE / "futures"
    all_files = all(_pair_file(futures_dir, p, "5m", "futures").is_file() for p in pairs)
    if not force and why is None:
        start, stop = data_span(datadir, pairs)
        return DataInfo(datadir, pairs, start, stop, "reused",
                        f"{datadir} already holds the simulation (seed {seed}, {days} days, {', '.join(pairs)}); "
                        "not simulating again (--resimulate forces it)")
    if not force and not has_meta and all_files:
        start, stop = data_span(datadir, pairs)
        return DataInfo(datadir, pairs, start, stop, "existing",
                        f"files in {futures_dir} were not written by liqrisk simulate; using them as they are")
    reason = "--resimulate given" if force else why
    t0 = time.perf_counter()
    try:
        simulate_datadir(datadir, pairs, days=days, seed=seed, end=end, exchange=EXCHANGE, progress=progress)
    except OSError as e:
        raise OfflineError(f"cannot write to {datadir}: {e.strerror or e}; choose a writable --datadir.") from e
    start, stop = data_span(datadir, pairs)
    return DataInfo(datadir, pairs, start, stop, "simulated", reason or "", time.perf_counter() - t0)


def backtest_timerange(start: datetime, end: datetime, *, warmup_days: float = WARMUP_DAYS) -> str:
    """freqtrade ``--timerange`` inside [start, end): whole days, after a warm-up for startup candles.

    Example: data 2024-12-31 → 2025-03-31 gives ``20250108-20250331`` (8 warm-up days). A span
    shorter than 24 days keeps a third of it for the warm-up (10 days → 4 days: ``20250325-20250331``).
    """
    span_days = (end - start).total_seconds() / 86_400
    warm = min(warmup_days, span_days / 3)
    first = start + timedelta(days=warm)
    first_day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if first_day < first:
        first_day += timedelta(days=1)
    last_day = datetime(end.year, end.month, end.day, tzinfo=UTC)
    if last_day <= first_day:
        raise OfflineError(f"data from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} is too short to backtest; "
                           "simulate more days (--days).")
    return f"{first_day:%Y%m%d}-{last_day:%Y%m%d}"


# -- strategies ---------------------------------------------------------------------------------


def find_strategies(strategy_path: Path | str) -> dict[str, Path]:
    """Classes defined at the top of ``strategy_path/*.py`` → their file, by reading the source.

    freqtrade loads any IStrategy subclass defined in a file of the folder; without importing
    the files the bases cannot be followed (``LiqRiskSample(LiqRiskMixin, LiqRiskSampleBase)``
    imports both), so every top-level class counts except ``...Mixin`` helpers. Files that do
    not parse are skipped.
    """
    found: dict[str, Path] = {}
    for path in sorted(Path(strategy_path).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.endswith("Mixin"):
                found.setdefault(node.name, path)
    return dict(sorted(found.items()))


def pick_strategies(strategy_path: Path | str, wanted: Sequence[str] | None) -> tuple[list[str], str]:
    """The strategies to backtest and a note about the choice.

    ``wanted`` None means the defaults (``LiqRiskSample`` and ``LiqRiskSampleBaseline``), or,
    when those files are not there yet, every strategy found in ``strategy_path``.
    Raises OfflineError when a requested strategy (or any strategy at all) is missing.
    """
    found = find_strategies(strategy_path)
    if wanted:
        missing = [s for s in wanted if s not in found]
        if missing:
            known = ", ".join(found) or "none"
            raise OfflineError(f"strategy {', '.join(missing)} not found in {strategy_path}/ (found: {known}); "
                               "check --strategy-path and --strategy-list.")
        return list(wanted), ""
    if all(s in found for s in DEFAULT_STRATEGIES):
        return list(DEFAULT_STRATEGIES), ""
    if not found:
        raise OfflineError(f"no strategy in {strategy_path}/ (wanted {', '.join(DEFAULT_STRATEGIES)}); "
                           "pass --strategy-path and --strategy-list.")
    return list(found), (f"{' and '.join(DEFAULT_STRATEGIES)} are not in {strategy_path}/ yet; "
                         f"using {', '.join(found)}")


# -- configs ------------------------------------------------------------------------------------


def load_config(path: Path | str) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise OfflineError(f"config {path} not found; run from the project root or pass --config.") from e
    except ValueError as e:
        raise OfflineError(f"config {path} is not plain JSON ({e}).") from e


def config_server_url(config: dict) -> str:
    """Base URL of the server a config points ccxt at, e.g. ``http://127.0.0.1:8765``."""
    try:
        url = config["exchange"]["ccxt_config"]["urls"]["api"][URL_KEY]
    except (KeyError, TypeError) as e:
        raise OfflineError(f"the config has no exchange.ccxt_config.urls.api.{URL_KEY}; start from "
                           "user_data/config.offline.json.") from e
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def url_port(url: str) -> int:
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if host not in (HOST, "localhost") or not port.isdigit():
        raise OfflineError(f"the config points at {url}; the local exchange only runs on http://{HOST}:<port>.")
    return int(port)


def point_config(config: dict, url: str, *, pairs: Sequence[str] | None = None, **overrides) -> dict:
    """A copy of ``config`` whose ccxt URLs use ``url`` instead of the configured server.

    ``pairs`` replaces ``exchange.pair_whitelist``; ``overrides`` set top-level keys.
    """
    old = config_server_url(config)
    cfg = json.loads(json.dumps(config).replace(old, url.rstrip("/")))
    if pairs is not None:
        cfg["exchange"]["pair_whitelist"] = list(pairs)
    cfg.update(overrides)
    return cfg


def write_config(cfg: dict, directory: Path | str, name: str = "config.json") -> Path:
    path = Path(directory) / name
    path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return path


def run_config(config_path: Path, url: str, pairs: Sequence[str], tmpdir: Path | str) -> tuple[Path, str]:
    """The config file freqtrade should use against the server at ``url``, and why.

    The file itself when it already points at ``url`` and lists exactly ``pairs``; otherwise a
    copy in ``tmpdir`` that does (the note says what changed).
    """
    cfg = load_config(config_path)
    changes = []
    if config_server_url(cfg) != url.rstrip("/"):
        changes.append(f"server {url}")
    if list(cfg.get("exchange", {}).get("pair_whitelist", [])) != list(pairs):
        changes.append(f"pairs {', '.join(pairs)}")
    if not changes:
        return config_path, ""
    path = write_config(point_config(cfg, url, pairs=pairs), tmpdir)
    return path, f"temporary copy of {config_path} with {' and '.join(changes)}: {path}"


# -- the local exchange -------------------------------------------------------------------------


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when ``url``/fapi/v1/ping answers 200."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/fapi/v1/ping", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def parent_death_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux), so a killed
    demo leaves no server or freqtrade behind. None elsewhere. ``prctl`` is looked up here, in
    the parent, so the child only makes one C call between fork and exec. Linux sends the signal
    when the *thread* that started the child ends: start children from a long-lived thread."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def setup() -> None:  # pragma: no cover - runs in the child
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return setup


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: this Python's bin folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONWARNINGS", None)
    return env


class ExchangeProcess:
    """``python -m liqrisk.cli exchange`` in a subprocess on 127.0.0.1; use it as a context manager.

    ``port`` None or 0 lets the server pick a free port (read back from its first output line).
    ``extra`` are more ``liqrisk exchange`` flags (``--live``, ``--faults ...``). The server's
    output goes to ``log``. ``start`` returns once ``GET /fapi/v1/ping`` answers; ``stop`` sends
    SIGTERM, then SIGKILL after ``stop_timeout`` seconds, and is safe to call twice.
    """

    def __init__(self, datadir: Path | str, *, port: int | None = None, extra: Sequence[str] = (),
                 log: Path | str, cwd: Path | str | None = None):
        self.datadir = Path(datadir)
        self.port = port or 0
        self.extra = list(extra)
        self.log = Path(log)
        self.cwd = cwd
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self._log_fh = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "liqrisk.cli", "exchange", "--datadir", str(self.datadir),
                "--host", HOST, "--port", str(self.port), *self.extra]

    def start(self, timeout: float = 60.0) -> ExchangeProcess:
        if self.port and not port_free(self.port):
            raise OfflineError(f"port {self.port} on {HOST} is in use; stop what listens there or use another port.")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            self.command, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.cwd, env=subprocess_env(), preexec_fn=parent_death_preexec(),
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise OfflineError(f"the local exchange exited with code {self.proc.returncode}:\n"
                                       f"{self.log_tail()}")
                if not self.url:
                    self.url = self._url_from_log()
                if self.url and ping(self.url, timeout=1.0):
                    return self
                time.sleep(0.1)
            raise OfflineError(f"the local exchange did not answer /fapi/v1/ping within {timeout:.0f} s:\n"
                               f"{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _url_from_log(self) -> str:
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
                self.port = url_port(url)
                return url
        return ""

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, stop_timeout: float = 15.0) -> int | None:
        """Stop the server; returns its exit code (0 on a clean SIGTERM stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return None if self.proc is None else self.proc.returncode

    def __enter__(self) -> ExchangeProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl-C, so ``finally`` clauses run."""
    def _raise(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- freqtrade ----------------------------------------------------------------------------------


def freqtrade_command() -> list[str]:
    """The venv's ``freqtrade`` script, or ``python -m freqtrade`` when there is none."""
    script = Path(sys.executable).parent / "freqtrade"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "freqtrade"]


def backtest_args(config: Path, *, datadir: Path, userdir: Path, strategy_path: Path, strategies: Sequence[str],
                  timerange: str, result_dir: Path, cache: str = "none") -> list[str]:
    """``freqtrade backtesting`` arguments (without the program) of the offline run."""
    return ["backtesting", "--config", str(config), "--userdir", str(userdir),
            "--datadir", str(Path(datadir) / EXCHANGE), "--strategy-path", str(strategy_path),
            "--strategy-list", *strategies, "--timerange", timerange, "--export", "trades",
            "--backtest-directory", str(result_dir), "--cache", cache]


def run_freqtrade(args: Sequence[str], *, log: Path, cwd: Path | str | None = None, timeout: float | None = None,
                  on_line: Callable[[str], None] | None = None) -> int:
    """Run ``freqtrade <args>``; stdout and stderr go to ``log`` (and each line to ``on_line``).

    Returns the exit code. On Ctrl-C (KeyboardInterrupt) or after ``timeout`` seconds freqtrade
    gets SIGINT, then SIGKILL after 10 s; KeyboardInterrupt is re-raised, a timeout raises
    OfflineError.
    """
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen([*freqtrade_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, env=subprocess_env(), text=True,
                                errors="replace", bufsize=1, preexec_fn=parent_death_preexec())

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(line)
                fh.flush()
                if on_line is not None:
                    on_line(line.rstrip("\n"))

        reader = threading.Thread(target=pump, name="freqtrade-output", daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _interrupt(proc)
            raise OfflineError(f"freqtrade {args[0]} did not finish within {timeout:.0f} s; see {log}.") from None
        finally:
            _interrupt(proc)  # no-op unless interrupted (Ctrl-C) or timed out
            reader.join(timeout=10)
        return code


def _interrupt(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- backtest results ---------------------------------------------------------------------------


@dataclass
class StrategyResult:
    """One strategy's line of a backtest. Ratios: 0.05 = 5 %; money in the stake currency."""

    strategy: str
    trades: int
    profit_ratio: float  # total profit / starting balance
    profit_abs: float
    max_drawdown_ratio: float  # largest drop of the account from a peak, fraction of that peak
    max_drawdown_abs: float
    winrate: float
    stake_currency: str
    start: str
    end: str
    pairs: int
    timeframe: str


@dataclass
class BacktestResult:
    path: Path
    strategies: list[StrategyResult] = field(default_factory=list)

    def get(self, name: str) -> StrategyResult | None:
        return next((s for s in self.strategies if s.strategy == name), None)


def latest_backtest(result_dir: Path | str) -> Path:
    """The newest result file freqtrade wrote to ``result_dir`` (``.last_result.json`` names it)."""
    result_dir = Path(result_dir)
    marker = result_dir / ".last_result.json"
    try:
        name = json.loads(marker.read_text(encoding="utf-8"))["latest_backtest"]
    except (OSError, ValueError, KeyError) as e:
        raise OfflineError(f"no backtest result in {result_dir} ({marker} missing or unreadable).") from e
    path = result_dir / name
    if not path.is_file():
        raise OfflineError(f"{marker} names {name}, which is not in {result_dir}.")
    return path


def read_backtest(path: Path | str) -> BacktestResult:
    """Per-strategy trades, profit and drawdown from a freqtrade result (``.zip`` or ``.json``)."""
    path = Path(path)
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                stats = json.loads(zf.read(path.with_suffix(".json").name))
        else:
            stats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise OfflineError(f"cannot read backtest result {path}: {e}") from e
    out = BacktestResult(path)
    for name, s in stats.get("strategy", {}).items():
        out.strategies.append(StrategyResult(
            strategy=name, trades=int(s.get("total_trades", 0)), profit_ratio=float(s.get("profit_total", 0.0)),
            profit_abs=float(s.get("profit_total_abs", 0.0)),
            max_drawdown_ratio=float(s.get("max_drawdown_account", 0.0)),
            max_drawdown_abs=float(s.get("max_drawdown_abs", 0.0)), winrate=float(s.get("winrate", 0.0)),
            stake_currency=str(s.get("stake_currency", "")), start=str(s.get("backtest_start", "")),
            end=str(s.get("backtest_end", "")), pairs=len(s.get("pairlist", [])),
            timeframe=str(s.get("timeframe", "")),
        ))
    return out


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
        raise OfflineError(f"config {opts.config} not found; run `liqrisk demo` from the project root or pass --config.")
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

