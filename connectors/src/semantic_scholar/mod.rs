//! Semantic Scholar: the Graph API paper search (`/graph/v1/paper/search`) and paper details
//! (`/graph/v1/paper/{paper_id}`), JSON.
//!
//! Docs: <https://api.semanticscholar.org/api-docs/graph>. The key is optional and goes in the
//! `x-api-key` header (a secret). Without one, callers share a pool that answers **429** JSON
//! (`{"message": "Too Many Requests...", "code": "429"}`) in bursts, even below the published
//! limit; S2 staff advise backing off. With a key the introductory limit is 1 request/s.
//!
//! A paper id is sent as one path segment: a DOI's `/` as `%2F`, the `:` of `DOI:`-style prefixes
//! as it is (`crate::path`).
//!
//! Paging: `offset`/`limit`; a page holds at most 100 papers and the body carries `total`,
//! `offset` and `next` (absent on the last page). `limit` here is the number of papers the dataset
//! wants (default 100, S2's own page default, so a default fetch is one request); more than 100
//! are fetched page by page following `next`. Relevance search serves at most 1,000 results, so
//! `offset + limit` may not exceed 1,000. Without `fields` S2 returns only ids and titles; this
//! connector asks for the fields a paper record holds unless the caller names others.
//!
//! Quirks: errors are JSON with an `error` key — 404 `Paper with id 0 not found`, 404 `Title match
//! not found`, 400 `Unrecognized or unsupported fields: [...]` (all permanent) — except a bad key,
//! which gets a gateway-style 403 `{"message":"Forbidden"}` (auth). Batch bodies (a JSON array with
//! `null` for unknown ids), `/paper/search/match` and `/paper/search/bulk` bodies are read too.
//!
//! Parsing: bodies are read straight into structs (`body`, with the lenient readers of
//! `crate::json`), each paper made a record as it is read, not into a `serde_json::Value`; failures are
//! read again as a `Value` for their message.

use serde_json::Value;

mod body;

use body::{Body, BodySeed};

use crate::json::{self, Seed};
use crate::params::{self, Param, ParamError, Params};
use crate::text::clean;
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// S2's page size cap and default.
const PAGE_SIZE: u64 = 100;
/// Relevance search serves at most this many results (offset + limit).
const SEARCH_WINDOW: u64 = 1000;
/// What a paper record holds, asked for when the caller names no fields.
const DEFAULT_FIELDS: &str =
    "title,authors,abstract,year,publicationDate,externalIds,url,venue,journal,openAccessPdf,fieldsOfStudy";
const API: &str = "/graph/v1";
/// A paper's page, when the body gives no `url`.
const S2_PAPER_URL: &str = "https://www.semanticscholar.org/paper/";

pub struct SemanticScholar;

static PARAMS: [Param; 5] = [
    Param::optional("query", "plain-text paper search"),
    Param::optional("fields", "comma-separated paper fields (default: those a paper record holds)"),
    Param::optional("limit", "papers to fetch, paged by 100 (default 100; offset + limit at most 1000)"),
    Param::optional("offset", "index of the first result (default 0)"),
    Param::optional("paper_id", "one paper (instead of query): S2 id, DOI:..., ARXIV:..., PMID:..., CorpusId:...")
        .in_path(),
];

static META: Meta = Meta {
    id: "semantic_scholar",
    describe: "Semantic Scholar papers (Graph API search and paper details)",
    group: Group::Research,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &["search", "paper"],
};

impl Connector for SemanticScholar {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// One paper's title by its arXiv id.
    fn probe(&self) -> Option<&'static [(&'static str, &'static str)]> {
        Some(&[("paper_id", "ARXIV:1605.08386"), ("fields", "title")])
    }

    // requires_key/requires_contact keep the defaults (false): The key is optional (it raises the limit); S2 asks for no identification.

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        params::exactly_one(p, &["query", "paper_id"])?;
        if let Some(f) = p.get("fields") {
            let mut fields: Vec<&str> = f.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            fields.sort_unstable();
            fields.dedup();
            let fields = fields.join(",");
            if fields.is_empty() {
                p.remove("fields");
            } else {
                p.insert("fields".into(), fields);
            }
        }
        if let Some(id) = p.get("paper_id") {
            if p.contains_key("limit") || p.contains_key("offset") {
                return Err(ParamError::invalid("paper_id", "limit and offset apply to a query only"));
            }
            let id = canonical_id(id);
            p.insert("paper_id".into(), id);
            return Ok(());
        }
        let limit = params::number(p, "limit")?.unwrap_or(PAGE_SIZE);
        let offset = params::number(p, "offset")?.unwrap_or(0);
        if limit == 0 || offset.saturating_add(limit) > SEARCH_WINDOW {
            return Err(ParamError::invalid(
                "limit",
                format!("limit must be 1.. and offset + limit at most {SEARCH_WINDOW}"),
            ));
        }
        if let Some(q) = p.get("query") {
            let q = clean(q);
            p.insert("query".into(), q);
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let fields = p.get("fields").map_or(DEFAULT_FIELDS, String::as_str);
        if let Some(id) = p.get("paper_id") {
            // One segment: a DOI's `/` goes as `%2F`; the `:` of S2's `DOI:`/`ARXIV:` prefixes stays.
            let path = crate::path::segment_keeping("paper_id", id, b":")?;
            let req = Request::get(format!("{}{API}/paper/{path}", ctx.base_url)).step("paper").query("fields", fields);
            return Ok(with_key(ctx, req));
        }
        Ok(search_request(ctx, p, first_offset(p), wanted(p)))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        // A search page holds as many papers as it was asked for, but the last.
        let expected = match req.step {
            "search" => req.query_value("limit").and_then(|s| s.parse().ok()).unwrap_or(0).min(PAGE_SIZE),
            _ => 0,
        };
        let body: Body = match json::parse_seed(resp.body, Seed(BodySeed { expected: expected as usize })) {
            Ok(v) => v,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Semantic Scholar JSON: {e}")));
            }
            Err(_) => return Err(scrubbed(resp.status_error(), ctx)),
        };
        if !resp.is_success() {
            // Rare: read the failure from a `Value`, whatever types its fields have.
            let value: Value = serde_json::from_slice(resp.body).unwrap_or(Value::Null);
            let detail = ["error", "message"]
                .iter()
                .find_map(|k| value.get(*k).and_then(Value::as_str))
                .map_or_else(|| resp.text().into_owned(), str::to_owned);
            let err = ConnectorError::from_status(resp.status, &format!("Semantic Scholar: {detail}"))
                .with_retry_after(resp.retry_after());
            return Err(scrubbed(err, ctx));
        }
        match body {
            // POST /paper/batch: one entry per id asked, null for unknown ids.
            Body::List(list) => Ok(Page::last(list.records)),
            Body::Object(obj) if obj.data.0.is_some() => {
                let data = obj.data.0.unwrap_or_default();
                let records = data.records;
                let next = if req.step == "search" && data.len > 0 { next_page(ctx, p, req, obj.next.0) } else { None };
                Ok(Page { records, next })
            }
            Body::Object(obj) if obj.has_paper_id => Ok(Page::last(obj.paper().into_iter().collect())),
            _ => Err(ConnectorError::transient(format!(
                "unexpected Semantic Scholar body: {}",
                crate::text::snippet(&resp.text())
            ))),
        }
    }
}

fn wanted(p: &Params) -> u64 {
    p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(PAGE_SIZE)
}

fn first_offset(p: &Params) -> u64 {
    p.get("offset").and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn search_request(ctx: &Context, p: &Params, offset: u64, remaining: u64) -> Request {
    let mut req = Request::get(format!("{}{API}/paper/search", ctx.base_url)).step("search");
    if let Some(q) = p.get("query") {
        req = req.query("query", q.clone());
    }
    req = req
        .query("fields", p.get("fields").map_or(DEFAULT_FIELDS, String::as_str))
        .query("offset", offset.to_string())
        .query("limit", remaining.min(PAGE_SIZE).to_string());
    with_key(ctx, req)
}

/// Follow the body's `next` offset until the dataset has what it wants or the bound is reached.
fn next_page(ctx: &Context, p: &Params, req: &Request, next: Option<u64>) -> Option<Request> {
    let next = next?;
    let this_offset: u64 = req.query_value("offset").and_then(|s| s.parse().ok()).unwrap_or(0);
    if next <= this_offset || req.index + 1 >= ctx.max_pages {
        return None;
    }
    let fetched = next.checked_sub(first_offset(p))?;
    let remaining = wanted(p).checked_sub(fetched).filter(|r| *r > 0)?;
    let remaining = remaining.min(SEARCH_WINDOW.saturating_sub(next));
    (remaining > 0).then(|| search_request(ctx, p, next, remaining).after(req))
}

fn with_key(ctx: &Context, req: Request) -> Request {
    match ctx.api_key.filter(|k| !k.is_empty()) {
        Some(key) => req.secret_header("x-api-key", key),
        None => req,
    }
}

/// Never let the key reach a message, even if a body echoes it.
fn scrubbed(mut err: ConnectorError, ctx: &Context) -> ConnectorError {
    if let Some(key) = ctx.api_key
        && let std::borrow::Cow::Owned(m) = crate::redact::scrub_secret(&err.message, key)
    {
        err.message = m;
    }
    err
}

/// DOI URLs and lower-case prefixes in the form S2 documents (`DOI:10.x/y`).
fn canonical_id(raw: &str) -> String {
    let id = raw.trim();
    for prefix in ["https://doi.org/", "http://doi.org/", "doi:"] {
        if let Some(head) = id.get(..prefix.len()).filter(|h| h.eq_ignore_ascii_case(prefix)) {
            return format!("DOI:{}", id[head.len()..].trim());
        }
    }
    id.to_owned()
}
