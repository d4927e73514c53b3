"""Agent-based simulator of a leveraged futures market (``liqrisk simulate``).

* ``liqrisk.sim.writer.simulate_datadir`` runs it for a window and writes freqtrade's
  data files plus the ground truth (``liqrisk.sim.truth`` documents the format);
* ``liqrisk.sim.live.LiveMarket`` continues it in wall-clock time for the local exchange;
* ``liqrisk.sim.market.PairMarket`` is one pair's market, ``liqrisk.sim.kernel`` its
  numba kernel and ``liqrisk.sim.specs`` the per-pair parameters.

Submodules are imported on demand: importing this package does not compile anything.
"""
