"""The offline main job, ``liqrisk demo``: simulate, serve locally, backtest with freqtrade, draw.

* ``data``: simulate or reuse the datadir; ``processes``: the local exchange and freqtrade
  subprocesses; ``freqtrade_run``: strategies, configs, backtest results; ``runner``: ``run_demo``.
"""
