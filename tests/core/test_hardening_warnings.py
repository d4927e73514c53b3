"""Issue #15: the kernel warm-up must not use up a real pair's once-per-process warnings."""

import logging
import threading

from liqrisk import compute_features
from liqrisk._util import quiet_warnings, warn_once
from liqrisk.core.engine import warm_up
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"  # the pair warm_up's synthetic market uses


def test_warm_up_leaves_btc_warnings_for_the_real_data(caplog):
    warm_up()  # 64 synthetic candles: the first has no OI at its open (an "OI gap")
    caplog.clear()
    m = random_market(300, seed=5)
    oi = m["open_interest"].drop(index=range(100, 140))  # a real gap
    with caplog.at_level(logging.WARNING, logger="liqrisk"):
        compute_features(m["ohlcv"], open_interest=oi, funding_rate=m["funding_rate"], pair=PAIR)
    assert any("has gaps" in r.getMessage() and PAIR in r.getMessage() for r in caplog.records)


def test_quiet_warnings_is_per_thread(caplog):
    done = threading.Event()
    entered = threading.Event()

    def background():
        with quiet_warnings():
            entered.set()
            warn_once(("k", "bg"), "background %s", "muted")
            done.wait(5)

    t = threading.Thread(target=background)
    with caplog.at_level(logging.WARNING, logger="liqrisk"):
        t.start()
        entered.wait(5)
        warn_once(("k", "main"), "main %s", "visible")  # another thread is not muted
        done.set()
        t.join()
        warn_once(("k", "bg"), "background %s", "now visible")  # the muted call did not use the key
    assert [r.getMessage() for r in caplog.records] == ["main visible", "background now visible"]
