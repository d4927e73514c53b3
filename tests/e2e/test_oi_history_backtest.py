"""Open-interest history from ``liqrisk download-oi`` reaches an unmodified ``freqtrade
backtesting`` (issue #17), all on 127.0.0.1.

A simulated datadir (2 pairs x 6 days to 2025-03-31) is copied without its open_interest
files. ``liqrisk download-oi`` restores them from the local exchange (``liqrisk exchange``),
which serves the simulator's OI at Binance's archive paths and over Bybit's v5 API.
LiqRiskSample is then backtested on the copy, and the mixin's report
(``user_data/backtest_results/liqrisk-LiqRiskSample-<time>.json``, ``summary.oi_fallback``)
says per pair how many backtest candles ran on the volume proxy (``liq_oi_fallback``).

``benchmarks/oi_history_year.py`` runs the same pipeline over a year of 5m OI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tools.exchange.conftest import FREQTRADE, REPO, ServerProcess, subprocess_env

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
END = "2025-03-31"
DAYS = 6  # 2025-03-25 .. 2025-03-30
DOWNLOAD_RANGE = "20250325-20250331"
#: 3 days = 864 5m candles after LiqRiskSample's 600 startup candles (windows 12h/1d).
TIMERANGE = "20250328-20250331"
BACKTEST_CANDLES = 3 * 288
MISSING_DAY = "2025-03-29"
LIQRISK = {"windows": ["12h", "1d"]}


# ---------------------------------------------------------------------------------------
# The pipeline's steps (the benchmark uses them too)

def run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


def simulate(root: Path, pairs: list[str], days: int, end: str = END, timeout: float = 300) -> Path:
    res = run([sys.executable, "-m", "liqrisk.cli", "simulate", "--datadir", str(root), "--days", str(days),
               "--pairs", *pairs, "--seed", "42", "--end", end, "--no-progress"], REPO, timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return root


def without_oi(src_root: Path, dst_root: Path) -> Path:
    """``src_root/binance`` copied to ``dst_root/binance`` with no open_interest file (and no
    simulator truth): what ``freqtrade download-data`` leaves for old candles."""
    dst = dst_root / "binance"
    shutil.copytree(src_root / "binance", dst, ignore=shutil.ignore_patterns("*-open_interest.*", "liqrisk_truth"))
    assert not list(dst.rglob("*open_interest*"))
    return dst


def download_oi(datadir: Path, url: str, pairs: list[str], timerange: str, *extra: str,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """``liqrisk download-oi`` (the console script's module) with 5m and 1h files."""
    return run([sys.executable, "-m", "liqrisk.cli", "download-oi", "--datadir", str(datadir), "--pairs", *pairs,
                "--timerange", timerange, "--archive-url", url, "--timeframes", "5m", "1h", *extra], REPO, timeout)


def backtest_config(tmp: Path, url: str, pairs: list[str], liqrisk: dict | None) -> Path:
    cfg = json.loads((REPO / "user_data" / "config.offline.json").read_text().replace("http://127.0.0.1:8765", url))
    cfg["exchange"]["pair_whitelist"] = pairs
    cfg["user_data_dir"] = str(tmp / "user_data")
    if liqrisk is not None:
        cfg["liqrisk"] = liqrisk
    (tmp / "user_data").mkdir(exist_ok=True)
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def backtest(config: Path, datadir: Path, timerange: str, *, export: str = "none",
             timeout: float = 600) -> tuple[str, dict]:
    """Unmodified ``freqtrade backtesting`` of LiqRiskSample; its output and the mixin's
    ``oi_fallback`` report (the run's own report file, which it removes)."""
    res = run([FREQTRADE, "backtesting", "-c", str(config), "--datadir", str(datadir), "--strategy-path",
               str(REPO / "strategies"), "--strategy", "LiqRiskSample", "--timerange", timerange, "--export",
               export, "--cache", "none"], config.parent, timeout)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    reports = list((config.parent / "user_data" / "backtest_results").glob("liqrisk-LiqRiskSample-*.json"))
    assert len(reports) == 1, reports
    summary = json.loads(reports[0].read_text())["summary"]
    reports[0].unlink()
    return out, summary["oi_fallback"]


def oi_file(datadir: Path, pair: str, timeframe: str) -> pd.DataFrame:
    name = pair.replace("/", "_").replace(":", "_")
    return pd.read_feather(Path(datadir) / "futures" / f"{name}-{timeframe}-open_interest.feather")


# ---------------------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope="module")
def sim_root(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("oi-history-sim"), PAIRS, DAYS)


@pytest.fixture(scope="module")
def server(sim_root, tmp_path_factory):
    srv = ServerProcess(sim_root, log=tmp_path_factory.mktemp("oi-history-log") / "server.log")
    yield srv
    srv.stop()


# ---------------------------------------------------------------------------------------
# Tests

def test_backtest_on_downloaded_oi_has_no_fallback_candle(sim_root, server, tmp_path):
    data = without_oi(sim_root, tmp_path / "data")
    cfg = backtest_config(tmp_path, server.url, PAIRS, LIQRISK)

    # Without the files every backtest candle runs on the volume proxy: the report sees it.
    _, before = backtest(cfg, data, TIMERANGE)
    for pair in PAIRS:
        assert (before[pair]["candles"], before[pair]["fallback"]) == (BACKTEST_CANDLES, BACKTEST_CANDLES), before

    res = download_oi(data, server.url, PAIRS, DOWNLOAD_RANGE)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for pair in PAIRS:
        assert f"{pair}: {DAYS} days, {DAYS} verified" in res.stdout and "0 gaps" in res.stdout, res.stdout
        for tf in ("5m", "1h"):  # the archive's round trip is exact
            pd.testing.assert_frame_equal(oi_file(data, pair, tf), oi_file(sim_root / "binance", pair, tf))

    out, after = backtest(cfg, data, TIMERANGE)
    for pair in PAIRS:
        assert after[pair] == {"candles": BACKTEST_CANDLES, "fallback": 0, "spans": [], "spans_left_off": 0}, after
        assert f"{pair} uses the volume proxy" not in out
    assert "OI-fallback candles {'BTC/USDT:USDT': '0/864', 'ETH/USDT:USDT': '0/864'}" in out


def test_a_missing_archive_day_is_reported_and_only_its_candles_fall_back(sim_root, tmp_path):
    import liqrisk
    from liqrisk.tools.datadir import load_market

    data = without_oi(sim_root, tmp_path / "data")
    srv = ServerProcess(sim_root, "--archive-missing", f"BTCUSDT:{MISSING_DAY}", log=tmp_path / "server.log")
    try:
        res = download_oi(data, srv.url, PAIRS, DOWNLOAD_RANGE)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]  # a 404 is a gap, not a failure
        out = res.stdout + res.stderr
        assert f"BTC/USDT:USDT {MISSING_DAY}: not in the archive (404); open interest left as a gap" in out, out
        assert f"BTC/USDT:USDT: {DAYS} days, {DAYS - 1} verified" in out and "1 gap;" in out, out
        assert f"ETH/USDT:USDT: {DAYS} days, {DAYS} verified" in out, out
        days = oi_file(data, "BTC/USDT:USDT", "5m")["date"].dt.strftime("%Y-%m-%d")
        assert MISSING_DAY not in set(days) and days.nunique() == DAYS - 1

        _, report = backtest(backtest_config(tmp_path, srv.url, PAIRS, LIQRISK), data, TIMERANGE)
    finally:
        srv.stop()
    # The day's candles, as the engine aligns OI: the previous day's last snapshot still
    # covers the first three (oi_max_staleness, default 3 OI candles), and the next day's
    # first candle falls back too (its open's OI is the missing day's last snapshot).
    day = pd.Timestamp(MISSING_DAY, tz="UTC")
    first, last = day + pd.Timedelta("15min"), day + pd.Timedelta("1D")
    assert report["BTC/USDT:USDT"] == {"candles": BACKTEST_CANDLES, "fallback": 286, "spans_left_off": 0,
                                       "spans": [[first.isoformat(), last.isoformat(), 286]]}, report
    assert report["ETH/USDT:USDT"]["fallback"] == 0, report
    # The same candles as compute_features on the same files.
    market = load_market("BTC/USDT:USDT", "5m", datadir=data, timerange=TIMERANGE, startup_candles=600)
    feats = liqrisk.compute_features(market.ohlcv, config=LIQRISK, **market.engine_inputs())
    dates = market.ohlcv["date"]
    flagged = dates[(feats["liq_oi_fallback"].to_numpy() == 1) & (dates >= pd.Timestamp("2025-03-28", tz="UTC"))]
    assert list(flagged) == list(pd.date_range(first, last, freq="5min"))


def test_aggregated_oi_backtest_sums_binance_and_bybit(sim_root, server, tmp_path):
    from freqtrade.data.btanalysis.bt_fileutils import load_backtest_analysis_data

    import liqrisk
    from liqrisk.tools.datadir import load_market

    data = without_oi(sim_root, tmp_path / "data")
    for extra in ((), ("--source", "bybit")):
        target = data if not extra else tmp_path / "data"  # bybit's files go to <data>/bybit/futures
        res = download_oi(target, server.url, PAIRS, DOWNLOAD_RANGE, *extra)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert len(list((tmp_path / "data" / "bybit" / "futures").glob("*-5m-open_interest.feather"))) == len(PAIRS)

    section = {**LIQRISK, "oi_sources": ["binance", "bybit"]}
    cfg = backtest_config(tmp_path, server.url, PAIRS, section)
    _, report = backtest(cfg, data, TIMERANGE, export="signals")
    for pair in PAIRS:
        assert (report[pair]["candles"], report[pair]["fallback"]) == (BACKTEST_CANDLES, 0), report
    results = cfg.parent / "user_data" / "backtest_results"
    signals = load_backtest_analysis_data(next(results.glob("backtest-result-*.zip")), "signals")["LiqRiskSample"]
    assert sum(len(s) for s in signals.values()) > 0

    for pair in PAIRS:
        # The OI the engine reads is the sum, per stamp, of the two exchanges' files.
        binance, bybit = oi_file(data, pair, "5m"), oi_file(tmp_path / "data" / "bybit", pair, "5m")
        both = binance.merge(bybit, on="date", suffixes=("_binance", "_bybit"), validate="1:1")
        assert len(both) == len(binance) == len(bybit) == DAYS * 288
        total = both["open_interest_value_binance"] + both["open_interest_value_bybit"]
        market = load_market(pair, "5m", datadir=data, timerange=TIMERANGE, startup_candles=600,
                             oi_sources=("binance", "bybit"))
        oi = market.open_interest.merge(both[["date"]].assign(total=total), on="date", validate="1:1")
        np.testing.assert_allclose(oi["open_interest_value"], oi["total"], rtol=1e-12)
        assert (market.open_interest["oi_sources"] == 3).all()
        # The features are those of the summed OI, not of Binance's alone.
        kw = {"funding_rate": market.funding_rate, "mark": market.mark, "pair": pair, "timeframe": "5m",
              "config": section}
        feats = liqrisk.compute_features(market.ohlcv, open_interest=market.open_interest, **kw)
        summed = both[["date"]].assign(open_interest_value=total)
        summed = summed[summed["date"].isin(market.open_interest["date"])]  # the loaded range
        by_hand = liqrisk.compute_features(market.ohlcv, open_interest=summed, **kw)
        pd.testing.assert_frame_equal(feats, by_hand)
        alone = liqrisk.compute_features(market.ohlcv, open_interest=binance, **kw)
        live = market.ohlcv["date"] >= pd.Timestamp("2025-03-28", tz="UTC")
        assert not np.allclose(feats.loc[live, "liq_seed_usd"], alone.loc[live, "liq_seed_usd"])
        # ... and the backtest's own frame at its signal candles holds them.
        sig = signals.get(pair)
        if sig is None or sig.empty:
            continue
        at = feats.set_index(market.ohlcv["date"]).loc[sig["date"]]
        assert (sig["liq_oi_sources"] == 3).all() and (sig["liq_oi_fallback"] == 0).all()
        for col in ("liq_seed_usd", "liq_long_outstanding_usd_1d", "liq_short_outstanding_usd_1d"):
            np.testing.assert_allclose(sig[col].to_numpy(), at[col].to_numpy(), rtol=1e-9, err_msg=f"{pair} {col}")
