"""Hostile input to every subcommand (#15): each ends with exit code 2 and one line on stderr
naming the flag or file and the real cause, never a traceback, before anything large is
allocated, drawn or written.

One table: (case id, argv, words the line must contain). ``{data}`` is a small freqtrade
datadir, ``{bad}`` the same with one empty and one truncated candle file, ``{liq}`` a
liquidations CSV, ``{cal}`` a daily calibration folder with a column missing, ``{empty}`` one
with an empty CSV, ``{tmp}`` a scratch folder that must stay empty.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from tests.tools.exchange.conftest import write_datadir

PAIR = "BTC/USDT:USDT"
END = pd.Timestamp("2025-03-31", tz="UTC")
DAILY = {"futures_ohlcv_1d.csv": "symbol,ts_utc,open,high,low,close,volume_usd\n"
                                 "BTCUSDT,2024-01-01 00:00:00+00:00,1,2,0.5,1.5,100\n",
         "futures_oi_agg_1d.csv": "symbol,ts_utc,oi_total_close\nBTC,2024-01-01 00:00:00+00,5\n",
         "liquidation_agg_1d.csv": "symbol,ts_utc,liq_long_usd,liq_short_usd\nBTC,2024-01-01 00:00:00+00,1,2\n",
         "funding_oi_weight_1d.csv": "symbol,ts_utc,funding_close\nBTC,2024-01-01 00:00:00+00,0.01\n"}

CASES = [
    # 1. every numeric flag is bounded, and the line names the flag and the range
    ("demo-days-0", ["demo", "--days", "0"], ["--days", "1..1825"]),
    ("demo-days-huge", ["demo", "--days", "100000"], ["--days", "1..1825"]),
    ("demo-seed-negative", ["demo", "--seed", "-1"], ["--seed", "0..4294967295"]),
    ("demo-port-huge", ["demo", "--port", "70000"], ["--port", "0..65535"]),
    ("demo-end-year-9999", ["demo", "--end", "9999-01-01"], ["--end", "between 2000-01-01 and 2100-01-01"]),
    ("demo-timerange-syntax", ["demo", "--timerange", "2025-"], ["--timerange 2025-", "Incorrect syntax"]),
    ("simulate-end-year-9999", ["simulate", "--datadir", "{tmp}", "--end", "9999-01-01"],
     ["end='9999-01-01'", "between 2000-01-01 and 2100-01-01"]),
    ("simulate-days-float", ["simulate", "--datadir", "{tmp}", "--days", "1e9"], ["--days", "1..1825"]),
    ("simulate-seed-2^32", ["simulate", "--datadir", "{tmp}", "--seed", str(2**32)], ["--seed", "0..4294967295"]),
    ("simulate-density-inf", ["simulate", "--datadir", "{tmp}", "--cohorts-per-minute", "inf"],
     ["--cohorts-per-minute", "(0, 1000]"]),
    ("exchange-port", ["exchange", "--datadir", "{data}", "--port", "70000"], ["--port", "0..65535"]),
    ("exchange-seed", ["exchange", "--datadir", "{data}", "--seed", "-5"], ["--seed", "0..4294967295"]),
    ("exchange-fault-seed", ["exchange", "--datadir", "{data}", "--fault-seed", "x"], ["--fault-seed"]),
    ("exchange-fault-delay-0", ["exchange", "--datadir", "{data}", "--fault-delay", "0"], ["--fault-delay", "(0, 600]"]),
    ("exchange-fault-delay-nan", ["exchange", "--datadir", "{data}", "--fault-delay", "nan"], ["--fault-delay"]),
    ("heatmap-bins-huge", ["heatmap", "--datadir", "{data}", "--pair", PAIR, "--bins", "1000000000"],
     ["--bins", "10..4000"]),
    ("heatmap-bins-0", ["heatmap", "--datadir", "{data}", "--pair", PAIR, "--bins", "0"], ["--bins", "10..4000"]),
    ("map-bins-huge", ["map", "--datadir", "{data}", "--pair", PAIR, "--bins", "1000000000"], ["--bins", "10..2000"]),
    ("map-range-zero", ["map", "--datadir", "{data}", "--pair", PAIR, "--range", "0", "1"], ["--range", "positive"]),
    ("map-range-nan", ["map", "--datadir", "{data}", "--pair", PAIR, "--range", "nan", "5"], ["--range"]),
    ("map-range-reversed", ["map", "--datadir", "{data}", "--pair", PAIR, "--range", "2", "1"],
     ["--range", "LOW must be below HIGH"]),
    ("map-range-off-price", ["map", "--datadir", "{data}", "--pair", PAIR, "--range", "1", "2", "--out",
                             "{tmp}/m.png", "--no-progress"], ["--range", "does not contain the price"]),
    ("validate-ceiling-0", ["validate", "--datadir", "{data}", "--pair", PAIR, "--ceiling", "0"], ["--ceiling", "1..64"]),
    ("validate-ceiling-huge", ["validate", "--datadir", "{data}", "--pair", PAIR, "--ceiling", "100000"],
     ["--ceiling", "1..64"]),
    ("calibrate-passes-0", ["calibrate", "--passes", "0"], ["--passes", "1..20"]),
    ("calibrate-passes-huge", ["calibrate", "--passes", "100000"], ["--passes", "1..20"]),
    # 2. names that become paths
    ("simulate-exchange-traversal", ["simulate", "--datadir", "{tmp}", "--exchange", "../../escape"],
     ["--exchange", "not an exchange id"]),
    ("simulate-exchange-upper", ["simulate", "--datadir", "{tmp}", "--exchange", "Binance"], ["--exchange"]),
    ("simulate-pair-traversal", ["simulate", "--datadir", "{tmp}", "--pairs", "../../X/USDT:USDT"],
     ["--pairs", "not a ccxt futures symbol"]),
    ("demo-pair-traversal", ["demo", "--pairs", "BTC/USDT:USDT/../../x"], ["--pairs", "BASE/QUOTE:SETTLE"]),
    ("heatmap-pair-traversal", ["heatmap", "--datadir", "{data}", "--pair", "../../BTC/USDT:USDT"],
     ["--pair", "not a ccxt futures symbol"]),
    ("validate-pair-traversal", ["validate", "--datadir", "{data}", "--pair", "../x", "--liquidations", "{liq}"],
     ["pair '../x'", "BASE/QUOTE:SETTLE"]),
    # 3. misleading messages: name the real cause
    ("heatmap-empty-file", ["heatmap", "--datadir", "{bad}", "--pair", PAIR, "--out", "{tmp}/h.png", "--no-progress"],
     ["BTC_USDT_USDT-5m-futures.feather is unreadable", "empty (0 bytes)"]),
    ("heatmap-truncated-file", ["heatmap", "--datadir", "{bad}", "--pair", "ETH/USDT:USDT", "--out", "{tmp}/h.png",
                                "--no-progress"], ["ETH_USDT_USDT-5m-futures.feather is unreadable", "truncated"]),
    ("heatmap-after-the-data", ["heatmap", "--datadir", "{data}", "--pair", PAIR, "--window", "1w", "--timerange",
                                "20250331-20250402", "--out", "{tmp}/h.png", "--no-progress"],
     ["starts after the data's end", "2025-03-27 00:00 to 2025-03-30 23:55"]),
    ("heatmap-before-the-data", ["heatmap", "--datadir", "{data}", "--pair", PAIR, "--timerange", "20240101-20240201",
                                 "--out", "{tmp}/h.png", "--no-progress"], ["ends before the data's start"]),
    ("validate-window-too-long", ["validate", "--datadir", "{data}", "--pair", PAIR, "--liquidations", "{liq}",
                                  "--window", "4w"], ["not enough candles for window 4w", "3 days"]),
    ("calibrate-missing-column", ["calibrate", "--data", "{cal}", "--intraday", "none", "--no-fit"],
     ["liquidation_agg_1d.csv", "no column 'liq_long_usd'"]),
    ("calibrate-empty-csv", ["calibrate", "--data", "{empty}", "--intraday", "none", "--no-fit"],
     ["futures_oi_agg_1d.csv", "empty"]),
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hostile")
    data = write_datadir(root / "data", END)
    bad = root / "bad"
    shutil.copytree(data, bad)
    (bad / "binance" / "futures" / "BTC_USDT_USDT-5m-futures.feather").write_bytes(b"")
    eth = bad / "binance" / "futures" / "ETH_USDT_USDT-5m-futures.feather"
    eth.write_bytes(eth.read_bytes()[:3000])
    dates = pd.date_range(END - pd.Timedelta(days=4), END, freq="5min", inclusive="left")
    rng = np.random.default_rng(1)
    liq = root / "liq.csv"
    pd.DataFrame({"date": dates, "long_usd": rng.random(len(dates)) * 1e5,
                  "short_usd": rng.random(len(dates)) * 1e5}).to_csv(liq, index=False)
    out = {"data": str(data), "bad": str(bad), "liq": str(liq)}
    for name, broken, text in (("cal", "liquidation_agg_1d.csv", "symbol,ts_utc,liq_short_usd\nBTC,2024-01-01,1\n"),
                               ("empty", "futures_oi_agg_1d.csv", "")):
        folder = root / name
        folder.mkdir()
        for file, content in DAILY.items():
            (folder / file).write_text(text if file == broken else content)
        out[name] = str(folder)
    return out


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_exits_2_with_one_line(argv, expected, folders, tmp_path, capsys):
    values = {**folders, "tmp": str(tmp_path / "scratch")}
    code = main([a.format(**values) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"liqrisk {argv[0]}: "), err
    for word in expected:
        assert word in err, (word, err)
    # Nothing was written for a rejected command (the scratch folder is never created).
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").rglob("*"))


def test_simulate_writes_nothing_outside_the_datadir(tmp_path):
    from liqrisk.errors import ConfigError
    from liqrisk.tools.sim.writer import simulate_datadir

    with pytest.raises(ConfigError, match="not an exchange id"):
        simulate_datadir(tmp_path / "data", [PAIR], days=1, exchange="../escape")
    assert not any(tmp_path.rglob("*"))


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as e:
        main(["map", "--help"])
    assert e.value.code == 0
    assert "10..2000" in capsys.readouterr().out
