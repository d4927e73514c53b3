"""``liqrisk download-oi --source bybit`` against the local exchange's Bybit v5 endpoints (loopback).

The local exchange serves the simulator's market (2025-01-02 → 2025-01-08) over Bybit's
protocol; the files written must equal the simulator's OI files exactly (amounts and values).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from liqrisk.errors import ConfigError
from liqrisk.tools.download import bybit as B
from liqrisk.tools.download.fetch import FetchSettings
from tests.tools.download.conftest import PAIR, TIMERANGE, read_oi, sim_oi

REPO = Path(__file__).resolve().parents[3]


def ms(day: str) -> int:
    return int(pd.Timestamp(day, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def bybit_url(sim_datadir):
    from liqrisk.tools.exchange import ReplaySource, ServerThread

    with ServerThread(ReplaySource(sim_datadir.parent)) as srv:
        yield srv.url


def download(datadir: Path, url: str, *extra: str, timerange: str = TIMERANGE) -> int:
    return main(["download-oi", "--source", "bybit", "--datadir", str(datadir), "--pairs", PAIR, "--timerange",
                 timerange, "--archive-url", url, "--timeframes", "5m", "1h", "--retries", "2", *extra])


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, bybit_url):
    root = tmp_path_factory.mktemp("bybit-out")
    return root / "bybit", download(root, bybit_url)


def test_equals_the_simulators_oi(downloaded, sim_datadir):
    out, rc = downloaded
    assert rc == 0
    for tf in ("5m", "1h"):
        # Amounts from the OI endpoint, values = amount x the mark price at the stamp: bit for bit.
        pd.testing.assert_frame_equal(read_oi(out, tf), sim_oi(sim_datadir, tf, drop_days=()))
    assert not (out / "liqrisk_oi_metrics").exists()  # Bybit has no archive statistics


def test_rerun_over_an_overlapping_range_changes_nothing(downloaded, bybit_url, capsys):
    out, _ = downloaded
    files = sorted((out / "futures").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    assert download(out.parent, bybit_url, timerange="20250103-20250107") == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    assert "+0 rows" in capsys.readouterr().out


def test_fills_values_of_rows_download_data_wrote(tmp_path, bybit_url, sim_datadir):
    """freqtrade's Bybit OI rows carry no USD value: kept, not duplicated, and given the value."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    out = tmp_path / "bybit"
    (out / "futures").mkdir(parents=True)
    api_rows = sim_oi(sim_datadir, "5m", drop_days=())
    api_rows = api_rows[api_rows["date"] >= pd.Timestamp("2025-01-06", tz="UTC")].reset_index(drop=True)
    api_rows["open_interest_value"] = np.nan
    get_datahandler(out, "feather").ohlcv_store(PAIR, "5m", api_rows, CandleType.OPEN_INTEREST)
    assert download(tmp_path, bybit_url) == 0
    pd.testing.assert_frame_equal(read_oi(out, "5m"), sim_oi(sim_datadir, "5m", drop_days=()))


def test_faults_are_retried(tmp_path, sim_datadir):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.faults import FaultPlan

    plan = FaultPlan({"429": 0.2, "418": 0.1, "500": 0.1, "503": 0.1, "timeout": 0.1}, seed=5, delay_s=0.6)
    waits: list[float] = []
    with ServerThread(ReplaySource(sim_datadir.parent), faults=plan) as srv:
        req = B.BybitRequest(pairs=[PAIR], start_ms=ms("2025-01-01"), stop_ms=ms("2025-01-09"),
                             datadir=tmp_path / "bybit", timeframes=("5m", "1h"), base_url=srv.url,
                             settings=FetchSettings(timeout_s=0.3, retries=12, backoff_s=0.01, sleep=waits.append))
        (report,) = B.download_bybit_open_interest(req, progress=False)
    assert not report.error and report.snapshots == len(sim_oi(sim_datadir, "5m", drop_days=()))
    assert len(waits) >= 5  # each fault was one retry
    for tf in ("5m", "1h"):
        pd.testing.assert_frame_equal(read_oi(tmp_path / "bybit", tf), sim_oi(sim_datadir, tf, drop_days=()))


def test_exhausted_retries_exit_1_and_keep_nothing_half(tmp_path, sim_datadir, capsys):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.faults import FaultPlan

    with ServerThread(ReplaySource(sim_datadir.parent), faults=FaultPlan({"503": 1.0})) as srv:
        rc = main(["download-oi", "--source", "bybit", "--datadir", str(tmp_path), "--pairs", PAIR, "--timerange",
                   TIMERANGE, "--archive-url", srv.url, "--retries", "0"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "INCOMPLETE" in captured.out and "HTTP 503" in captured.out and "run the same command again" in captured.err
    assert not list((tmp_path / "bybit").glob("futures/*open_interest*"))


def test_refusals_are_one_line(tmp_path, bybit_url, capsys):
    rc = main(["download-oi", "--source", "bybit", "--datadir", str(tmp_path), "--pairs", "DOGE/USDT:USDT",
               "--timerange", TIMERANGE, "--archive-url", bybit_url])
    assert rc == 2 and "retCode 10001" in capsys.readouterr().err
    config = tmp_path / "binance.json"
    config.write_text(json.dumps({"exchange": {"name": "binance", "pair_whitelist": [PAIR]}}))
    rc = main(["download-oi", "--source", "bybit", "-c", str(config), "--timerange", TIMERANGE])
    assert rc == 2 and "'binance'" in capsys.readouterr().err


def test_fetch_interval_and_symbols():
    assert B.fetch_interval(("5m", "1h")) == "5m"
    assert B.fetch_interval(("1h", "4h")) == "1h"
    assert B.fetch_interval(("2h",)) == "1h"
    assert B.bybit_symbol("ETH/USDT:USDT") == "ETHUSDT"
    with pytest.raises(ConfigError, match="BASE/QUOTE:QUOTE"):
        B.bybit_symbol("BTC/USD:BTC")


def test_the_offline_config_points_download_oi_at_the_local_exchange(tmp_path, bybit_url, sim_datadir):
    """``-c user_data/config.bybit.offline.json`` alone: its ccxt URL is the API host."""
    cfg = json.loads((REPO / "user_data" / "config.bybit.offline.json").read_text().replace("http://127.0.0.1:8765",
                                                                                           bybit_url))
    cfg["datadir"] = str(tmp_path / "data" / "bybit")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    rc = main(["download-oi", "--source", "bybit", "-c", str(config), "--pairs", PAIR, "--timerange", TIMERANGE])
    assert rc == 0
    pd.testing.assert_frame_equal(read_oi(tmp_path / "data" / "bybit", "5m"), sim_oi(sim_datadir, "5m", drop_days=()))
