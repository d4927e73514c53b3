"""Unmodified freqtrade against ``liqrisk exchange`` running as its own process, over loopback HTTP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.tools.exchange import ReplaySource

from .conftest import FREQTRADE, PAIRS, REPO, ServerProcess, offline_config, subprocess_env

STRATEGIES = Path(__file__).parent / "strategies"
CANDLE_TYPES = ["futures", "mark", "funding_rate", "open_interest"]


def freqtrade(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([FREQTRADE, *args], cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_download_data_reproduces_the_files(server_proc, datadir, data_end, tmp_path):
    config = offline_config(tmp_path, server_proc.url)
    dl = tmp_path / "dl"
    start = (data_end - pd.Timedelta(days=2)).strftime("%Y%m%d")
    res = freqtrade("download-data", "-c", str(config), "--datadir", str(dl), "--trading-mode", "futures",
                    "--candle-types", *CANDLE_TYPES, "-t", "5m", "1h", "--timerange", f"{start}-",
                    cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    src, got = ReplaySource(datadir), ReplaySource(dl)
    assert got.pairs == src.pairs
    since = pd.Timestamp(start, tz="UTC")
    checked = 0
    for pair in PAIRS:
        for tf, kind in [("5m", "futures"), ("1h", "futures"), ("1h", "mark"), ("1h", "funding_rate"),
                         ("5m", "open_interest"), ("1h", "open_interest")]:
            want = src.frame(pair, kind, tf)
            want = want[want["date"] >= since].reset_index(drop=True)
            have = got.frame(pair, kind, tf)
            assert have is not None, (pair, tf, kind)
            # freqtrade drops the newest candle when it may still be forming; everything else must match.
            assert len(want) - 1 <= len(have) <= len(want), (pair, tf, kind, len(have), len(want))
            want = want.head(len(have))
            assert (have["date"].to_numpy() == want["date"].to_numpy()).all(), (pair, tf, kind)
            for col in want.columns[1:]:
                np.testing.assert_array_equal(have[col].to_numpy(float), want[col].to_numpy(float),
                                              err_msg=f"{pair} {tf} {kind} {col}")
            checked += 1
    assert checked == 12


def test_backtesting_through_the_cli(server_proc, datadir, data_end, tmp_path):
    config = offline_config(tmp_path, server_proc.url)
    start = (data_end - pd.Timedelta(days=3)).strftime("%Y%m%d")
    res = freqtrade("backtesting", "-c", str(config), "--datadir", str(datadir / "binance"),
                    "--strategy", "LocalexSmaCross", "--strategy-path", str(STRATEGIES),
                    "--timerange", f"{start}-", "--export", "none", "--cache", "none", cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    trades = re.search(r"LocalexSmaCross\s*│\s*(\d+)\s*│", out)
    assert trades and int(trades.group(1)) > 10, out[-4000:]
    long_short = re.search(r"Long / Short trades\s*│\s*(\d+) / (\d+)", out)
    assert long_short and int(long_short.group(1)) > 0 and int(long_short.group(2)) > 0


def test_both_configs_load(tmp_path):
    for name in ("config.offline.json", "config.binance.json"):
        res = freqtrade("show-config", "-c", str(REPO / "user_data" / name), cwd=REPO, timeout=60)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert '"trading_mode": "futures"' in res.stdout


# -- the CLI -----------------------------------------------------------------------------------


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liqrisk.cli", "exchange", *args], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_cli_rejects_bad_input(datadir, tmp_path):
    res = cli("--datadir", str(tmp_path))
    assert res.returncode == 2 and "futures" in res.stderr
    res = cli("--datadir", str(datadir), "--faults", "429:2")
    assert res.returncode == 2 and "--faults" in res.stderr
    res = cli("--datadir", str(datadir), "--host", "0.0.0.0")
    assert res.returncode == 2 and "loopback" in res.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        res = cli("--datadir", str(datadir), "--port", str(busy.getsockname()[1]))
    assert res.returncode == 2 and "cannot listen" in res.stderr


def test_cli_prints_config_and_stops_on_sigint(datadir, tmp_path):
    srv = ServerProcess(datadir, "--faults", "429:0.5", "--fault-seed", "4", log=tmp_path / "srv.log")
    try:
        text = srv.log.read_text()
        assert srv.url in text and '"ccxt_config"' in text
    finally:
        srv.proc.send_signal(signal.SIGINT)
        rc = srv.proc.wait(timeout=15)
        srv.stop()
    assert rc == 0


def test_live_mode_serves_the_simulator(tmp_path):
    pytest.importorskip("liqrisk.tools.sim.stream")
    import ccxt

    from liqrisk.tools.exchange import ccxt_config

    srv = ServerProcess(tmp_path / "fresh", "--live", "--seed", "5", log=tmp_path / "live.log")
    try:
        cfg = ccxt_config(srv.url)
        cfg["options"]["defaultType"] = "swap"
        ex = ccxt.binance(cfg)
        ex.load_markets()
        pair = ex.symbols[0]
        rows = ex.fetch_ohlcv(pair, "1m", limit=30)
        assert len(rows) == 30 and rows[-1][0] > ex.milliseconds() - 3 * 60_000
        assert ex.fetch_order_book(pair, 5)["bids"]
        assert ex.fetch_open_interest_history(pair, "5m", limit=5)
    finally:
        assert srv.stop() == 0
