//! arXiv: the query API (`/api/query`), Atom XML.
//!
//! Docs: <https://info.arxiv.org/help/api/user-manual.html>. No auth. The terms of use ask for at
//! most one request every 3 seconds (the default rate limit). Paging is `start`/`max_results`;
//! the feed reports `opensearch:totalResults`.
//!
//! Quirks: errors arrive as Atom too — a malformed id gives HTTP 400 with one `<entry>` titled
//! `Error` whose id is `https://arxiv.org/api/errors#...` (permanent). Unknown ids inside an
//! `id_list` are dropped silently and a well-formed unknown id gives an empty feed (a success with
//! no records). An empty page in the middle of a result set is a known transient hiccup, not the
//! end of the results. Titles and abstracts are wrapped across lines; records carry them
//! single-spaced.
//!
//! Parsing: one streaming pass over quick-xml's `Reader` events (`events.rs`, `atom.rs`),
//! borrowing from the body and building only the strings a record keeps; it accepts and refuses
//! the same bodies as quick-xml's serde deserializer would.

mod atom;
mod events;

use crate::params::{self, Param, ParamError, Params};
use crate::text::clean;
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// Entries asked for per request; arXiv recommends modest pages.
const PAGE_SIZE: u64 = 100;
/// Results fetched when the caller does not say.
const DEFAULT_MAX_RESULTS: u64 = 10;
/// The most one dataset may hold.
const MAX_RESULTS_CAP: u64 = 2000;

pub struct Arxiv;

static PARAMS: [Param; 6] = [
    Param::optional("search_query", "query in arXiv syntax, e.g. cat:cs.AI or ti:transformer"),
    Param::optional("id_list", "comma-separated arXiv ids"),
    Param::optional("start", "index of the first result (default 0)"),
    Param::optional("max_results", "results to fetch, paged by 100 (default 10, at most 2000)"),
    Param::optional("sortBy", "relevance, lastUpdatedDate or submittedDate"),
    Param::optional("sortOrder", "ascending or descending"),
];

static META: Meta = Meta {
    id: "arxiv",
    describe: "arXiv preprints (Atom query API)",
    group: Group::Research,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &[],
};

impl Connector for Arxiv {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// One paper by id: the API's smallest answer.
    fn probe(&self) -> Option<&'static [(&'static str, &'static str)]> {
        Some(&[("id_list", "1605.08386"), ("max_results", "1")])
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if !p.contains_key("search_query") && !p.contains_key("id_list") {
            return Err(ParamError::invalid("search_query", "one of search_query or id_list is required"));
        }
        params::number(p, "start")?;
        if let Some(n) = params::number(p, "max_results")?
            && (n == 0 || n > MAX_RESULTS_CAP)
        {
            return Err(ParamError::invalid("max_results", format!("must be 1..={MAX_RESULTS_CAP}")));
        }
        params::one_of(p, "sortBy", &["relevance", "lastUpdatedDate", "submittedDate"])?;
        params::one_of(p, "sortOrder", &["ascending", "descending"])
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let start = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(page_request(ctx, p, start, wanted(p)))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let feed = match atom::parse(resp.body) {
            Ok(feed) => feed,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Atom feed: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if let Some(summary) = feed.refusal {
            let msg = clean(summary.as_deref().unwrap_or("error"));
            return Err(ConnectorError::permanent(format!("arXiv refused the query: {msg}")));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let first = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0u64);
        let this_start: u64 = req.query_value("start").and_then(|s| s.parse().ok()).unwrap_or(first);
        let total = feed.total_results.unwrap_or(0);
        if feed.records.is_empty() && this_start > first && this_start < total {
            return Err(ConnectorError::transient(format!(
                "empty page at start={this_start} of {total} results (arXiv hiccup; retry)"
            )));
        }
        let got = feed.records.len() as u64;
        let records = feed.records;
        let fetched = this_start + got - first;
        let next_start = this_start + got;
        let next = (got > 0 && fetched < wanted(p) && next_start < total && req.index + 1 < ctx.max_pages)
            .then(|| page_request(ctx, p, next_start, wanted(p) - fetched).after(req));
        Ok(Page { records, next })
    }
}

fn wanted(p: &Params) -> u64 {
    p.get("max_results").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_MAX_RESULTS)
}

fn page_request(ctx: &Context, p: &Params, start: u64, remaining: u64) -> Request {
    let mut req = Request::get(format!("{}/api/query", ctx.base_url));
    for name in ["search_query", "id_list", "sortBy", "sortOrder"] {
        if let Some(v) = p.get(name) {
            req = req.query(name, v.clone());
        }
    }
    req.query("start", start.to_string()).query("max_results", remaining.min(PAGE_SIZE).to_string())
}
