"""What freqtrade is given and what it gives back in the offline run: strategies, configs, results.

* ``pick_strategies`` finds the strategies to backtest by reading ``strategies/*.py`` (no import);
* ``run_config`` points a freqtrade config at the local exchange's URL (and the data's pairs), in
  a temporary copy when anything differs from the file;
* ``backtest_args`` is the ``freqtrade backtesting`` command line of the run;
* ``read_backtest`` reads the per-strategy summary of the zip freqtrade's
  ``backtesting --export trades`` wrote.

Nothing here imports freqtrade or starts a process (``processes.py`` does that).
"""

from __future__ import annotations

import ast
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liqrisk.tools.demo.data import EXCHANGE
from liqrisk.tools.demo.errors import OfflineError

DEFAULT_STRATEGIES: tuple[str, ...] = ("LiqRiskSample", "LiqRiskSampleBaseline")
#: The ccxt URL key whose value names the server a config points at (``http://127.0.0.1:8765/fapi/v1``).
URL_KEY = "fapiPublic"


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
                               "check the strategy folder and the strategy names.")
        return list(wanted), ""
    if all(s in found for s in DEFAULT_STRATEGIES):
        return list(DEFAULT_STRATEGIES), ""
    if not found:
        raise OfflineError(f"no strategy in {strategy_path}/ (wanted {', '.join(DEFAULT_STRATEGIES)}); "
                           "give the strategy folder and the strategy names.")
    return list(found), (f"{' and '.join(DEFAULT_STRATEGIES)} are not in {strategy_path}/ yet; "
                         f"using {', '.join(found)}")


# -- configs ------------------------------------------------------------------------------------


def load_config(path: Path | str) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise OfflineError(f"config {path} not found; run from the project root or give the config file's "
                           "path.") from e
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



def backtest_args(config: Path, *, datadir: Path, userdir: Path, strategy_path: Path, strategies: Sequence[str],
                  timerange: str, result_dir: Path, cache: str = "none") -> list[str]:
    """``freqtrade backtesting`` arguments (without the program) of the offline run."""
    return ["backtesting", "--config", str(config), "--userdir", str(userdir),
            "--datadir", str(Path(datadir) / EXCHANGE), "--strategy-path", str(strategy_path),
            "--strategy-list", *strategies, "--timerange", timerange, "--export", "trades",
            "--backtest-directory", str(result_dir), "--cache", cache]



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


def load_backtest_stats(path: Path | str) -> dict:
    """The statistics JSON of a freqtrade result (``.zip`` or ``.json``), as freqtrade wrote it."""
    path = Path(path)
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read(path.with_suffix(".json").name))
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise OfflineError(f"cannot read backtest result {path}: {e}") from e


def read_backtest(path: Path | str) -> BacktestResult:
    """Per-strategy trades, profit and drawdown from a freqtrade result (``.zip`` or ``.json``)."""
    path = Path(path)
    stats = load_backtest_stats(path)
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

