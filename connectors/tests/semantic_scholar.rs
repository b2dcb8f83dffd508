//! The Semantic Scholar connector on every recorded response in `tests/fixtures/semantic_scholar`,
//! plus request shape, key placement and offset paging.

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
fn search_request_shape_and_key_header() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("query", "turing"), ("fields", "title")]);
    let req = s2.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/graph/v1/paper/search");
    assert_eq!(req.step, "search");
    assert_eq!(req.query_value("query"), Some("turing"));
    assert_eq!(req.query_value("fields"), Some("title"));
    assert_eq!(req.query_value("offset"), Some("0"));
    assert_eq!(req.query_value("limit"), Some("100"), "S2's own default page");
    assert_eq!(req.secrets, vec![(SecretPlace::Header, "x-api-key".to_owned(), "test-key".to_owned())]);
    assert!(req.headers.is_empty() && !format!("{req:?}").contains("test-key"));
    let anon = Context { api_key: None, ..ctx() };
    assert!(s2.start(&anon, &p).unwrap().secrets.is_empty(), "the key is optional");
    assert!(!s2.requires_key() && !s2.requires_contact());
    // Without fields, ask for what a paper record holds.
    let req = s2.start(&ctx(), &params(s2, &[("query", "x")])).unwrap();
    let fields = req.query_value("fields").unwrap();
    for f in ["title", "authors", "abstract", "externalIds", "publicationDate"] {
        assert!(fields.split(',').any(|x| x == f), "{f} missing from {fields}");
    }
}

#[test]
fn search_page_parses_and_pages_by_next() {
    let s2 = get("semantic_scholar").unwrap();
    let body = fixture("semantic_scholar/paper_search_query_turing_fields_title_success.json");
    let c = ctx();
    // Default: one request, no further page even though the body says `next`.
    let p = params(s2, &[("query", "turing"), ("fields", "title")]);
    let page = read_one(s2, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 100);
    assert!(page.next.is_none(), "100 of 100 asked for");
    let first = paper(&page.records[0]);
    assert_eq!(first.source, "semantic_scholar");
    assert_eq!(first.id, "7cbc2a7843411a1768ab762930707af0a3c33a19");
    assert_eq!(
        first.title,
        "Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B, A Large-Scale Generative Language Model"
    );
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.semanticscholar.org/paper/7cbc2a7843411a1768ab762930707af0a3c33a19")
    );
    assert_eq!(
        paper(&page.records[1]).title,
        "Quantum theory, the Church–Turing principle and the universal quantum computer"
    );
    // 250 wanted: follow `next` with the remainder.
    let p = params(s2, &[("query", "turing"), ("fields", "title"), ("limit", "250")]);
    let req = s2.start(&c, &p).unwrap();
    assert_eq!(req.query_value("limit"), Some("100"));
    let page = s2.read(&c, &p, &req, &Response::new(200, &body)).unwrap();
    let next = page.next.expect("a second page");
    assert_eq!(next.index, 1);
    assert_eq!(next.query_value("offset"), Some("100"));
    assert_eq!(next.query_value("limit"), Some("100"));
    assert_eq!(next.query_value("query"), Some("turing"));
    assert_eq!(next.secrets.len(), 1, "the key travels with every page");
    // The worker's page bound stops the chain.
    let tight = Context { max_pages: 1, ..ctx() };
    assert!(s2.read(&tight, &p, &req, &Response::new(200, &body)).unwrap().next.is_none());
}

#[test]
fn paper_details_by_doi() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("paper_id", "10.1093/mind/lix.236.433"), ("fields", "title")]);
    let req = s2.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/graph/v1/paper/10.1093%2Fmind%2Flix.236.433");
    assert_eq!(req.step, "paper");
    assert_eq!(req.query_value("fields"), Some("title"));
    assert!(req.query_value("limit").is_none());
    let page = read_one(s2, &p, 200, &fixture("semantic_scholar/paper_details_doi_fields_title_success.json")).unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(page.next.is_none());
    let w = paper(&page.records[0]);
    assert_eq!(w.id, "2d5673caa9e6af3a7b82a43f19ee920992db07ad");
    assert_eq!(w.title, "Computing Machinery and Intelligence");
    assert!(w.authors.is_empty() && w.published.is_none() && w.doi.is_none());
}

#[test]
fn batch_body_skips_null_entries() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("paper_id", "CorpusId:470667")]);
    let body = fixture("semantic_scholar/paper_batch_all_fields_with_null_entry_success.json");
    let page = read_one(s2, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 3, "four entries, one null");
    let a = paper(&page.records[0]);
    assert_eq!(a.id, "c31c87c591a25c64fbaa82e8ac6a81831b6ac7ce");
    assert_eq!(a.title, "How Much Should We Trust Differences-in-Differences Estimates?");
    assert_eq!(a.authors, vec!["Marianne Bertrand", "E. Duflo", "S. Mullainathan"]);
    assert_eq!(a.doi.as_deref(), Some("10.2139/ssrn.288970"));
    assert_eq!(a.published.unwrap().to_rfc3339(), "2001-10-01T00:00:00+00:00");
    assert_eq!(
        a.venue.as_deref(),
        Some("Experimental & Empirical Studies eJournal"),
        "empty venue falls back to journal"
    );
    assert_eq!(a.pdf_url.as_deref(), Some("http://papers.nber.org/papers/w8841.pdf"));
    assert!(a.abstract_text.as_deref().unwrap().starts_with("Most Difference-in-Difference (DD) papers"));
    assert_eq!(a.categories, vec!["Psychology", "Economics", "Mathematics"]);
    let c = paper(&page.records[2]);
    assert_eq!(c.published.unwrap().to_rfc3339(), "2023-01-01T00:00:00+00:00", "year only");
    assert!(c.venue.is_none() && c.pdf_url.is_none());
}

#[test]
fn match_and_bulk_bodies_parse() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("query", "Effect of native oxide layers on copper thin-film tensile properties")]);
    let body = fixture("semantic_scholar/paper_search_match_title_many_fields_success.json");
    let page = read_one(s2, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(page.next.is_none());
    let m = paper(&page.records[0]);
    assert_eq!(m.doi.as_deref(), Some("10.1063/1.4938384"));
    assert_eq!(m.authors, vec!["Michael Skarlinski", "D. Quesnel"]);
    assert_eq!(m.published.unwrap().to_rfc3339(), "2015-12-21T00:00:00+00:00");
    assert_eq!(m.venue.as_deref(), Some("Journal of Applied Physics"));
    assert!(m.pdf_url.is_none(), "empty openAccessPdf.url");
    let p = params(s2, &[("query", "kubernetes")]);
    let page =
        read_one(s2, &p, 200, &fixture("semantic_scholar/paper_search_bulk_last_page_token_success.json")).unwrap();
    assert_eq!(page.records.len(), 27);
    assert!(page.next.is_none(), "token null, no next: last page");
    assert_eq!(paper(&page.records[0]).id, "ef3ce7732e3ab16bdb11fb167aa19ccaf9ea0ac5");
}

#[test]
fn error_bodies_classify() {
    let s2 = get("semantic_scholar").unwrap();
    let by_id = params(s2, &[("paper_id", "0")]);
    let err = read_one(s2, &by_id, 404, &fixture("semantic_scholar/paper_details_not_found_404.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Paper with id 0 not found"), "{}", err.message);
    let err = read_one(s2, &by_id, 400, &fixture("semantic_scholar/paper_details_bad_fields_400.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Unrecognized or unsupported fields"), "{}", err.message);
    let q = params(s2, &[("query", "askldjrq3rjaw938h")]);
    let err =
        read_one(s2, &q, 404, &fixture("semantic_scholar/paper_search_match_title_not_found_404.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Title match not found"));
    let err = read_one(s2, &q, 403, &fixture("semantic_scholar/paper_batch_forbidden_403.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("Forbidden"));
}

#[test]
fn too_many_requests_is_rate_limited_with_its_wait() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("query", "x")]);
    let c = ctx();
    let req = s2.start(&c, &p).unwrap();
    let body = fixture("semantic_scholar/too_many_requests_429.json");
    let err = s2.read(&c, &p, &req, &Response::new(429, &body).with_header("Retry-After", "30")).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    assert!(err.message.contains("Too Many Requests"), "{}", err.message);
    assert!(read_one(s2, &p, 429, &body).unwrap_err().retry_after.is_none());
}

#[test]
fn broken_bodies_are_transient_and_keys_never_leak() {
    let s2 = get("semantic_scholar").unwrap();
    let p = params(s2, &[("query", "x")]);
    let body = fixture("semantic_scholar/paper_search_query_turing_fields_title_success.json");
    assert_eq!(read_one(s2, &p, 200, &body[..body.len() / 2]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(s2, &p, 200, b"").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(s2, &p, 200, b"{\"unexpected\":1}").unwrap_err().class, ErrorClass::Transient);
    let err = read_one(s2, &p, 504, br#"{"message": "Endpoint request timed out"}"#).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    let err = read_one(s2, &p, 403, br#"{"message": "key test-key is invalid"}"#).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(!err.message.contains("test-key"), "{}", err.message);
    // A legitimately empty search is a success.
    let page = read_one(s2, &p, 200, br#"{"total": 0, "offset": 0, "data": []}"#).unwrap();
    assert!(page.records.is_empty() && page.next.is_none());
}

#[test]
fn parameters_are_checked_and_canonical() {
    let s2 = get("semantic_scholar").unwrap();
    let raw = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(validate(s2, raw(&[])).is_err(), "query or paper_id");
    assert!(validate(s2, raw(&[("query", "a"), ("paper_id", "b")])).is_err());
    assert!(validate(s2, raw(&[("paper_id", "b"), ("limit", "5")])).is_err());
    assert!(validate(s2, raw(&[("query", "a"), ("limit", "0")])).is_err());
    assert!(validate(s2, raw(&[("query", "a"), ("offset", "950"), ("limit", "100")])).is_err(), "beyond 1000");
    assert!(validate(s2, raw(&[("query", "a"), ("limit", "ten")])).is_err());
    let p = params(s2, &[("query", "a"), ("fields", " year, title ,year ")]);
    assert_eq!(p["fields"], "title,year");
    let p = params(s2, &[("paper_id", "https://doi.org/10.1093/mind/lix.236.433")]);
    assert_eq!(p["paper_id"], "DOI:10.1093/mind/lix.236.433");
    let req = s2.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/graph/v1/paper/DOI:10.1093%2Fmind%2Flix.236.433");
    let p = params(s2, &[("query", "a"), ("offset", "900"), ("limit", "100")]);
    let req = s2.start(&ctx(), &p).unwrap();
    assert_eq!(req.query_value("offset"), Some("900"));
}

#[test]
fn no_panic_on_any_cut_of_any_fixture() {
    let c = get("semantic_scholar").unwrap();
    let p = params(c, &[("query", "x"), ("limit", "300")]);
    let ctx = ctx();
    let first = c.start(&ctx, &p).unwrap();
    let later = first.clone().after(&first);
    common::read_prefixes(c, &p, &["semantic_scholar"], &[200, 400, 404, 429, 500], 97, &[&first, &later]);
}
