//! Polygon.io (rebranded "Massive" in late 2025): aggregate bars,
//! `/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`, JSON.
//!
//! Docs: <https://polygon.io/docs/stocks/get_v2_aggs_ticker__stocksticker__range__multiplier___timespan___from___to>.
//! Auth is the mandatory `apiKey` query parameter (sent as a secret, never logged; the API also
//! takes `Authorization: Bearer`). The free plan allows 5 requests a minute and end-of-day data;
//! paid plans are unlimited.
//!
//! Body: `status` (`OK`, or `DELAYED` for plans on delayed data — both successes), `ticker`,
//! `queryCount`, `resultsCount`, `adjusted`, `request_id` and `results[]` of bars with short keys
//! (`t` ms epoch = start of the bar, `o`/`h`/`l`/`c`/`v`, `vw`, `n`; `T` the ticker on grouped and
//! `prev` answers). A range with no bars omits `results`: a success with no records. Items
//! without a `t` cannot be bars and are skipped. Daily bars start at midnight New York time.
//!
//! Paging: when a range holds more base aggregates than `limit` (default 5000, at most 50000)
//! the body carries an opaque `next_url` with a `cursor`. It is followed, its host replaced by the
//! configured root (so fakes and proxies work) and the key re-added as a secret, up to the
//! fetch's page bound. A default call makes exactly one request.
//!
//! Errors: `{"status":"ERROR","request_id","error":"..."}` — 429 "You've exceeded the maximum
//! requests per minute" is a rate limit, 401 "Unknown API Key" and 403 `NOT_AUTHORIZED` (data
//! outside the plan) are auth failures, 400 / `NOT_FOUND` are permanent, 5xx transient. Some
//! bodies carry `message` rather than `error`.
//!
//! Parsing: bodies are read straight into structs (with the lenient readers of
//! `crate::json`), not into a `serde_json::Value`; failures are read again as a `Value` to classify them.

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::json::{self, F64, JNum, List, Obj, Str, object};
use crate::params::{self, Param, ParamError, Params};
use crate::record::{PriceBar, Record};
use crate::text::{self, snippet};
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

pub struct Polygon;

const TIMESPANS: [&str; 8] = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];
const MAX_LIMIT: u64 = 50_000;

static PARAMS: [Param; 7] = [
    Param::required("ticker", "ticker, e.g. AAPL, X:BTCUSD, C:EURUSD, O:SPY251219C00650000 (upper-cased)").in_path(),
    Param::required("multiplier", "bar size in timespans, e.g. 1 (with timespan=day: daily bars)").in_path(),
    Param::required("timespan", "second, minute, hour, day, week, month, quarter or year").in_path(),
    Param::required("from", "first bar: YYYY-MM-DD or a millisecond timestamp").in_path(),
    Param::required("to", "last bar: YYYY-MM-DD or a millisecond timestamp").in_path(),
    Param::optional("adjusted", "true (default) for split-adjusted bars, false for raw"),
    Param::optional("limit", "base aggregates per page, 1..=50000 (upstream default 5000)"),
];

static META: Meta = Meta {
    id: "polygon",
    describe: "Polygon.io (Massive) aggregate price bars (/v2/aggs, JSON)",
    group: Group::Financial,
    params: &PARAMS,
    requires_key: true,
    requires_contact: false,
    operations: &[],
};

impl Connector for Polygon {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(t) = p.get_mut("ticker") {
            *t = t.to_ascii_uppercase();
            if t.contains(['/', '?', '#']) || t.chars().any(char::is_whitespace) {
                return Err(ParamError::invalid("ticker", "must be one ticker (no spaces, `/`, `?` or `#`)"));
            }
        }
        for name in ["timespan", "adjusted"] {
            if let Some(v) = p.get_mut(name) {
                *v = v.to_ascii_lowercase();
            }
        }
        if params::number(p, "multiplier")? == Some(0) {
            return Err(ParamError::invalid("multiplier", "must be at least 1"));
        }
        params::one_of(p, "timespan", &TIMESPANS)?;
        params::one_of(p, "adjusted", &["true", "false"])?;
        if let Some(n) = params::number(p, "limit")?
            && (n == 0 || n > MAX_LIMIT)
        {
            return Err(ParamError::invalid("limit", format!("must be 1..={MAX_LIMIT}")));
        }
        let when = |name: &str| -> Result<Option<i64>, ParamError> {
            let Some(v) = p.get(name) else { return Ok(None) };
            if let Some(d) = text::date(v).and_then(|d| d.and_hms_opt(0, 0, 0)) {
                return Ok(Some(d.and_utc().timestamp_millis()));
            }
            match v.parse::<i64>() {
                Ok(ms) if v.len() >= 10 && ms >= 0 => Ok(Some(ms)),
                _ => Err(ParamError::invalid(name, format!("`{v}` is neither YYYY-MM-DD nor a millisecond timestamp"))),
            }
        };
        if let (Some(from), Some(to)) = (when("from")?, when("to")?)
            && from > to
        {
            return Err(ParamError::invalid("from", "is after `to`"));
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let key = ctx.require_key(self.id())?;
        // Each value is one segment; the ticker keeps its `:` (`X:BTCUSD`, `O:SPY...`, `I:SPX`).
        let seg = |name: &str, keep: &[u8]| {
            crate::path::segment_keeping(name, p.get(name).map(String::as_str).unwrap_or_default(), keep)
        };
        let url = format!(
            "{}/v2/aggs/ticker/{}/range/{}/{}/{}/{}",
            ctx.base_url,
            seg("ticker", b":")?,
            seg("multiplier", b"")?,
            seg("timespan", b"")?,
            seg("from", b"")?,
            seg("to", b"")?,
        );
        let mut req = Request::get(url);
        for name in ["adjusted", "limit"] {
            if let Some(v) = p.get(name) {
                req = req.query(name, v.clone());
            }
        }
        Ok(req.query("sort", "asc").secret_query("apiKey", key))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let body: Body = match json::parse::<Obj<Body>>(resp.body) {
            Ok(b) => b.0.unwrap_or_default(),
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Polygon body: {e}")));
            }
            Err(_) => return Err(scrub(resp.status_error(), ctx)),
        };
        let status = body.status.get().unwrap_or("");
        if !resp.is_success() || !matches!(status, "OK" | "DELAYED") {
            // Rare: read the failure from a `Value`, whatever types its fields have.
            let value: Value = serde_json::from_slice(resp.body).unwrap_or(Value::Null);
            return Err(scrub(classify(&value, status, resp), ctx));
        }
        let symbol = body.ticker.get().or_else(|| p.get("ticker").map(String::as_str)).unwrap_or_default();
        let interval = interval(p);
        let records = body
            .results
            .items()
            .iter()
            .filter_map(|r| bar(r.0.as_ref()?, symbol, &interval))
            .map(Record::PriceBar)
            .collect();
        let next = body
            .next_url
            .get()
            .filter(|u| !u.trim().is_empty() && req.index + 1 < ctx.max_pages)
            .and_then(|u| next_request(ctx, req, u));
        Ok(Page { records, next })
    }
}

object! {
    /// An aggregates body; failures are read again as a `Value` by [`classify`].
    struct Body<'a> {
        "status" => status: Str<'a>,
        "ticker" => ticker: Str<'a>,
        "results" => results: List<Obj<Bar<'a>>>,
        "next_url" => next_url: Str<'a>,
    }
}

object! {
    /// One bar: `t` ms epoch, `o`/`h`/`l`/`c`/`v`, and `T` the ticker on grouped answers.
    struct Bar<'a> {
        "t" => t: F64,
        "T" => ticker: Str<'a>,
        "o" => open: JNum,
        "h" => high: JNum,
        "l" => low: JNum,
        "c" => close: JNum,
        "v" => volume: JNum,
    }
}

/// A failure body (or a success status with an unexpected `status`), classified.
fn classify(body: &Value, status: &str, resp: &Response) -> ConnectorError {
    let detail = ["error", "message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(snippet)
        .unwrap_or_else(|| snippet(&resp.text()));
    let msg = format!("Polygon HTTP {} {status}: {detail}", resp.status);
    let lower = detail.to_ascii_lowercase();
    let err = if resp.status == 429 || lower.contains("exceeded the maximum requests") {
        ConnectorError::rate_limited(msg)
    } else if status == "NOT_AUTHORIZED" || matches!(resp.status, 401 | 403) || lower.contains("api key") {
        ConnectorError::auth(msg)
    } else if resp.is_success() && status.is_empty() {
        ConnectorError::transient(format!("Polygon body without `status`: {detail}"))
    } else if resp.is_success() {
        ConnectorError::permanent(msg)
    } else {
        let mut e = ConnectorError::from_status(resp.status, "");
        e.message = msg;
        e
    };
    err.with_retry_after(resp.retry_after())
}

/// Never let the key reach a message, even if an upstream echoes it.
fn scrub(mut e: ConnectorError, ctx: &Context) -> ConnectorError {
    if let Some(k) = ctx.api_key
        && let std::borrow::Cow::Owned(m) = crate::redact::scrub_secret(&e.message, k)
    {
        e.message = m;
    }
    e
}

fn bar(r: &Bar<'_>, symbol: &str, interval: &Option<String>) -> Option<PriceBar> {
    let time = text::epoch(r.t.0? as i64, true)?;
    Some(PriceBar {
        source: "polygon".into(),
        symbol: r.ticker.get().unwrap_or(symbol).to_owned(),
        time,
        open: r.open.0,
        high: r.high.0,
        low: r.low.0,
        close: r.close.0,
        volume: r.volume.0,
        interval: interval.clone(),
    })
}

/// `multiplier` × `timespan` in the vocabulary apiary's price bars share (`1min`, `60min`,
/// `1d`, `1wk`, `1mo`, `1y`; hours as minutes, quarters as months).
fn interval(p: &Params) -> Option<String> {
    let n: u64 = p.get("multiplier")?.parse().ok()?;
    Some(match p.get("timespan")?.as_str() {
        "second" => format!("{n}s"),
        "minute" => format!("{n}min"),
        "hour" => format!("{}min", n.saturating_mul(60)),
        "day" => format!("{n}d"),
        "week" => format!("{n}wk"),
        "month" => format!("{n}mo"),
        "quarter" => format!("{}mo", n.saturating_mul(3)),
        "year" => format!("{n}y"),
        _ => return None,
    })
}

/// The request for a `next_url`: its path and query on the configured root, the key as a secret.
fn next_request(ctx: &Context, prev: &Request, next_url: &str) -> Option<Request> {
    let rest = match next_url.split_once("://") {
        Some((_, after_scheme)) => &after_scheme[after_scheme.find('/')?..],
        None if next_url.starts_with('/') => next_url,
        None => return None,
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // The key goes along: a `next_url` whose path would climb out of itself is not followed.
    if path.split('/').skip(1).any(|s| crate::path::check_segment("next_url", s).is_err()) {
        return None;
    }
    let mut req = Request::get(format!("{}{path}", ctx.base_url)).with_secrets_of(prev).after(prev);
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode_str(k).decode_utf8_lossy();
        if k.eq_ignore_ascii_case("apikey") {
            continue;
        }
        req = req.query(&k, percent_decode_str(v).decode_utf8_lossy());
    }
    Some(req)
}
