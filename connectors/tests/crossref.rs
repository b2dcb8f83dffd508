//! The CrossRef connector on every recorded response in `tests/fixtures/crossref`, plus request
//! shape, polite-pool identification and cursor paging.

mod common;

use std::time::Duration;

use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Record, Response, get, params::validate};
use common::{ctx, fixture, params, read_one};

fn paper(r: &Record) -> &apiary_connectors::record::Paper {
    match r {
        Record::Paper(p) => p,
        other => panic!("not a paper: {other:?}"),
    }
}

#[test]
fn search_request_shape_and_polite_pool() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("query", "ecology"), ("rows", "2")]);
    let req = crossref.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/works");
    assert_eq!(req.query_value("query"), Some("ecology"));
    assert_eq!(req.query_value("rows"), Some("2"));
    assert!(req.query_value("cursor").is_none());
    assert_eq!(req.query_value("mailto"), Some("ops@example.org"));
    let ua = req.headers.iter().find(|(k, _)| k == "User-Agent").map(|(_, v)| v.as_str());
    assert_eq!(ua, Some("apiary/0.1 (mailto:ops@example.org)"));
    assert_eq!(req.secrets.len(), 1);
    assert_eq!(req.secrets[0].0, SecretPlace::Header);
    assert_eq!(req.secrets[0].1, "Crossref-Plus-API-Token");
    assert!(!req.to_string().contains("test-key") && !format!("{req:?}").contains("test-key"));
    // Anonymous: still works, public pool.
    let anon = Context { api_key: None, contact_email: None, ..ctx() };
    let req = crossref.start(&anon, &p).unwrap();
    assert!(req.query_value("mailto").is_none() && req.headers.is_empty() && req.secrets.is_empty());
    assert!(!crossref.requires_key() && !crossref.requires_contact());
    // Default page size is CrossRef's own.
    let req = crossref.start(&ctx(), &params(crossref, &[("filter", "type:journal-article")])).unwrap();
    assert_eq!(req.query_value("rows"), Some("20"));
    assert_eq!(req.query_value("filter"), Some("type:journal-article"));
}

#[test]
fn search_page_parses_works_with_jats_abstracts() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("query", "ecology"), ("rows", "2")]);
    let page = read_one(crossref, &p, 200, &fixture("crossref/works_query_ecology_rows2_success.json")).unwrap();
    assert_eq!(page.records.len(), 2);
    assert!(page.next.is_none(), "no cursor asked: one request");
    let a = paper(&page.records[0]);
    assert_eq!(a.source, "crossref");
    assert_eq!(a.id, "10.1093/obo/9780199830060-0238");
    assert_eq!(a.doi.as_deref(), Some("10.1093/obo/9780199830060-0238"));
    assert_eq!(a.title, "Communicating Ecology");
    assert!(a.authors.is_empty(), "author: null");
    assert_eq!(a.published.unwrap().to_rfc3339(), "2022-07-26T00:00:00+00:00");
    let abs = a.abstract_text.as_deref().unwrap();
    assert!(abs.starts_with("Communication is perhaps the most important"), "{abs}");
    assert!(!abs.contains("<p>") && !abs.contains("</p>"));
    let b = paper(&page.records[1]);
    assert_eq!(b.authors, vec!["André Kessler"]);
    assert!(b.abstract_text.as_deref().unwrap().starts_with("“Ours is a world"));
}

#[test]
fn one_doi_is_one_work() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("doi", "https://doi.org/10.1371/journal.pone.0033693")]);
    assert_eq!(p["doi"], "10.1371/journal.pone.0033693");
    let req = crossref.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/works/10.1371%2Fjournal.pone.0033693");
    assert!(req.query_value("rows").is_none());
    assert_eq!(req.query_value("mailto"), Some("ops@example.org"));
    let body = fixture("crossref/works_doi_10.1371_journal.pone.0033693_success.json");
    let page = read_one(crossref, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(page.next.is_none());
    let w = paper(&page.records[0]);
    assert_eq!(w.id, "10.1371/journal.pone.0033693");
    assert_eq!(
        w.title,
        "Methylphenidate Exposure Induces Dopamine Neuron Loss and Activation of Microglia in the Basal Ganglia of Mice"
    );
    assert_eq!(w.authors.len(), 6);
    assert_eq!(w.authors[0], "Shankar Sadasivan");
    assert_eq!(w.authors[1], "Brooks B. Pond");
    assert_eq!(w.published.unwrap().to_rfc3339(), "2012-03-21T00:00:00+00:00");
    assert_eq!(w.updated.unwrap().to_rfc3339(), "2025-03-23T19:53:43+00:00");
    assert_eq!(w.url.as_deref(), Some("https://doi.org/10.1371/journal.pone.0033693"));
    assert_eq!(w.venue.as_deref(), Some("PLoS ONE"));
    assert!(w.abstract_text.is_none());
}

#[test]
fn cursor_pages_follow_next_cursor_while_full() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("query", "widget"), ("cursor", "*")]);
    let c = ctx();
    let first = crossref.start(&c, &p).unwrap();
    assert_eq!(first.query_value("cursor"), Some("*"));
    let body = fixture("crossref/works_query_widget_cursor_star_first_page_success.json");
    let page = crossref.read(&c, &p, &first, &Response::new(200, &body)).unwrap();
    assert_eq!(page.records.len(), 20);
    // Dates may be `[[null]]` in `issued`: the record simply has no date.
    let w = paper(&page.records[0]);
    assert_eq!(w.title, "Widget Mania: Using a GUI Widget Framework");
    assert!(w.published.is_none());
    assert_eq!(w.venue.as_deref(), Some("Practical JavaScript™, DOM Scripting, and Ajax Projects"));
    let jats = page.records.iter().map(paper).find(|w| w.id == "10.59350/7mtwq-q3661").unwrap();
    assert!(jats.abstract_text.as_deref().unwrap().starts_with("In addition to this Swing-based screenshot"));
    let next = page.next.expect("a full page with a next-cursor continues");
    assert_eq!(next.index, 1);
    assert!(next.query_value("cursor").unwrap().starts_with("DnF1ZXJ5VGhlbkZldGNo"));
    assert_eq!(next.query_value("query"), Some("widget"));
    assert_eq!(next.query_value("rows"), Some("20"));
    assert_eq!(next.secrets.len(), 1);
    // A short page ends the chain.
    let p50 = params(crossref, &[("query", "widget"), ("cursor", "*"), ("rows", "50")]);
    let first = crossref.start(&c, &p50).unwrap();
    assert!(crossref.read(&c, &p50, &first, &Response::new(200, &body)).unwrap().next.is_none());
    // So does the worker's page bound.
    let tight = Context { max_pages: 1, ..ctx() };
    let first = crossref.start(&tight, &p).unwrap();
    assert!(crossref.read(&tight, &p, &first, &Response::new(200, &body)).unwrap().next.is_none());
}

#[test]
fn unknown_doi_plain_text_404_is_permanent() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("doi", "10.1371/notarealdoi")]);
    let err = read_one(crossref, &p, 404, &fixture("crossref/works_doi_not_found_404.txt")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Resource not found."), "{}", err.message);
}

#[test]
fn invalid_cursor_and_validation_failure_are_permanent() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("query", "widget"), ("cursor", "thing")]);
    let err = read_one(crossref, &p, 404, &fixture("crossref/works_invalid_cursor_404.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("cursor-invalid") && err.message.contains("Cursor specified but it is invalid"));
    let p = params(crossref, &[("doi", "10.1371/journal.pone.0033693")]);
    let body = fixture("crossref/works_doi_with_query_param_validation_failure_400.json");
    let err = read_one(crossref, &p, 400, &body).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("validation-failure"), "{}", err.message);
    assert!(err.message.contains("This route does not support field query parameters"), "{}", err.message);
}

#[test]
fn throttling_outages_and_broken_bodies() {
    let crossref = get("crossref").unwrap();
    let p = params(crossref, &[("query", "x")]);
    let c = ctx();
    let req = crossref.start(&c, &p).unwrap();
    let resp = Response::new(429, b"Too Many Requests").with_header("retry-after", "7");
    let err = crossref.read(&c, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(read_one(crossref, &p, 503, b"<html>down</html>").unwrap_err().class, ErrorClass::Transient);
    let body = fixture("crossref/works_query_ecology_rows2_success.json");
    let err = read_one(crossref, &p, 200, &body[..body.len() / 2]).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(read_one(crossref, &p, 200, b"").unwrap_err().class, ErrorClass::Transient);
    // A legitimately empty result is a success.
    let empty = br#"{"status":"ok","message-type":"work-list","message":{"items":[],"total-results":0}}"#;
    assert!(read_one(crossref, &p, 200, empty).unwrap().records.is_empty());
}

#[test]
fn parameters_are_checked_and_canonical() {
    let crossref = get("crossref").unwrap();
    let raw = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(validate(crossref, raw(&[])).is_err(), "query, filter or doi");
    assert!(validate(crossref, raw(&[("query", "x"), ("rows", "0")])).is_err());
    assert!(validate(crossref, raw(&[("query", "x"), ("rows", "1001")])).is_err());
    assert!(validate(crossref, raw(&[("doi", "10.1/x"), ("query", "y")])).is_err(), "the 400 fixture's mistake");
    assert!(validate(crossref, raw(&[("doi", "not-a-doi")])).is_err());
    assert!(validate(crossref, raw(&[("doi", "ﬀ")])).is_err(), "non-ASCII input does not panic");
    let p = params(crossref, &[("doi", "DOI:10.1371/JOURNAL.PONE.0033693")]);
    assert_eq!(p["doi"], "10.1371/journal.pone.0033693");
    let p = params(crossref, &[("filter", "type:journal-article , from-pub-date:2020")]);
    assert_eq!(p["filter"], "type:journal-article,from-pub-date:2020");
    let p = params(crossref, &[("doi", "10.1000/a b#c")]);
    let req = crossref.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/works/10.1000%2Fa%20b%23c");
}

#[test]
fn no_panic_on_any_cut_of_any_fixture() {
    let c = get("crossref").unwrap();
    let p = params(c, &[("query", "x"), ("cursor", "*")]);
    let ctx = ctx();
    let first = c.start(&ctx, &p).unwrap();
    let later = first.clone().after(&first);
    common::read_prefixes(c, &p, &["crossref"], &[200, 400, 404, 429, 500], 97, &[&first, &later]);
}
