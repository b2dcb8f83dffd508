//! Yahoo Finance (unofficial): the chart API `/v8/finance/chart/{symbol}`, JSON.
//!
//! No official docs, no key, no published limit; the real root is
//! `https://query2.finance.yahoo.com` (query1 serves the same). The chart endpoint works without
//! the crumb/cookie dance quoteSummary needs, but Yahoo answers generic client User-Agents with
//! 429s, so requests carry a browser-style one naming apiary. One request per dataset: `range`
//! and `interval` (defaults `1mo` / `1d`, sent explicitly) select the bars, no paging; or, instead
//! of `range`, the days `from` and `to` (sent as `period1`, the start of `from`, and `period2`,
//! the end of `to`, in epoch seconds UTC).
//!
//! Shape: `chart.result[0].{meta, timestamp[], indicators.quote[0].{open,high,low,close,volume}}`,
//! parallel arrays indexed like `timestamp` (epoch seconds, the start of each bar). A range with
//! no bars (1-minute bars over a weekend) is a 200 with `meta` but **no `timestamp`** and
//! `indicators.quote: [{}]`: a success with no records. Bars whose open, high, low and close are
//! all `null` (gaps Yahoo pads with, and the not-yet-formed current bar) are skipped; a bar with
//! only some values null is kept with those fields `None`. Records come oldest first.
//!
//! Errors use the same envelope, `{"chart":{"result":null,"error":{"code","description"}}}`,
//! usually with HTTP 404 (`Not Found`, "No data found, symbol may be delisted") or 400
//! (`Bad Request`, e.g. an interval the range does not allow): permanent. Any other module's
//! envelope (`quoteSummary`, ...) is read the same way. 429 (often plain text) is a rate limit,
//! 5xx transient, 401/403 (`Unauthorized`, invalid crumb) auth.
//!
//! Parsing: bodies are read straight into structs (with the lenient readers of
//! `crate::json`), not into a `serde_json::Value`; an envelope with an `error` is read again as a `Value`
//! to classify it.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess};
use serde_json::Value;

use crate::json::{self, Fields, I64, JNum, Key, List, Obj, Pick, Skip, Str, object};
use crate::params::{self, Param, ParamError, Params};
use crate::record::{PriceBar, Record};
use crate::text::{self, snippet};
use crate::{Connector, ConnectorError, Context, Group, Page, Request, Response};

pub struct YahooFinance;

const RANGES: [&str; 11] = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"];
const INTERVALS: [&str; 13] = ["1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo"];
const DEFAULT_RANGE: &str = "1mo";
const DEFAULT_INTERVAL: &str = "1d";
/// Sent because Yahoo throttles library User-Agents on sight.
const USER_AGENT: &str = "Mozilla/5.0 (compatible; apiary/0.1)";

static PARAMS: [Param; 5] = [
    Param::required("symbol", "Yahoo symbol, e.g. AAPL, BTC-USD, ^GSPC, EURUSD=X (upper-cased)").in_path(),
    Param::optional("range", "1d, 5d, 1mo (default), 3mo, 6mo, 1y, 2y, 5y, 10y, ytd or max"),
    Param::optional("interval", "1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 1d (default), 5d, 1wk, 1mo or 3mo"),
    Param::optional("from", "first day, YYYY-MM-DD (with `to`, instead of `range`)"),
    Param::optional("to", "last day, YYYY-MM-DD, inclusive (with `from`)"),
];

static META: crate::Meta = crate::Meta {
    id: "yahoo_finance",
    describe: "Yahoo Finance price bars (unofficial chart API v8, JSON)",
    group: Group::Financial,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &[],
};

impl Connector for YahooFinance {
    fn meta(&self) -> &'static crate::Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(s) = p.get_mut("symbol") {
            *s = s.to_ascii_uppercase();
            if s.contains(['/', '?', '#']) || s.chars().any(char::is_whitespace) {
                return Err(ParamError::invalid("symbol", "must be one Yahoo symbol (no spaces, `/`, `?` or `#`)"));
            }
        }
        if let Some(r) = p.get_mut("range") {
            *r = r.to_ascii_lowercase();
        }
        params::one_of(p, "range", &RANGES)?;
        if params::date_range(p)?.is_some() && p.contains_key("range") {
            return Err(ParamError::invalid("range", "give either `range` or `from` and `to`"));
        }
        params::one_of(p, "interval", &INTERVALS)
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let symbol = p.get("symbol").map(String::as_str).unwrap_or_default();
        let range = p.get("range").map_or(DEFAULT_RANGE, String::as_str);
        let interval = p.get("interval").map_or(DEFAULT_INTERVAL, String::as_str);
        // One segment: `=` (`EURUSD=X`) stays as it is, `^` and anything else outside unreserved is encoded.
        let symbol = crate::path::segment_keeping("symbol", symbol, b"=")?;
        let req = Request::get(format!("{}/v8/finance/chart/{symbol}", ctx.base_url));
        let req = match params::date_range(p).map_err(|e| ConnectorError::permanent(e.to_string()))? {
            Some((from, to)) => {
                let start = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
                let end = to.succ_opt().map_or(i64::MAX, start);
                req.query("period1", start(from).to_string()).query("period2", end.to_string())
            }
            None => req.query("range", range),
        };
        Ok(req.query("interval", interval).header("User-Agent", USER_AGENT).header("Accept", "application/json"))
    }

    fn read(&self, _ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let body: Body = match json::parse::<Obj<Body>>(resp.body) {
            Ok(b) => b.0.unwrap_or_default(),
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Yahoo chart body: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if body.error {
            // Rare: read the error from a `Value`, whatever types its fields have.
            let value: Value = serde_json::from_slice(resp.body).unwrap_or(Value::Null);
            if let Some(err) = envelope_error(&value, resp) {
                return Err(err);
            }
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let Some(results) = body.chart.0.and_then(|c| c.result.0) else {
            return Err(ConnectorError::transient("Yahoo chart body has neither `chart.result` nor `chart.error`"));
        };
        let symbol = p.get("symbol").map(String::as_str).unwrap_or_default();
        let mut bars: Vec<PriceBar> =
            results.iter().filter_map(|r| r.0.as_ref()).flat_map(|r| bars(r, symbol)).collect();
        bars.sort_by_key(|b| b.time);
        Ok(Page::last(bars.into_iter().map(Record::PriceBar).collect()))
    }
}

/// The top-level object: `chart` read in full; of every module (chart included) only whether it
/// holds a non-null `error`.
#[derive(Default)]
struct Body<'a> {
    error: bool,
    chart: Obj<Chart<'a>>,
}

impl<'de> Fields<'de> for Body<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        if key == "chart" {
            self.chart = map.next_value()?;
            self.error |= self.chart.0.as_ref().is_some_and(|c| c.error.0);
        } else {
            let module: Obj<Module> = map.next_value()?;
            self.error |= module.0.is_some_and(|m| m.error.0);
        }
        Ok(())
    }
}

/// Whether a value is other than `null`.
#[derive(Default)]
struct NotNull(bool);

impl<'de> Deserialize<'de> for NotNull {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<json::Skip>::deserialize(d).map(|v| NotNull(v.is_some()))
    }
}

object! {
    struct Module<'a> {
        "error" => error: NotNull,
    }
}

object! {
    struct Chart<'a> {
        "error" => error: NotNull,
        "result" => result: List<Obj<ChartResult<'a>>>,
    }
}

object! {
    struct ChartResult<'a> {
        "meta" => meta: Obj<Meta<'a>>,
        "timestamp" => timestamp: List<I64>,
        "indicators" => indicators: Obj<Indicators<'a>>,
    }
}

object! {
    struct Meta<'a> {
        "symbol" => symbol: Str<'a>,
        "dataGranularity" => granularity: Str<'a>,
    }
}

object! {
    struct Indicators<'a> {
        "quote" => quote: First<'a>,
    }
}

/// `quote/0` as a JSON pointer reads it: the first element of an array, or the key `"0"` of an
/// object.
#[derive(Default)]
struct First<'a>(Obj<Columns<'a>>);

impl<'de> Pick<'de> for First<'de> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let first = seq.next_element()?.unwrap_or_default();
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(First(first))
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut first = Obj::default();
        while let Some(Key(key)) = map.next_key()? {
            if key == "0" {
                first = map.next_value()?;
            } else {
                json::skip(&mut map)?;
            }
        }
        Ok(First(first))
    }
}

impl<'de> Deserialize<'de> for First<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

object! {
    /// The parallel columns, indexed like `timestamp`.
    struct Columns<'a> {
        "open" => open: List<JNum>,
        "high" => high: List<JNum>,
        "low" => low: List<JNum>,
        "close" => close: List<JNum>,
        "volume" => volume: List<JNum>,
    }
}

/// The `error` of a `{"<module>": {"result", "error"}}` envelope (chart, quoteSummary, ...).
fn envelope_error(body: &Value, resp: &Response) -> Option<ConnectorError> {
    let err = body.as_object()?.values().find_map(|m| m.get("error").filter(|e| !e.is_null()))?;
    let code = err.get("code").and_then(Value::as_str).unwrap_or("error");
    let desc = err.get("description").and_then(Value::as_str).unwrap_or("");
    let msg = format!("Yahoo Finance: {code}: {}", snippet(desc));
    let lower = code.to_ascii_lowercase();
    let class_err = match resp.status {
        429 => ConnectorError::rate_limited(msg),
        500..=599 => ConnectorError::transient(msg),
        401 | 403 => ConnectorError::auth(msg),
        _ if lower.contains("too many") => ConnectorError::rate_limited(msg),
        _ if lower.contains("unauthorized") || lower.contains("forbidden") => ConnectorError::auth(msg),
        _ if lower.contains("internal") || lower.contains("unavailable") || lower.contains("timeout") => {
            ConnectorError::transient(msg)
        }
        _ => ConnectorError::permanent(msg),
    };
    Some(class_err.with_retry_after(resp.retry_after()))
}

/// The bars of one chart result; no `timestamp` means no bars.
fn bars(result: &ChartResult<'_>, fallback_symbol: &str) -> Vec<PriceBar> {
    let meta = result.meta.0.as_ref();
    let symbol = meta
        .and_then(|m| m.symbol.get())
        .map(text::clean)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback_symbol.to_owned());
    let interval = meta.and_then(|m| m.granularity.get()).map(canonical_interval);
    let Some(times) = result.timestamp.0.as_ref() else {
        return Vec::new();
    };
    let quote = result.indicators.0.as_ref().and_then(|i| i.quote.0.0.as_ref());
    let (open, high, low, close, volume) = match quote {
        Some(q) => {
            (q.open.0.as_deref(), q.high.0.as_deref(), q.low.0.as_deref(), q.close.0.as_deref(), q.volume.0.as_deref())
        }
        None => (None, None, None, None, None),
    };
    let at = |col: Option<&[JNum]>, i: usize| col.and_then(|c| c.get(i)).and_then(|n| n.0);
    times
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let time = text::epoch(t.0?, false)?;
            let bar = PriceBar {
                source: "yahoo_finance".into(),
                symbol: symbol.clone(),
                time,
                open: at(open, i),
                high: at(high, i),
                low: at(low, i),
                close: at(close, i),
                volume: at(volume, i),
                interval: interval.clone(),
            };
            let empty = bar.open.is_none() && bar.high.is_none() && bar.low.is_none() && bar.close.is_none();
            (!empty).then_some(bar)
        })
        .collect()
}

/// Yahoo's interval names in the vocabulary apiary's price bars share (`1m` → `1min`,
/// `1h` → `60min`; days, weeks and months as they are).
fn canonical_interval(granularity: &str) -> String {
    match granularity {
        "1h" => "60min".to_owned(),
        g if g.ends_with('m') && !g.ends_with("mo") => format!("{}min", g.trim_end_matches('m')),
        g => g.to_owned(),
    }
}
