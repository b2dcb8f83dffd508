//! Helpers for the connector tests: recorded bodies from `shared/fixtures`, and one-shot reads.
#![allow(dead_code)]

use std::path::PathBuf;

use apiary_connectors::{Connector, ConnectorError, Context, Page, Params, Response, params::validate};

/// `shared/fixtures`, beside the project (override with `APIARY_FIXTURES`).
pub fn fixtures_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("APIARY_FIXTURES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixtures_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
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

/// Build the first request for `p` and read `body` as its answer.
pub fn read_one(c: &dyn Connector, p: &Params, status: u16, body: &[u8]) -> Result<Page, ConnectorError> {
    let ctx = ctx();
    let req = c.start(&ctx, p)?;
    c.read(&ctx, p, &req, &Response::new(status, body))
}
