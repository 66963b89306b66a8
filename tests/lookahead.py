"""The look-ahead probe shared by the tests: rewrite the future, keep the past."""

import numpy as np


def rewrite_after(panel: dict, t, seed: int = 99) -> dict:
    """Wild but valid bars after date ``t`` in every frame of ``panel`` (same shape;
    OHLC and adj_close scaled together, amount and volume scaled at random); bars up
    to ``t`` stay."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, f in panel.items():
        f = f.copy()
        after = f.index > t
        k = int(after.sum())
        if k:
            fac = np.exp(np.cumsum(rng.normal(0, 0.2, k)))
            for col in ("open", "high", "low", "close", "adj_close"):
                if col in f.columns:  # adj_close (Yahoo frames) moves with the prices
                    f.loc[after, col] = f.loc[after, col].to_numpy() * fac
            f.loc[after, "amount"] = f.loc[after, "amount"].to_numpy() * rng.uniform(0.1, 10, k)
            f.loc[after, "volume"] = f.loc[after, "volume"].to_numpy() * rng.uniform(0.1, 10, k)
        out[s] = f
    return out
