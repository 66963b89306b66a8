"""Headless plotting: works with MPLBACKEND unset and no DISPLAY (in a subprocess)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import backtrader as bt
import pytest

from btlstm.plotting import plot_cerebro

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    import btlstm
    import backtrader as bt
    from btlstm.bt.feeds import make_feed
    from btlstm.plotting import plot_cerebro
    from btlstm.synthetic import synthetic_ohlcv
    from btlstm.strategies import BuyAndHold

    out, numfigs = sys.argv[1], int(sys.argv[2])
    cerebro = bt.Cerebro()
    cerebro.adddata(make_feed(synthetic_ohlcv(n=120, seed=1)))
    cerebro.addstrategy(BuyAndHold)
    cerebro.run()
    paths = plot_cerebro(cerebro, out, width=6, height=4, dpi=50, numfigs=numfigs)
    import matplotlib
    import matplotlib.pyplot as plt
    print(matplotlib.get_backend(), len(plt.get_fignums()))
    for p in paths:
        print(p)
    """
)


def _run(tmp_path, numfigs):
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = tmp_path / "chart.png"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), str(numfigs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split("\n")
    return lines[0].split(), [Path(p) for p in lines[1:] if p]


def _is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_cerebro_headless_one_figure(tmp_path):
    (backend, open_figs), paths = _run(tmp_path, 1)
    assert backend.lower() == "agg"
    assert open_figs == "0"  # figures closed
    assert paths == [tmp_path / "chart.png"]
    assert _is_png(paths[0])


def test_plot_cerebro_headless_several_figures(tmp_path):
    _, paths = _run(tmp_path, 2)
    assert paths == [tmp_path / "chart-1.png", tmp_path / "chart-2.png"]
    assert all(_is_png(p) for p in paths)
    assert not (tmp_path / "chart.png").exists()


def test_plot_cerebro_before_run_is_an_error():
    with pytest.raises(ValueError, match="run"):
        plot_cerebro(bt.Cerebro(), "never.png")
