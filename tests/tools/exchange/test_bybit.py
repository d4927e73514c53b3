"""Bybit v5 on the local exchange: envelopes, windows, cursors, error codes and faults in-process,
then unmodified ``freqtrade download-data --exchange bybit`` against ``liqrisk exchange``."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd
import pytest

from liqrisk.tools.exchange import ReplaySource, ServerThread
from liqrisk.tools.exchange.bybit_http import ccxt_config
from liqrisk.tools.exchange.faults import FaultPlan

from .conftest import FREQTRADE, PAIRS, ServerProcess, offline_config, subprocess_env, write_datadir

BTC = "BTC/USDT:USDT"
CANDLE_TYPES = ["futures", "funding_rate", "mark", "open_interest"]
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def get(url: str) -> tuple[int, dict, object]:
    try:
        with _opener.open(url, timeout=10) as r:
            status, headers, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, dict(e.headers), e.read()
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode()


def ms(ts) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


@pytest.fixture(scope="module")
def server(datadir):
    with ServerThread(ReplaySource(datadir)) as srv:
        yield srv


def make_ccxt(url: str, **extra) -> ccxt.bybit:
    cfg = ccxt_config(url)
    cfg["enableRateLimit"] = False
    cfg.update(extra)
    return ccxt.bybit(cfg)


# -- protocol ----------------------------------------------------------------------------------


def test_envelope_time_and_instruments(server):
    status, _, body = get(server.url + "/v5/market/time")
    assert status == 200 and body["retCode"] == 0 and body["retMsg"] == "OK"
    assert int(body["result"]["timeSecond"]) == body["time"] // 1000
    _, _, body = get(server.url + "/v5/market/instruments-info?category=linear")
    entries = {e["symbol"]: e for e in body["result"]["list"]}
    assert set(entries) == {"BTCUSDT", "ETHUSDT"} and body["result"]["nextPageCursor"] == ""
    btc = entries["BTCUSDT"]
    assert (btc["contractType"], btc["settleCoin"], btc["fundingInterval"]) == ("LinearPerpetual", "USDT", 480)
    for category in ("spot", "inverse", "option"):
        assert get(server.url + f"/v5/market/instruments-info?category={category}")[2]["result"]["list"] == []
    ex = make_ccxt(server.url)
    ex.load_markets()
    assert set(ex.symbols) == set(PAIRS) and ex.market(BTC)["linear"] and ex.market(BTC)["swap"]


def test_errors_are_bybit_return_codes(server):
    cases = {
        "/v5/market/kline?category=linear&symbol=NOPEUSDT&interval=5": (200, 10001, "Not supported symbols"),
        "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=7": (200, 10001, "Invalid period!"),
        "/v5/market/kline?category=futures&symbol=BTCUSDT&interval=5": (200, 10001, "Illegal category"),
        "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=5&limit=1001": (200, 10001, "limit"),
        "/v5/market/open-interest?category=linear&symbol=BTCUSDT": (200, 10001, "intervalTime is required"),
        "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min&cursor=x": (200, 10001, "cursor"),
        "/v5/market/funding/history?category=linear&symbol=BTCUSDT&startTime=1": (200, 10001, "together"),
        "/v5/market/orderbook-v9?category=linear": (404, 10017, "Route not found"),
    }
    for path, (status, code, msg) in cases.items():
        got_status, _, body = get(server.url + path)
        assert (got_status, body["retCode"]) == (status, code), (path, body)
        assert msg in body["retMsg"] and body["result"] == {} and isinstance(body["time"], int), (path, body)
    with pytest.raises(ccxt.BadSymbol):  # ccxt reads the codes as it reads Bybit's
        make_ccxt(server.url).publicGetV5MarketKline({"category": "linear", "symbol": "NOPEUSDT", "interval": "5"})


def test_klines_match_the_files_newest_first(server, datadir):
    df = ReplaySource(datadir).frame(BTC, "futures", "5m")
    t0 = ms(df["date"].iloc[10])
    _, _, body = get(server.url + f"/v5/market/kline?category=linear&symbol=BTCUSDT&interval=5&start={t0 + 60_000}&limit=5")
    rows = body["result"]["list"]
    # Newest first; the candle holding `start` is the first one.
    assert [int(r[0]) for r in rows] == [t0 + 300_000 * k for k in range(4, -1, -1)]
    assert [float(x) for x in rows[-1][1:6]] == df.iloc[10][["open", "high", "low", "close", "volume"]].tolist()
    ex = make_ccxt(server.url)
    mark = ex.fetch_ohlcv(BTC, "1h", since=t0, limit=3, params={"price": "mark"})
    want = ReplaySource(datadir).frame(BTC, "mark", "1h")
    want = want[want["date"] >= pd.Timestamp(t0, unit="ms", tz="UTC")].head(3)
    assert [m[4] for m in mark] == want["close"].tolist() and mark[0][5] is None  # Bybit's mark klines: no volume


def test_open_interest_pages_back_to_the_first_snapshot(server, datadir):
    """No 30-day cap: following nextPageCursor reaches the first row of the file."""
    want = ReplaySource(datadir).frame(BTC, "open_interest", "5m")
    ex = make_ccxt(server.url)
    ex.load_markets()
    got = ex.fetch_open_interest_history(BTC, "5m", params={"paginate": True, "paginationCalls": 100})
    got = sorted({g["timestamp"]: g for g in got}.values(), key=lambda g: g["timestamp"])
    assert got[0]["timestamp"] == ms(want["date"].iloc[0])
    assert len(got) == len(want[want["date"] <= pd.Timestamp.now(tz="UTC")])
    assert [g["openInterestAmount"] for g in got] == want["open_interest_amount"].head(len(got)).tolist()


def test_faults_in_bybit_shapes(datadir):
    for status_kind, check in [
        ("429", lambda s, h, b: s == 200 and b["retCode"] == 10006 and h["X-Bapi-Limit-Status"] == "0"),
        ("418", lambda s, h, b: s == 403 and "too frequent" in b),
        ("500", lambda s, h, b: s == 500 and b["retCode"] == 10016),
        ("503", lambda s, h, b: s == 503 and "<html>" in b),
    ]:
        with ServerThread(ReplaySource(datadir), faults=FaultPlan({status_kind: 1.0})) as srv:
            status, headers, body = get(srv.url + "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=5")
            assert check(status, headers, body), (status_kind, status, body)
            assert get(srv.url + "/v5/market/time")[0] == 200  # startup paths are exempt
            assert get(srv.url + "/v5/market/instruments-info?category=linear")[2]["retCode"] == 0
    with ServerThread(ReplaySource(datadir), faults=FaultPlan({"429": 1.0})) as srv:
        with pytest.raises(ccxt.RateLimitExceeded):
            make_ccxt(srv.url).fetch_ohlcv(BTC, "5m", limit=2)


# -- unmodified freqtrade ----------------------------------------------------------------------


def download(config: Path, dl: Path, timerange: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([FREQTRADE, "download-data", "-c", str(config), "--datadir", str(dl), "--trading-mode",
                           "futures", "--candle-types", *CANDLE_TYPES, "-t", "5m", "1h", "--timerange", timerange],
                          cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=240)


def assert_like_the_datadir(datadir: Path, dl: Path, since: pd.Timestamp, until: pd.Timestamp | None = None):
    """Every candle type equals the datadir's over the range, as far as Bybit carries it:
    mark klines have no volume (NaN), linear OI has no USD value (NaN); the newest candle may be
    dropped as still forming, and the first 5m OI snapshot of the range may be missing (the
    endpoint walks back from endTime; ccxt asks for 200 snapshots in a 201-snapshot window)."""
    src, got = ReplaySource(datadir), ReplaySource(dl)
    assert got.pairs == src.pairs
    for pair in PAIRS:
        for tf, kind in [("5m", "futures"), ("1h", "futures"), ("1h", "mark"), ("1h", "funding_rate"),
                         ("5m", "open_interest"), ("1h", "open_interest")]:
            want = src.frame(pair, kind, tf)
            want = want[(want["date"] >= since) & (want["date"] < (until or pd.Timestamp.max.tz_localize("UTC")))]
            have = got.frame(pair, kind, tf)
            assert have is not None, (pair, tf, kind)
            if kind == "open_interest" and tf == "5m" and have["date"].iloc[0] > want["date"].iloc[0]:
                want = want.iloc[1:]
            want = want.reset_index(drop=True)
            assert len(want) - 1 <= len(have) <= len(want), (pair, tf, kind, len(have), len(want))
            want = want.head(len(have))
            assert (have["date"].to_numpy() == want["date"].to_numpy()).all(), (pair, tf, kind)
            for col in want.columns[1:]:
                a = have[col].to_numpy(float)
                if (kind, col) in {("mark", "volume"), ("open_interest", "open_interest_value")}:
                    assert np.isnan(a).all(), (pair, tf, kind, col)
                    continue
                np.testing.assert_array_equal(a, want[col].to_numpy(float), err_msg=f"{pair} {tf} {kind} {col}")


def test_freqtrade_download_data_bybit(server_proc, datadir, data_end, tmp_path):
    config = offline_config(tmp_path, server_proc.url, "config.bybit.offline.json")
    start = (data_end - pd.Timedelta(days=2)).strftime("%Y%m%d")
    res = download(config, tmp_path / "dl", f"{start}-", tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "unimplemented endpoint" not in server_proc.log.read_text()
    assert_like_the_datadir(datadir, tmp_path / "dl", pd.Timestamp(start, tz="UTC"))


@pytest.fixture(scope="module")
def fixed_datadir(tmp_path_factory) -> Path:
    # Fault draws hash the request's query; data ending at a fixed date keeps the queries fixed.
    return write_datadir(tmp_path_factory.mktemp("bybit-fixed"), pd.Timestamp("2026-01-01", tz="UTC"))


def test_freqtrade_download_data_bybit_retries_faults(fixed_datadir, tmp_path):
    srv = ServerProcess(fixed_datadir, "--faults", "429:0.12,418:0.04,500:0.08,503:0.06", "--fault-seed", "2",
                        log=tmp_path / "srv.log")
    try:
        config = offline_config(tmp_path, srv.url, "config.bybit.offline.json")
        res = download(config, tmp_path / "dl", "20251229-20260101", tmp_path)
    finally:
        srv.stop()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    injected = re.findall(r"injected fault status (\d+)", srv.log.read_text())
    assert {"429", "418", "500", "503"} <= set(injected), injected
    assert "Giving up" not in out, out[-4000:]
    assert_like_the_datadir(fixed_datadir, tmp_path / "dl", pd.Timestamp("2025-12-29", tz="UTC"),
                            pd.Timestamp("2026-01-01", tz="UTC"))
