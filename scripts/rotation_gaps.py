"""How far the sector ETFs open above the previous close: why a rotation that sizes
its buys at the close gets some refused for cash at the next open.

A rebalance decided at bar t's close sizes each buy with t's close and fills at
t+1's open. When the open gaps up by more than the cash left over, Backtrader
refuses the buy (status Margin). This prints how often and how far the nine
sector ETFs (total-return prices, as the rotation trades them) gap up, over all
days and on the rotation's fill days (the bar after the first trading day of
each month), so a cash margin big enough to prevent every refusal can be judged
against btlstm's resubmission (btlstm.bt.rebalance.Rebalancer).

    python scripts/rotation_gaps.py --data-dir ../shared/data
"""

import argparse

import numpy as np
import pandas as pd

from btlstm.data import SECTORS, load
from btlstm.data.adjust import total_return

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
ap.add_argument("--start", default="2005-01-01")
ap.add_argument("--end", default="2025-09-25")
args = ap.parse_args()

panel = load("sector_etfs", data_dir=args.data_dir)
gaps = {}
for name in SECTORS:
    f = total_return(panel[name]).loc[args.start : args.end]
    gaps[name] = f["open"].shift(-1) / f["close"] - 1.0  # the next open over this close
gaps = pd.DataFrame(gaps).dropna()
cal = gaps.index
rebalance = cal[np.r_[True, cal.month[1:] != cal.month[:-1]]]  # first bar of each month

every = gaps.to_numpy().ravel()
worst = gaps.stack().idxmax()
print(f"{len(gaps)} days x {len(SECTORS)} sectors, {cal[0].date()} .. {cal[-1].date()}")
for th in (0.01, 0.02, 0.03, 0.05):
    on_rebalance = int((gaps.loc[rebalance] > th).any(axis=1).sum())
    print(
        f"open > close x {1 + th:.2f}: {np.mean(every > th):6.2%} of sector-days; "
        f"{on_rebalance:3d} of {len(rebalance)} rebalances have such a sector"
    )
print(f"largest: {every.max():+.1%} ({worst[1]} {worst[0].date()})")
