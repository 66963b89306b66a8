"""btlstm.progress: the fit bar's counts, elapsed time and time left, on a fake clock."""

import io
from types import SimpleNamespace

import pytest

from btlstm.progress import FitProgress, duration, fit_status


def _rec(k, seconds, total, cached=False):
    return SimpleNamespace(date=f"2016-0{k + 1}-01", cached=cached, epochs=20, seconds=seconds,
                           total=total)  # fmt: skip


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s"), (0.4, "0s"), (59.4, "59s"), (60, "1m 00s"), (185, "3m 05s"), (3599, "59m 59s"),
     (3600, "1h 00m"), (7440, "2h 04m"), (None, "?"), (float("nan"), "?"), (-1, "?")],
)  # fmt: skip
def test_duration_reads_as_seconds_minutes_hours(seconds, text):
    assert duration(seconds) == text


def test_fit_status_estimates_the_time_left_at_the_mean_pace():
    assert fit_status(1, 4, 30.0) == "elapsed 30s, left ~1m 30s"
    assert fit_status(3, 8, 90.0) == "elapsed 1m 30s, left ~2m 30s"
    assert fit_status(8, 8, 240.0) == "elapsed 4m 00s, done"
    assert fit_status(2, None, 5.0) == "elapsed 5s, left ?"  # streaming: no total


def test_the_bar_shows_fits_done_elapsed_and_left_never_a_rate():
    now = [1000.0]
    out = io.StringIO()
    bar = FitProgress(clock=lambda: now[0], file=out)
    # the first fit took 30 s and ends at t = 1030: the clock starts at 1000, not at the call
    for k, (t, seconds, cached) in enumerate([(1030, 30, False), (1060, 30, False),
                                              (1060.004, 0.004, True), (1150, 90, False)]):
        now[0] = t
        bar(_rec(k, seconds, total=4, cached=cached))
        if k == 0:
            assert bar.line == ("model fits: 1/4 |#####               | elapsed 30s, left ~1m 30s; "
                                "2016-01-01 20 ep 30.0s")  # fmt: skip
        if k == 2:  # a fit from the cache in 4 ms: no "750.00fit/s", the pace is the mean
            assert bar.line.startswith("model fits: 3/4 |###############     | elapsed 1m 00s, "
                                       "left ~20s; 2016-03-01 cache 0.0s")  # fmt: skip
    assert bar.line == ("model fits: 4/4 |####################| elapsed 2m 30s, done; "
                        "2016-04-01 20 ep 90.0s")  # fmt: skip
    assert bar.bar is None  # closed after the last fit
    text = out.getvalue()
    assert "fit/s" not in text and "it/s" not in text and "<" not in text
    assert "elapsed 1m 00s, left ~1m 00s" in text and text.count("model fits: ") >= 4


def test_quiet_prints_nothing_but_keeps_count():
    out = io.StringIO()
    bar = FitProgress(disable=True, clock=lambda: 5.0, file=out)
    bar(_rec(0, 1.0, total=None))
    assert out.getvalue() == "" and bar.count == 1
    assert bar.line == "model fits: 1 elapsed 1s, left ?; 2016-01-01 20 ep 1.0s"
