//! Alpha Vantage success bodies, read straight into structs.
//!
//! Fields are found by their name without the `"05. "` ordinal, as the upstream numbers them; when
//! two keys share a name the one first in key order counts, as it did when the body was read into
//! a `serde_json::Value` map (a repeated key: its last value).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Eastern, SERIES, bare, local_time};
use crate::ConnectorError;
use crate::json::{self, Fields, JNum, Key, Obj, Pick, Str};
use crate::record::{PriceBar, Quote, Record};
use crate::text;

/// The top-level object, read for the function asked.
pub(super) enum Body<'a> {
    Quote(Box<QuoteBody<'a>>),
    Series(Box<SeriesBody<'a>>),
}

impl<'a> Body<'a> {
    /// The body's `Note`, `Information` and `Error Message` fields.
    pub(super) fn notices(&self) -> &Notices<'a> {
        match self {
            Body::Quote(b) => &b.notices,
            Body::Series(b) => &b.notices,
        }
    }
}

/// The fields Alpha Vantage answers with instead of data, read while the body is: each as the
/// text of its value (a string as it is, any other value as compact JSON), a repeated key keeping
/// its last value.
#[derive(Default)]
pub(super) struct Notices<'a> {
    pub(super) error: Option<Cow<'a, str>>,
    pub(super) note: Option<Cow<'a, str>>,
    pub(super) information: Option<Cow<'a, str>>,
}

impl<'de> Notices<'de> {
    /// Reads the value when `key` is a notice; `false` leaves it to the caller.
    fn offer<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let slot = match key {
            "Error Message" => &mut self.error,
            "Note" => &mut self.note,
            "Information" => &mut self.information,
            _ => return Ok(false),
        };
        *slot = Some(map.next_value::<NoticeText>()?.0);
        Ok(true)
    }
}

/// Any JSON value as text: a string borrowed where it had no escapes, anything else as
/// `Value::to_string` writes it.
struct NoticeText<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for NoticeText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoticeVisitor)
    }
}

struct NoticeVisitor;

impl NoticeVisitor {
    fn json<'a, E>(v: Value) -> Result<NoticeText<'a>, E> {
        Ok(NoticeText(Cow::Owned(v.to_string())))
    }
}

impl<'de> Visitor<'de> for NoticeVisitor {
    type Value = NoticeText<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(NoticeText(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(NoticeText(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(NoticeText(Cow::Owned(s)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Self::json(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Self::json(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Self::json(n.into())
    }
    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        Self::json(n.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Self::json(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Self::json(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Self::json(Value::deserialize(SeqAccessDeserializer::new(seq))?)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Self::json(Value::deserialize(MapAccessDeserializer::new(map))?)
    }
}

/// The value of the key first in key order among those with one name.
struct Slot<'a, T> {
    key: Option<Cow<'a, str>>,
    value: T,
}

impl<T: Default> Default for Slot<'_, T> {
    fn default() -> Self {
        Slot { key: None, value: T::default() }
    }
}

impl<'de, T: Deserialize<'de>> Slot<'de, T> {
    fn offer<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        if self.key.as_deref().is_none_or(|k| *key <= *k) {
            self.value = map.next_value()?;
            self.key = Some(key);
            Ok(())
        } else {
            json::skip(map)
        }
    }
}

/// `GLOBAL_QUOTE`: `{"Global Quote": {"01. symbol": .., "05. price": .., ...}}`.
#[derive(Default)]
pub(super) struct QuoteBody<'a> {
    notices: Notices<'a>,
    quote: Obj<QuoteFields<'a>>,
}

impl<'de> Fields<'de> for QuoteBody<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        if self.notices.offer(&key, map)? {
            return Ok(());
        }
        match &*key {
            "Global Quote" => self.quote = map.next_value()?,
            _ => json::skip(map)?,
        }
        Ok(())
    }
}

const QUOTE_NUMBERS: [&str; 8] =
    ["price", "open", "high", "low", "volume", "previous close", "change", "change percent"];

#[derive(Default)]
struct QuoteFields<'a> {
    any: bool,
    symbol: Slot<'a, Str<'a>>,
    day: Slot<'a, Str<'a>>,
    numbers: [Slot<'a, JNum>; 8],
}

impl<'de> Fields<'de> for QuoteFields<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        self.any = true;
        let name = bare(&key);
        if let Some(i) = QUOTE_NUMBERS.iter().position(|n| *n == name) {
            return self.numbers[i].offer(key, map);
        }
        match name {
            "symbol" => self.symbol.offer(key, map),
            "latest trading day" => self.day.offer(key, map),
            _ => json::skip(map),
        }
    }
}

/// A price series: `{"Meta Data": {..}, "Time Series (1min)": {"<when>": {bar}, ..}}`.
#[derive(Default)]
pub(super) struct SeriesBody<'a> {
    notices: Notices<'a>,
    meta: Obj<Meta<'a>>,
    /// Every other key; the series is the first, in key order, whose value is an object.
    candidates: BTreeMap<Cow<'a, str>, Points<'a>>,
}

impl<'de> Fields<'de> for SeriesBody<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        if self.notices.offer(&key, map)? {
            return Ok(());
        }
        if key == "Meta Data" {
            self.meta = map.next_value()?;
        } else {
            let value = map.next_value()?;
            self.candidates.insert(key, value);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Meta<'a> {
    time_zone: Slot<'a, Str<'a>>,
    symbol: Slot<'a, Str<'a>>,
    interval: Slot<'a, Str<'a>>,
}

impl<'de> Fields<'de> for Meta<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        match bare(&key) {
            "Time Zone" => self.time_zone.offer(key, map),
            "Symbol" => self.symbol.offer(key, map),
            "Interval" => self.interval.offer(key, map),
            _ => json::skip(map),
        }
    }
}

/// A series object's bars in key order, a repeated key keeping its last value; `None` when the
/// value is not an object.
#[derive(Default)]
struct Points<'a>(Option<Vec<(Cow<'a, str>, Option<Ohlcv>)>>);

/// A bar's open, high, low, close and volume.
type Ohlcv = [Option<f64>; 5];

impl<'de> Pick<'de> for Points<'de> {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut all = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(Key(key)) = map.next_key()? {
            let bar: Obj<Bar> = map.next_value()?;
            all.push((key, bar.0.map(|b| b.numbers.map(|s| s.value.0))));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut points = Vec::with_capacity(all.len());
        let mut rest = all.into_iter().peekable();
        while let Some(point) = rest.next() {
            if rest.peek().is_none_or(|next| next.0 != point.0) {
                points.push(point);
            }
        }
        Ok(Points(Some(points)))
    }
}

impl<'de> Deserialize<'de> for Points<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

const BAR_NUMBERS: [&str; 5] = ["open", "high", "low", "close", "volume"];

#[derive(Default)]
struct Bar<'a> {
    numbers: [Slot<'a, JNum>; 5],
}

impl<'de> Fields<'de> for Bar<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        let name = bare(&key);
        match BAR_NUMBERS.iter().position(|n| *n == name) {
            Some(i) => self.numbers[i].offer(key, map),
            None => json::skip(map),
        }
    }
}

pub(super) fn quote(body: QuoteBody<'_>, symbol: &str) -> Result<Quote, ConnectorError> {
    let Some(q) = body.quote.0 else {
        return Err(ConnectorError::transient("Alpha Vantage body has no `Global Quote`"));
    };
    if !q.any {
        return Err(ConnectorError::permanent(format!("Alpha Vantage has no quote for `{symbol}` (unknown symbol?)")));
    }
    let [price, open, high, low, volume, previous_close, change, change_percent] = q.numbers.map(|s| s.value.0);
    Ok(Quote {
        source: "alpha_vantage".into(),
        symbol: q.symbol.value.get().map(text::clean).unwrap_or_else(|| symbol.to_owned()),
        price,
        open,
        high,
        low,
        volume,
        latest_trading_day: q.day.value.get().and_then(text::date),
        previous_close,
        change,
        change_percent,
    })
}

pub(super) fn series(body: SeriesBody<'_>, function: &str, symbol: &str) -> Result<Vec<Record>, ConnectorError> {
    let Some(points) = body.candidates.into_values().find_map(|v| v.0) else {
        return Err(ConnectorError::transient("Alpha Vantage body has no time series"));
    };
    let meta = body.meta.0.unwrap_or_default();
    let eastern = meta.time_zone.value.get().is_some_and(|z| z.contains("Eastern") || z.contains("New_York"));
    let symbol = meta.symbol.value.get().map(text::clean).unwrap_or_else(|| symbol.to_owned());
    let interval = match SERIES.iter().find(|(f, _)| *f == function) {
        Some((_, "")) | None => meta.interval.value.get().map(str::to_owned),
        Some((_, i)) => Some((*i).to_owned()),
    };
    let mut eastern = eastern.then(Eastern::default);
    let mut bars: Vec<Record> = Vec::with_capacity(points.len());
    for (when, bar) in &points {
        let Some([open, high, low, close, volume]) = *bar else { continue };
        let Some(time) = local_time(when, eastern.as_mut()) else { continue };
        let symbol = symbol.clone();
        let interval = interval.clone();
        let source = "alpha_vantage".into();
        bars.push(Record::PriceBar(PriceBar { source, symbol, time, open, high, low, close, volume, interval }));
    }
    // Oldest first; the points are in key order, which is time order for keys of one shape.
    bars.sort_by_key(|r| match r {
        Record::PriceBar(b) => Some(b.time),
        _ => None,
    });
    Ok(bars)
}
