//! The Guardian Content API: `/search`, JSON.
//!
//! Docs: <https://open-platform.theguardian.com/documentation/search>. Auth: an `api-key` query
//! parameter, required here (the API answers the literal key `test` for development, but apiary
//! wants a configured key of its own). Developer keys are rate limited per second and per day
//! (1 call/s and 500 calls/day per the Open Platform access page); over the quota comes HTTP 429.
//!
//! Paging is `page`/`page-size` (at most 200) against `response.pages`. A fetch asks for one page
//! (`page`, default 1); `max_pages` lets it follow on, bounded by the worker's page limit.
//!
//! Quirks: every answer is wrapped as `{"response":{...}}` and errors keep the envelope —
//! `{"response":{"status":"error","message":..}}` with 400 (bad parameter, page past the end) or 404
//! — which are permanent. The gateway in front answers 401/403 (bad key, auth) and 429 (quota,
//! rate-limited) with a bare `{"message":..}`. The record id is the Guardian content id
//! (`sport/2014/sep/10/...`). The request adds `show-fields=byline,trailText` so records carry an
//! author and a summary; `trailText` is HTML and is reduced to plain text.

use serde::Deserialize;

use crate::params::{self, Param, ParamError, Params};
use crate::record::{Article, Record};
use crate::text::{clean, clean_opt, snippet, timestamp, unescape_html};
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// Most results the API serves per page.
const MAX_PAGE_SIZE: u64 = 200;
/// Most pages one dataset may chain.
const MAX_PAGES_CAP: u64 = 20;

pub struct Guardian;

static PARAMS: [Param; 8] = [
    Param::optional("q", "search terms; supports AND, OR, NOT and \"phrases\""),
    Param::optional("section", "section id(s), e.g. football, or football|sport, or -football"),
    Param::optional("from-date", "oldest publication date, YYYY-MM-DD"),
    Param::optional("to-date", "newest publication date, YYYY-MM-DD"),
    Param::optional("page", "page to fetch, from 1 (default 1)"),
    Param::optional("page-size", "results per page, 1..=200 (upstream default 10)"),
    Param::optional("order-by", "newest, oldest or relevance (upstream default: newest, relevance when q is given)"),
    Param::optional("max_pages", "pages to fetch from `page` on (default 1, at most 20)"),
];

static META: Meta = Meta {
    id: "guardian",
    describe: "The Guardian Content API search (key required)",
    group: Group::News,
    params: &PARAMS,
    requires_key: true,
    requires_contact: false,
    operations: &[],
};

impl Connector for Guardian {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        for name in ["from-date", "to-date"] {
            if let Some(v) = p.get(name).filter(|v| timestamp(v).is_none()) {
                return Err(ParamError::invalid(name, format!("`{v}` is not a date (YYYY-MM-DD)")));
            }
        }
        if let Some(v) = p.get_mut("section") {
            *v = v.to_ascii_lowercase();
        }
        if let Some(v) = p.get_mut("order-by") {
            *v = v.to_ascii_lowercase();
        }
        params::one_of(p, "order-by", &["newest", "oldest", "relevance"])?;
        params::count(p, "page", u64::MAX)?;
        params::count(p, "page-size", MAX_PAGE_SIZE)?;
        params::count(p, "max_pages", MAX_PAGES_CAP).map(|_| ())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let key = ctx.require_key(self.id())?;
        let first = p.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        Ok(page_request(ctx, p, first).secret_query("api-key", key))
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        let body: Body = match serde_json::from_slice(resp.body) {
            Ok(body) => body,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable Guardian body: {e}")));
            }
            Err(_) => return Err(resp.status_error()),
        };
        let Some(inner) = body.response else {
            // The gateway's own answers: `{"message": "..."}` without the envelope.
            let message = body.message.unwrap_or_else(|| resp.text().into_owned());
            if resp.is_success() {
                return Err(ConnectorError::transient(format!(
                    "Guardian answered without a response: {}",
                    snippet(&message)
                )));
            }
            return Err(ConnectorError::from_status(resp.status, &message).with_retry_after(resp.retry_after()));
        };
        if inner.status.as_deref() == Some("error") {
            return Err(classify(resp, inner.message.as_deref().unwrap_or("error")));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let Some(results) = inner.results else {
            return Err(ConnectorError::transient(format!(
                "Guardian search answered without results: {}",
                snippet(&resp.text())
            )));
        };
        let records: Vec<Record> = results.into_iter().filter_map(article).collect();
        let first: u64 = p.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        let this_page =
            inner.current_page.or_else(|| req.query_value("page").and_then(|s| s.parse().ok())).unwrap_or(first);
        let wanted_pages: u64 = p.get("max_pages").and_then(|s| s.parse().ok()).unwrap_or(1);
        let more = !records.is_empty()
            && this_page < inner.pages.unwrap_or(0)
            && (this_page + 1).saturating_sub(first) < wanted_pages
            && req.index + 1 < ctx.max_pages;
        let next = more.then(|| page_request(ctx, p, this_page + 1).with_secrets_of(req).after(req));
        Ok(Page { records, next })
    }
}

fn page_request(ctx: &Context, p: &Params, page: u64) -> Request {
    let mut req = Request::get(format!("{}/search", ctx.base_url));
    for name in ["q", "section", "from-date", "to-date", "page-size", "order-by"] {
        if let Some(v) = p.get(name) {
            req = req.query(name, v.clone());
        }
    }
    if page != 1 || p.contains_key("page") {
        req = req.query("page", page.to_string());
    }
    req.query("show-fields", "byline,trailText")
}

/// An error inside the envelope: by HTTP status, then by what the message says.
fn classify(resp: &Response, message: &str) -> ConnectorError {
    let text = format!("Guardian: {}", snippet(message));
    let lower = message.to_ascii_lowercase();
    match resp.status {
        429 => ConnectorError::rate_limited(text).with_retry_after(resp.retry_after()),
        401 | 403 => ConnectorError::auth(text),
        408 | 500..=599 => ConnectorError::transient(text).with_retry_after(resp.retry_after()),
        _ if lower.contains("rate limit") => ConnectorError::rate_limited(text),
        _ if lower.contains("api-key") || lower.contains("api key") || lower.contains("credentials") => {
            ConnectorError::auth(text)
        }
        _ => ConnectorError::permanent(text),
    }
}

fn article(r: Item) -> Option<Record> {
    let id = r.id.filter(|id| !id.trim().is_empty())?;
    let fields = r.fields.unwrap_or_default();
    Some(Record::Article(Article {
        source: "guardian".into(),
        title: clean(r.web_title.as_deref().unwrap_or("")),
        url: clean_opt(r.web_url.as_deref()),
        published: r.web_publication_date.as_deref().and_then(timestamp),
        author: fields.byline.as_deref().map(html_to_text).filter(|s| !s.is_empty()),
        summary: fields.trail_text.as_deref().map(html_to_text).filter(|s| !s.is_empty()),
        outlet: clean_opt(r.section_name.as_deref()),
        id,
    }))
}

/// Plain single-spaced text from an HTML fragment or page: tags dropped (with the contents of
/// `<style>` and `<script>`), entities decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(open) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&rest[..open]);
        }
        let tag = &rest[open + 1..];
        let Some(close) = tag.find('>') else {
            rest = "";
            break;
        };
        let name: String = tag[..close]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match skip_until {
            Some(end) if tag.starts_with('/') && name == end => skip_until = None,
            Some(_) => {}
            None if !tag.starts_with('/') && (name == "style" || name == "script") => {
                skip_until = Some(if name == "style" { "style" } else { "script" });
            }
            None => out.push(' '),
        }
        rest = &tag[close + 1..];
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    clean(&unescape_html(&out))
}

#[derive(Deserialize)]
struct Body {
    response: Option<Inner>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Inner {
    status: Option<String>,
    message: Option<String>,
    #[serde(rename = "currentPage")]
    current_page: Option<u64>,
    pages: Option<u64>,
    results: Option<Vec<Item>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    id: Option<String>,
    web_title: Option<String>,
    web_url: Option<String>,
    web_publication_date: Option<String>,
    section_name: Option<String>,
    fields: Option<Fields>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Fields {
    byline: Option<String>,
    trail_text: Option<String>,
}
