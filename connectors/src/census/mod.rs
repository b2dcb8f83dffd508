//! US Census Bureau: the data API (`/data/{year}/{dataset}`), JSON array of arrays.
//!
//! Docs: <https://www.census.gov/data/developers/guidance/api-user-guide.html> and the dataset
//! list at <https://api.census.gov/data.html>. A key is optional (`key=`, sent as a secret query
//! parameter when configured); without one the Census allows 500 queries per IP per day and at
//! most 50 variables per query. No paging: one dataset is one request.
//!
//! Parameters are the API's own: `year` (the vintage; omitted for `timeseries/...` datasets,
//! whose path is `/data/{dataset}`), `dataset` (`acs/acs5`, `dec/pl`, ...), `get` (comma-separated
//! variables or `group(...)`), `for` (`county:*`) and `in` (`state:24`, several separated by
//! spaces; a `+` separator is accepted and canonicalised to a space).
//!
//! The answer's first row is the header; every value is a string, and the geography columns
//! (`state`, `county`, `tract`, ...) are appended after the requested variables. Row order is not
//! stable between calls, so each [`Row`] is keyed by its geography (`state=24,county=001`, plus
//! `time` for time series; `row=N` only when there is no geography at all). Numeric strings become
//! JSON numbers, except geography codes, codes with leading zeros and label/code columns (`NAME`,
//! `GEO_ID`, `*_TTL`, `*_LABEL`, `*_DESC`, `NAICS*`, `SIC*`), which stay strings; suppressed
//! values arrive as `null` and stay `null`. Census sentinel estimates such as `-666666666` are kept
//! as the numbers the Bureau sent.
//!
//! Errors: **HTTP 400 with a plain-text body** such as `error: unknown variable 'X'` or
//! `error: unknown/unsupported geography heirarchy` (permanent; HTML tags are stripped from the
//! message). An invalid key is answered with an HTML "Invalid Key" page, possibly behind a 302
//! (auth). Some empty results come back as 204 No Content or an empty body: a success with no
//! records. Truncated or unparseable success bodies are transient.
//!
//! Parsing: never into a `serde_json::Value`. A table of strings and `null`s without escapes
//! (what the Census sends) is read by a small scanner of its own (`json::PlainTable`); any other
//! body with serde and the lenient readers of `crate::json`, where a table of the wrong shape is
//! still read to its end, so that a body that is not JSON at all fails as such whatever its shape
//! (both readers in `body`). Either way the header is read first, into the columns every row
//! shares (names, which key the row, which turn numeric), then each row into one table of values
//! the rows share: a [`Row`] owns its id and its place in that table, not a map of its own (that
//! model in `table`).
//!
//! [`Row`]: crate::record::Row

mod body;
mod table;

use crate::params::{Param, ParamError, Params};
use crate::text::{clean, snippet};
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// Variables the Census accepts in one query.
const MAX_VARIABLES: usize = 50;

pub struct Census;

static PARAMS: [Param; 5] = [
    Param::optional("year", "vintage year, e.g. 2018 (omit only for timeseries/... datasets)").in_path(),
    Param::required("dataset", "dataset path, e.g. acs/acs5, dec/pl or timeseries/poverty/saipe").in_path(),
    Param::required("get", "comma-separated variables (at most 50), e.g. NAME,B19013_001E or group(B19013)"),
    Param::optional("for", "geography to return, e.g. county:* or state:24"),
    Param::optional("in", "enclosing geography, e.g. state:24 or state:06 county:037"),
];

static META: Meta = Meta {
    id: "census",
    describe: "US Census Bureau data API (ACS, decennial, time series), rows keyed by geography",
    group: Group::Government,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &[],
};

impl Connector for Census {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(year) = p.get("year")
            && (year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ParamError::invalid("year", format!("`{year}` is not a four-digit year")));
        }
        if let Some(raw) = p.get("dataset") {
            let dataset = raw.trim_matches('/').to_owned();
            let ok_chars = dataset.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c));
            if dataset.is_empty() || !ok_chars || dataset.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
                return Err(ParamError::invalid("dataset", format!("`{raw}` is not a dataset path like acs/acs5")));
            }
            if !p.contains_key("year") && !dataset.starts_with("timeseries/") {
                return Err(ParamError::invalid("year", "required except for timeseries/... datasets"));
            }
            p.insert("dataset".into(), dataset);
        }
        if let Some(raw) = p.get("get") {
            let vars: Vec<&str> = raw.split(',').map(str::trim).collect();
            if vars.iter().any(|v| v.is_empty()) {
                return Err(ParamError::invalid("get", format!("`{raw}` has an empty variable name")));
            }
            if vars.len() > MAX_VARIABLES {
                return Err(ParamError::invalid(
                    "get",
                    format!("{} variables; the Census allows {MAX_VARIABLES}", vars.len()),
                ));
            }
            let get = vars.join(",");
            p.insert("get".into(), get);
        }
        for name in ["for", "in"] {
            if let Some(v) = p.get(name) {
                let v = clean(&v.replace('+', " "));
                p.insert(name.into(), v);
            }
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let dataset = p.get("dataset").ok_or_else(|| ConnectorError::permanent("census needs a dataset"))?;
        // A dataset is a path of its own (`timeseries/poverty/saipe`): each part is one segment.
        let dataset = dataset
            .split('/')
            .map(|part| crate::path::segment("dataset", part))
            .collect::<Result<Vec<_>, _>>()?
            .join("/");
        let url = match p.get("year") {
            Some(year) => format!("{}/data/{}/{dataset}", ctx.base_url, crate::path::segment("year", year)?),
            None => format!("{}/data/{dataset}", ctx.base_url),
        };
        let mut req = Request::get(url);
        for name in ["get", "for", "in"] {
            if let Some(v) = p.get(name) {
                req = req.query(name, v.clone());
            }
        }
        if let Some(key) = ctx.api_key.filter(|k| !k.trim().is_empty()) {
            req = req.secret_query("key", key);
        }
        Ok(req)
    }

    fn read(&self, _ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if !resp.is_success() {
            return Err(failure(resp));
        }
        if resp.status == 204 || resp.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Page::last(Vec::new()));
        }
        if let Some(records) = body::plain(p, resp.body) {
            return Ok(Page::last(records));
        }
        match body::parse(p, resp.body) {
            Ok(rows) => rows.map(Page::last),
            Err(_) if is_refusal(&resp.text()) => Err(failure(resp)),
            Err(e) => Err(ConnectorError::transient(format!("unreadable Census JSON: {e}"))),
        }
    }
}

/// Whether a non-JSON body is a Census refusal rather than a broken answer.
fn is_refusal(text: &str) -> bool {
    let t = text.trim_start().to_ascii_lowercase();
    t.starts_with("error") || t.contains("invalid key")
}

/// Classify a failure: the key page, the plain-text `error: ...` refusals, or the bare status.
fn failure(resp: &Response) -> ConnectorError {
    let text = strip_tags(&resp.text());
    let redirect_to_key_page = (300..400).contains(&resp.status)
        && resp.header("location").is_some_and(|l| l.to_ascii_lowercase().contains("key"));
    if redirect_to_key_page || text.to_ascii_lowercase().contains("invalid key") {
        return ConnectorError::auth(format!(
            "HTTP {}: the Census rejected the API key; check APIARY_CONNECTORS__CENSUS__API_KEY",
            resp.status
        ));
    }
    match resp.status {
        200..=299 | 400 | 404 if !text.trim().is_empty() => {
            ConnectorError::permanent(format!("HTTP {}: the Census refused the query: {}", resp.status, snippet(&text)))
        }
        _ => ConnectorError::from_status(resp.status, &text).with_retry_after(resp.retry_after()),
    }
}

/// Text with HTML tags removed, as the Census sometimes wraps its messages in markup.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    clean(&out)
}
