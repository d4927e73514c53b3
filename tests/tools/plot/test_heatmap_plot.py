"""``liqrisk heatmap``: the figure shows the engine's dense heatmap; files are valid; bad input exits 2.

Tests check data, not pixels. Small simulated market (5 days), matplotlib's Agg backend.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from liqrisk import liquidation_heatmap, required_startup_candles  # noqa: E402
from liqrisk.cli import main  # noqa: E402
from liqrisk.tools.datadir import load_market  # noqa: E402
from liqrisk.tools.plot import colors  # noqa: E402
from liqrisk.tools.plot.data import (  # noqa: E402
    block_ends,
    confluence,
    heatmap_set,
    load_events,
    truth_events_path,
)
from liqrisk.tools.plot.heatmap_html import heatmap_plotly  # noqa: E402
from liqrisk.tools.plot.heatmap_static import heatmap_figure  # noqa: E402
from liqrisk.tools.sim.writer import simulate_datadir  # noqa: E402

PAIR = "BTC/USDT:USDT"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMERANGE = "20250328-20250331"


@pytest.fixture(scope="module")
def datadir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plot") / "data"
    simulate_datadir(root, [PAIR], days=5, seed=3, end="2025-03-31")
    return root / "binance"


@pytest.fixture(scope="module")
def hs(datadir):
    cfg = {"windows": ["12h", "1d"]}
    market = load_market(
        PAIR, "5m", datadir=datadir, timerange=TIMERANGE, startup_candles=required_startup_candles(cfg, "5m")
    )
    events = load_events(truth_events_path(datadir), pair=PAIR)
    return heatmap_set(market, ["12h", "1d"], config=cfg, start="2025-03-28", price_bins=120, events=events)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_picture_matrix_is_the_engines_heatmap(datadir, hs):
    """Each panel's image holds exactly liquidation_heatmap's matrix for that window and range."""
    fig = heatmap_figure(hs)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    market = load_market(PAIR, "5m", datadir=datadir)  # all the history, loaded independently
    for ax, window in zip(panels, ["12h", "1d"], strict=True):
        hm = liquidation_heatmap(
            market.ohlcv,
            **market.engine_inputs(),
            config={"windows": ["12h", "1d"]},
            window=window,
            start="2025-03-28",
            end=hs.dates[-1],
            price_bins=120,
            price_range=(hs.price_edges[0], hs.price_edges[-1]),
        )
        image = np.asarray(ax.images[0].get_array())
        assert image.shape == (120, len(hm.dates))
        np.testing.assert_allclose(image, hm.total_usd.T, rtol=1e-9, atol=1e-6)
        assert hm.total_usd.sum() > 0
    assert hs.dates[0] == pd.Timestamp("2025-03-28", tz="UTC")
    assert hs.dates[-1] == pd.Timestamp("2025-03-30 23:55", tz="UTC")


def test_axes_title_and_colour_scale(hs):
    import matplotlib.dates as mdates

    fig = heatmap_figure(hs)
    ax = [a for a in fig.axes if a.images][0]
    assert ax.get_ylim() == pytest.approx((hs.price_edges[0], hs.price_edges[-1]))
    x0, x1 = ax.get_xlim()
    assert mdates.num2date(x0) == hs.dates[0]
    assert mdates.num2date(x1) == hs.dates[-1] + pd.Timedelta("5m")
    assert ax.get_ylabel() == "price [USDT]"
    title = fig.get_suptitle()
    for part in (PAIR, "12h, 1d", "2025-03-28 00:00", "2025-03-31 00:00", "UTC"):
        assert part in title
    norm = ax.images[0].norm
    z = hs.heatmaps[0].total_usd
    assert norm.vmin == 0.0 and norm.gamma == colors.GAMMA
    assert norm.vmax == pytest.approx(np.percentile(z[z > 0], colors.PERCENTILE))
    assert 0 < norm.vmax < z.max()  # the top cells saturate rather than set the scale
    colorbars = [a for a in fig.axes if "USD per" in a.get_ylabel()]
    assert len(colorbars) == 2 and "USDT bin" in colorbars[0].get_ylabel()
    # Candles and events are drawn on top of the heat.
    assert len(ax.collections) >= 2


def test_sides_and_confluence(hs):
    fig = heatmap_figure(hs, side="split")
    images = [np.asarray(a.images[0].get_array()) for a in fig.axes if a.images]
    assert len(images) == 4
    np.testing.assert_allclose(images[0], hs.heatmaps[0].long_usd.T)
    np.testing.assert_allclose(images[1], hs.heatmaps[0].short_usd.T)
    # Long and short panels of one window share a colour scale.
    norms = [a.images[0].norm for a in fig.axes if a.images]
    assert norms[0].vmax == norms[1].vmax
    long_only = [a for a in heatmap_figure(hs, side="long").axes if a.images][0]
    np.testing.assert_allclose(np.asarray(long_only.images[0].get_array()), hs.heatmaps[0].long_usd.T)

    score = confluence(hs.heatmaps, "long")
    assert score.shape == hs.heatmaps[0].long_usd.shape
    assert (score >= 0).all() and (score <= 1 + 1e-12).all()
    empty_somewhere = (hs.heatmaps[0].long_usd == 0) | (hs.heatmaps[1].long_usd == 0)
    assert (score[empty_somewhere] == 0).all()
    both_top = np.all([hm.long_usd == hm.long_usd.max(axis=1, keepdims=True) for hm in hs.heatmaps], axis=0)
    both_top &= hs.heatmaps[0].long_usd > 0
    np.testing.assert_allclose(score[both_top], 1.0)
    fig = heatmap_figure(hs, view="confluence")
    ax = [a for a in fig.axes if a.images][0]
    assert ax.images[0].norm.vmax == 1.0
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), confluence(hs.heatmaps).T)


def test_colour_scale_is_perceptually_ordered():
    lightness = colors.lightness(colors.liq_cmap())
    assert (np.diff(lightness) > 0).all()
    lab = colors.srgb_to_lab(colors.liq_colors(3))
    assert lab[0, 2] < 0 and lab[1, 2] < 0  # bottom and middle on the blue/violet side (b* < 0)
    assert lab[2, 1] > 40 and 0 < lab[2, 2] < lab[2, 1]  # top: red (a* large, b* smaller)
    assert colors.usd_label(1.25e6) == "$1.2M" and colors.usd_label(950) == "$950"


def test_html_holds_the_same_data(hs):
    fig = heatmap_plotly(hs, max_columns=100)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2
    ends = block_ends(len(hs.dates), 100)
    for trace, hm in zip(heat, hs.heatmaps, strict=True):
        np.testing.assert_allclose(np.asarray(trace.z), hm.total_usd[ends].T.astype(np.float32), rtol=1e-6)
        assert trace.zmax == pytest.approx(colors.heat_top(hm.total_usd))
        split = np.asarray(trace.customdata)
        assert split.shape == (120, len(ends), 2)
        occupied = hm.total_usd[ends].T > 0
        assert (split[occupied].sum(axis=-1) == 100).all()
        assert "long %{customdata[0]}%" in trace.hovertemplate
    assert {t.type for t in fig.data} >= {"heatmap", "candlestick", "scattergl"}


def _run(capsys, *argv):
    code = main(["heatmap", *argv, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_png_and_html(datadir, tmp_path, capsys):
    out = tmp_path / "sub" / "hm.png"
    code, stdout, _ = _run(
        capsys,
        "--datadir",
        str(datadir),
        "--pair",
        PAIR,
        "--window",
        "12h",
        "1d",
        "--timerange",
        TIMERANGE,
        "--bins",
        "100",
        "--truth",
        "--out",
        str(out),
    )
    assert code == 0 and str(out) in stdout
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    html = tmp_path / "hm.html"
    code, stdout, _ = _run(
        capsys,
        "--datadir",
        str(datadir),
        "--pair",
        PAIR,
        "--timerange",
        TIMERANGE,
        "--bins",
        "60",
        "--side",
        "split",
        "--out",
        str(html),
    )
    assert code == 0 and str(html) in stdout
    text = html.read_text()
    assert "Plotly.newPlot" in text and '"type":"heatmap"' in text and "estimated liquidation heatmap" in text


def test_cli_bad_input_exits_2(datadir, tmp_path, capsys):
    ok = ["--datadir", str(datadir), "--pair", PAIR]
    out = ["--out", str(tmp_path / "x.png")]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = [
        (["--datadir", str(datadir), "--pair", "NOPE/USDT:USDT", *out], "no 5m futures candles"),
        ([*ok, "--timerange", "20240101-20240201", *out], "20240101-20240201 ends before the data's start"),
        (["--datadir", str(tmp_path / "empty"), "--pair", PAIR, *out], "no futures data"),
        ([*ok, "--window", "2w", *out], "longer than the data"),
        ([*ok, "--out", str(blocker / "x.png")], "cannot create folder"),
        ([*ok, "--out", str(tmp_path / "x.jpg")], "unknown picture format"),
        ([*ok, "--view", "confluence", *out], "at least two windows"),
        ([*ok, "--events", str(blocker), *out], "unknown format"),
    ]
    for argv, message in cases:
        code, stdout, stderr = _run(capsys, *argv)
        assert code == 2, (argv, stdout, stderr)
        assert message in stderr, (message, stderr)
        assert stderr.startswith("liqrisk heatmap: ")
    assert not (tmp_path / "x.png").exists()


def test_events_file(datadir, tmp_path):
    truth = pd.read_parquet(truth_events_path(datadir))
    csv = tmp_path / "ev.csv"
    truth.assign(date=pd.to_datetime(truth["date"], unit="ms", utc=True))[
        ["date", "side", "price", "usd"]
    ].to_csv(csv, index=False)
    events = load_events(csv)
    assert len(events) == len(truth) and set(events["side"]) <= {"long", "short"}
    assert str(events["date"].dt.tz) == "UTC"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"date": [1], "price": [1.0]}).to_csv(bad, index=False)
    from liqrisk import DataError

    with pytest.raises(DataError, match="missing column"):
        load_events(bad)


def _record(datadir: Path, exchange: str, truth: pd.DataFrame) -> None:
    """Store ``truth``'s events as ``liqrisk record`` would have recorded them from ``exchange``."""
    from liqrisk.tools.record.store import Liquidation, PairStore, event_key, store_root

    store = PairStore(store_root(datadir), exchange, PAIR, latency_ms=500)
    first, last = int(truth["date"].min()), int(truth["date"].max())
    store.connected(first - 1)
    for row in truth.itertuples(index=False):
        t, price, qty = int(row.date), float(row.price), float(row.qty)
        store.add(Liquidation(t, exchange, PAIR, row.side, price, qty, price * qty, event_key(t, row.side, price, qty)))
    store.flush(now=last + 3_600_000)


def test_events_from_a_recorded_folder(datadir, tmp_path, capsys):
    """``--events DIR`` overlays what ``liqrisk record`` stored, per exchange or summed."""
    truth = pd.read_parquet(truth_events_path(datadir))
    truth = truth[truth["pair"] == PAIR] if "pair" in truth.columns else truth
    half = len(truth) // 2
    rec = tmp_path / "rec"
    _record(rec, "bybit", truth.iloc[:half])
    _record(rec, "okx", truth.iloc[half:])
    both = load_events(rec, pair=PAIR)
    assert len(both) == len(truth) and str(both["date"].dt.tz) == "UTC"
    np.testing.assert_allclose(both["usd"].sum(), (truth["price"] * truth["qty"]).sum(), rtol=1e-12)
    assert both["date"].is_monotonic_increasing
    bybit = load_events(rec / "liqrisk_liquidations", pair=PAIR, exchanges=["bybit"])
    assert len(bybit) == half
    assert bybit["date"].tolist() == pd.to_datetime(truth["date"].iloc[:half], unit="ms", utc=True).tolist()
    assert bybit["side"].tolist() == truth["side"].iloc[:half].tolist()

    out = tmp_path / "rec.png"
    code, stdout, stderr = _run(capsys, "--datadir", str(datadir), "--pair", PAIR, "--timerange", TIMERANGE,
                                "--bins", "60", "--events", str(rec), "--exchanges", "okx", "--out", str(out))
    assert code == 0 and out.read_bytes()[:8] == PNG_SIGNATURE, stderr
    code, _, stderr = _run(capsys, "--datadir", str(datadir), "--pair", PAIR, "--events", str(rec),
                           "--exchanges", "binance", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "binance" in stderr and "found: bybit, okx" in stderr
    csv = tmp_path / "ev.csv"
    truth.assign(usd=1.0)[["date", "side", "price", "usd"]].to_csv(csv, index=False)
    code, _, stderr = _run(capsys, "--datadir", str(datadir), "--pair", PAIR, "--events", str(csv),
                           "--exchanges", "okx", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "recorded liquidations folder" in stderr
