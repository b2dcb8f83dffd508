//! PubMed: NCBI E-utilities, `esearch` then `efetch` (XML).
//!
//! Docs: <https://www.ncbi.nlm.nih.gov/books/NBK25499/> (parameters) and
//! <https://www.ncbi.nlm.nih.gov/books/NBK25497/> (usage policy). The key is optional: 3 requests
//! per second per IP without one, 10 with `api_key=` (sent as a secret query parameter). NCBI asks
//! callers to identify themselves with `tool=` and `email=`; both are sent once
//! `APIARY_CONTACT_EMAIL` is set.
//!
//! One dataset is one chain: a `term` search starts with `esearch.fcgi` (which yields the PMIDs and
//! no records) and continues with one `efetch.fcgi` for those PMIDs (the records, with abstracts).
//! Asking by `id` skips the search and makes the single efetch. More than 200 ids go as a POST
//! form, as NCBI recommends for long id lists.
//!
//! Quirks: many failures arrive inside HTTP 200 bodies. An `<ERROR>` element (e.g. esummary's
//! "Neither query_key nor id specified") is permanent. An esearch with no hits gives `Count` 0
//! with `<ErrorList><PhraseNotFound>` — that is a success with no records. Past the limit NCBI
//! answers 429 with a JSON body (`{"error":"API rate limit exceeded",...}`) even for XML requests;
//! its `api-key` field echoes the caller, so it is never copied into messages. esummary bodies
//! (`eSummaryResult`) are read too, as papers without abstracts.
//!
//! Parsing: one streaming pass over quick-xml events borrowing from the body (`xml.rs`), which
//! still rejects any malformed document whole; a context per open element (`parse.rs`) keeps only
//! what a record reads, and builds only the strings it keeps (`record.rs`).

mod parse;
mod record;
mod xml;

use crate::params::{self, Param, ParamError, Params};
use crate::request::Method;
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// PMIDs returned when the caller does not say (NCBI's own esearch default).
const DEFAULT_RETMAX: u64 = 20;
/// The most PMIDs one dataset may fetch; efetch of more is one very large body.
const RETMAX_CAP: u64 = 500;
/// Above this many ids efetch goes as a POST form (NCBI's advice for long id lists).
const GET_ID_LIMIT: usize = 200;
const EUTILS: &str = "/entrez/eutils";

pub struct Pubmed;

static PARAMS: [Param; 4] = [
    Param::optional("term", "PubMed search in Entrez syntax, e.g. asthma[mh] AND 2020[dp]"),
    Param::optional("retmax", "PMIDs to fetch for a term search (default 20, at most 500)"),
    Param::optional("retstart", "index of the first PMID of a term search (default 0)"),
    Param::optional("id", "comma-separated PMIDs to fetch directly (instead of term)"),
];

static META: Meta = Meta {
    id: "pubmed",
    describe: "PubMed citations and abstracts (NCBI E-utilities esearch + efetch)",
    group: Group::Research,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &["esearch", "efetch"],
};

impl Connector for Pubmed {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// One record by PMID: a single `efetch`.
    fn probe(&self) -> Option<&'static [(&'static str, &'static str)]> {
        Some(&[("id", "29963580")])
    }

    fn steps_after(&self, step: &str) -> &'static [&'static str] {
        match step {
            "esearch" => &["efetch"],
            _ => &[],
        }
    }
    // requires_key/requires_contact keep the defaults (false): The key is optional (it raises the limit); identification is sent when configured.

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        params::exactly_one(p, &["term", "id"])?;
        if let Some(n) = params::number(p, "retmax")?
            && (n == 0 || n > RETMAX_CAP)
        {
            return Err(ParamError::invalid("retmax", format!("must be 1..={RETMAX_CAP}")));
        }
        params::number(p, "retstart")?;
        if let Some(ids) = p.get("id") {
            if p.contains_key("retmax") || p.contains_key("retstart") {
                return Err(ParamError::invalid("id", "retmax and retstart apply to term searches only"));
            }
            let ids = canonical_ids(ids)?;
            p.insert("id".into(), ids);
        }
        if let Some(term) = p.get("term") {
            let term = crate::text::clean(term);
            p.insert("term".into(), term);
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        if let Some(ids) = p.get("id") {
            let ids: Vec<&str> = ids.split(',').collect();
            return Ok(efetch(ctx, &ids));
        }
        let mut req = eutil(ctx, "esearch").query("db", "pubmed");
        if let Some(term) = p.get("term") {
            req = req.query("term", term.clone());
        }
        let retmax = p.get("retmax").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_RETMAX);
        req = req.query("retmax", retmax.to_string());
        if let Some(start) = p.get("retstart") {
            req = req.query("retstart", start.clone());
        }
        Ok(identify(ctx, req))
    }

    fn read(&self, ctx: &Context, _p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if let Some(err) = rate_limit_notice(resp) {
            return Err(err);
        }
        if !resp.is_success() {
            let err = resp.status_error();
            return Err(ConnectorError { message: scrub(&err.message, ctx), ..err });
        }
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ConnectorError::transient(format!("empty {} body", req.step)));
        }
        let doc = parse::document(resp.body)
            .map_err(|e| ConnectorError::transient(format!("unreadable {} XML: {e}", req.step)))?;
        if let Some(err) = doc.error {
            return Err(ConnectorError::permanent(format!("NCBI refused the {}: {}", req.step, scrub(&err, ctx))));
        }
        match doc.root.as_str() {
            "eSearchResult" if req.step == "esearch" => {
                if doc.ids.is_empty() {
                    // Count 0, usually with ErrorList/PhraseNotFound: nothing matched.
                    return Ok(Page::last(Vec::new()));
                }
                if req.index + 1 >= ctx.max_pages {
                    return Err(ConnectorError::config(
                        "pubmed needs two requests per fetch (esearch, efetch): raise max_pages to at least 2",
                    ));
                }
                let ids: Vec<&str> = doc.ids.iter().map(String::as_str).collect();
                Ok(Page { records: Vec::new(), next: Some(efetch(ctx, &ids).after(req)) })
            }
            "PubmedArticleSet" => {
                if !doc.any_child && req.index > 0 {
                    return Err(ConnectorError::transient("efetch returned no articles for ids esearch just listed"));
                }
                Ok(Page::last(doc.records))
            }
            "eSummaryResult" => Ok(Page::last(doc.records)),
            other => Err(ConnectorError::transient(format!("unexpected {} document <{other}>", req.step))),
        }
    }
}

/// A bare E-utility request (`esearch`, `efetch`, ...), with the key as a secret.
fn eutil(ctx: &Context, util: &'static str) -> Request {
    let mut req = Request::get(format!("{}{EUTILS}/{util}.fcgi", ctx.base_url)).step(util);
    if let Some(key) = ctx.api_key {
        req = req.secret_query("api_key", key);
    }
    req
}

/// `tool=apiary&email=...` when a contact is configured (NCBI's identification convention).
fn identify(ctx: &Context, req: Request) -> Request {
    match ctx.contact_email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(email) => req.query("tool", "apiary").query("email", email),
        None => req,
    }
}

fn efetch(ctx: &Context, ids: &[&str]) -> Request {
    let mut req = eutil(ctx, "efetch").query("db", "pubmed");
    let joined = ids.join(",");
    if ids.len() > GET_ID_LIMIT {
        req.method = Method::Post;
        req.form.push(("id".into(), joined));
    } else {
        req = req.query("id", joined);
    }
    identify(ctx, req.query("retmode", "xml").query("rettype", "abstract"))
}

/// PMIDs as digits without leading zeros, comma-separated, in the order given, without repeats.
fn canonical_ids(raw: &str) -> Result<String, ParamError> {
    let mut out: Vec<String> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let n: u64 =
            part.parse().map_err(|_| ParamError::invalid("id", format!("`{part}` is not a PMID (digits only)")))?;
        let n = n.to_string();
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err(ParamError::invalid("id", "no PMIDs given"));
    }
    if out.len() as u64 > RETMAX_CAP {
        return Err(ParamError::invalid("id", format!("at most {RETMAX_CAP} PMIDs per dataset")));
    }
    Ok(out.join(","))
}

/// NCBI's throttling answer: HTTP 429, or its JSON body whatever the status.
fn rate_limit_notice(resp: &Response) -> Option<ConnectorError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(resp.body).ok();
    let error = json.as_ref().and_then(|j| j.get("error")).and_then(|e| e.as_str());
    let says_limit = error.is_some_and(|e| e.to_ascii_lowercase().contains("rate limit"));
    if resp.status != 429 && !says_limit {
        return None;
    }
    let limit = json.as_ref().and_then(|j| j.get("limit")).and_then(crate::text::json_number);
    let msg = match limit {
        Some(n) => format!("NCBI API rate limit exceeded (limit {n} requests/s)"),
        None => "NCBI API rate limit exceeded (HTTP 429)".to_owned(),
    };
    Some(ConnectorError::rate_limited(msg).with_retry_after(resp.retry_after()))
}

/// Never let the key reach a message, even if a body echoes it.
fn scrub(msg: &str, ctx: &Context) -> String {
    match ctx.api_key {
        Some(key) => crate::redact::scrub_secret(msg, key).into_owned(),
        None => msg.to_owned(),
    }
}
