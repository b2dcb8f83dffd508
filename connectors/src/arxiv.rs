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

use serde::Deserialize;

use crate::params::{self, Param, ParamError, Params};
use crate::record::{Paper, Record};
use crate::text::{clean, clean_opt, timestamp};
use crate::{Connector, ConnectorError, Context, Group, Page, Request, Response};

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

impl Connector for Arxiv {
    fn id(&self) -> &'static str {
        "arxiv"
    }
    fn describe(&self) -> &'static str {
        "arXiv preprints (Atom query API)"
    }
    fn group(&self) -> Group {
        Group::Research
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
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
        let feed: Feed = match quick_xml::de::from_reader(resp.body) {
            Ok(feed) => feed,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Atom feed: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if let Some(err) = feed.entries.iter().find(|e| e.id.contains("/api/errors")) {
            let msg = clean(err.summary.as_deref().unwrap_or("error"));
            return Err(ConnectorError::permanent(format!("arXiv refused the query: {msg}")));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let first = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0u64);
        let this_start: u64 = req.query_value("start").and_then(|s| s.parse().ok()).unwrap_or(first);
        let total = feed.total_results.unwrap_or(0);
        if feed.entries.is_empty() && this_start > first && this_start < total {
            return Err(ConnectorError::transient(format!(
                "empty page at start={this_start} of {total} results (arXiv hiccup; retry)"
            )));
        }
        let got = feed.entries.len() as u64;
        let records = feed.entries.into_iter().map(paper).collect();
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

fn paper(e: Entry) -> Record {
    let id = e.id.rsplit_once("/abs/").map(|(_, id)| id.to_owned()).unwrap_or_else(|| e.id.clone());
    let url = e.links.iter().find(|l| l.rel.as_deref() == Some("alternate")).map(|l| l.href.clone());
    let pdf_url = e
        .links
        .iter()
        .find(|l| l.title.as_deref() == Some("pdf") || l.kind.as_deref() == Some("application/pdf"))
        .map(|l| l.href.clone());
    let mut categories: Vec<String> = e.primary_category.into_iter().map(|c| c.term).collect();
    for c in e.categories {
        if !categories.contains(&c.term) {
            categories.push(c.term);
        }
    }
    Record::Paper(Paper {
        source: "arxiv".into(),
        id,
        title: clean(&e.title),
        authors: e.authors.into_iter().map(|a| clean(&a.name)).collect(),
        published: e.published.as_deref().and_then(timestamp),
        updated: e.updated.as_deref().and_then(timestamp),
        abstract_text: clean_opt(e.summary.as_deref()),
        doi: clean_opt(e.doi.as_deref()),
        url: url.or(Some(e.id)),
        categories,
        venue: clean_opt(e.journal_ref.as_deref()),
        pdf_url,
    })
}

#[derive(Deserialize)]
struct Feed {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "entry", default)]
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    title: String,
    summary: Option<String>,
    published: Option<String>,
    updated: Option<String>,
    #[serde(rename = "author", default)]
    authors: Vec<Author>,
    #[serde(rename = "link", default)]
    links: Vec<Link>,
    doi: Option<String>,
    journal_ref: Option<String>,
    primary_category: Option<Category>,
    #[serde(rename = "category", default)]
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Link {
    #[serde(rename = "@href")]
    href: String,
    #[serde(rename = "@rel")]
    rel: Option<String>,
    #[serde(rename = "@title")]
    title: Option<String>,
    #[serde(rename = "@type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Category {
    #[serde(rename = "@term")]
    term: String,
}
