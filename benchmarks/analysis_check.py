"""freqtrade's bias checks on a liqrisk strategy: ``lookahead-analysis`` and ``recursive-analysis``.

The project's rule: every feature at candle t uses data up to t's close only. freqtrade has
two commands that test that from outside, and both must come out clean:

* ``freqtrade lookahead-analysis`` backtests the whole timerange, then, for each of up to
  ``--targeted`` trades, backtests again up to the trade's entry and up to its exit. A signal
  that disappears, or an indicator (any column of the frame) that differs at the same candle,
  counts as bias.
* ``freqtrade recursive-analysis`` computes the indicators of the last candle with 199, 399,
  499, 999, 1999 and the strategy's own ``startup_candle_count`` candles of history and
  reports each column's relative change against the full-history value. A column that
  varies only below the strategy's startup count is expected (that is what the startup count
  is for); a ``liq_*`` column that varies at or above it is a recursion the startup count
  does not cover. The same command also checks the indicators for lookahead on one cut
  ("=> found lookahead in indicator ...").

Both run unmodified, in their own processes, against the project's local exchange on
127.0.0.1 (``liqrisk exchange``), exactly as ``liqrisk demo`` runs backtesting. Without
``--datadir`` a small market is simulated into a temporary folder first
(``liqrisk simulate --days 30 --pairs BTC/USDT:USDT ETH/USDT:USDT --seed 42``).

    .venv/bin/python benchmarks/analysis_check.py [--datadir DIR] [--strategy NAME]
        [--timerange 20250309-20250331] [--timeframe 1h] [--days 90] [--keep]

The timerange defaults to the data's span after the strategy's startup candles (whole days).
``--timeframe`` writes ``"timeframe"`` into the temporary freqtrade config (freqtrade's own
override; the strategy file is unchanged). Prints the tables freqtrade printed, a verdict per
command ("clean", or which columns / signals show bias or variance) and how long each took.
Exit code 0 when both are clean, 1 when either is not, 2 when a command failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIM_PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
#: rich wraps tables to the terminal width; freqtrade runs without a terminal here, so this
#: width keeps every row of the tables on one line (the indicator lists are long).
TABLE_WIDTH = "1000"
#: |relative change| at or below this is float rounding, not a recursion: freqtrade rounds
#: the change to 12 decimals and prints it with 3 (``0.000%``).
FLOAT_NOISE = 1e-9
CHILD_FLAG = "--exact-recursive-child"


# -- parsing freqtrade's output ------------------------------------------------------------------


def rich_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every rich table in ``text`` as (header, rows); cells are stripped strings.

    rich draws the header with ``┃`` and the rows with ``│``; a table ends at its ``└`` line.
    """
    tables: list[tuple[list[str], list[list[str]]]] = []
    header: list[str] | None = None
    rows: list[list[str]] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("┃"):
            header = [c.strip() for c in s.strip("┃").split("┃")]
            rows = []
        elif header is not None and s.startswith("│"):
            rows.append([c.strip() for c in s.strip("│").split("│")])
        elif header is not None and s.startswith("└"):
            tables.append((header, rows))
            header = None
    return tables


def table_text(text: str, first_cell: str) -> str:
    """The lines of the table whose header starts with ``first_cell`` (as freqtrade printed it)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("┃") and line.strip().strip("┃").strip().startswith(first_cell):
            start = i - 1 if i > 0 and lines[i - 1].strip().startswith("┏") else i
            if start > 0 and lines[start - 1].strip() and lines[start - 1].strip()[0] not in "┏┃│└":
                start -= 1  # the title line ("Lookahead Analysis")
            end = next((j for j in range(i, len(lines)) if lines[j].strip().startswith("└")), len(lines) - 1)
            return "\n".join(ln.rstrip() for ln in lines[start:end + 1])
    return ""


def percent(cell: str) -> float | None:
    """``"-0.012%"`` → -0.00012; ``"-"`` (not compared) → None; ``"nan%"`` → nan."""
    cell = cell.strip()
    if cell in ("", "-"):
        return None
    try:
        return float(cell.rstrip("%")) / 100.0
    except ValueError:
        return math.nan


@dataclass
class Lookahead:
    """``freqtrade lookahead-analysis``: one strategy's row of its table, and the logged columns."""

    found: bool = False
    has_bias: str = ""
    total_signals: int | None = None
    biased_entries: int | None = None
    biased_exits: int | None = None
    biased_indicators: list[str] = field(default_factory=list)
    #: "=> found look ahead bias in column X. a != b": the first differing values per column.
    examples: dict[str, str] = field(default_factory=dict)
    #: "found lookahead-bias in trade pair: ..., timerange: ..." lines.
    trades: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.found and self.has_bias == "No" and not self.biased_entries and not self.biased_exits
                and not self.biased_indicators)


def parse_lookahead(text: str, strategy: str) -> Lookahead:
    out = Lookahead()
    for header, rows in rich_tables(text):
        if header[:2] != ["filename", "strategy"]:
            continue
        for row in rows:
            if len(row) < 3 or row[1] != strategy:
                continue
            out.found = True
            out.has_bias = row[2]
            if len(row) >= 7 and row[3].isdigit():  # "too few trades" / "error" rows leave these empty
                out.total_signals, out.biased_entries, out.biased_exits = (int(v) for v in row[3:6])
                out.biased_indicators = [c.strip() for c in row[6].split(",") if c.strip()]
    for m in re.finditer(r"=> found look ahead bias in column (\S+)\. (.*)$", text, re.M):
        out.examples.setdefault(m[1], m[2].strip())
    out.trades = [m[0].strip() for m in re.finditer(r"found lookahead-bias in trade .*$", text, re.M)]
    return out


@dataclass
class Recursive:
    """``freqtrade recursive-analysis``: per column, the relative change at each startup count."""

    found: bool = False
    startups: list[int] = field(default_factory=list)
    strategy_startup: int | None = None
    changes: dict[str, dict[int, float | None]] = field(default_factory=dict)
    #: columns named by the indicator-only lookahead check of the same command.
    lookahead: list[str] = field(default_factory=list)
    no_variance: bool = False  # freqtrade logged "No variance on indicator(s) found"

    def varying(self, *, at_least: int | None = None, below: int | None = None) -> dict[str, dict[int, float]]:
        """Columns with a change beyond float noise at startups >= ``at_least`` (or < ``below``)."""
        out: dict[str, dict[int, float]] = {}
        for col, by_startup in self.changes.items():
            for n, v in by_startup.items():
                if v is None or (at_least is not None and n < at_least) or (below is not None and n >= below):
                    continue
                if math.isnan(v) or abs(v) > FLOAT_NOISE:
                    out.setdefault(col, {})[n] = v
        return out

    def noise_only(self, at_least: int) -> list[str]:
        """Columns listed at startups >= ``at_least`` whose change there is within float noise."""
        big = self.varying(at_least=at_least)
        return sorted(c for c, by in self.changes.items()
                      if c not in big and any(v is not None and n >= at_least for n, v in by.items()))


def parse_recursive(text: str) -> Recursive:
    out = Recursive()
    for header, rows in rich_tables(text):
        if not header or header[0] != "Indicators":
            continue
        out.found = True
        for h in header[1:]:
            n = int(h.split()[0])
            out.startups.append(n)
            if "from strategy" in h:
                out.strategy_startup = n
        for row in rows:
            out.changes[row[0]] = {n: percent(c) for n, c in zip(out.startups, row[1:], strict=False)}
    out.lookahead = sorted(set(re.findall(r"=> found lookahead in indicator (\S+)", text)))
    out.no_variance = "No variance on indicator(s) found" in text
    if out.strategy_startup is None:  # no table: read the count from the log
        if m := re.search(r"Calculating indicators using startup candle of (\d+)\.(?![\s\S]*startup candle of)", text):
            out.strategy_startup = int(m[1])
    return out


# -- verdicts ------------------------------------------------------------------------------------


def fmt_change(by: dict[int, float]) -> str:
    return ", ".join(f"{n}: {v:+.6%}" if not math.isnan(v) else f"{n}: nan (one side NaN or 0)"
                     for n, v in sorted(by.items()))


def lookahead_verdict(res: Lookahead, code: int, minimum: int) -> list[str]:
    if code != 0 or not res.found:
        return [f"FAILED: freqtrade exited with code {code}" + ("" if res.found else ", no result table")]
    if res.total_signals is None:
        return [f"NOT CHECKED: {res.has_bias} (lower --minimum-trade-amount {minimum} or widen the timerange)"]
    if res.clean:
        return [f"clean: {res.total_signals} trades re-run, no biased entry or exit signal, no biased indicator"]
    lines = [f"BIAS: {res.biased_entries} of {res.total_signals} entry signals and {res.biased_exits} exit "
             "signals differ when the data is cut after them"]
    liq = [c for c in res.biased_indicators if c.startswith("liq_")]
    other = [c for c in res.biased_indicators if not c.startswith("liq_")]
    if liq:
        lines.append(f"  liq_* columns that differ at the same candle: {', '.join(liq)}")
    if other:
        lines.append(f"  other columns that differ at the same candle: {', '.join(other)}")
    for col, ex in res.examples.items():
        lines.append(f"    first difference {col}: full run {ex.replace(' != ', ' vs cut run ')}")
    lines += [f"  {t}" for t in res.trades[:10]]
    return lines


def recursive_verdict(res: Recursive, code: int, startup: int | None) -> list[str]:
    if code != 0:
        return [f"FAILED: freqtrade exited with code {code}"]
    scc = res.strategy_startup or startup
    if not res.found:
        if res.no_variance and not res.lookahead:
            return ["clean: no column varies with the startup count (freqtrade printed no table)"]
        if not res.lookahead:
            return ["FAILED: no result table and no 'No variance' line in the output"]
    lines: list[str] = []
    beyond = res.varying(at_least=scc) if scc else {}
    below = res.varying(below=scc) if scc else res.varying()
    liq_beyond = {c: v for c, v in beyond.items() if c.startswith("liq_")}
    other_beyond = {c: v for c, v in beyond.items() if not c.startswith("liq_")}
    if liq_beyond:
        lines.append(f"VARIANCE beyond the strategy's {scc} startup candles in {len(liq_beyond)} liq_* columns:")
        lines += [f"  {c}: {fmt_change(v)}" for c, v in sorted(liq_beyond.items())]
    if other_beyond:
        lines.append(f"variance beyond {scc} startup candles in the strategy's own columns (not liq_*):")
        lines += [f"  {c}: {fmt_change(v)}" for c, v in sorted(other_beyond.items())]
    noise = res.noise_only(scc) if scc else []
    if noise:
        lines.append(f"printed as 0.000% (|change| < 5e-6) at >= {scc} startup candles: {', '.join(noise)}")
    if res.lookahead:
        lines.append(f"LOOKAHEAD in indicators (the command's own indicator check): {', '.join(res.lookahead)}")
    below_only = sorted(set(below) - set(beyond))
    verdict = "clean" if not liq_beyond and not res.lookahead else "NOT CLEAN"
    head = (f"{verdict}: no liq_* column varies at or beyond the strategy's {scc} startup candles"
            if not liq_beyond else f"{verdict}: liq_* columns vary at or beyond {scc} startup candles (below)")
    if below_only:
        head += (f"; {len(below_only)} columns vary only below {scc} (expected): "
                 f"{', '.join(below_only[:8])}{' ...' if len(below_only) > 8 else ''}")
    if not res.lookahead:
        head += "; no lookahead in indicators"
    return [head, *lines]


# -- exact recursive figures ---------------------------------------------------------------------


def exact_recursive_child(out_path: str, ft_args: list[str]) -> int:
    """In a child process: freqtrade's own ``RecursiveAnalysis`` on ``ft_args``, unrounded.

    The table prints the relative change with 3 decimals, so ``-0.000%`` may be 1e-15 (float
    rounding: the engine's cumulative decay starts at the first loaded candle) or 4e-6 (a
    small recursion). This runs the same class the command runs, then compares the last row
    of the full-history frame with each startup's last row itself, without freqtrade's
    rounding, and writes ``{column: {startup: relative change}}`` (NaN as null, inf as a
    string) plus the startup counts to ``out_path``.
    """
    import json

    import numpy as np
    from freqtrade.commands import Arguments
    from freqtrade.configuration import setup_utils_configuration
    from freqtrade.enums import RunMode
    from freqtrade.optimize.analysis.recursive_helpers import RecursiveAnalysisSubFunctions
    from freqtrade.resolvers import StrategyResolver
    from freqtrade.util import get_progress_tracker

    config = setup_utils_configuration(Arguments(ft_args).get_parsed_arg(), RunMode.UTIL_NO_EXCHANGE)
    config = RecursiveAnalysisSubFunctions.calculate_config_overrides(config)
    obj = next(o for o in StrategyResolver.search_all_objects(config, enum_failed=False)
               if o["name"] == config["strategy"])
    with get_progress_tracker() as progress:
        inst = RecursiveAnalysisSubFunctions.initialize_single_recursive_analysis(config, obj, progress)
    pair = inst.pair_to_used
    base = inst.full_varHolder.indicators[pair].iloc[-1]
    changes: dict[str, dict[int, object]] = {}
    for part in inst.partial_varHolder_array:
        row = part.indicators[pair].iloc[-1]
        for col in base.index:
            a, b = base[col], row.get(col)
            if not isinstance(a, (int, float, np.number)) or isinstance(a, bool) or col == "date":
                continue
            a, b = float(a), float(b)
            if a == b or (math.isnan(a) and math.isnan(b)):
                continue
            rel = (b - a) / a if a != 0 else math.inf
            changes.setdefault(col, {})[part.startup_candle] = None if math.isnan(rel) else (
                rel if math.isfinite(rel) else "inf")
    Path(out_path).write_text(json.dumps({"pair": pair, "startups": inst._startup_candle,
                                          "strategy_startup": inst._strat_scc, "changes": changes}))
    return 0


def exact_lines(exact: dict, scc: int) -> list[str]:
    """Per liq_* column, the largest |relative change| at >= ``scc`` startup candles, unrounded."""
    worst: dict[str, float] = {}
    for col, by in exact["changes"].items():
        for n, v in by.items():
            if int(n) >= scc and col.startswith("liq_"):
                v = math.nan if v is None else math.inf if v == "inf" else abs(float(v))
                worst[col] = max(worst.get(col, 0.0), v) if not math.isnan(v) else math.nan
    stable = stable_from(exact)
    if stable is not None:
        tail = [f"  liq_* columns within {FLOAT_NOISE:g} from {stable} startup candles on (of those checked: "
                f"{', '.join(map(str, sorted(exact['startups'])))}; the strategy asks for {scc})"]
    else:
        tail = []
    if not worst:
        return [f"exact: every liq_* column of {exact['pair']} is bit-identical at >= {scc} startup candles", *tail]
    top = max((v for v in worst.values() if not math.isnan(v)), default=math.nan)
    lines = [f"exact (unrounded, {exact['pair']}): {len(worst)} liq_* columns differ at all at >= {scc} "
             f"startup candles; the largest |relative change| is {top:.2e}"]
    big = {c: v for c, v in worst.items() if math.isnan(v) or v > FLOAT_NOISE}
    if big:
        lines.append(f"  above {FLOAT_NOISE:g} (a recursion, not rounding): "
                     + ", ".join(f"{c} {v:.2e}" for c, v in sorted(big.items(), key=lambda kv: -kv[1])))
    else:
        lines.append(f"  all within {FLOAT_NOISE:g}: float rounding, not a recursion")
    return lines + tail


def stable_from(exact: dict) -> int | None:
    """The smallest checked startup count from which every liq_* column stays within FLOAT_NOISE."""
    bad: set[int] = set()
    for col, by in exact["changes"].items():
        if not col.startswith("liq_"):
            continue
        for n, v in by.items():
            if v is None or v == "inf" or abs(float(v)) > FLOAT_NOISE:
                bad.add(int(n))
    ok = [n for n in sorted(exact["startups"]) if all(b < n for b in bad)]
    return ok[0] if ok else None


# -- running -------------------------------------------------------------------------------------


def strategy_startup(strategy_path: Path, name: str, liq_config: dict | None, timeframe: str) -> int:
    """The startup candles the strategy will ask for: its own count, raised by LiqRiskMixin to
    ``liqrisk.required_startup_candles`` (what ``LiqRiskMixin.__init__`` does)."""
    import liqrisk
    from liqrisk.adapter import LiqRiskMixin
    from liqrisk.tools.demo.freqtrade_run import find_strategies

    path = find_strategies(strategy_path).get(name)
    if path is None:
        sys.exit(f"strategy {name} not found in {strategy_path}/")
    sys.path.insert(0, str(strategy_path))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, name)
    own = int(getattr(cls, "startup_candle_count", 0) or 0)
    if issubclass(cls, LiqRiskMixin):
        merged = {**(cls.liqrisk_config or {}), **(liq_config or {})}
        own = max(own, liqrisk.required_startup_candles(merged, timeframe))
    return own


def default_timerange(start: datetime, end: datetime, startup: int, timeframe: str) -> str:
    """Whole days of the data after ``startup`` candles of ``timeframe``."""
    from liqrisk._util import timeframe_to_ns

    first = start + timedelta(microseconds=startup * timeframe_to_ns(timeframe) / 1000)
    first_day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if first_day < first:
        first_day += timedelta(days=1)
    last_day = datetime(end.year, end.month, end.day, tzinfo=UTC)
    if (last_day - first_day) < timedelta(days=2):
        sys.exit(f"the data ({start:%Y-%m-%d} → {end:%Y-%m-%d}) leaves under 2 days after {startup} startup "
                 f"candles of {timeframe}; simulate more --days or give --timerange.")
    return f"{first_day:%Y%m%d}-{last_day:%Y%m%d}"


def data_pairs(datadir: Path, timeframe: str) -> list[str]:
    from liqrisk.tools.demo.realdata import futures_dir, pair_from_filename

    pairs = sorted({pair_from_filename(p) for p in futures_dir(datadir).glob(f"*-{timeframe}-futures.feather")})
    if not pairs:
        sys.exit(f"no {timeframe} futures candles in {futures_dir(datadir)}; give the folder that holds binance/ "
                 "(as `liqrisk simulate --datadir` writes it).")
    return pairs


def provenance() -> str:
    """The commit the features came from, and whether liqrisk/ differed from it (others may be editing)."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("log", "-1", "--format=%h %s").strip()[:90] or "unknown"
    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "liqrisk", "strategies").splitlines() if ln.strip()]
    return (f"code: {head}" + (f"; uncommitted changes in {len(dirty)} files under liqrisk/ or strategies/: "
                               f"{', '.join(dirty[:6])}{' ...' if len(dirty) > 6 else ''}" if dirty else "; clean tree"))


def run(name: str, args: list[str], work: Path) -> tuple[int, str, float]:
    from liqrisk.tools.demo.processes import freqtrade_command, subprocess_env

    env = subprocess_env()
    env["COLUMNS"] = TABLE_WIDTH
    log = work / f"{name}.log"
    print(f"$ freqtrade {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        code = subprocess.run([*freqtrade_command(), *args], stdout=fh, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=work, env=env).returncode
    seconds = time.perf_counter() - t0
    return code, log.read_text(encoding="utf-8", errors="replace"), seconds


def run_exact(ft_args: list[str], work: Path) -> tuple[dict | None, float]:
    """``exact_recursive_child`` in its own process; (its figures or None, seconds)."""
    import json

    from liqrisk.tools.demo.processes import subprocess_env

    out, log = work / "recursive-exact.json", work / "recursive-exact.log"
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        code = subprocess.run([sys.executable, str(Path(__file__).resolve()), CHILD_FLAG, str(out), *ft_args],
                              stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=work,
                              env=subprocess_env()).returncode
    seconds = time.perf_counter() - t0
    if code != 0 or not out.is_file():
        return None, seconds
    return json.loads(out.read_text(encoding="utf-8")), seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datadir", type=Path, help="a folder holding binance/futures (as `liqrisk simulate "
                    "--datadir` writes it); default: simulate into a temporary folder")
    ap.add_argument("--strategy", default="LiqRiskSample")
    ap.add_argument("--strategy-path", type=Path, default=REPO / "strategies")
    ap.add_argument("--config", type=Path, default=REPO / "user_data" / "config.offline.json")
    ap.add_argument("--timerange", help="freqtrade --timerange (default: the data after the startup candles)")
    ap.add_argument("--timeframe", help="override the strategy timeframe in the temporary config, e.g. 1h")
    ap.add_argument("--days", type=int, default=30, help="days to simulate without --datadir (default 30)")
    ap.add_argument("--minimum-trade-amount", type=int, default=10)
    ap.add_argument("--targeted-trade-amount", type=int, default=20)
    ap.add_argument("--startup-candle", nargs="+", type=int, metavar="N",
                    help="recursive-analysis: these startup counts instead of freqtrade's 199 399 499 999 1999 "
                    "(the strategy's own count is always added)")
    ap.add_argument("--only", choices=["lookahead", "recursive"], help="run one command")
    ap.add_argument("--no-exact", action="store_true", help="skip the unrounded recursive figures (a third "
                    "freqtrade run, in-process)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs, data)")
    args = ap.parse_args()

    from liqrisk.tools.demo.data import data_span
    from liqrisk.tools.demo.freqtrade_run import load_config, point_config, write_config
    from liqrisk.tools.demo.processes import ExchangeProcess, subprocess_env

    tmp = Path(tempfile.mkdtemp(prefix="liqrisk-analysis-"))
    status = 0
    try:
        datadir = args.datadir
        if datadir is None:
            datadir = tmp / "data"
            cmd = [sys.executable, "-m", "liqrisk.cli", "simulate", "--datadir", str(datadir), "--days",
                   str(args.days), "--pairs", *SIM_PAIRS, "--seed", "42", "--no-progress"]
            print(f"$ liqrisk {' '.join(cmd[4:])}", flush=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL)
            print(f"simulated in {time.perf_counter() - t0:.1f} s", flush=True)
        datadir = datadir.resolve()
        if (datadir / "futures").is_dir() and not (datadir / "binance").is_dir():
            datadir = datadir.parent  # given <root>/binance
        base = load_config(args.config)
        timeframe = args.timeframe or base.get("timeframe") or "5m"
        pairs = data_pairs(datadir, timeframe)
        startup = strategy_startup(args.strategy_path.resolve(), args.strategy, base.get("liqrisk"), timeframe)
        timerange = args.timerange
        if not timerange:
            start, end = data_span(datadir, pairs)
            timerange = default_timerange(start, end, startup, timeframe)
        print(provenance(), flush=True)
        print(f"data {datadir} ({', '.join(pairs)}); strategy {args.strategy} at {timeframe}, "
              f"{startup} startup candles; timerange {timerange}", flush=True)

        (tmp / "user_data").mkdir(exist_ok=True)
        with ExchangeProcess(datadir, log=tmp / "exchange.log", cwd=REPO) as exchange:
            overrides = {"user_data_dir": str(tmp / "user_data")}
            if args.timeframe:
                overrides["timeframe"] = args.timeframe
            config = write_config(point_config(base, exchange.url, pairs=pairs, **overrides), tmp)
            common = ["--config", str(config), "--userdir", str(tmp / "user_data"), "--datadir",
                      str(datadir / "binance"), "--strategy-path", str(args.strategy_path.resolve()),
                      "--strategy", args.strategy, "--timerange", timerange]
            results = {}
            if args.only in (None, "lookahead"):
                results["lookahead"] = run("lookahead-analysis", [
                    "lookahead-analysis", *common, "--minimum-trade-amount", str(args.minimum_trade_amount),
                    "--targeted-trade-amount", str(args.targeted_trade_amount),
                    "--lookahead-analysis-exportfilename", str(tmp / "lookahead.csv")], tmp)
            if args.only in (None, "recursive"):
                rec_args = ["recursive-analysis", *common]
                if args.startup_candle:
                    rec_args += ["--startup-candle", *map(str, args.startup_candle)]
                results["recursive"] = run("recursive-analysis", rec_args, tmp)
                if not args.no_exact:
                    results["exact"] = run_exact(rec_args, tmp)

        print()
        if "lookahead" in results:
            code, text, seconds = results["lookahead"]
            la = parse_lookahead(text, args.strategy)
            print(f"== freqtrade lookahead-analysis ({seconds:.0f} s, exit code {code})")
            print(table_text(text, "filename") or "(no table printed)")
            verdict = lookahead_verdict(la, code, args.minimum_trade_amount)
            print("verdict: " + "\n".join(verdict))
            status = max(status, 2 if verdict[0].startswith(("FAILED", "NOT CHECKED")) else 0 if la.clean else 1)
            print()
        if "recursive" in results:
            code, text, seconds = results["recursive"]
            rec = parse_recursive(text)
            print(f"== freqtrade recursive-analysis ({seconds:.0f} s, exit code {code})")
            print(table_text(text, "Indicators") or "(no table printed)")
            verdict = recursive_verdict(rec, code, startup)
            exact = results.get("exact")
            if exact is not None and exact[0] is not None:
                scc = rec.strategy_startup or startup
                verdict += exact_lines(exact[0], scc)
                if verdict[0].startswith("clean") and any(ln.startswith("  above") for ln in verdict):
                    verdict[0] = "NOT CLEAN (exact figures below):" + verdict[0].removeprefix("clean:")
            print("verdict: " + "\n".join(verdict))
            if exact is not None:
                print(f"(exact figures: freqtrade's RecursiveAnalysis in-process, {exact[1]:.0f} s"
                      + ("" if exact[0] is not None else f"; FAILED, see {tmp / 'recursive-exact.log'}") + ")")
            status = max(status, 2 if verdict[0].startswith("FAILED") else 0 if verdict[0].startswith("clean") else 1)
            print()
        if status == 2:
            print(f"a command failed; its log is in {tmp} (kept)")
            args.keep = True
    finally:
        if args.keep:
            print(f"kept {tmp}: config.json, lookahead-analysis.log, recursive-analysis.log, exchange.log"
                  + (", data/" if args.datadir is None else ""))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == CHILD_FLAG:
        sys.exit(exact_recursive_child(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
