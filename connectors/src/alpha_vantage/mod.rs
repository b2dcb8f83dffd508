//! Alpha Vantage: the `/query?function=...` API, JSON.
//!
//! Docs: <https://www.alphavantage.co/documentation/>. Auth is the mandatory `apikey` query
//! parameter (sent as a secret, never logged). Free keys get 25 requests a day since early 2024
//! (before that: 5 a minute and 500 a day); premium plans lift both.
//!
//! Functions served: `GLOBAL_QUOTE` (one [`Quote`] record) and the price series
//! `TIME_SERIES_INTRADAY` (needs `interval`), `TIME_SERIES_DAILY`, `TIME_SERIES_DAILY_ADJUSTED`,
//! `TIME_SERIES_WEEKLY[_ADJUSTED]` and `TIME_SERIES_MONTHLY[_ADJUSTED]` ([`PriceBar`] records,
//! oldest first). One call per dataset, no paging: `outputsize=compact` gives the latest 100
//! points, `full` the whole history. A series asked for the days `from` to `to` keeps the bars
//! that start on those days (UTC), and without an `outputsize` asks for `compact` when `from` is
//! recent enough for the latest 100 points to hold it, else `full`.
//!
//! Quirks: throttling and key problems come back as **HTTP 200** bodies holding only `Note`,
//! `Information` or `Error Message`. `Note`, and `Information` that speaks of limits or call
//! frequency, are rate limits; an invalid/missing/demo key is an auth failure, a premium-only
//! endpoint too (the key lacks the entitlement); `Error Message` otherwise is a bad call
//! (permanent). An unrecognised `Information` is taken as a rate limit (the limit notice moved
//! between the two keys over the years). The daily-limit notice quotes the caller's key, so
//! every message is scrubbed of it. Every number is a string (`"112.1300"`, `"-0.5852%"`).
//! Series are objects keyed by date (or `YYYY-MM-DD HH:MM:SS` for intraday) in the time zone the
//! `Meta Data` names (`US/Eastern` for stocks, `UTC` for FX/crypto); bars carry the start of the
//! period in that zone, converted to UTC (a daily bar starts at local midnight, like Polygon's).
//! `GLOBAL_QUOTE` for an unknown symbol answers `{"Global Quote": {}}`: a permanent failure.
//!
//! Parsing: bodies are read straight into structs (`body`, with the lenient readers of
//! `json`, which the other JSON connectors share), not into a `serde_json::Value`; `Note`,
//! `Information` and `Error Message` are kept as text in the same pass and classified from it.
//!
//! [`Quote`]: crate::record::Quote
//! [`PriceBar`]: crate::record::PriceBar

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use memchr::memmem::Finder;

mod body;

use crate::json::{self, Obj};
use body::{Body, Notices, QuoteBody, SeriesBody, quote, series};

use crate::params::{self, Param, ParamError, Params};
use crate::record::Record;
use crate::text;
use crate::{Connector, ConnectorError, Context, ErrorClass, Group, Meta, Page, Request, Response};

pub struct AlphaVantage;

/// The functions this connector reads, and the bar interval each series carries.
const SERIES: [(&str, &str); 7] = [
    ("TIME_SERIES_INTRADAY", ""),
    ("TIME_SERIES_DAILY", "1d"),
    ("TIME_SERIES_DAILY_ADJUSTED", "1d"),
    ("TIME_SERIES_WEEKLY", "1wk"),
    ("TIME_SERIES_WEEKLY_ADJUSTED", "1wk"),
    ("TIME_SERIES_MONTHLY", "1mo"),
    ("TIME_SERIES_MONTHLY_ADJUSTED", "1mo"),
];
const INTERVALS: [&str; 5] = ["1min", "5min", "15min", "30min", "60min"];
/// Functions that take `outputsize`.
const SIZED: [&str; 3] = ["TIME_SERIES_INTRADAY", "TIME_SERIES_DAILY", "TIME_SERIES_DAILY_ADJUSTED"];

static PARAMS: [Param; 6] = [
    Param::required(
        "function",
        "GLOBAL_QUOTE, TIME_SERIES_INTRADAY, TIME_SERIES_DAILY, TIME_SERIES_DAILY_ADJUSTED, \
         TIME_SERIES_WEEKLY[_ADJUSTED] or TIME_SERIES_MONTHLY[_ADJUSTED]",
    ),
    Param::required("symbol", "ticker symbol, e.g. MSFT (upper-cased)"),
    Param::optional("interval", "bar size for TIME_SERIES_INTRADAY: 1min, 5min, 15min, 30min or 60min"),
    Param::optional("outputsize", "compact (latest 100 points, default) or full; daily and intraday series only"),
    Param::optional("from", "series only: first day of the bars kept, YYYY-MM-DD (with `to`)"),
    Param::optional("to", "series only: last day of the bars kept, YYYY-MM-DD, inclusive (with `from`)"),
];

/// Calendar days the latest 100 trading days (`outputsize=compact`) surely cover.
const COMPACT_DAYS: i64 = 140;

static META: Meta = Meta {
    id: "alpha_vantage",
    describe: "Alpha Vantage stock quotes and price series (/query, JSON)",
    group: Group::Financial,
    params: &PARAMS,
    requires_key: true,
    requires_contact: false,
    operations: &[],
};

impl Connector for AlphaVantage {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        for name in ["function", "symbol"] {
            if let Some(v) = p.get_mut(name) {
                *v = v.to_ascii_uppercase();
            }
        }
        let function = p.get("function").cloned().unwrap_or_default();
        if function != "GLOBAL_QUOTE" && !SERIES.iter().any(|(f, _)| *f == function) {
            let mut valid = vec!["GLOBAL_QUOTE"];
            valid.extend(SERIES.iter().map(|(f, _)| *f));
            return Err(ParamError::invalid("function", format!("`{function}` is not one of {}", valid.join(", "))));
        }
        if function == "TIME_SERIES_INTRADAY" {
            if !p.contains_key("interval") {
                return Err(ParamError::invalid("interval", "TIME_SERIES_INTRADAY needs an interval"));
            }
            params::one_of(p, "interval", &INTERVALS)?;
        } else if p.contains_key("interval") {
            return Err(ParamError::invalid("interval", "applies to TIME_SERIES_INTRADAY only"));
        }
        if p.contains_key("outputsize") && !SIZED.contains(&function.as_str()) {
            return Err(ParamError::invalid("outputsize", format!("applies to {} only", SIZED.join(", "))));
        }
        params::one_of(p, "outputsize", &["compact", "full"])?;
        if params::date_range(p)?.is_some() && function == "GLOBAL_QUOTE" {
            return Err(ParamError::invalid("from", "applies to the TIME_SERIES_* functions only"));
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let key = ctx.require_key(self.id())?;
        let mut req = Request::get(format!("{}/query", ctx.base_url));
        for name in ["function", "symbol", "interval", "outputsize"] {
            if let Some(v) = p.get(name) {
                req = req.query(name, v.clone());
            }
        }
        // Days asked for without a size: the latest 100 points when they surely hold them, else all.
        let function = p.get("function").map(String::as_str).unwrap_or_default();
        if let Some((from, _)) = params::date_range(p).map_err(|e| ConnectorError::permanent(e.to_string()))?
            && !p.contains_key("outputsize")
            && SIZED.contains(&function)
        {
            let recent = chrono::Utc::now().date_naive() - chrono::Days::new(COMPACT_DAYS as u64);
            req = req.query("outputsize", if from >= recent { "compact" } else { "full" });
        }
        Ok(req.secret_query("apikey", key))
    }

    fn read(&self, ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let function = p.get("function").map(String::as_str).unwrap_or_default();
        let body = if function == "GLOBAL_QUOTE" {
            json::parse::<Obj<QuoteBody>>(resp.body).map(|b| b.0.map(|q| Body::Quote(Box::new(q))))
        } else {
            json::parse::<Obj<SeriesBody>>(resp.body).map(|b| b.0.map(|s| Body::Series(Box::new(s))))
        };
        let body = match body {
            Ok(b) => b,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Alpha Vantage body: {e}")));
            }
            Err(_) => return Err(scrub_err(resp.status_error(), ctx)),
        };
        let Some(body) = body else {
            return Err(if resp.is_success() {
                ConnectorError::transient("Alpha Vantage body is not a JSON object")
            } else {
                scrub_err(resp.status_error(), ctx)
            });
        };
        if let Some(err) = notice(body.notices(), ctx) {
            let wait = resp.retry_after().or(err.retry_after);
            return Err(err.with_retry_after(wait));
        }
        if !resp.is_success() {
            return Err(scrub_err(resp.status_error(), ctx));
        }
        let symbol = p.get("symbol").map(String::as_str).unwrap_or_default();
        match body {
            Body::Quote(b) => quote(*b, symbol).map(|q| Page::last(vec![Record::Quote(q)])),
            Body::Series(b) => {
                let mut bars = series(*b, function, symbol)?;
                // Days asked for: the bars that start on them (UTC), whatever the upstream sent.
                if let Ok(Some((from, to))) = params::date_range(p) {
                    bars.retain(|r| matches!(r, Record::PriceBar(b) if (from..=to).contains(&b.time.date_naive())));
                }
                Ok(Page::last(bars))
            }
        }
    }
}

/// The words notices are told apart by, each searched for with a searcher built once.
struct Words {
    /// Together with one of `key_problem`: the key is at fault.
    key: [Finder<'static>; 2],
    key_problem: [Finder<'static>; 3],
    limit: [Finder<'static>; 7],
    per_minute: Finder<'static>,
    premium: Finder<'static>,
    /// The daily-limit notice quotes the caller's key after these words.
    quoted_key: Finder<'static>,
}

static WORDS: LazyLock<Words> = LazyLock::new(|| Words {
    key: ["apikey", "api key"].map(Finder::new),
    key_problem: ["invalid", "missing", "demo"].map(Finder::new),
    limit: ["rate limit", "call frequency", "per minute", "per day", "requests per", "calls per", "spreading out"]
        .map(Finder::new),
    per_minute: Finder::new("per minute"),
    premium: Finder::new("premium endpoint"),
    quoted_key: Finder::new(QUOTED_KEY),
});

const QUOTED_KEY: &str = "API key as ";

/// A `Note` / `Information` / `Error Message` body, classified; `None` when it has none.
fn notice(n: &Notices<'_>, ctx: &Context) -> Option<ConnectorError> {
    let (m, refused) = match (&n.error, &n.note, &n.information) {
        (Some(m), _, _) => (m, true),
        (None, Some(m), _) | (None, None, Some(m)) => (m, false),
        (None, None, None) => return None,
    };
    let m = scrub(m, ctx);
    let lower = m.to_ascii_lowercase();
    let words = &*WORDS;
    let has = |f: &Finder| f.find(lower.as_bytes()).is_some();
    let any = |fs: &[Finder]| fs.iter().any(has);
    let is_auth = || any(&words.key) && any(&words.key_problem);
    let (class, prefix, wait) = if refused {
        let class = if is_auth() { ErrorClass::Auth } else { ErrorClass::Permanent };
        (class, "Alpha Vantage refused the call: ", None)
    } else if any(&words.limit) || (n.note.is_some() && !is_auth()) {
        let wait = has(&words.per_minute).then(|| std::time::Duration::from_secs(60));
        (ErrorClass::RateLimited, "Alpha Vantage rate limit: ", wait)
    } else if is_auth() || has(&words.premium) {
        (ErrorClass::Auth, "Alpha Vantage refused the key: ", None)
    } else {
        (ErrorClass::RateLimited, "Alpha Vantage notice: ", None)
    };
    let mut message = String::with_capacity(prefix.len() + m.len() + '…'.len_utf8());
    message.push_str(prefix);
    text::push_snippet(&mut message, &m);
    Some(ConnectorError::new(class, message).with_retry_after(wait))
}

/// The configured key, and any "API key as XXXX" the upstream quotes, replaced.
fn scrub<'a>(s: &'a str, ctx: &Context) -> Cow<'a, str> {
    let mut out = match ctx.api_key {
        Some(k) => crate::redact::scrub_secret(s, k),
        None => Cow::Borrowed(s),
    };
    if let Some(i) = WORDS.quoted_key.find(out.as_bytes()) {
        let start = i + QUOTED_KEY.len();
        let end = out[start..].find(|c: char| c.is_whitespace()).map_or(out.len(), |j| start + j);
        out.to_mut().replace_range(start..end, "[redacted]");
    }
    out
}

fn scrub_err(mut e: ConnectorError, ctx: &Context) -> ConnectorError {
    if let Cow::Owned(m) = scrub(&e.message, ctx) {
        e.message = m;
    }
    e
}

/// A key without its `"05. "` ordinal.
pub(crate) fn bare(key: &str) -> &str {
    // `split_once(". ")` by hand: a two-byte pattern search is costly per key.
    let b = key.as_bytes();
    match b.windows(2).position(|w| w == b". ") {
        Some(i) if b[..i].iter().all(u8::is_ascii_digit) => &key[i + 2..],
        _ => key,
    }
}

/// A series key (`2017-08-11` or `2017-12-18 14:56:00`) in the series' zone (US Eastern when
/// `eastern` is given, else UTC), as UTC.
fn local_time(s: &str, eastern: Option<&mut Eastern>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| text::date(s).and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    let offset = eastern.map_or(0, |e| e.offset_hours(naive));
    Some(Utc.from_utc_datetime(&naive.checked_sub_signed(Duration::hours(offset))?))
}

/// UTC offsets of US Eastern time for the points of a series. The daylight-time bounds of a
/// year are worked out once and kept while the points stay in that year.
#[derive(Default)]
pub(super) struct Eastern {
    /// The year `start` and `end` are for.
    year: Option<i32>,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
}

impl Eastern {
    /// The offset at a local wall-clock time (−4 in daylight time, else −5): since 2007 DST runs
    /// from the second Sunday of March to the first Sunday of November, from 1987 to 2006 from
    /// the first Sunday of April to the last Sunday of October, both at 02:00.
    fn offset_hours(&mut self, local: NaiveDateTime) -> i64 {
        let y = local.year();
        if self.year != Some(y) {
            let sunday = |month: u32, n: u8| NaiveDate::from_weekday_of_month_opt(y, month, Weekday::Sun, n);
            let last_sunday_oct = || {
                NaiveDate::from_ymd_opt(y, 10, 31)
                    .and_then(|d| d.checked_sub_signed(Duration::days(i64::from(d.weekday().num_days_from_sunday()))))
            };
            let (start, end) =
                if y >= 2007 { (sunday(3, 2), sunday(11, 1)) } else { (sunday(4, 1), last_sunday_oct()) };
            let at2 = |d: Option<NaiveDate>| d.and_then(|d| d.and_hms_opt(2, 0, 0));
            *self = Eastern { year: Some(y), start: at2(start), end: at2(end) };
        }
        match (self.start, self.end) {
            (Some(s), Some(e)) if local >= s && local < e => -4,
            _ => -5,
        }
    }
}
