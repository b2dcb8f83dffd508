//! Helpers for the connector tests: recorded bodies from the repository's `tests/fixtures`, and
//! one-shot reads.
#![allow(dead_code)]

use std::path::PathBuf;

use apiary_connectors::{Connector, ConnectorError, Context, Page, Params, Request, Response, params::validate};

/// The recorded responses ([`apiary_connectors::fixtures`]).
pub fn fixtures_dir() -> PathBuf {
    apiary_connectors::fixtures::dir()
}

pub fn fixture(rel: &str) -> Vec<u8> {
    apiary_connectors::fixtures::read(rel)
}

pub fn ctx() -> Context<'static> {
    Context {
        base_url: "http://upstream.test",
        api_key: Some("test-key"),
        contact_email: Some("ops@example.org"),
        max_pages: 10,
        token: None,
    }
}

/// Validated parameters (panics on a refusal: tests give good ones).
pub fn params(c: &dyn Connector, pairs: &[(&str, &str)]) -> Params {
    let raw = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    validate(c, raw).unwrap_or_else(|e| panic!("{e}"))
}

/// Read about `steps` prefixes of every fixture in `dirs` (the whole body included) at each of
/// `statuses`, as the answer to each of `requests` (the first request when empty). Reads may fail;
/// they must not panic.
pub fn read_prefixes(
    c: &dyn Connector,
    p: &Params,
    dirs: &[&str],
    statuses: &[u16],
    steps: usize,
    requests: &[&Request],
) {
    let ctx = ctx();
    let first = c.start(&ctx, p).ok();
    let requests: Vec<&Request> = if requests.is_empty() { first.iter().collect() } else { requests.to_vec() };
    for dir in dirs {
        for entry in std::fs::read_dir(fixtures_dir().join(dir)).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            for cut in (0..=body.len()).step_by(body.len() / steps + 1).chain([body.len()]) {
                for status in statuses {
                    for req in &requests {
                        let _ = c.read(&ctx, p, req, &Response::new(*status, &body[..cut]));
                    }
                }
            }
        }
    }
}

/// The articles of a page (panics on any other kind of record).
pub fn articles(page: &Page) -> Vec<&apiary_connectors::record::Article> {
    page.records
        .iter()
        .map(|r| match r {
            apiary_connectors::Record::Article(a) => a,
            other => panic!("not an article: {other:?}"),
        })
        .collect()
}

/// Build the first request for `p` and read `body` as its answer.
pub fn read_one(c: &dyn Connector, p: &Params, status: u16, body: &[u8]) -> Result<Page, ConnectorError> {
    let ctx = ctx();
    let req = c.start(&ctx, p)?;
    c.read(&ctx, p, &req, &Response::new(status, body))
}
