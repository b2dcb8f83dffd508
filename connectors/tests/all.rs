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
