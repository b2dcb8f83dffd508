//! The connector list itself: every connector apiary ships is listed once, with parameters,
//! and has recorded fixtures to be tested on.

mod common;

use std::collections::HashSet;

#[test]
fn ids_are_unique_and_each_has_params_and_fixtures() {
    let all = apiary_connectors::all();
    assert_eq!(all.len(), 12, "DESIGN names twelve connectors");
    let mut seen = HashSet::new();
    for c in all {
        assert!(seen.insert(c.id()), "duplicate id {}", c.id());
        assert!(
            c.id().chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
            "{}: ids are lower_snake_case (they name config keys and files)",
            c.id()
        );
        assert!(!c.params().is_empty(), "{} has no parameters", c.id());
        assert!(!c.describe().is_empty());
        let names: HashSet<_> = c.params().iter().map(|p| p.name).collect();
        assert_eq!(names.len(), c.params().len(), "{}: duplicate parameter", c.id());
        let dir = common::fixtures_dir().join(c.id());
        let count = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(count > 0, "{}: no fixtures in {}", c.id(), dir.display());
        assert!(apiary_connectors::get(c.id()).is_some());
    }
    assert!(apiary_connectors::get("nope").is_none());
}

#[test]
fn every_connector_refuses_unknown_parameters_with_the_valid_list() {
    for c in apiary_connectors::all() {
        let raw = [("definitely_not_a_param".to_string(), "x".to_string())].into_iter().collect();
        let err = apiary_connectors::params::validate(*c, raw).unwrap_err().to_string();
        assert!(err.contains("definitely_not_a_param"), "{}: {err}", c.id());
        let first = c.params()[0].name;
        assert!(err.contains(first), "{}: message does not list `{first}`: {err}", c.id());
    }
}

#[test]
fn operations_name_the_steps_each_connector_really_sends() {
    use apiary_connectors::{Request, Response};
    let ctx = common::ctx();
    // One question per operation, and the step its first request carries.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("sec_edgar", &[("cik", "320193")], "submissions"),
        ("sec_edgar", &[("cik", "320193"), ("endpoint", "companyfacts")], "companyfacts"),
        ("semantic_scholar", &[("query", "turing")], "search"),
        ("semantic_scholar", &[("paper_id", "CorpusId:1")], "paper"),
        ("pubmed", &[("term", "biopython")], "esearch"),
        ("pubmed", &[("id", "29963580")], "efetch"),
    ];
    for &(id, pairs, step) in cases {
        let c = apiary_connectors::get(id).unwrap();
        let req = c.start(&ctx, &common::params(c, pairs)).unwrap();
        assert_eq!(req.step, step, "{id} {pairs:?}");
        assert!(c.operations().contains(&step), "{id} does not list `{step}`");
    }
    // PubMed's search is followed by a fetch: the second step is an operation too.
    let pubmed = apiary_connectors::get("pubmed").unwrap();
    let p = common::params(pubmed, &[("term", "biopython")]);
    let search = pubmed.start(&ctx, &p).unwrap();
    let body = common::fixture("pubmed/esearch_db_pubmed_term_biopython_success.xml");
    let page = pubmed.read(&ctx, &p, &search, &Response::new(200, &body)).unwrap();
    let next: Request = page.next.expect("an efetch follows");
    assert!(pubmed.operations().contains(&next.step), "{}", next.step);
    for c in apiary_connectors::all() {
        let mut ops = c.operations().to_vec();
        ops.sort_unstable();
        ops.dedup();
        assert_eq!(ops.len(), c.operations().len(), "{}: an operation listed twice", c.id());
    }
}
