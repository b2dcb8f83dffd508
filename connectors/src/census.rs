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
//! Parsing: the table is read straight into rows of cells borrowed from the body (with the
//! lenient readers of `crate::json`), not into a `serde_json::Value`.
//!
//! [`Row`]: crate::record::Row

use std::collections::BTreeMap;

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::json::{self, List};
use crate::params::{Param, ParamError, Params};
use crate::record::{Record, Row};
use crate::text::{clean, snippet};
use crate::{Connector, ConnectorError, Context, Group, Page, Request, Response};

/// Variables the Census accepts in one query.
const MAX_VARIABLES: usize = 50;

pub struct Census;

static PARAMS: [Param; 5] = [
    Param::optional("year", "vintage year, e.g. 2018 (omit only for timeseries/... datasets)"),
    Param::required("dataset", "dataset path, e.g. acs/acs5, dec/pl or timeseries/poverty/saipe"),
    Param::required("get", "comma-separated variables (at most 50), e.g. NAME,B19013_001E or group(B19013)"),
    Param::optional("for", "geography to return, e.g. county:* or state:24"),
    Param::optional("in", "enclosing geography, e.g. state:24 or state:06 county:037"),
];

impl Connector for Census {
    fn id(&self) -> &'static str {
        "census"
    }
    fn describe(&self) -> &'static str {
        "US Census Bureau data API (ACS, decennial, time series), rows keyed by geography"
    }
    fn group(&self) -> Group {
        Group::Government
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
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
        let url = match p.get("year") {
            Some(year) => format!("{}/data/{year}/{dataset}", ctx.base_url),
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
        let table: List<List<Cell>> = match json::parse(resp.body) {
            Ok(v) => v,
            Err(_) if is_refusal(&resp.text()) => return Err(failure(resp)),
            Err(e) => return Err(ConnectorError::transient(format!("unreadable Census JSON: {e}"))),
        };
        rows(p, table).map(Page::last)
    }
}

/// One cell of the table: text (borrowed where it can be), or any other JSON value as it is.
enum Cell<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::Null))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Cell::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(Cell::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl Cell<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            Cell::Other(_) => None,
        }
    }

    /// The cell as a record value.
    fn to_value(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone().into_owned()),
            Cell::Other(v) => v.clone(),
        }
    }

    /// The cell as it appears in a row id.
    fn push_text(&self, out: &mut String) {
        match self {
            Cell::Text(s) => out.push_str(s),
            Cell::Other(Value::Null) => {}
            Cell::Other(v) => out.push_str(&v.to_string()),
        }
    }
}

/// The table as rows keyed by geography.
fn rows(p: &Params, table: List<List<Cell>>) -> Result<Vec<Record>, ConnectorError> {
    let shape = |what: &str| ConnectorError::transient(format!("unexpected Census body: {what}"));
    let table = table.0.ok_or_else(|| shape("not an array of rows"))?;
    let Some((header, data)) = table.split_first() else { return Ok(Vec::new()) };
    let header: Vec<&str> = header
        .0
        .as_ref()
        .ok_or_else(|| shape("header is not an array"))?
        .iter()
        .map(|h| h.as_str().ok_or_else(|| shape("header name is not a string")))
        .collect::<Result<_, _>>()?;
    let keys = key_columns(p, &header);
    // Per column: whether it keys the row, and whether numeric text becomes a number.
    let columns: Vec<(bool, bool)> = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let is_key = keys.contains(&i);
            (is_key, !is_key && !is_text_column(name))
        })
        .collect();
    let mut records = Vec::with_capacity(data.len());
    for (n, row) in data.iter().enumerate() {
        let cells = row.0.as_ref().ok_or_else(|| shape("row is not an array"))?;
        if cells.len() != header.len() {
            return Err(shape(&format!("row {} has {} values for {} columns", n + 1, cells.len(), header.len())));
        }
        let mut values = BTreeMap::new();
        let mut id = String::new();
        for ((name, cell), (is_key, numeric_ok)) in header.iter().zip(cells).zip(&columns) {
            if *is_key {
                if !id.is_empty() {
                    id.push(',');
                }
                id.push_str(name);
                id.push('=');
                cell.push_text(&mut id);
            }
            if values.contains_key(*name) {
                continue;
            }
            let value = match cell {
                Cell::Text(s) if *numeric_ok => numeric(s).map_or_else(|| cell.to_value(), Value::Number),
                _ => cell.to_value(),
            };
            values.insert((*name).to_owned(), value);
        }
        let id = if id.is_empty() { format!("row={}", n + 1) } else { id };
        records.push(Record::Row(Row { source: "census".into(), id, values }));
    }
    Ok(records)
}

/// Columns that key a row: geography columns, and `time` for time series, in header order.
///
/// Geography columns are the ones the `for`/`in` clauses name, plus any lower-case column that is
/// not a requested variable (the Census names geographies in lower case — `state`,
/// `county subdivision` — and variables in upper case, and appends enclosing geographies such as
/// `state` even when `in` is not given).
fn key_columns(p: &Params, header: &[&str]) -> Vec<usize> {
    let requested: Vec<&str> = p.get("get").map(|g| g.split(',').collect()).unwrap_or_default();
    let clauses = [p.get("for"), p.get("in")];
    let named: Vec<&str> = clauses.iter().flatten().flat_map(|c| clause_names(c)).collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut keys = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let lower = !name.chars().any(|c| c.is_ascii_uppercase()) && name.chars().any(|c| c.is_ascii_alphabetic());
        let geo = named.contains(name) || (lower && !requested.contains(name));
        if (geo || *name == "time") && !seen.contains(name) {
            seen.push(name);
            keys.push(i);
        }
    }
    keys
}

/// The geography names of a `for`/`in` clause: `state:06 county:037` → `state`, `county`.
/// Names may contain spaces (`county subdivision:*`), so split on the values, not on spaces.
fn clause_names(clause: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = clause;
    while let Some(colon) = rest.find(':') {
        let name = rest.get(..colon).unwrap_or_default().trim();
        if !name.is_empty() {
            names.push(name);
        }
        let after = rest.get(colon + 1..).unwrap_or_default();
        // The value runs to the next space; the next name starts after it.
        rest = after.find(' ').and_then(|sp| after.get(sp + 1..)).unwrap_or_default();
    }
    names
}

/// Columns of labels and codes that must stay strings even when they look numeric.
fn is_text_column(name: &str) -> bool {
    matches!(name, "NAME" | "GEO_ID" | "GEOID" | "GEOCOMP" | "SUMLEVEL")
        || ["_TTL", "_LABEL", "_DESC", "_NAME"].iter().any(|s| name.ends_with(s))
        || name.starts_with("NAICS")
        || name.starts_with("SIC")
}

/// A plain numeric string as a JSON number (integers stay integers); codes with leading zeros
/// (`007`) and anything else stay strings.
fn numeric(s: &str) -> Option<Number> {
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let mut chars = digits.chars();
    if chars.next() == Some('0') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(Number::from(n));
    }
    t.parse::<f64>().ok().and_then(Number::from_f64)
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
