"""Presets: the file layouts users bring most, as declared column maps, and sniffing.

Each :class:`~btlstm.data.columnmap.Preset` is a
:class:`~btlstm.data.columnmap.ColumnMap` with a name, plus the header names
that recognise it. The readers of :mod:`btlstm.data.readers` are these presets
(``read_yahoo_csv`` is the ``yahoo`` preset), so every layout is read by the
same code (:func:`btlstm.data.columnmap.build_frames`).

=================  ===========================================================
preset             layout (units converted to shares and money)
=================  ===========================================================
``generic``        any ``date,open,high,low,close[,volume][,amount][,adj close]
                   [,symbol]`` header, any case and order; the date may be
                   ``Date``, ``date``, ``datetime``, ``timestamp``, ``trade_date``
``yahoo``          ``Date,Open,High,Low,Close[,Adj Close],Volume`` (Adj Close
                   anywhere or absent; also Stooq's per-symbol CSV download)
``backtrader``     Backtrader ``GenericCSVData`` defaults, by position:
                   datetime 0, open 1, high 2, low 3, close 4, volume 5,
                   openinterest 6 (dropped)
``akshare``        East Money / akshare index history ``日期,开盘,收盘,最高,最低,
                   成交量,成交额,...`` (close BEFORE high; volume in lots x 100)
``akshare_stock``  akshare ``stock_zh_a_hist``: as ``akshare`` plus ``股票代码``
``netease``        NetEase 163 ``日期,股票代码,名称,收盘价,最高价,最低价,开盘价,
                   ...`` (GBK, newest first, codes written ``'000300``, ``None``
                   in the oldest row's change columns; volume in shares)
``tushare``        tushare ``daily``: ``ts_code,trade_date(20150105),...,vol,
                   amount`` (vol in lots x 100, amount in thousands x 1000,
                   newest first)
``baostock``       baostock ``query_history_k_data_plus`` long layout
``kaggle``         Kaggle S&P 500 long layout ``date,open,high,low,close,volume,Name``
``stooq``          Stooq bulk files ``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,...``
=================  ===========================================================

:func:`sniff` picks the preset whose header names all appear in the file
(the most specific one when several do, e.g. ``akshare_stock`` over
``akshare``), else the ``generic`` map when it finds every column, and
otherwise names the presets that nearly fit and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from btlstm.checks import closest
from btlstm.data._csv import _dates, _default_where, _show_header
from btlstm.data.columnmap import (
    GENERIC,
    ColumnMap,
    Preset,
    Resolved,
    _daily,
    check_values,
    resolve,
)
from btlstm.data.validate import DataError

__all__ = ["PRESETS", "Sniff", "check_map", "choose", "get_preset", "sniff"]

_EXTRAS_AKSHARE = {
    "振幅": "amplitude",
    "涨跌幅": "pct_chg",
    "涨跌额": "change",
    "换手率": "turnover",
}
_AKSHARE_COLUMNS = dict(
    date_column="日期", open_column="开盘", high_column="最高", low_column="最低",
    close_column="收盘", volume_column="成交量", amount_column="成交额", adj_close_column="",
    volume_multiplier=100.0, extras=_EXTRAS_AKSHARE,
)  # fmt: skip
_NUMBERED = ("Date", "Open", "High", "Low", "Close", "Volume")

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        GENERIC,
        Preset(
            "yahoo",
            "Yahoo Finance daily (Adj Close anywhere or absent; Stooq's CSV download too)",
            ColumnMap(
                date_column="Date",
                open_column="Open",
                high_column="High",
                low_column="Low",
                close_column="Close",
                volume_column="Volume",
                amount_column="",
                adj_close_column="Adj Close",
                symbol_column="",
            ),  # fmt: skip
            signature=_NUMBERED,
            keep_other=True,
            drop=("OpenInterest",),
            refuse=("Time",),
            label="not a Yahoo/Backtrader daily CSV",
            family="yahoo",
            notes="amount = close x volume; other columns kept, lower-cased",
        ),
        Preset(
            "backtrader",
            "Backtrader GenericCSVData defaults: by position, datetime 0, open 1, high 2, "
            "low 3, close 4, volume 5, openinterest 6 (dropped)",
            ColumnMap(
                date_column=0,
                open_column=1,
                high_column=2,
                low_column=3,
                close_column=4,
                volume_column=5,
                amount_column="",
                adj_close_column="",
                symbol_column="",
            ),  # fmt: skip
            signature=_NUMBERED + ("OpenInterest",),
            positional=True,
            keep_other=True,
            drop=(6,),
            refuse=("Time",),
            family="yahoo",
            notes="columns by position whatever the header says; amount = close x volume",
        ),
        Preset(
            "akshare",
            "East Money / akshare index history (index_zh_a_hist): close BEFORE high, "
            "volume in lots of 100",
            ColumnMap(**_AKSHARE_COLUMNS, symbol_column=""),
            signature=("日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额"),
            label="not an akshare/East Money index file",
            family="akshare",
            notes="volume x 100 (lots -> shares); amount in CNY",
        ),
        Preset(
            "akshare_stock",
            "East Money / akshare stock history (stock_zh_a_hist): akshare with 股票代码, "
            "volume in lots of 100",
            ColumnMap(**_AKSHARE_COLUMNS, symbol_column="股票代码"),
            signature=("日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额"),
            notes="volume x 100 (lots -> shares); amount in CNY; one frame per 股票代码",
        ),
        Preset(
            "netease",
            "NetEase 163 history: GBK, newest first, codes written '000300",
            ColumnMap(
                date_column="日期",
                symbol_column="股票代码",
                open_column="开盘价",
                high_column="最高价",
                low_column="最低价",
                close_column="收盘价",
                volume_column="成交量",
                amount_column="成交金额",
                adj_close_column="",
                missing=("None",),
                extras={
                    "前收盘": "preclose",
                    "涨跌额": "change",
                    "涨跌幅": "pct_chg",
                    "换手率": "turnover",
                    "总市值": "market_cap",
                    "流通市值": "float_market_cap",
                    "成交笔数": "trades",
                },
            ),  # fmt: skip
            signature=(
                "日期",
                "股票代码",
                "名称",
                "收盘价",
                "最高价",
                "最低价",
                "开盘价",
                "成交量",
            ),
            notes="volume in shares, amount in CNY; the leading ' of codes dropped; 名称 not kept",
        ),
        Preset(
            "tushare",
            "tushare daily: trade_date like 20150105, vol in lots of 100, amount in thousands",
            ColumnMap(
                date_column="trade_date",
                date_format="%Y%m%d",
                symbol_column="ts_code",
                open_column="open",
                high_column="high",
                low_column="low",
                close_column="close",
                volume_column="vol",
                amount_column="amount",
                adj_close_column="",
                volume_multiplier=100.0,
                amount_multiplier=1000.0,
                extras={"pre_close": "preclose", "change": "change", "pct_chg": "pct_chg"},
            ),  # fmt: skip
            signature=("ts_code", "trade_date", "open", "high", "low", "close", "vol", "amount"),
            notes="vol x 100 (lots -> shares); amount x 1000 (thousands of CNY -> CNY)",
        ),
        Preset(
            "baostock",
            "baostock query_history_k_data_plus long layout (one row per code and day)",
            ColumnMap(
                date_column="date",
                symbol_column="code",
                open_column="open",
                high_column="high",
                low_column="low",
                close_column="close",
                volume_column="volume",
                amount_column="amount",
                adj_close_column="",
                extras={
                    "preclose": "preclose",
                    "turn": "turn",
                    "tradestatus": "tradestatus",
                    "pctChg": "pct_chg",
                    "isST": "is_st",
                    "adjustflag": "adjustflag",
                },
                flag_columns=("tradestatus", "is_st"),
                constant_columns=("adjustflag",),
            ),  # fmt: skip
            signature=("date", "code", "open", "high", "low", "close", "volume", "amount"),
            label="not a baostock long file",
            family="baostock",
            notes="volume in shares, amount in CNY; adjustflag in frame.attrs",
        ),
        Preset(
            "kaggle",
            "Kaggle S&P 500 long layout date,open,high,low,close,volume,Name",
            ColumnMap(
                date_column="date",
                symbol_column="Name",
                open_column="open",
                high_column="high",
                low_column="low",
                close_column="close",
                volume_column="volume",
                amount_column="",
                adj_close_column="",
            ),  # fmt: skip
            signature=("date", "open", "high", "low", "close", "volume", "Name"),
            label="not a Kaggle S&P 500 long file",
            family="kaggle",
            notes="amount = close x volume",
        ),
        Preset(
            "stooq",
            "Stooq bulk files <TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>",
            ColumnMap(
                date_column="<DATE>",
                date_format="%Y%m%d",
                symbol_column="<TICKER>",
                open_column="<OPEN>",
                high_column="<HIGH>",
                low_column="<LOW>",
                close_column="<CLOSE>",
                volume_column="<VOL>",
                amount_column="",
                adj_close_column="",
            ),  # fmt: skip
            signature=("<TICKER>", "<PER>", "<DATE>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>"),
            notes="amount = close x volume; <PER>, <TIME>, <OPENINT> not kept",
        ),
    )
}


def get_preset(name, where=None) -> Preset:
    """The preset ``name``; an unknown name raises DataError with the closest names."""
    where = where or _default_where
    if name in PRESETS:
        return PRESETS[name]
    did = closest(str(name).lower(), PRESETS, n=2, cutoff=0.5)
    raise DataError(
        f"{where('preset')} = {name!r} is not a preset{did} (presets: {', '.join(PRESETS)})"
    )


def check_map(cmap: ColumnMap, where=None) -> None:
    """Check a map's values before any file is read: the preset name and
    :func:`~btlstm.data.columnmap.check_values`."""
    if cmap.preset is not None:
        get_preset(cmap.preset, where)
    check_values(cmap, where)


@dataclass
class Sniff:
    """What :func:`sniff` found.

    Attributes:
        preset: the preset that fits (None: none fits).
        fits: names of every specific preset whose header names all appear.
        near: ``(name, why)`` of the presets that nearly fit.
        reason: why the generic map does not read it (when nothing fits).
    """

    preset: Preset | None
    fits: list = field(default_factory=list)
    near: list = field(default_factory=list)
    reason: str = ""

    def message(self, header) -> str:
        """The one-line explanation when nothing fits."""
        near = "; ".join(f"{n} ({why})" for n, why in self.near) or "none"
        return (
            f"unknown CSV layout (header {_show_header(header)}): {self.reason}; near fits: "
            f"{near}. Name the columns with [data] keys (date_column, open_column, ...) or "
            "run `btlstm data inspect FILE`"
        )


def _specific_fits(header) -> list:
    h = set(header)
    fits = [p for p in PRESETS.values() if p.signature and set(p.signature) <= h]
    return [p for p in fits if not any(set(p.signature) < set(q.signature) for q in fits)]


def sniff(header, rows=None, date_hint=None) -> Sniff:
    """The preset of a header: the one specific preset whose header names all
    appear (the most specific when one's names include another's), else
    ``generic`` when its aliases find every column, ``rows`` (sample data
    rows) hold daily dates and no preset with other units (akshare's lots,
    tushare's thousands) nearly fits; else None with the near fits and the reason.

    Example:
        >>> sniff(["Date", "Open", "High", "Low", "Close", "Volume", "OpenInterest"]).preset.name
        'backtrader'
        >>> sniff(["Datum", "open", "high", "low", "close"]).reason[:42]
        'the generic map: no date column found (loo'
        >>> s = sniff(["ts_code", "trade_date", "open", "high", "low", "close", "amount"])
        >>> s.preset is None, s.near[0]  # tushare without vol: its units are not guessed
        (True, ('tushare', "missing ['vol']"))
    """
    header = [str(h).strip() for h in header]
    fits = _specific_fits(header)
    h = set(header)
    near = []
    for p in PRESETS.values():
        if not p.signature or p in fits:
            continue
        missing = [c for c in p.signature if c not in h]
        if len(missing) <= max(2, len(p.signature) // 2):
            near.append((len(missing), p.name, f"missing {missing}"))
    near = [(n, why) for _, n, why in sorted(near)][:4]
    if len(fits) == 1:
        return Sniff(fits[0], [fits[0].name], near)
    if len(fits) > 1:
        return Sniff(None, [p.name for p in fits], near, "the header fits several presets")
    try:
        r = resolve(header, ColumnMap(), GENERIC, date_hint=date_hint)
        if rows:
            _check_sample(r, rows)
    except DataError as e:
        return Sniff(None, [], near, f"the generic map: {e.problem}")
    risky = _unit_near_fits(header)
    if risky:
        return Sniff(None, [], near, _risky_reason(risky))
    return Sniff(GENERIC, [], near)


def _unit_near_fits(header) -> list:
    """Presets with other units or date formats than the generic map (akshare's lots,
    tushare's thousands) that miss at most 2 of their columns: reading such a file
    with the generic map would give silently wrong volumes."""
    h = set(header)
    out = []
    for p in PRESETS.values():
        m = p.columns
        special = (m.volume_multiplier or 1) != 1 or (m.amount_multiplier or 1) != 1
        missing = [c for c in p.signature if c not in h]
        if special and p.signature and 0 < len(missing) <= 2:
            out.append((p, missing))
    return out


def _risky_reason(risky) -> str:
    p, missing = risky[0]
    return (
        f"it nearly fits {p.name} ({p.title}; missing {missing}), whose units the generic map "
        f"would not convert; name the layout with [data] preset = {p.name!r} (and the missing "
        "columns) or preset = 'generic'"
    )


def _check_sample(r: Resolved, rows) -> None:
    """The sample rows' dates parse and are daily (one bar per day and symbol)."""
    i = r.header.index(r.columns["date"])
    values = [row[i] for row in rows if len(row) > i]
    keys = None
    if r.columns["symbol"] is not None:
        j = r.header.index(r.columns["symbol"])
        keys = [row[j] if len(row) > j else "" for row in rows if len(row) > i]
    idx = _dates(values, None, r.columns["date"], r.date_format)
    _daily(idx, keys, None, r.columns["date"])


def choose(
    header,
    cmap: ColumnMap | None = None,
    src=None,
    where=None,
    rows=None,
    date_hint=None,
    label=None,
) -> Resolved:
    """Resolve a user's map against a header: over the preset it names, else over the
    one preset that fits, else over the generic map (:func:`sniff`).

    Raises:
        DataError: naming the file: a named column that is not in the header (with the
            closest names), an unknown preset, several fitting presets, or an unknown
            layout (with the near fits and why).
    """
    where = where or _default_where
    cmap = cmap or ColumnMap()
    if cmap.preset is not None:
        return resolve(header, cmap, get_preset(cmap.preset, where), src, where,
                       date_hint=date_hint, label=label)  # fmt: skip
    if cmap.header is False:  # no header line: Backtrader's GenericCSVData positions
        return resolve(header, cmap, PRESETS["backtrader"], src, where, label=label)
    fits = _specific_fits([str(h).strip() for h in header])
    if len(fits) == 1:
        return resolve(header, cmap, fits[0], src, where, date_hint=date_hint, label=label)
    if len(fits) > 1:
        names = ", ".join(f"{p.name} ({p.title})" for p in fits)
        raise DataError(
            f"the header fits several presets: {names}; choose one with {where('preset')}", src
        )
    user = cmap.given()
    try:
        r = resolve(header, cmap, GENERIC, src, where, date_hint=date_hint, label=label)
        if rows and "date_format" not in user and "date_column" not in user:
            _check_sample(r, rows)
        risky = _unit_near_fits([str(h).strip() for h in header])
        if risky and not user:
            raise DataError(_risky_reason(risky).replace("[data] preset", where("preset")))
        return r
    except DataError as e:
        if getattr(e, "content", False) and e.source is None:  # the file's content: name it
            raise DataError(e.problem, src, e.column, e.row) from None
        if any(k.endswith("_column") for k in user) or getattr(e, "content", False):
            raise  # the user's own map, or the file's content: its own message
        s = sniff(header, date_hint=date_hint)
        generic = not e.problem.startswith("it nearly fits")
        s.reason = f"the generic map: {e.problem}" if generic else e.problem
        raise DataError(s.message([str(h).strip() for h in header]), src) from None
