//! CrossRef: the REST API `/works` (search) and `/works/{doi}` (one work), JSON.
//!
//! Docs: <https://api.crossref.org/swagger-ui/index.html> and
//! <https://www.crossref.org/documentation/retrieve-metadata/rest-api/tips-for-using-the-crossref-rest-api/>.
//! No key. Callers who identify themselves (a `mailto` parameter, or `mailto:` in the
//! User-Agent) go to the "polite" pool — 10 requests/s in the recorded `X-Rate-Limit-*` headers
//! against 5/s in the public pool; both are sent once `APIARY_CONTACT_EMAIL` is set. A configured
//! key is sent as a Metadata Plus token (`Crossref-Plus-API-Token: Bearer ...`, a secret header).
//!
//! A DOI is sent as one path segment, its `/` as `%2F` (CrossRef decodes it), so no DOI can name
//! another path (`crate::path`).
//!
//! Paging: `rows` (default 20, at most 1000) is the page size. A fetch makes one request unless
//! `cursor` is given (`cursor=*` to start deep paging); then it follows `message.next-cursor` while
//! pages come back full, up to the worker's page bound.
//!
//! Quirks: the envelope is `{"status":"ok","message-type":"work-list"|"work","message":...}`.
//! Errors are mixed: an unknown DOI gives **404 `text/plain` "Resource not found."** (not JSON); a
//! bad cursor gives 404 JSON `resource-failure`/`cursor-invalid`; bad parameters give 400 JSON
//! `validation-failure` with a list of messages. All three are permanent. Abstracts are JATS XML
//! fragments; records carry them as plain single-spaced text. Dates are `date-parts` arrays that
//! may hold only a year, or `[[null]]`.
//!
//! Parsing: success bodies are read straight into structs (`work`, with the lenient readers of
//! `crate::json`), not into a `serde_json::Value`; refusals are read again as a `Value`.

use serde_json::Value;

mod work;

use work::{Body, paper};

use crate::json::{self, Obj};
use crate::params::{self, Param, ParamError, Params};
use crate::record::Record;
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// CrossRef's own default page size.
const DEFAULT_ROWS: u64 = 20;
/// CrossRef's largest page.
const MAX_ROWS: u64 = 1000;

pub struct Crossref;

static PARAMS: [Param; 5] = [
    Param::optional("query", "free-text search over titles, authors, ISSNs, etc."),
    Param::optional("filter", "CrossRef filters, e.g. from-pub-date:2020-01-01,type:journal-article"),
    Param::optional("rows", "works per page (default 20, at most 1000)"),
    Param::optional("cursor", "deep paging: `*` to start, then follows next-cursor while pages are full"),
    Param::optional("doi", "one work by DOI (instead of a search); any of 10.x/y, doi:10.x/y, https://doi.org/10.x/y")
        .in_path(),
];

static META: Meta = Meta {
    id: "crossref",
    describe: "CrossRef DOI metadata for scholarly works (REST /works)",
    group: Group::Research,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &[],
};

impl Connector for Crossref {
    fn meta(&self) -> &'static Meta {
        &META
    }

    // requires_key/requires_contact keep the defaults (false): No key is needed (a Metadata Plus token is used if configured); identification is sent when configured.

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(doi) = p.get("doi") {
            if ["query", "filter", "rows", "cursor"].iter().any(|k| p.contains_key(*k)) {
                return Err(ParamError::invalid("doi", "a DOI lookup takes no query, filter, rows or cursor"));
            }
            let doi = canonical_doi(doi)?;
            p.insert("doi".into(), doi);
            return Ok(());
        }
        if !p.contains_key("query") && !p.contains_key("filter") {
            return Err(ParamError::invalid("query", "one of query, filter or doi is required"));
        }
        if let Some(n) = params::number(p, "rows")?
            && (n == 0 || n > MAX_ROWS)
        {
            return Err(ParamError::invalid("rows", format!("must be 1..={MAX_ROWS}")));
        }
        if let Some(f) = p.get("filter") {
            let f = f.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",");
            p.insert("filter".into(), f);
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        if let Some(doi) = p.get("doi") {
            // One segment: the DOI's own `/` goes as `%2F`, which CrossRef decodes.
            let path = crate::path::segment("doi", doi)?;
            return Ok(identify(ctx, Request::get(format!("{}/works/{path}", ctx.base_url))));
        }
        Ok(list_request(ctx, p, p.get("cursor").map(String::as_str)))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if resp.status == 429 || resp.status >= 500 {
            return Err(resp.status_error());
        }
        let body: Body = match json::parse::<Obj<Body>>(resp.body) {
            Ok(b) => b.0.unwrap_or_default(),
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable CrossRef JSON: {e}")));
            }
            // 404 text/plain "Resource not found." and other non-JSON refusals.
            Err(_) => return Err(resp.status_error()),
        };
        if body.status.get() != Some("ok") {
            // Rare: read the refusal from a `Value`, whatever shape its message has.
            let value: Value = serde_json::from_slice(resp.body).unwrap_or(Value::Null);
            return Err(refusal(&value, resp));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let message = body.message.0.unwrap_or_default();
        match body.message_type.get() {
            Some("work") => Ok(Page::last(paper(&message.work).into_iter().collect())),
            Some("work-list") => {
                let items =
                    message.items.0.ok_or_else(|| ConnectorError::transient("CrossRef work-list without items"))?;
                let records: Vec<Record> = items.iter().filter_map(|w| paper(w.0.as_ref()?)).collect();
                let next = next_page(ctx, p, req, message.next_cursor.get(), items.len());
                Ok(Page { records, next })
            }
            other => Err(ConnectorError::transient(format!("unexpected CrossRef message-type {other:?}"))),
        }
    }
}

fn rows(p: &Params) -> u64 {
    p.get("rows").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_ROWS)
}

fn list_request(ctx: &Context, p: &Params, cursor: Option<&str>) -> Request {
    let mut req = Request::get(format!("{}/works", ctx.base_url));
    for name in ["query", "filter"] {
        if let Some(v) = p.get(name) {
            req = req.query(name, v.clone());
        }
    }
    req = req.query("rows", rows(p).to_string());
    if let Some(c) = cursor {
        req = req.query("cursor", c);
    }
    identify(ctx, req)
}

/// Deep paging: only when the caller asked for a cursor, the page was full and a new cursor came.
fn next_page(ctx: &Context, p: &Params, req: &Request, next: Option<&str>, got: usize) -> Option<Request> {
    let current = req.query_value("cursor")?;
    let next = next.filter(|c| !c.is_empty() && *c != current)?;
    (got as u64 >= rows(p) && req.index + 1 < ctx.max_pages).then(|| list_request(ctx, p, Some(next)).after(req))
}

/// `mailto` and a User-Agent naming the contact (the polite pool); the Plus token as a secret.
fn identify(ctx: &Context, mut req: Request) -> Request {
    if let Some(email) = ctx.contact_email.map(str::trim).filter(|e| !e.is_empty()) {
        req = req.query("mailto", email).header("User-Agent", format!("apiary/0.1 (mailto:{email})"));
    }
    if let Some(key) = ctx.api_key.filter(|k| !k.is_empty()) {
        req = req.secret_header("Crossref-Plus-API-Token", &format!("Bearer {key}"));
    }
    req
}

/// A `{"status":"failed", "message-type": ..., "message": [{type, value, message}]}` body.
fn refusal(body: &Value, resp: &Response) -> ConnectorError {
    let kind = body.get("message-type").and_then(Value::as_str).unwrap_or("error");
    let detail = match body.get("message") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|m| {
                let text = m.get("message").and_then(Value::as_str).unwrap_or("");
                match m.get("type").and_then(Value::as_str) {
                    Some(t) => format!("{t}: {text}"),
                    None => text.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let msg = format!("CrossRef refused the request ({kind}): {}", crate::text::snippet(&detail));
    match resp.status {
        401 | 403 => ConnectorError::auth(msg),
        _ => ConnectorError::permanent(msg),
    }
}

fn canonical_doi(raw: &str) -> Result<String, ParamError> {
    let mut doi = raw.trim();
    for prefix in ["https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"] {
        if let Some(head) = doi.get(..prefix.len()).filter(|h| h.eq_ignore_ascii_case(prefix)) {
            doi = doi[head.len()..].trim();
        }
    }
    if !doi.starts_with("10.") || !doi.contains('/') {
        return Err(ParamError::invalid("doi", format!("`{raw}` is not a DOI (10.prefix/suffix)")));
    }
    // DOIs are case-insensitive: one canonical form, one dataset key.
    Ok(doi.to_lowercase())
}
