"""The local exchange in-process: ccxt round trips, Binance error bodies, faults, a live source."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd
import pytest

from liqrisk.errors import ConfigError
from liqrisk.tools.exchange import ReplaySource, ServerThread, ccxt_config
from liqrisk.tools.exchange.faults import FaultPlan, parse_faults
from liqrisk.tools.exchange.server import CCXT_API_PATHS

from .conftest import PAIRS, REPO, write_datadir

BTC = "BTC/USDT:USDT"


def ms(ts) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


def load(datadir: Path, pair: str, tf: str, kind: str) -> pd.DataFrame:
    return ReplaySource(datadir).frame(pair, kind, tf)


def make_ccxt(url: str, **extra) -> ccxt.binance:
    cfg = ccxt_config(url)
    cfg["options"]["defaultType"] = "swap"  # what freqtrade sets for futures
    cfg["enableRateLimit"] = False  # a local server; ccxt's throttle would only slow the tests
    cfg.update(extra)
    return ccxt.binance(cfg)


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


def get(url: str, timeout: float = 10) -> tuple[int, dict, object]:
    try:
        with _opener.open(url, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


@pytest.fixture(scope="module")
def server(datadir):
    with ServerThread(ReplaySource(datadir)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    ex = make_ccxt(server.url)
    ex.load_markets()
    return ex


# -- round trips -------------------------------------------------------------------------------


def test_markets_have_binance_filters(client):
    assert sorted(client.markets) == sorted(PAIRS)
    m = client.markets[BTC]
    assert m["swap"] and m["linear"] and m["active"] and m["settle"] == "USDT"
    assert m["precision"]["price"] == 0.1 and m["precision"]["amount"] == 0.001
    assert m["limits"]["cost"]["min"] == 100 and m["limits"]["amount"]["min"] == 0.001


@pytest.mark.parametrize("tf,kind", [("1m", "futures"), ("5m", "futures"), ("1h", "futures"), ("1h", "mark")])
def test_ohlcv_matches_files(client, datadir, tf, kind):
    df = load(datadir, BTC, tf, kind)
    params = {"price": "mark"} if kind == "mark" else {}
    got = client.fetch_ohlcv(BTC, tf, since=ms(df["date"].iloc[0]), limit=1000, params=params)
    want = df.head(1000)
    assert len(got) == len(want)
    arr = np.array(got, dtype=float)
    assert np.array_equal(arr[:, 0].astype(np.int64), want["date"].dt.as_unit("ms").astype("int64").to_numpy())
    cols = ["open", "high", "low", "close"] + ([] if kind == "mark" else ["volume"])
    np.testing.assert_array_equal(arr[:, 1:1 + len(cols)], want[cols].to_numpy())


def test_ohlcv_latest_and_window_semantics(client, datadir):
    df = load(datadir, BTC, "5m", "futures")
    latest = client.fetch_ohlcv(BTC, "5m", limit=3)
    assert [r[0] for r in latest] == [ms(d) for d in df["date"].iloc[-3:]]
    start, end = ms(df["date"].iloc[10]), ms(df["date"].iloc[19])
    rows = client.fetch_ohlcv(BTC, "5m", since=start, params={"until": end})
    assert [r[0] for r in rows] == [ms(d) for d in df["date"].iloc[10:20]]


def test_aggregated_interval_from_finer_file(client, datadir):
    m5 = load(datadir, BTC, "5m", "futures").set_index("date")
    want = m5.resample("15min").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                     "volume": "sum"}).reset_index()
    got = np.array(client.fetch_ohlcv(BTC, "15m", since=ms(want["date"].iloc[0]), limit=200), dtype=float)
    assert len(got) == 200
    np.testing.assert_allclose(got[:, 1:6], want[["open", "high", "low", "close", "volume"]].head(200).to_numpy(),
                               rtol=1e-12)


def test_funding_rate_history_matches_file(client, datadir):
    df = load(datadir, BTC, "1h", "funding_rate")
    got = client.fetch_funding_rate_history(BTC, since=ms(df["date"].iloc[0]), limit=1000)
    assert [g["timestamp"] for g in got] == [ms(d) for d in df["date"]]
    assert [g["fundingRate"] for g in got] == df["funding_rate"].tolist()


@pytest.mark.parametrize("period", ["5m", "1h", "4h"])
def test_open_interest_history_matches_file(client, datadir, period):
    df = load(datadir, BTC, "5m", "open_interest")
    df = df[df["date"].dt.as_unit("ms").astype("int64") % (pd.Timedelta(period).value // 1_000_000) == 0]
    got = client.fetch_open_interest_history(BTC, period, since=ms(df["date"].iloc[0]), limit=500)
    want = df.head(500)
    assert [g["timestamp"] for g in got] == [ms(d) for d in want["date"]]
    assert [g["openInterestAmount"] for g in got] == want["open_interest_amount"].tolist()
    assert [g["openInterestValue"] for g in got] == want["open_interest_value"].tolist()


def test_current_state_endpoints(client, datadir):
    last_close = float(load(datadir, BTC, "1m", "futures")["close"].iloc[-1])
    book = client.fetch_order_book(BTC, 20)
    assert len(book["bids"]) == len(book["asks"]) == 20
    assert book["bids"][0][0] < book["asks"][0][0] <= book["bids"][0][0] + 0.1 + 1e-9
    assert abs(book["bids"][0][0] - last_close) <= 0.1
    ticks = np.array([b[0] for b in book["bids"]]) / 0.1
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    ticker = client.fetch_ticker(BTC)
    assert ticker["last"] == last_close and ticker["high"] >= ticker["low"] > 0
    assert set(client.fetch_tickers()) == set(PAIRS)
    assert client.fetch_bids_asks([BTC])[BTC]["bid"] == book["bids"][0][0]
    rates = client.fetch_funding_rates()
    assert set(rates) == set(PAIRS)
    funding = load(datadir, BTC, "1h", "funding_rate")
    assert rates[BTC]["fundingRate"] == float(funding["funding_rate"].iloc[-1])
    assert rates[BTC]["fundingTimestamp"] > client.milliseconds()
    oi = client.fetch_open_interest(BTC)
    assert oi["openInterestAmount"] == float(load(datadir, BTC, "5m", "open_interest")["open_interest_amount"].iloc[-1])
    assert client.fetch_last_prices([BTC])[BTC]["price"] == last_close
    assert abs(client.fetch_time() - client.milliseconds()) < 5_000


# -- Binance errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("path,status,code", [
    ("/fapi/v1/klines?symbol=FOOUSDT&interval=1m", 400, -1121),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=7m", 400, -1120),
    ("/fapi/v1/klines?symbol=BTCUSDT", 400, -1102),
    ("/fapi/v1/klines?interval=1m", 400, -1102),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1501", 400, -1130),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=0", 400, -1130),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=abc", 400, -1100),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=-5", 400, -1100),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=99999999999999999999999", 400, -1100),
    ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=20&endTime=10", 400, -1023),
    ("/fapi/v1/depth?symbol=BTCUSDT&limit=7", 400, -1130),
    ("/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1001", 400, -1130),
    ("/futures/data/openInterestHist?symbol=BTCUSDT", 400, -1102),
    ("/futures/data/openInterestHist?symbol=BTCUSDT&period=1m", 400, -1130),
    ("/futures/data/openInterestHist?symbol=BTCUSDT&period=5m&limit=501", 400, -1130),
    ("/fapi/v1/premiumIndex?symbol=%00%ff", 400, -1121),
    ("/fapi/v1/openInterest", 400, -1102),
    ("/fapi/v1/nonexistent", 404, -5000),
])
def test_bad_input_gets_binance_error_body(server, path, status, code):
    got_status, headers, body = get(server.url + path)
    assert (got_status, body["code"]) == (status, code), body
    assert isinstance(body["msg"], str) and "Traceback" not in body["msg"]
    assert headers["Content-Type"].startswith("application/json")


def test_ccxt_maps_errors_to_its_exceptions(client):
    with pytest.raises(ccxt.BadSymbol):
        client.fapiPublicGetKlines({"symbol": "FOOUSDT", "interval": "1m"})
    with pytest.raises(ccxt.BadRequest):
        client.fetch_ohlcv(BTC, "7m")
    with pytest.raises(ccxt.BadRequest):
        client.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "1m", "limit": 5000})


# -- faults ------------------------------------------------------------------------------------


def test_fault_spec_parsing():
    assert parse_faults("429:0.05, 500:0.02,timeout:0.01") == {"429": 0.05, "500": 0.02, "timeout": 0.01}
    assert parse_faults("") == {}
    for bad in ("429", "404:0.1", "429:x", "429:1.5", "429:0.6,500:0.6", "slow:0.1"):
        with pytest.raises(ConfigError):
            parse_faults(bad)


def test_fault_draws_are_deterministic():
    def run(seed):
        plan = FaultPlan({"429": 0.3, "500": 0.2}, seed=seed)
        return [plan.draw("GET", "/fapi/v1/klines", f"symbol=BTCUSDT&i={i % 7}") for i in range(60)]

    assert run(1) == run(1) != run(2)
    assert FaultPlan({"429": 1.0}).draw("GET", "/fapi/v1/time", "") is None  # startup exempt
    assert FaultPlan({"429": 1.0}, include_startup=True).draw("GET", "/fapi/v1/time", "") is not None


def test_rate_limit_answer_has_retry_after(datadir):
    with ServerThread(ReplaySource(datadir), faults=FaultPlan({"429": 1.0})) as srv:
        status, headers, body = get(srv.url + "/fapi/v1/ticker/price?symbol=BTCUSDT")
        assert (status, body["code"]) == (429, -1003) and headers["Retry-After"] == "1"
        status, _, body = get(srv.url + "/fapi/v1/time")
        assert status == 200 and "serverTime" in body


@pytest.fixture(scope="module")
def fixed_datadir(tmp_path_factory) -> Path:
    # Fault draws hash the request's query, which holds candle times: on data that ends at
    # "now" they changed every hour, and some hours drew no timeout at all.
    return write_datadir(tmp_path_factory.mktemp("localex-fixed"), pd.Timestamp("2026-01-01", tz="UTC"))


def test_ccxt_with_retries_survives_faults(fixed_datadir):
    datadir = fixed_datadir
    plan = FaultPlan(parse_faults("429:0.15,500:0.1,503:0.05,timeout:0.03"), seed=3, delay_s=1.2)
    seen: dict[str, int] = {}

    def retrying(fn, *args, **kwargs):
        for attempt in range(8):
            try:
                return fn(*args, **kwargs)
            except (ccxt.OperationFailed, ccxt.ExchangeError) as e:  # what freqtrade retries
                seen[type(e).__name__] = seen.get(type(e).__name__, 0) + 1
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("no success after 8 attempts")

    with ServerThread(ReplaySource(datadir), faults=plan) as srv:
        ex = make_ccxt(srv.url, timeout=700)
        ex.load_markets()
        df = load(datadir, BTC, "5m", "futures")
        since = ms(df["date"].iloc[0])
        for i in range(40):
            rows = retrying(ex.fetch_ohlcv, BTC, "5m", since=since + i * 300_000 * 25, limit=25)
            assert len(rows) == 25 and rows[0][0] == since + i * 300_000 * 25
        assert retrying(ex.fetch_order_book, BTC, 5)["bids"]
        assert retrying(ex.fetch_funding_rate_history, BTC, limit=5)
    assert {"DDoSProtection", "RequestTimeout", "ExchangeError"} <= set(seen), seen
    assert sum(seen.values()) >= 5


# -- live sources ------------------------------------------------------------------------------


class FakeLive:
    """A live source that appends one 1m candle per minute of clock, from a fixed start."""

    def __init__(self, start_ms: int):
        self.pairs = [BTC]
        self.start_ms = start_ms
        self.n = 0
        self.refreshes = 0

    def refresh(self, now_ms: int) -> None:
        self.refreshes += 1
        self.n = max(self.n, (now_ms - self.start_ms) // 60_000 + 1)

    def frame(self, pair, kind, timeframe):
        if kind != "futures" or timeframe != "1m" or self.n == 0:
            return None
        dates = pd.date_range(pd.Timestamp(self.start_ms, unit="ms", tz="UTC"), periods=self.n, freq="1min")
        price = 50_000.0 + np.arange(self.n)
        return pd.DataFrame({"date": dates, "open": price, "high": price + 5, "low": price - 5,
                             "close": price + 1, "volume": 1.0})


def test_live_source_grows_with_the_clock():
    start = 1_700_000_000_000 // 3_600_000 * 3_600_000
    now = [start + 10 * 60_000 + 5_000]
    live = FakeLive(start)
    with ServerThread(live, clock=lambda: now[0]) as srv:
        srv.exchange.refresh_s = 0.0
        ex = make_ccxt(srv.url)
        rows = ex.fetch_ohlcv(BTC, "1m", limit=1000)
        assert len(rows) == 11 and rows[-1][0] == start + 10 * 60_000
        now[0] += 5 * 60_000
        rows = ex.fetch_ohlcv(BTC, "1m", limit=1000)
        assert len(rows) == 16
        five = ex.fetch_ohlcv(BTC, "5m", limit=1000)
        assert [r[0] for r in five] == [start + k * 300_000 for k in range(4)]
        assert five[-1][5] == 1.0  # the forming 5m candle holds one 1m candle so far
        assert ex.fetch_ticker(BTC)["last"] == 50_000.0 + 15 + 1
        assert ex.fetch_funding_rate(BTC)["fundingRate"] == 0.0  # no funding data: neutral
        assert ex.fetch_open_interest_history(BTC, "5m") == []
    assert live.refreshes >= 3


# -- configs -----------------------------------------------------------------------------------


def test_offline_config_points_every_binance_url_at_loopback():
    cfg = json.loads((REPO / "user_data" / "config.offline.json").read_text())
    ex_cfg = cfg["exchange"]
    assert ex_cfg["ccxt_config"] == ccxt_config("http://127.0.0.1:8765")
    assert ex_cfg["enable_ws"] is False and ex_cfg["only_from_ccxt"] is True
    # Every API url ccxt knows for binance must be overridden, or a call could leave the machine.
    assert set(ccxt.binance().urls["api"]) <= set(CCXT_API_PATHS)
    assert cfg["entry_pricing"]["use_order_book"] and cfg["exit_pricing"]["use_order_book"]
    assert cfg["trading_mode"] == "futures" and cfg["margin_mode"] == "isolated" and cfg["dry_run"]
    real = json.loads((REPO / "user_data" / "config.binance.json").read_text())
    assert "ccxt_config" not in real["exchange"] and not real["exchange"]["key"]
    assert real["exchange"]["pair_whitelist"] == ex_cfg["pair_whitelist"]


def test_private_and_unknown_methods_get_json_not_html(server):
    req = urllib.request.Request(server.url + "/fapi/v1/order?symbol=BTCUSDT", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        _opener.open(req, timeout=10)
    assert err.value.code == 404 and json.loads(err.value.read())["code"] == -5000
    status, _, body = get(server.url + "/fapi/v1/klines?symbol=BTCUSDT&interval=1w&limit=2")
    assert status == 200 and all(pd.Timestamp(r[0], unit="ms").day_of_week == 0 for r in body)  # Mondays
