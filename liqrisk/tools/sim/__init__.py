"""Agent-based simulator of a leveraged futures market (``liqrisk simulate``).

* ``liqrisk.tools.sim.writer.simulate_datadir`` runs it for a window and writes freqtrade's
  data files plus the ground truth (``liqrisk.tools.sim.truth`` documents the format);
* ``liqrisk.tools.sim.stream.LiveMarket`` continues it in wall-clock time for the local exchange;
* ``liqrisk.tools.sim.pair_market.PairMarket`` is one pair's market, ``liqrisk.tools.sim.cohort_kernels`` its
  numba kernel (state slots in ``cohort_layout``; ``rng_nb``, ``heaps_nb`` and ``truth_nb`` are its
  random draws, trigger queues and ground-truth records) and ``liqrisk.tools.sim.specs`` the per-pair
  parameters.

Submodules are imported on demand: importing this package does not compile anything.
"""
