"""Scoring estimated liquidations against actual ones, and fitting the model keys to them.

* ``actuals``: read actual liquidations and line them up with candles; map-free baselines.
* ``metrics``: Spearman, partial Spearman, AUC, top-decile hit rate; the printed table.
* ``scoring``: run the engine on frames and score it (``validate_frames``).
* ``calibration``: fit the model's free parameters to real liquidations.
"""
