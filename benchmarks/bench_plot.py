"""Speed of the pictures: a 30-day 5m heatmap (8,640 candles × 400 price bins) to PNG.

Prints medians of repeated runs, split into
- heatmap: ``liquidation_heatmap`` for one 1d window (prepare + crossings + dense kernel),
  and inside it the dense kernel alone;
- figure: building the matplotlib figure (image, candles, events, colourbar);
- savefig: encoding the PNG;
and the same for the interactive HTML and the liquidation map.

Run: ``.venv/bin/python benchmarks/bench_plot.py`` (simulates 40 days into a temp dir first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PAIR = "BTC/USDT:USDT"
REPEAT = 5


def median_time(fn, repeat: int = REPEAT) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    from liqrisk import liquidation_heatmap, required_startup_candles
    from liqrisk.core import kernels
    from liqrisk.core.align import prepare
    from liqrisk.core.engine import crossings
    from liqrisk.core.grids import liquidation_map
    from liqrisk.tools.datadir import load_market
    from liqrisk.tools.plot.data import heatmap_set, load_events, truth_events_path
    from liqrisk.tools.plot.files import save_figure
    from liqrisk.tools.plot.heatmap_html import heatmap_plotly
    from liqrisk.tools.plot.heatmap_static import heatmap_figure
    from liqrisk.tools.plot.liqmap import liqmap_figure
    from liqrisk.tools.sim.writer import simulate_datadir

    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="liqrisk_bench_plot_"))
    simulate_datadir(tmp, [PAIR], days=40, seed=42, end="2025-03-31")
    datadir = tmp / "binance"
    cfg = {"windows": ["1d"]}
    t = time.perf_counter()
    market = load_market(
        PAIR,
        "5m",
        datadir=datadir,
        timerange="20250301-20250331",
        startup_candles=required_startup_candles(cfg, "5m"),
    )
    load_s = time.perf_counter() - t
    events = load_events(truth_events_path(datadir), pair=PAIR)
    kw = market.engine_inputs()

    def heat():
        return liquidation_heatmap(
            market.ohlcv, **kw, config=cfg, window="1d", start="2025-03-01", price_bins=400
        )

    heat()  # numba warm-up
    heat_s, hm = median_time(heat)
    # The dense kernel alone, on the same inputs.
    inputs, _, _ = prepare(market.ohlcv, **kw, config=cfg)
    expiry = inputs.expiry_index()[0]
    cross = crossings(inputs, expiry)
    post, _ = inputs.log_scales()
    edges = hm.price_edges
    level_bin = np.searchsorted(edges, inputs.level_price, side="right") - 1
    level_bin = np.where((level_bin >= 0) & (level_bin < 400), level_bin, -1).astype(np.int64)
    t0 = int(np.searchsorted(inputs.dates_ns, hm.dates[0].value))
    kernel_s, _ = median_time(
        lambda: kernels.dense_heatmap_nb(
            level_bin,
            inputs.level_bucket,
            inputs.seed_usd,
            inputs.tier_weight,
            inputs.entry_weight,
            inputs.tier_group,
            cross,
            expiry,
            post,
            t0,
            inputs.n,
            400,
        )
    )
    cross_s, _ = median_time(lambda: crossings(inputs, expiry))

    hs = heatmap_set(market, ["1d"], config=cfg, start="2025-03-01", price_bins=400, events=events)
    out = tmp / "bench.png"
    fig_times, save_times = [], []
    for _ in range(REPEAT):
        t = time.perf_counter()
        fig = heatmap_figure(hs)
        t1 = time.perf_counter()
        save_figure(fig, out)
        t2 = time.perf_counter()
        plt.close(fig)
        fig_times.append(t1 - t)
        save_times.append(t2 - t1)
    fig_s, save_s = statistics.median(fig_times), statistics.median(save_times)
    html_s, _ = median_time(
        lambda: heatmap_plotly(hs).write_html(tmp / "bench.html", include_plotlyjs=True), 3
    )

    def the_map():
        lm = liquidation_map(market.ohlcv, **kw, config=cfg, window="1d", at="2025-03-15T12:00")
        f = liqmap_figure(lm)
        save_figure(f, tmp / "map.png")
        plt.close(f)

    map_s, _ = median_time(the_map)

    n, p = hm.long_usd.shape
    print(f"30-day 5m heatmap, one 1d window: {n:,} candles x {p} price bins, {len(hs.events):,} events")
    rows = [
        ("load datadir (freqtrade handlers, once)", load_s),
        ("liquidation_heatmap (all of it)", heat_s),
        ("  of which crossings", cross_s),
        ("  of which dense_heatmap_nb", kernel_s),
        ("matplotlib figure", fig_s),
        (f"save PNG ({out.stat().st_size / 1e3:,.0f} kB)", save_s),
        ("PNG total (heatmap + figure + save; budget 3 s)", heat_s + fig_s + save_s),
        (f"HTML figure + write ({(tmp / 'bench.html').stat().st_size / 1e6:,.1f} MB)", html_s),
        ("liquidation map to PNG (compute + draw + save)", map_s),
    ]
    for label, seconds in rows:
        print(f"  {label:<50} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
