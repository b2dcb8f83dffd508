//! Yahoo Finance (unofficial): the chart API `/v8/finance/chart/{symbol}`, JSON.
//!
//! No official docs, no key, no published limit; the real root is
//! `https://query2.finance.yahoo.com` (query1 serves the same). The chart endpoint works without
//! the crumb/cookie dance quoteSummary needs, but Yahoo answers generic client User-Agents with
//! 429s, so requests carry a browser-style one naming apiary. One request per dataset: `range`
//! and `interval` (defaults `1mo` / `1d`, sent explicitly) select the bars, no paging.
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

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

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

/// A path segment: unreserved characters plus `=` (`EURUSD=X`) stay as they are, `^` is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'=');

static PARAMS: [Param; 3] = [
    Param::required("symbol", "Yahoo symbol, e.g. AAPL, BTC-USD, ^GSPC, EURUSD=X (upper-cased)"),
    Param::optional("range", "1d, 5d, 1mo (default), 3mo, 6mo, 1y, 2y, 5y, 10y, ytd or max"),
    Param::optional("interval", "1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 1d (default), 5d, 1wk, 1mo or 3mo"),
];

impl Connector for YahooFinance {
    fn id(&self) -> &'static str {
        "yahoo_finance"
    }
    fn describe(&self) -> &'static str {
        "Yahoo Finance price bars (unofficial chart API v8, JSON)"
    }
    fn group(&self) -> Group {
        Group::Financial
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
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
        params::one_of(p, "interval", &INTERVALS)
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let symbol = p.get("symbol").map(String::as_str).unwrap_or_default();
        let range = p.get("range").map_or(DEFAULT_RANGE, String::as_str);
        let interval = p.get("interval").map_or(DEFAULT_INTERVAL, String::as_str);
        Ok(Request::get(format!("{}/v8/finance/chart/{}", ctx.base_url, utf8_percent_encode(symbol, SEGMENT)))
            .query("range", range)
            .query("interval", interval)
            .header("User-Agent", USER_AGENT)
            .header("Accept", "application/json"))
    }

    fn read(&self, _ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let body: Value = match serde_json::from_slice(resp.body) {
            Ok(v) => v,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Yahoo chart body: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if let Some(err) = envelope_error(&body, resp) {
            return Err(err);
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let Some(results) = body.pointer("/chart/result").and_then(Value::as_array) else {
            return Err(ConnectorError::transient("Yahoo chart body has neither `chart.result` nor `chart.error`"));
        };
        let symbol = p.get("symbol").cloned().unwrap_or_default();
        let mut bars: Vec<PriceBar> = results.iter().flat_map(|r| bars(r, &symbol)).collect();
        bars.sort_by_key(|b| b.time);
        Ok(Page::last(bars.into_iter().map(Record::PriceBar).collect()))
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
fn bars(result: &Value, fallback_symbol: &str) -> Vec<PriceBar> {
    let meta = result.get("meta");
    let symbol = meta
        .and_then(|m| m.get("symbol"))
        .and_then(Value::as_str)
        .map(text::clean)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback_symbol.to_owned());
    let interval = meta.and_then(|m| m.get("dataGranularity")).and_then(Value::as_str).map(canonical_interval);
    let Some(times) = result.get("timestamp").and_then(Value::as_array) else {
        return Vec::new();
    };
    let quote = result.pointer("/indicators/quote/0");
    let column = |name: &str| quote.and_then(|q| q.get(name)).and_then(Value::as_array);
    let (open, high, low, close, volume) =
        (column("open"), column("high"), column("low"), column("close"), column("volume"));
    let at = |col: Option<&Vec<Value>>, i: usize| col.and_then(|c| c.get(i)).and_then(text::json_number);
    times
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let time = text::epoch(t.as_i64()?, false)?;
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
