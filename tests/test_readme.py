"""What a new user copies from the README, docs/ and examples/ works as printed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from btlstm import registry
from btlstm.settings import Settings, load_toml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _block(text: str, after: str, lang: str) -> str:
    """The first fenced ``lang`` code block after the line ``after``."""
    start = text.index(after)
    m = re.compile(rf"^```{lang}\n(.*?)^```$", re.S | re.M).search(text, start)
    assert m, f"no {lang} block after {after!r}"
    return m.group(1)


def test_readme_backtrader_program_runs_as_printed(tmp_path, monkeypatch, capsys):
    """The README's "As a Backtrader user" program, exactly as printed: imports, a
    strategy with LSTMPredictor in its __init__, the seed's training, the report and a
    headless plot (no display; Backtrader's import asks for TkAgg)."""
    code = _block((ROOT / "README.md").read_text(), "## As a Backtrader user", "python")
    assert "LSTMPredictor(self.data" in code and "plot_cerebro(" in code
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    exec(compile(code, str(ROOT / "README.md"), "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "lstm-hold-out" / "report.json").read_text())
    names = [r["name"] for r in report["comparison"]]
    assert names == ["strategy", "buy-and-hold CSI300"]
    assert report["period"]["start"] == "2015-01-05" and report["period"]["bars"] == 565
    assert report["prediction"]["count"] >= 550  # a forecast on (almost) every test bar
    assert report["comparison"][0]["n_orders"] > 0
    assert "buy-and-hold CSI300" in printed and "prediction (h=5)" in printed
    png = tmp_path / "lstm-hold.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_readme_toml_is_the_shipped_example():
    readme = (ROOT / "README.md").read_text()
    assert "--config examples/hold.toml" in readme and "--config hold.toml" not in readme
    cli = (ROOT / "docs/cli.md").read_text()
    shown = _block(cli, "file. `examples/hold.toml`:", "toml")
    assert load_toml(ROOT / "examples/hold.toml") == __import__("tomllib").loads(shown)
    doc = (ROOT / "docs/new-strategy.md").read_text()
    shown = _block(doc, "`examples/hold_walkforward.toml`:", "toml")
    assert load_toml(ROOT / "examples/hold_walkforward.toml") == __import__("tomllib").loads(shown)
    # every config the README and docs name is shipped
    pages = [p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))]
    named = [n for text in (readme, *pages) for n in re.findall(r"--config (\S+\.toml)", text)]
    assert "examples/hold.toml" in named and len(set(named)) >= 5, named
    for text in (readme, cli, doc):
        for name in re.findall(r"--config (\S+\.toml)", text):
            assert (ROOT / name).is_file(), name


@pytest.fixture
def clean_registry():
    before = dict(registry._USER)
    yield
    registry._PLANS.pop("dip", None)
    registry._USER.clear()
    registry._USER.update(before)
    sys.modules.pop("my_strategies", None)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_config_validates(path, tmp_path, monkeypatch, clean_registry):
    """Each shipped TOML passes every check btlstm makes before work (the run configs
    through Settings.validate, the sweeps through load_sweep), from another folder."""
    monkeypatch.chdir(tmp_path)
    raw = load_toml(path)
    if "config" in raw or "sweep" in raw:
        from btlstm.experiments import load_sweep

        sweep = load_sweep(path)
        assert len(sweep.tasks()) >= 2 and len(sweep.settings) == len(sweep.configs)
        return
    # a config's strategy module runs only when the caller names it (btlstm run --plugin)
    settings = Settings.from_toml(path, plugins=True)
    plan = settings.validate()
    assert plan.name == raw["strategy"]["name"]
    if "module" in raw["strategy"]:  # a user strategy, loaded from beside the file
        assert Path(settings.strategy.module) == path.parent / raw["strategy"]["module"]
        assert plan.strategy.__module__ == "my_strategies"


def test_new_strategy_page_test_runs_as_printed():
    """docs/new-strategy.md's "Testing it without a model" example passes as printed."""
    code = _block((ROOT / "docs/new-strategy.md").read_text(), "## 4. Testing it", "python")
    assert "OrderLog" in code and "trades_log" not in code
    names: dict = {}
    exec(compile(code, str(ROOT / "docs/new-strategy.md"), "exec"), names)
    names["test_one_bullish_bar_holds_five_bars"]()


def test_dip_example_places_orders_on_its_own_forecasts(tmp_path, monkeypatch, clean_registry):
    """examples/dip.toml (a strategy of your own) trades as shipped: its threshold comes from
    the forecasts the run makes, so orders are filled, and every buy follows a bar whose
    forecast was below it (the strategy's rule, checked against predictions.csv)."""
    import pandas as pd

    from btlstm.cli import main

    monkeypatch.chdir(tmp_path)
    below = load_toml(ROOT / "examples/dip.toml")["strategy"]["below"]
    args = ["run", "dip", "--config", str(ROOT / "examples/dip.toml"), "--out", "dip",
            "--plugin", str(ROOT / "examples/my_strategies.py"), "--quiet", "--no-plots"]  # fmt: skip
    assert main(args) == 0
    report = json.loads((tmp_path / "dip" / "report.json").read_text())
    row = report["comparison"][0]
    assert row["name"] == "dip" and row["n_orders"] >= 4 and row["n_trades"] >= 2
    trades = pd.read_csv(tmp_path / "dip" / "trades.csv", dtype={"symbol": str})
    mine = trades[trades["strategy"] == "dip"]
    buys = mine[(mine["side"] == "buy") & (mine["status"] == "Completed")]
    assert len(buys) >= 2 and len(mine[mine["status"] == "Completed"]) == row["n_orders"]
    pred = pd.read_csv(tmp_path / "dip" / "predictions.csv", parse_dates=["date"])
    pred = pred.set_index("date")["prediction"]
    created = pd.to_datetime(buys["created_date"])
    assert (pred.reindex(created) < below).all()  # each buy: a forecast below the threshold
    assert pred.min() < below < pred.quantile(0.10)  # a threshold inside the forecasts
