//! The arXiv connector on every recorded response in `tests/fixtures/arxiv`.

mod common;

use apiary_connectors::{ErrorClass, Record, get};
use common::{fixture, params, read_one};

#[test]
fn search_page_parses_every_entry_single_spaced() {
    let arxiv = get("arxiv").unwrap();
    let body = fixture("arxiv/query_search_testing_start0_max10_success.xml");
    let p = params(arxiv, &[("search_query", "all:testing"), ("max_results", "10")]);
    let page = read_one(arxiv, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 10);
    assert!(page.next.is_none(), "10 of 10 asked for: no further page");
    let Record::Paper(first) = &page.records[0] else { panic!("not a paper") };
    assert_eq!(first.id, "2202.12139v1");
    assert_eq!(first.title, "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques");
    assert_eq!(first.source, "arxiv");
    assert!(first.published.is_some());
    assert!(!first.authors.is_empty());
    assert_eq!(first.url.as_deref(), Some("https://arxiv.org/abs/2202.12139v1"));
    for r in &page.records {
        let Record::Paper(p) = r else { panic!("not a paper") };
        assert!(!p.title.contains('\n') && !p.title.contains("  "), "title not single-spaced: {:?}", p.title);
        let abs = p.abstract_text.as_deref().unwrap();
        assert!(!abs.contains('\n') && !abs.contains("  "), "abstract not single-spaced");
        assert!(!p.categories.is_empty());
    }
    let with_doi = page.records.iter().filter(|r| matches!(r, Record::Paper(p) if p.doi.is_some())).count();
    assert_eq!(with_doi, 6, "six entries carry arxiv:doi");
}

#[test]
fn single_id_has_authors_and_pdf_link() {
    let arxiv = get("arxiv").unwrap();
    let body = fixture("arxiv/id_list_1605.08386_single_entry_success.xml");
    let p = params(arxiv, &[("id_list", "1605.08386")]);
    let page = read_one(arxiv, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 1);
    let Record::Paper(paper) = &page.records[0] else { panic!() };
    assert!(paper.id.starts_with("1605.08386"));
    assert_eq!(paper.authors, vec!["Caprice Stanley", "Tobias Windisch"]);
    assert!(paper.pdf_url.as_deref().unwrap().contains("/pdf/"));
}

#[test]
fn unknown_ids_are_dropped_not_errors() {
    let arxiv = get("arxiv").unwrap();
    let p = params(arxiv, &[("id_list", "1605.08386,0000.0000")]);
    let page = read_one(arxiv, &p, 200, &fixture("arxiv/id_list_two_ids_one_unknown_success.xml")).unwrap();
    assert_eq!(page.records.len(), 1);
    let p = params(arxiv, &[("id_list", "0000.0000")]);
    let page = read_one(arxiv, &p, 200, &fixture("arxiv/id_list_0000.0000_zero_results_success.xml")).unwrap();
    assert!(page.records.is_empty(), "zero hits is a success with no records");
}

#[test]
fn error_feed_is_permanent() {
    let arxiv = get("arxiv").unwrap();
    let p = params(arxiv, &[("id_list", "abc")]);
    let err = read_one(arxiv, &p, 400, &fixture("arxiv/id_list_abc_incorrect_id_format_400.xml")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("incorrect id format for abc"), "{}", err.message);
    // The same error feed with a 200 is still an error.
    let err = read_one(arxiv, &p, 200, &fixture("arxiv/id_list_abc_incorrect_id_format_400.xml")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
}

#[test]
fn pages_until_max_results_and_empty_mid_page_is_transient() {
    let arxiv = get("arxiv").unwrap();
    let p = params(arxiv, &[("search_query", "all:testing"), ("max_results", "25")]);
    let ctx = common::ctx();
    let first = arxiv.start(&ctx, &p).unwrap();
    assert_eq!(first.query_value("max_results"), Some("25"));
    // A first page of 10 (as recorded) leaves 15 to fetch from start=10.
    let body = fixture("arxiv/query_search_testing_start0_max10_success.xml");
    let page = arxiv.read(&ctx, &p, &first, &apiary_connectors::Response::new(200, &body)).unwrap();
    let next = page.next.expect("a second page");
    assert_eq!(next.query_value("start"), Some("10"));
    assert_eq!(next.query_value("max_results"), Some("15"));
    assert_eq!(next.index, 1);
    // That page coming back empty, with 214881 results in total, is a hiccup.
    let empty = fixture("arxiv/id_list_0000.0000_zero_results_success.xml");
    let empty =
        String::from_utf8(empty).unwrap().replace(">0</opensearch:totalResults>", ">214881</opensearch:totalResults>");
    let err = arxiv.read(&ctx, &p, &next, &apiary_connectors::Response::new(200, empty.as_bytes())).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
}

#[test]
fn garbage_and_truncated_bodies_are_transient() {
    let arxiv = get("arxiv").unwrap();
    let p = params(arxiv, &[("search_query", "x")]);
    let body = fixture("arxiv/query_search_testing_start0_max10_success.xml");
    let err = read_one(arxiv, &p, 200, &body[..body.len() / 2]).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    let err = read_one(arxiv, &p, 503, b"Service Unavailable").unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    let err = read_one(arxiv, &p, 429, b"Rate exceeded.").unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
}
