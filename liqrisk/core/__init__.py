"""Internal NumPy/numba core. Not public API: use ``liqrisk.compute_features``."""
