//! NewsAPI: `/v2/everything` and `/v2/top-headlines`, JSON.
//!
//! Docs: <https://newsapi.org/docs/endpoints/everything>, <https://newsapi.org/docs/endpoints/top-headlines>,
//! errors at <https://newsapi.org/docs/errors>. Auth: the key is mandatory and travels in the
//! `X-Api-Key` header (never the `apiKey=` query form, so it stays out of URLs). The developer plan
//! allows 100 requests a day (50 every 12 h), reaches about one month back, and serves at most 100
//! results per query.
//!
//! Paging is `page`/`pageSize` (at most 100 a page) against `totalResults`. A fetch asks for one
//! page (`page`, default 1); `max_pages` lets it follow on, bounded by the worker's page limit.
//!
//! Quirks: every error is `{"status":"error","code":..,"message":..}` with HTTP 400/401/426/429/500;
//! the `code` decides the class (`rateLimited`/`apiKeyExhausted` rate-limited, `apiKey*` auth,
//! `parameter*`/`source*` permanent, `unexpectedError` transient). `maximumResultsReached` on a
//! follow-on page ends the fetch with what was read (the plan's 100-result cap), on the first page it
//! is permanent. Articles have no id of their own: the record id is the article URL. Articles pulled
//! by the publisher come back as `"[Removed]"` placeholders and are skipped. `content` is truncated
//! (`… [+N chars]`), so the summary is the `description`. `sources` cannot be mixed with
//! `country`/`category`; those two only apply to top-headlines, `from`/`to`/`language` only to
//! everything. A plain `User-Agent: apiary/0.1` is always sent.
//!
//! Parsing: bodies are read into derived structs, as strictly as a `String` field would be read
//! (a field of the wrong type makes the body unreadable), but with their strings borrowed from
//! the body where they have no escapes, so that only the strings a record keeps are built.

use serde::Deserialize;

use crate::json::StrictStr;
use crate::params::{self, Param, ParamError, Params};
use crate::record::{Article, Record};
use crate::text::{clean, snippet, timestamp};
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// Most articles NewsAPI serves per page.
const MAX_PAGE_SIZE: u64 = 100;
/// Most pages one dataset may chain.
const MAX_PAGES_CAP: u64 = 10;
const CATEGORIES: [&str; 7] = ["business", "entertainment", "general", "health", "science", "sports", "technology"];

pub struct NewsApi;

static PARAMS: [Param; 11] = [
    Param::optional("endpoint", "everything (default: all articles, by query) or top-headlines (live headlines)")
        .in_path(),
    Param::optional(
        "q",
        "keywords or phrase; supports AND/OR/NOT, quotes and +/- (required by everything unless sources is given)",
    ),
    Param::optional("sources", "comma-separated source ids (bbc-news,the-verge); not with country/category"),
    Param::optional("country", "top-headlines only: two-letter country code (us, gb, de)"),
    Param::optional(
        "category",
        "top-headlines only: business, entertainment, general, health, science, sports or technology",
    ),
    Param::optional(
        "from",
        "everything only: oldest publish date or time, ISO 8601 (2024-05-01 or 2024-05-01T10:00:00)",
    ),
    Param::optional("to", "everything only: newest publish date or time, ISO 8601"),
    Param::optional("language", "everything only: two-letter language code (en, de, fr)"),
    Param::optional(
        "pageSize",
        "articles per page, 1..=100 (upstream default 100 for everything, 20 for top-headlines)",
    ),
    Param::optional("page", "page to fetch, from 1 (default 1)"),
    Param::optional(
        "max_pages",
        "pages to fetch from `page` on (default 1, at most 10); each page costs one request of the daily quota",
    ),
];

static META: Meta = Meta {
    id: "newsapi",
    describe: "NewsAPI news articles and top headlines (key required)",
    group: Group::News,
    params: &PARAMS,
    requires_key: true,
    requires_contact: false,
    operations: &[],
};

impl Connector for NewsApi {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        params::one_of(p, "endpoint", &["everything", "top-headlines"])?;
        // The default endpoint is left implicit so that both spellings share one dataset key.
        if p.get("endpoint").is_some_and(|e| e == "everything") {
            p.remove("endpoint");
        }
        let headlines = p.contains_key("endpoint");
        for name in ["country", "language"] {
            if let Some(v) = p.get_mut(name) {
                *v = v.to_ascii_lowercase();
                if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err(ParamError::invalid(name, format!("`{v}` is not a two-letter code")));
                }
            }
        }
        if let Some(v) = p.get_mut("category") {
            *v = v.to_ascii_lowercase();
        }
        params::one_of(p, "category", &CATEGORIES)?;
        if let Some(v) = p.get_mut("sources") {
            *v = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",");
        }
        for name in ["from", "to"] {
            if let Some(v) = p.get(name).filter(|v| timestamp(v).is_none()) {
                return Err(ParamError::invalid(name, format!("`{v}` is not an ISO 8601 date or time")));
            }
        }
        params::count(p, "pageSize", MAX_PAGE_SIZE)?;
        params::count(p, "page", u64::MAX)?;
        params::count(p, "max_pages", MAX_PAGES_CAP)?;
        if headlines {
            if let Some(name) = ["from", "to", "language"].into_iter().find(|n| p.contains_key(*n)) {
                return Err(ParamError::invalid(name, "applies to endpoint=everything only"));
            }
            if p.contains_key("sources") && (p.contains_key("country") || p.contains_key("category")) {
                return Err(ParamError::invalid("sources", "cannot be mixed with country or category"));
            }
            if !["q", "sources", "country", "category"].iter().any(|n| p.contains_key(*n)) {
                return Err(ParamError::invalid("q", "top-headlines needs one of q, sources, country or category"));
            }
        } else {
            if let Some(name) = ["country", "category"].into_iter().find(|n| p.contains_key(*n)) {
                return Err(ParamError::invalid(name, "applies to endpoint=top-headlines only"));
            }
            if !p.contains_key("q") && !p.contains_key("sources") {
                return Err(ParamError::invalid("q", "everything needs q or sources"));
            }
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let key = ctx.require_key(self.id())?;
        let first = p.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        Ok(page_request(ctx, p, first)?.secret_header("X-Api-Key", key))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let body: Body = match serde_json::from_slice(resp.body) {
            Ok(body) => body,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable NewsAPI body: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if text(&body.status) == Some("error") || body.code.is_some() {
            if req.index > 0 && text(&body.code) == Some("maximumResultsReached") {
                return Ok(Page::last(Vec::new()));
            }
            return Err(classify(resp, &body));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let Some(articles) = body.articles else {
            return Err(ConnectorError::transient(format!(
                "NewsAPI answered without articles: {}",
                snippet(&resp.text())
            )));
        };
        let got = articles.len() as u64;
        let records: Vec<Record> = articles.into_iter().filter_map(article).collect();
        let this_page: u64 = req.query_value("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        let first: u64 = p.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        let size = req.query_value("pageSize").and_then(|s| s.parse().ok()).unwrap_or(got);
        let wanted_pages: u64 = p.get("max_pages").and_then(|s| s.parse().ok()).unwrap_or(1);
        let total = body.total_results.unwrap_or(0);
        let more = got > 0
            && got >= size
            && this_page.saturating_mul(size) < total
            && (this_page + 1).saturating_sub(first) < wanted_pages
            && req.index + 1 < ctx.max_pages;
        let next =
            more.then(|| page_request(ctx, p, this_page + 1)).transpose()?.map(|n| n.with_secrets_of(req).after(req));
        Ok(Page { records, next })
    }
}

fn page_request(ctx: &Context, p: &Params, page: u64) -> Result<Request, ConnectorError> {
    // Only the two known endpoints ever reach the path, whatever `p` holds.
    let endpoint = match p.get("endpoint").map(String::as_str) {
        None | Some("everything") => "everything",
        Some("top-headlines") => "top-headlines",
        Some(other) => {
            return Err(ConnectorError::permanent(format!(
                "invalid value for `endpoint`: `{other}` is not a NewsAPI endpoint"
            )));
        }
    };
    let mut req = Request::get(format!("{}/v2/{endpoint}", ctx.base_url));
    for name in ["q", "sources", "country", "category", "from", "to", "language", "pageSize"] {
        if let Some(v) = p.get(name) {
            req = req.query(name, v.clone());
        }
    }
    if page != 1 || p.contains_key("page") {
        req = req.query("page", page.to_string());
    }
    // Name the client; gateways in front of APIs may refuse requests with no User-Agent.
    Ok(req.header("User-Agent", "apiary/0.1"))
}

/// The class of a `{"status":"error"}` body, by its code first and its HTTP status second.
fn classify(resp: &Response, body: &Body) -> ConnectorError {
    let code = text(&body.code).unwrap_or("");
    let message = format!("NewsAPI {code}: {}", snippet(text(&body.message).unwrap_or("error")));
    match code {
        "rateLimited" | "apiKeyExhausted" => ConnectorError::rate_limited(message).with_retry_after(resp.retry_after()),
        c if c.starts_with("apiKey") => ConnectorError::auth(message),
        "unexpectedError" => ConnectorError::transient(message),
        c if c.starts_with("parameter") || c.starts_with("source") || c == "maximumResultsReached" => {
            ConnectorError::permanent(message)
        }
        _ if resp.is_success() => ConnectorError::permanent(message),
        _ => {
            let by_status = resp.status_error();
            ConnectorError { message, ..by_status }
        }
    }
}

fn article(a: RawArticle) -> Option<Record> {
    let title = a.title.map(|t| clean(&t.0)).unwrap_or_default();
    if title == "[Removed]" {
        return None;
    }
    let url = clean_opt(a.url);
    let published = text(&a.published_at).and_then(timestamp);
    let id = match &url {
        Some(url) => url.clone(),
        None if title.is_empty() => return None,
        None => format!("{}|{title}", published.map(|t| t.to_rfc3339()).unwrap_or_default()),
    };
    Some(Record::Article(Article {
        source: "newsapi".into(),
        id,
        title,
        url,
        published,
        author: clean_opt(a.author),
        summary: clean_opt(a.description),
        outlet: a.source.and_then(|s| clean_opt(s.name)),
    }))
}

/// A string field's text.
fn text<'a>(field: &'a Option<StrictStr<'_>>) -> Option<&'a str> {
    field.as_ref().map(|s| &*s.0)
}

/// `text::clean`, with empty results as `None`.
fn clean_opt(field: Option<StrictStr<'_>>) -> Option<String> {
    field.map(|s| clean(&s.0)).filter(|s| !s.is_empty())
}

// String fields are read as a derived `String` field would read them (the same errors on other
// types), but borrowed from the body where they have no escapes.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    status: Option<StrictStr<'a>>,
    #[serde(borrow)]
    code: Option<StrictStr<'a>>,
    #[serde(borrow)]
    message: Option<StrictStr<'a>>,
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(borrow)]
    articles: Option<Vec<RawArticle<'a>>>,
}

#[derive(Deserialize)]
struct RawArticle<'a> {
    #[serde(borrow)]
    source: Option<Outlet<'a>>,
    #[serde(borrow)]
    author: Option<StrictStr<'a>>,
    #[serde(borrow)]
    title: Option<StrictStr<'a>>,
    #[serde(borrow)]
    description: Option<StrictStr<'a>>,
    #[serde(borrow)]
    url: Option<StrictStr<'a>>,
    #[serde(rename = "publishedAt", borrow)]
    published_at: Option<StrictStr<'a>>,
}

#[derive(Deserialize)]
struct Outlet<'a> {
    #[serde(borrow)]
    name: Option<StrictStr<'a>>,
}
