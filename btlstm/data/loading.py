"""A run's data: load the frames the settings describe, and check them before any work.

The data layer's part of a run (:mod:`btlstm.pipeline` calls it): read ``[data]``
(a file, a dataset of the catalog, in-memory DataFrames or synthetic prices) into
one frame or a panel clipped to the run's dates (:func:`load_data`), the plan's
extra feeds (:func:`load_extra`: an index that carries a gate), and the checks that
need no model (:func:`check_frames`: prices from the future, date settings outside
the data, price gaps, volume 0 on every row). The checks against the walk-forward
schedule (enough training samples at the first fit) are
:func:`btlstm.forecast.trainchecks.check_data`.

The settings are a :class:`btlstm.settings.Settings` (read, never imported: the
data layer imports nothing above it).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from btlstm.data.columnmap import MAP_KEYS
from btlstm.errors import DataError, SettingsError

__all__ = [
    "load_data",
    "load_extra",
    "check_frames",
    "FUTURE_GRACE_DAYS",
    "DATE_SLACK_DAYS",
    "GAP_SYMBOLS_SHOWN",
]

# Thresholds of the checks on the data a run is given, in one place (docs/safety.md;
# the training-sample ones are in btlstm.forecast.trainchecks).
#: Rows of real data dated more than this many days after today (the machine's
#: clock) that the run would use: an error (prices from the future cannot be real).
FUTURE_GRACE_DAYS = 1
#: A date setting (train_end, test_start, test_end, data end; train_start, data
#: start) more than this many days outside the bars loaded: a warning, and the
#: report records the dates actually used (``provenance.dates_used``).
DATE_SLACK_DAYS = 7


def _bounds(settings):
    m, d = settings.model, settings.data
    auto = settings.data_dates  # stand-ins the data replaces (data_dates): not bounds
    start = d.start or (None if "train_start" in auto else m.train_start)
    end = d.end or (None if "test_end" in auto else m.test_end)
    return (pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None)


def _clip(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame.index >= start
    if end is not None:
        keep &= frame.index <= end
    out = frame.loc[keep.to_numpy()]
    out.attrs = dict(frame.attrs)
    if len(frame) and "span" not in out.attrs:  # the whole file's bars (_unused_warnings)
        out.attrs["span"] = (str(frame.index[0].date()), str(frame.index[-1].date()))
    return out


def load_data(settings, panel: bool = False, data=None):
    """The frame (or ``{symbol: frame}`` with ``panel``) the settings describe,
    clipped to ``[data.start or model.train_start, data.end or model.test_end]``.

    ``data``: in-memory pandas data instead of ``[data] data`` (a DataFrame, a long
    DataFrame, a dict of DataFrames; read with the ``[data]`` column map by
    :func:`btlstm.data.readers.read_dataframe`). A file path in ``[data] data`` is
    read with the same map (:func:`btlstm.data.readers.read_mapped`)."""
    d = settings.data
    symbols = list(d.symbols) or ([d.symbol] if d.symbol else None)
    if data is not None:
        from btlstm.data.readers import read_dataframe

        obj = read_dataframe(data, settings.data_map(), repair=d.repair, where=settings.data_where)
        if isinstance(obj, dict) and symbols:
            absent = [x for x in symbols if x not in obj]
            if absent:
                key = "symbol" if d.symbol else "symbols"
                raise DataError(
                    f"{settings.where('data', key)}: {absent} not in the data given "
                    f"(symbols: {sorted(obj)[:20]})"
                )
            obj = {k: obj[k] for k in symbols}
        elif d.symbol and not isinstance(obj, dict):  # one DataFrame: [data] symbol names it
            obj.attrs["symbol"] = d.symbol
    elif d.data == "synthetic":
        from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

        try:
            if panel:
                obj = synthetic_panel(**{"seed": settings.model.seed, **d.synthetic})
            else:
                kw = dict(n=2000, seed=settings.model.seed, start="2008-01-02", signal=0.3)
                obj = synthetic_ohlcv(**{**kw, **d.synthetic})
        except (TypeError, ValueError, OverflowError) as e:
            raise SettingsError(
                f"{settings.where('data', 'synthetic')}: cannot generate data from "
                f"{d.synthetic!r} ({e})"
            ) from None
    else:
        from btlstm.data import load

        obj = load(d.data, data_dir=d.data_dir, symbols=symbols, repair=d.repair,
                   data_map=settings.data_map(), where=settings.data_where)  # fmt: skip
    if d.adjust != "none":  # e.g. total-return prices (btlstm.data.adjust)
        from btlstm.data.adjust import adjust

        if isinstance(obj, dict):
            obj = {k: adjust(v, d.adjust) for k, v in obj.items()}
        else:
            obj = adjust(obj, d.adjust)
    start, end = _bounds(settings)
    if panel:
        if not isinstance(obj, dict):
            name = obj.attrs.get("symbol") or d.data
            obj = {name: obj}
        return {k: _clip(v, start, end) for k, v in obj.items()}
    if isinstance(obj, dict):
        if d.symbol is None and len(obj) == 1:  # a long file of one symbol (NetEase, tushare)
            obj = next(iter(obj.values()))
            return _clip(obj, start, end)
        if d.symbol is None:
            raise DataError(
                f"dataset {d.data!r} holds several symbols {sorted(obj)[:12]}...; "
                f"choose one with {settings.where('data', 'symbol')}"
            )
        obj = obj[d.symbol]
    return _clip(obj, start, end)


def load_extra(settings, plan, frames: dict | None = None) -> dict:
    """``{feed name: frame}`` of the plan's ``extra_data`` (each a one-symbol dataset).

    ``[data] index`` replaces their dataset (e.g. ``spy`` for a US universe);
    ``"equal_weight"`` builds the index from the run's panel ``frames``
    (:func:`btlstm.data.index.equal_weight_index`). A synthetic run's extra
    feeds are synthetic."""
    from btlstm.data.index import EQUAL_WEIGHT, equal_weight_index

    out = {}
    for k, (name, over) in enumerate(plan.extra_data.items()):
        if settings.data.data == "synthetic":
            over = _synthetic_extra(settings, name, k)
        elif settings.data.index == EQUAL_WEIGHT:
            if not frames:
                raise SettingsError(
                    f"{settings.where('data', 'index')} = {EQUAL_WEIGHT!r} needs the panel's stocks"
                )
            frame = equal_weight_index(frames, name=f"{settings.data.data}:{EQUAL_WEIGHT}")
            frame.attrs["feed"] = name
            out[name] = frame
            continue
        elif settings.data.index:
            over = {**over, "data": settings.data.index}
        unmapped = {key: None for key in MAP_KEYS if key != "missing"}  # not the run's map
        d = dataclasses.replace(settings.data, **{**unmapped, "missing": (), **over})
        sub = dataclasses.replace(settings, data=d)
        sub._origin = settings._origin
        frame = load_data(sub, panel=False)
        frame.attrs = {**frame.attrs, "feed": name}
        out[name] = frame
    return out


def _synthetic_extra(settings, name: str, k: int) -> dict:
    """A synthetic run's extra feed (e.g. the gate index) is synthetic too: one
    series on the panel's dates (its ``n`` and ``start``), its own seed, named
    after the feed; never a real file beside generated stocks."""
    import inspect

    from btlstm.synthetic import synthetic_panel

    panel_defaults = {
        key: p.default for key, p in inspect.signature(synthetic_panel).parameters.items()
    }
    syn = settings.data.synthetic
    gen = {key: syn.get(key, panel_defaults[key]) for key in ("n", "start")}
    gen.update(seed=settings.model.seed + 1 + k, symbol=f"SYN{name.upper()}")
    return {"data": "synthetic", "symbol": None, "symbols": (), "synthetic": gen}


def _few(items, n: int = 10) -> str:
    """The first ``n`` items, and how many more there are.

    Example:
        >>> _few([f"s{i}" for i in range(18)], 3)
        's0, s1, s2, ... (15 more)'
    """
    items = [str(x) for x in items]
    more = f", ... ({len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _zero_volume_warnings(frames: dict, settings) -> list:
    """One warning when real data have volume 0 on every row (as ``btlstm data inspect``
    says): volume and amount carry no information, the volume features are constant.
    A file without a volume column is not warned about (its conversions say so)."""
    zero = []
    for name, f in frames.items():
        if f.attrs.get("synthetic") or not len(f) or "volume" not in f.columns:
            continue
        if any("volume: not in the file" in c for c in f.attrs.get("conversions") or ()):
            continue
        if not f["volume"].to_numpy().any():
            zero.append(str(f.attrs.get("source") or name))
    if not zero:
        return []
    shown = ", ".join(zero[:5]) + (f" and {len(zero) - 5} more" if len(zero) > 5 else "")
    return [
        f"volume is 0 on every row of {shown}: volume and amount carry no information "
        "(the volume features are constant); check the file's volume column "
        f"({settings.where('data', 'volume_column')})"
    ]


def check_frames(settings, frames: dict) -> tuple[list, dict]:
    """The checks of the loaded data that need no model: prices from the future (an
    error), date settings outside the bars loaded, price gaps and a volume of 0 on every
    row (warnings). :func:`btlstm.forecast.trainchecks.check_data` adds the checks
    against the walk-forward schedule (the first fit, its training samples).

    Returns:
        ``(warnings, dates_used)``: the warnings, and ``{"data_start", "data_end"}``
        (the first and last bar loaded; ``{}`` when no frame has a bar).

    Raises:
        DataError: real data dated more than :data:`FUTURE_GRACE_DAYS` after today.
    """
    warnings: list = []
    today = pd.Timestamp.today().normalize()
    limit = today + pd.Timedelta(days=FUTURE_GRACE_DAYS)
    for f in frames.values():
        if f.attrs.get("synthetic") or not len(f):
            continue
        late = f.index[f.index > limit]
        if len(late):
            src = f.attrs.get("source", settings.data.data)
            raise DataError(
                f"{src}: {len(late)} row(s) dated after today ({today.date()}), the first "
                f"{late[0].date()}: prices from the future cannot be real. Fix the file, or end "
                f"the run before them with {settings.where('model', 'test_end')}"
            )
    if not any(len(f) for f in frames.values()):
        return warnings, {}  # _split names the empty period
    first = min(f.index[0] for f in frames.values() if len(f))
    last = max(f.index[-1] for f in frames.values() if len(f))
    slack = pd.Timedelta(days=DATE_SLACK_DAYS)
    for sec, key in (("model", "train_end"), ("model", "test_start"), ("model", "test_end"),
                     ("data", "end")):  # fmt: skip
        value = getattr(getattr(settings, sec), key)
        if value is not None and pd.Timestamp(value) > last + slack:
            warnings.append(
                f"{settings.where(sec, key)} = {pd.Timestamp(value).date()} is after the last "
                f"bar of the data ({last.date()}): the run used data up to {last.date()} only "
                "(provenance.dates_used)."
            )
    for sec, key in (("data", "start"), ("model", "train_start")):
        value = getattr(getattr(settings, sec), key)
        if value is not None and pd.Timestamp(value) < first - slack:
            warnings.append(
                f"{settings.where(sec, key)} = {pd.Timestamp(value).date()} is before the first "
                f"bar of the data ({first.date()}): the run used data from {first.date()} only "
                "(provenance.dates_used)."
            )
    warnings += _gap_warnings(frames)
    warnings += _zero_volume_warnings(frames, settings)
    return warnings, {"data_start": str(first.date()), "data_end": str(last.date())}


#: Symbols whose price gaps are listed one by one; beyond them, one line counts the rest.
GAP_SYMBOLS_SHOWN = 5


def _gap_warnings(frames: dict) -> list:
    """:func:`btlstm.data.gaps.price_gaps` of every frame: one warning per symbol with a
    gap beyond :data:`~btlstm.data.gaps.PRICE_GAP_LIMIT`, the first
    :data:`GAP_SYMBOLS_SHOWN`, then one line naming how many more."""
    from btlstm.data.gaps import PRICE_GAP_LIMIT, price_gaps

    found = [(n, w) for n, f in frames.items() if (w := price_gaps(f, name=n)) is not None]
    if len(found) <= GAP_SYMBOLS_SHOWN:
        return [w for _, w in found]
    rest = [str(n) for n, _ in found[GAP_SYMBOLS_SHOWN:]]
    return [w for _, w in found[:GAP_SYMBOLS_SHOWN]] + [
        f"{len(rest)} more symbols have bars that move more than {PRICE_GAP_LIMIT:.0%} from "
        f"the previous close (likely unadjusted splits or bad ticks): {_short(rest, 10)}."
    ]


def _short(names, n: int = 6) -> str:
    names = [str(x) for x in names]
    return ", ".join(names[:n]) + (f", ... ({len(names)})" if len(names) > n else "")

