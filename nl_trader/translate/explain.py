"""Explain-back: a StrategySpec in plain words, English, Traditional or Simplified Chinese.

The person who will approve a strategy reads this, not the JSON. It says every rule the spec holds,
in the order the strategy applies them, and ends with the defaults that were filled in because the
text did not say them, so nothing is tested that the person has not seen.
"""

from __future__ import annotations

from typing import Any, Literal

from nl_trader.errors import InvalidInputError
from nl_trader.spec import (
    SERVER_CLOCK,
    AllOf,
    AnyOf,
    Between,
    CrossesAbove,
    CrossesBelow,
    Falling,
    Greater,
    Less,
    Not,
    Ref,
    Rising,
    StrategySpec,
    defaults_filled,
)
from nl_trader.strategy.indicators import REGISTRY

Language = Literal["en", "zh-Hant", "zh-Hans"]
LANGUAGES: tuple[Language, ...] = ("en", "zh-Hant", "zh-Hans")

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "open": "the open",
        "high": "the high",
        "low": "the low",
        "close": "the close",
        "typical": "the typical price",
        "median": "the median price",
        "crosses_above": "{l} crosses above {r}",
        "crosses_below": "{l} crosses below {r}",
        "gt": "{l} is above {r}",
        "lt": "{l} is below {r}",
        "between": "{v} is between {lo} and {hi}",
        "rising": "{s} has risen for {n} bar(s) in a row",
        "falling": "{s} has fallen for {n} bar(s) in a row",
        "and": " and ",
        "or": " or ",
        "not": "not ({c})",
        "bars_ago": "{s} {n} bar(s) ago",
        "plus_pips": "{s} + {n} pips",
        "minus_pips": "{s} - {n} pips",
        "plus_atr": "{s} + {n} x {atr}",
        "minus_atr": "{s} - {n} x {atr}",
        "output": "the {o} of {i}",
        "title": 'Strategy "{name}"',
        "market": "{symbols} on {tf} bars.",
        "indicators": "Indicators:",
        "long_entry": "Buy when {c}.",
        "short_entry": "Sell short when {c}.",
        "no_long": "It never buys.",
        "no_short": "It never sells short.",
        "entry_market": "Entries are market orders, sent when the signal bar closes (a backtest "
        "fills them at the next bar's open by default).",
        "entry_limit": "Entries are limit orders {n} pips better than {a}",
        "entry_stop": "Entries are stop orders {n} pips beyond {a}",
        "entry_stop_limit": "Entries are stop-limit orders: stop {n} pips beyond {a}, limit "
        "{m} pips back from the stop",
        "expiry_bars": ", expiring after {n} bar(s).",
        "expiry_time": ", expiring at {t} ({z}).",
        "no_expiry": ", good till cancelled.",
        "sl_pips": "Stop loss {n} pips from the entry.",
        "sl_percent": "Stop loss {n}% of the price from the entry.",
        "sl_atr": "Stop loss {n} x {atr} from the entry.",
        "no_sl": "NO stop loss (explicitly waived).",
        "tp_pips": "Take profit {n} pips from the entry.",
        "tp_percent": "Take profit {n}% of the price from the entry.",
        "tp_atr": "Take profit {n} x {atr} from the entry.",
        "tp_risk_reward": "Take profit at {n} times the stop distance (risk:reward 1:{n}).",
        "no_tp": "No take profit.",
        "trail_pips": "Trailing stop {n} pips behind the price",
        "trail_atr": "Trailing stop {n} x {atr} behind the price",
        "trail_active": ", once the trade is {n} pips in profit.",
        "trail_always": ".",
        "break_even": "Stop moved to entry + {m} pips once the trade is {n} pips in profit.",
        "opposite": "A position is closed when the opposite entry signal comes.",
        "no_opposite": "An opposite signal does not close a position.",
        "long_exit": "Close longs when {c}.",
        "short_exit": "Close shorts when {c}.",
        "max_bars": "Close any trade after {n} bar(s).",
        "close_at": "Close everything at {t} ({z}) every day.",
        "weekend": "Close everything on Friday at {t} ({z}) and open nothing after it until "
        "the week ends.",
        "fixed_lots": "Size: {n} lots per trade",
        "risk_percent": "Size: risk {n}% of equity per trade, from the stop distance",
        "risk_money": "Size: risk {n} (account currency) per trade, from the stop distance",
        "lot_limits": " (between {lo} and {hi} lots).",
        "positions": "At most {n} open position(s), at most {p} entr(y/ies) in one direction.",
        "weekdays": "Trades on: {d} ({z}).",
        "session": "Only between {s} and {e} ({z})",
        "server": "the trade server's time",
        "sl_from_fill": "A market entry's stop and target are measured from the price it fills "
        "at; a pending entry's from its order price.",
        "sl_from": "Stops and targets are measured from the price at the decision, the signal "
        "bar's close (a buy's from the ask, a sell's from the bid; a pending entry's from its "
        "order price); a market entry filled at the next bar's open is that much nearer or "
        "farther from them.",
        "spread": "Only when the spread is at most {n} pips.",
        "ids": 'Orders carry magic number {m} and comment "{c}".',
        "defaults": "Defaults filled in (not in the text):",
        "no_defaults": "No defaults were filled in.",
    },
    "zh-Hant": {
        "open": "開盤價",
        "high": "最高價",
        "low": "最低價",
        "close": "收盤價",
        "typical": "典型價",
        "median": "中間價",
        "crosses_above": "{l} 上穿 {r}",
        "crosses_below": "{l} 下穿 {r}",
        "gt": "{l} 高於 {r}",
        "lt": "{l} 低於 {r}",
        "between": "{v} 介於 {lo} 與 {hi} 之間",
        "rising": "{s} 連續 {n} 根K線上升",
        "falling": "{s} 連續 {n} 根K線下降",
        "and": " 且 ",
        "or": " 或 ",
        "not": "並非（{c}）",
        "bars_ago": "{n} 根K線前的 {s}",
        "plus_pips": "{s} + {n} 點（pips）",
        "minus_pips": "{s} - {n} 點（pips）",
        "plus_atr": "{s} + {n} x {atr}",
        "minus_atr": "{s} - {n} x {atr}",
        "output": "{i} 的 {o}",
        "title": "策略「{name}」",
        "market": "{symbols}，{tf} K線。",
        "indicators": "指標：",
        "long_entry": "當 {c} 時買入。",
        "short_entry": "當 {c} 時賣出（做空）。",
        "no_long": "不做多。",
        "no_short": "不做空。",
        "entry_market": "訊號K線收盤時送出市價單進場（回測預設以下一根K線開盤價成交）。",
        "entry_limit": "以比 {a} 優 {n} 點的限價單進場",
        "entry_stop": "以超越 {a} {n} 點的停損單（突破單）進場",
        "entry_stop_limit": "以停損限價單進場：停損價超越 {a} {n} 點，限價距停損價回撤 {m} 點",
        "expiry_bars": "，{n} 根K線後失效。",
        "expiry_time": "，於 {t}（{z}）失效。",
        "no_expiry": "，取消前有效。",
        "sl_pips": "止損：距進場價 {n} 點。",
        "sl_percent": "止損：距進場價 {n}% 價格。",
        "sl_atr": "止損：距進場價 {n} x {atr}。",
        "no_sl": "不設止損（已明確放棄）。",
        "tp_pips": "止盈：距進場價 {n} 點。",
        "tp_percent": "止盈：距進場價 {n}% 價格。",
        "tp_atr": "止盈：距進場價 {n} x {atr}。",
        "tp_risk_reward": "止盈：止損距離的 {n} 倍（風險報酬比 1:{n}）。",
        "no_tp": "不設止盈。",
        "trail_pips": "移動止損：落後價格 {n} 點",
        "trail_atr": "移動止損：落後價格 {n} x {atr}",
        "trail_active": "，於獲利 {n} 點後啟動。",
        "trail_always": "。",
        "break_even": "獲利 {n} 點後，止損移至進場價 + {m} 點（保本）。",
        "opposite": "出現反向進場訊號時平倉。",
        "no_opposite": "反向訊號不會平倉。",
        "long_exit": "當 {c} 時平多單。",
        "short_exit": "當 {c} 時平空單。",
        "max_bars": "持倉 {n} 根K線後平倉。",
        "close_at": "每天 {t}（{z}）全部平倉。",
        "weekend": "週五 {t}（{z}）全部平倉，之後至週末不再開倉。",
        "fixed_lots": "倉位：每筆 {n} 手",
        "risk_percent": "倉位：每筆按止損距離承擔淨值的 {n}% 風險",
        "risk_money": "倉位：每筆按止損距離承擔 {n}（帳戶貨幣）風險",
        "lot_limits": "（介於 {lo} 與 {hi} 手之間）。",
        "positions": "最多同時持有 {n} 筆倉位，同一方向最多 {p} 筆進場。",
        "weekdays": "交易日：{d}（{z}）。",
        "session": "僅在 {s} 至 {e}（{z}）之間",
        "server": "交易伺服器時間",
        "sl_from_fill": "市價單的止損與止盈從成交價起算；掛單從其掛單價起算。",
        "sl_from": "止損與止盈從決策時的價格起算，即訊號K線的收盤（買單從賣價、賣單從買價；掛單從其掛單價）；"
        "市價單於下一根K線開盤成交，與止損止盈的距離隨兩者之間的價差而不同。",
        "spread": "僅在點差不超過 {n} 點時交易。",
        "ids": "訂單帶有魔術碼 {m} 與註解「{c}」。",
        "defaults": "已填入的預設值（原文未提及）：",
        "no_defaults": "沒有填入任何預設值。",
    },
    "zh-Hans": {
        "open": "开盘价",
        "high": "最高价",
        "low": "最低价",
        "close": "收盘价",
        "typical": "典型价",
        "median": "中间价",
        "crosses_above": "{l} 上穿 {r}",
        "crosses_below": "{l} 下穿 {r}",
        "gt": "{l} 高于 {r}",
        "lt": "{l} 低于 {r}",
        "between": "{v} 介于 {lo} 与 {hi} 之间",
        "rising": "{s} 连续 {n} 根K线上升",
        "falling": "{s} 连续 {n} 根K线下降",
        "and": " 且 ",
        "or": " 或 ",
        "not": "并非（{c}）",
        "bars_ago": "{n} 根K线前的 {s}",
        "plus_pips": "{s} + {n} 点（pips）",
        "minus_pips": "{s} - {n} 点（pips）",
        "plus_atr": "{s} + {n} x {atr}",
        "minus_atr": "{s} - {n} x {atr}",
        "output": "{i} 的 {o}",
        "title": "策略“{name}”",
        "market": "{symbols}，{tf} K线。",
        "indicators": "指标：",
        "long_entry": "当 {c} 时买入。",
        "short_entry": "当 {c} 时卖出（做空）。",
        "no_long": "不做多。",
        "no_short": "不做空。",
        "entry_market": "信号K线收盘时发出市价单进场（回测默认以下一根K线开盘价成交）。",
        "entry_limit": "以比 {a} 优 {n} 点的限价单进场",
        "entry_stop": "以超越 {a} {n} 点的止损单（突破单）进场",
        "entry_stop_limit": "以止损限价单进场：止损价超越 {a} {n} 点，限价距止损价回撤 {m} 点",
        "expiry_bars": "，{n} 根K线后失效。",
        "expiry_time": "，于 {t}（{z}）失效。",
        "no_expiry": "，撤销前有效。",
        "sl_pips": "止损：距进场价 {n} 点。",
        "sl_percent": "止损：距进场价 {n}% 价格。",
        "sl_atr": "止损：距进场价 {n} x {atr}。",
        "no_sl": "不设止损（已明确放弃）。",
        "tp_pips": "止盈：距进场价 {n} 点。",
        "tp_percent": "止盈：距进场价 {n}% 价格。",
        "tp_atr": "止盈：距进场价 {n} x {atr}。",
        "tp_risk_reward": "止盈：止损距离的 {n} 倍（风险回报比 1:{n}）。",
        "no_tp": "不设止盈。",
        "trail_pips": "移动止损：落后价格 {n} 点",
        "trail_atr": "移动止损：落后价格 {n} x {atr}",
        "trail_active": "，于盈利 {n} 点后启动。",
        "trail_always": "。",
        "break_even": "盈利 {n} 点后，止损移至进场价 + {m} 点（保本）。",
        "opposite": "出现反向进场信号时平仓。",
        "no_opposite": "反向信号不会平仓。",
        "long_exit": "当 {c} 时平多单。",
        "short_exit": "当 {c} 时平空单。",
        "max_bars": "持仓 {n} 根K线后平仓。",
        "close_at": "每天 {t}（{z}）全部平仓。",
        "weekend": "周五 {t}（{z}）全部平仓，之后至周末不再开仓。",
        "fixed_lots": "仓位：每笔 {n} 手",
        "risk_percent": "仓位：每笔按止损距离承担净值的 {n}% 风险",
        "risk_money": "仓位：每笔按止损距离承担 {n}（账户货币）风险",
        "lot_limits": "（介于 {lo} 与 {hi} 手之间）。",
        "positions": "最多同时持有 {n} 笔仓位，同一方向最多 {p} 笔进场。",
        "weekdays": "交易日：{d}（{z}）。",
        "session": "仅在 {s} 至 {e}（{z}）之间",
        "server": "交易服务器时间",
        "sl_from_fill": "市价单的止损与止盈从成交价起算；挂单从其挂单价起算。",
        "sl_from": "止损与止盈从决策时的价格起算，即信号K线的收盘（买单从卖价、卖单从买价；挂单从其挂单价）；"
        "市价单于下一根K线开盘成交，与止损止盈的距离随两者之间的价差而不同。",
        "spread": "仅在点差不超过 {n} 点时交易。",
        "ids": "订单带有魔术号 {m} 与注释“{c}”。",
        "defaults": "已填入的默认值（原文未提及）：",
        "no_defaults": "没有填入任何默认值。",
    },
}
_DAYS = {
    "en": {
        "mon": "Mon",
        "tue": "Tue",
        "wed": "Wed",
        "thu": "Thu",
        "fri": "Fri",
        "sat": "Sat",
        "sun": "Sun",
    },
    "zh-Hant": {
        "mon": "週一",
        "tue": "週二",
        "wed": "週三",
        "thu": "週四",
        "fri": "週五",
        "sat": "週六",
        "sun": "週日",
    },
    "zh-Hans": {
        "mon": "周一",
        "tue": "周二",
        "wed": "周三",
        "thu": "周四",
        "fri": "周五",
        "sat": "周六",
        "sun": "周日",
    },
}
_OUTPUTS_ZH = {
    "macd": "MACD 線",
    "signal": "訊號線",
    "histogram": "柱狀圖",
    "upper": "上軌",
    "middle": "中軌",
    "lower": "下軌",
    "k": "%K",
    "d": "%D",
    "adx": "ADX",
    "plus_di": "+DI",
    "minus_di": "-DI",
}

_OUTPUTS_ZH_HANS = {
    **_OUTPUTS_ZH,
    "signal": "信号线",
    "histogram": "柱状图",
    "upper": "上轨",
    "lower": "下轨",
    "middle": "中轨",
}
# The registry's Chinese titles are Traditional; these are their Simplified forms.
_TITLES_ZH_HANS = {
    "sma": "简单移动平均线",
    "ema": "指数移动平均线",
    "wma": "加权移动平均线",
    "rsi": "相对强弱指数 (RSI)",
    "macd": "MACD",
    "bbands": "布林带",
    "atr": "平均真实波幅 (ATR)",
    "stochastic": "随机指标",
    "adx": "平均趋向指数 (ADX)",
    "cci": "顺势指标 (CCI)",
    "donchian": "唐奇安通道",
    "highest": "最高值",
    "lowest": "最低值",
}


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: float) -> str:
    return f"{value:g}"


class _Explainer:
    def __init__(self, spec: StrategySpec, language: Language) -> None:
        self.spec = spec
        self.language = language
        self.words = _WORDS[language]

    def w(self, key: str, **values: Any) -> str:
        return self.words[key].format(**values)

    def zone(self, name: str) -> str:
        """A spec's time zone in words: the trade server's time, or the zone's name."""
        return self.words["server"] if name == SERVER_CLOCK else name

    def indicator_name(self, ident: str) -> str:
        indicator = self.spec.indicator(ident)
        if indicator is None:
            return ident
        definition = REGISTRY[indicator.kind]
        title = {
            "en": definition.title,
            "zh-Hant": definition.title_zh,
            "zh-Hans": _TITLES_ZH_HANS.get(indicator.kind, definition.title_zh),
        }[self.language]
        numbers = [
            _number(v) for v in indicator.resolved_params().values() if not isinstance(v, str)
        ]
        return f"{ident} ({title} {'/'.join(numbers)})"

    def series(self, name: str) -> str:
        if name in self.words:
            return self.words[name]
        ident, _, output = name.partition(".")
        base = self.indicator_name(ident)
        if not output or output == "value":
            return base
        outputs = {"en": {}, "zh-Hant": _OUTPUTS_ZH, "zh-Hans": _OUTPUTS_ZH_HANS}[self.language]
        shown = outputs.get(output, output)
        return self.w("output", o=shown, i=base)

    def operand(self, operand: Any) -> str:
        if not isinstance(operand, Ref):
            return _number(float(operand))
        text = self.series(operand.series)
        if operand.bars_ago:
            text = self.w("bars_ago", s=text, n=operand.bars_ago)
        if operand.offset_pips:
            key = "plus_pips" if operand.offset_pips > 0 else "minus_pips"
            text = self.w(key, s=text, n=_number(abs(operand.offset_pips)))
        if operand.offset_atr:
            key = "plus_atr" if operand.offset_atr > 0 else "minus_atr"
            text = self.w(
                key,
                s=text,
                n=_number(abs(operand.offset_atr)),
                atr=self.indicator_name(str(operand.atr)),
            )
        return text

    def condition(self, node: Any) -> str:
        if isinstance(node, AllOf | AnyOf):
            joiner = self.words["and" if isinstance(node, AllOf) else "or"]
            parts = [self.condition(child) for child in node.conditions]
            text = joiner.join(parts)
            return f"({text})" if len(parts) > 1 else text
        if isinstance(node, Not):
            return self.w("not", c=self.condition(node.condition))
        if isinstance(node, CrossesAbove | CrossesBelow | Greater | Less):
            return self.w(node.op, l=self.operand(node.left), r=self.operand(node.right))
        if isinstance(node, Between):
            return self.w(
                "between",
                v=self.operand(node.value),
                lo=self.operand(node.low),
                hi=self.operand(node.high),
            )
        if isinstance(node, Rising | Falling):
            return self.w(node.op, s=self.operand(node.series), n=node.bars)
        return str(node)

    def lines(self) -> list[str]:
        spec = self.spec
        out = [self.w("title", name=spec.name)]
        if spec.description:
            out.append(spec.description)
        out.append(self.w("market", symbols=", ".join(spec.symbols), tf=spec.timeframe))
        if spec.indicators:
            out.append(self.w("indicators"))
            out.extend(f"  - {self.indicator_name(item.id)}" for item in spec.indicators)
        out.append(
            self.w("long_entry", c=self.condition(spec.long_entry))
            if spec.long_entry is not None
            else self.w("no_long")
        )
        out.append(
            self.w("short_entry", c=self.condition(spec.short_entry))
            if spec.short_entry is not None
            else self.w("no_short")
        )
        out.append(self.entry())
        out.extend(self.exits())
        out.append(self.sizing())
        out.append(self.w("positions", n=spec.max_open_positions, p=spec.pyramiding))
        out.extend(self.filters())
        out.append(self.w("ids", m=spec.magic, c=spec.comment))
        filled = defaults_filled(spec)
        if filled:
            out.append(self.w("defaults"))
            out.extend(f"  - {path} = {_shown(value)}" for path, value in filled)
        else:
            out.append(self.w("no_defaults"))
        return out

    def entry(self) -> str:
        entry = self.spec.entry
        if entry.order == "market":
            return self.w("entry_market")
        anchor = self.operand(entry.anchor) if entry.anchor is not None else self.words["close"]
        if entry.short_anchor is not None:
            joiner = " / " if self.language == "en" else "／"
            anchor = f"{anchor}{joiner}{self.operand(entry.short_anchor)}"
        text = self.w(
            f"entry_{entry.order}",
            n=_number(entry.offset_pips),
            a=anchor,
            m=_number(entry.limit_offset_pips),
        )
        if entry.expiry_bars is not None:
            return text + self.w("expiry_bars", n=entry.expiry_bars)
        if entry.expiry_time is not None:
            return text + self.w(
                "expiry_time", t=entry.expiry_time, z=self.zone(self.spec.exits.timezone)
            )
        return text + self.w("no_expiry")

    def exits(self) -> list[str]:
        exits = self.spec.exits
        out = []
        stop = exits.stop_loss
        if stop is None:
            out.append(self.w("no_sl"))
        else:
            atr = self.indicator_name(str(stop.atr)) if stop.atr else ""
            out.append(self.w(f"sl_{stop.kind}", n=_number(stop.value), atr=atr))
            out.append(self.w("sl_from" if exits.stops_from == "decision" else "sl_from_fill"))
        target = exits.take_profit
        if target is None:
            out.append(self.w("no_tp"))
        else:
            atr = self.indicator_name(str(target.atr)) if target.atr else ""
            out.append(self.w(f"tp_{target.kind}", n=_number(target.value), atr=atr))
        trailing = exits.trailing_stop
        if trailing is not None:
            atr = self.indicator_name(str(trailing.atr)) if trailing.atr else ""
            text = self.w(f"trail_{trailing.kind}", n=_number(trailing.distance), atr=atr)
            text += (
                self.w("trail_active", n=_number(trailing.activate_after_pips))
                if trailing.activate_after_pips
                else self.w("trail_always")
            )
            out.append(text)
        if exits.break_even is not None:
            out.append(
                self.w(
                    "break_even",
                    n=_number(exits.break_even.trigger_pips),
                    m=_number(exits.break_even.lock_pips),
                )
            )
        out.append(self.w("opposite" if exits.on_opposite_signal else "no_opposite"))
        if exits.long_exit is not None:
            out.append(self.w("long_exit", c=self.condition(exits.long_exit)))
        if exits.short_exit is not None:
            out.append(self.w("short_exit", c=self.condition(exits.short_exit)))
        if exits.max_bars is not None:
            out.append(self.w("max_bars", n=exits.max_bars))
        if exits.close_at is not None:
            out.append(self.w("close_at", t=exits.close_at, z=self.zone(exits.timezone)))
        if exits.close_before_weekend is not None:
            out.append(self.w("weekend", t=exits.close_before_weekend, z=self.zone(exits.timezone)))
        return out

    def sizing(self) -> str:
        sizing = self.spec.sizing
        amount = {
            "fixed_lots": sizing.lots,
            "risk_percent": sizing.risk_pct,
            "risk_money": sizing.risk_money,
        }[sizing.method]
        return self.w(sizing.method, n=_number(float(amount or 0.0))) + self.w(
            "lot_limits", lo=_number(sizing.min_lots), hi=_number(sizing.max_lots)
        )

    def filters(self) -> list[str]:
        filters = self.spec.filters
        days = _DAYS[self.language]
        # Weekdays are read in the first session's zone, else on the server's clock.
        zone = filters.sessions[0].timezone if filters.sessions else SERVER_CLOCK
        out = [
            self.w("weekdays", d=", ".join(days[d] for d in filters.weekdays), z=self.zone(zone))
        ]
        for session in filters.sessions:
            text = self.w("session", s=session.start, e=session.end, z=self.zone(session.timezone))
            out.append(text + ("." if self.language == "en" else "。"))
        if filters.max_spread_pips is not None:
            out.append(self.w("spread", n=_number(filters.max_spread_pips)))
        return out


def explain(spec: StrategySpec, language: str = "en") -> str:
    """Describe ``spec`` in ``language`` ("en", "zh-Hant" or "zh-Hans"), defaults listed last."""
    if language not in LANGUAGES:
        raise InvalidInputError(
            [f"language: {language!r} is not one of {', '.join(LANGUAGES)}"], what="explain-back"
        )
    return "\n".join(_Explainer(spec, language).lines())
