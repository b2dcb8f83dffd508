//! Keys quoted back by an upstream are redacted in every encoding they travel in, and a URL's
//! `user:password@` never shows in a request's `Display` or `Debug`.

mod common;

use apiary_connectors::{Context, Response, get, scrub_secret, strip_userinfo};
use common::{ctx, params};

/// A key with the characters that change under percent- and form-encoding.
const KEY: &str = "ab+cd/ef=gh&ij";
/// Its spellings on the wire: as configured, percent-encoded (both hex cases), form-encoded.
const FORMS: &[&str] = &["ab+cd/ef=gh&ij", "ab%2Bcd%2Fef%3Dgh%26ij", "ab%2bcd%2fef%3dgh%26ij"];
/// A key with a space: form encoding writes it as `+`.
const SPACED: &str = "ab cd+ef";
const SPACED_FORMS: &[&str] = &["ab cd+ef", "ab%20cd%2Bef", "ab+cd%2Bef", "ab+cd%2bef", "ab%20cd%2bef"];

/// A connector, the parameters of its first request, and a status and body quoting the key (`{}`).
type Case = (&'static str, &'static [(&'static str, &'static str)], u16, &'static str);

fn leaks(message: &str, forms: &[&str]) -> Option<String> {
    forms.iter().find(|f| message.contains(**f)).map(|f| format!("`{f}` in {message}"))
}

#[test]
fn scrub_secret_covers_each_form() {
    for (key, forms) in [(KEY, FORMS), (SPACED, SPACED_FORMS)] {
        for form in forms {
            let text = format!("GET https://upstream.test/query?apikey={form}&x=1 failed");
            let out = scrub_secret(&text, key);
            assert_eq!(out, "GET https://upstream.test/query?apikey=[redacted]&x=1 failed", "{form}");
        }
    }
    assert_eq!(scrub_secret("key abc", "abc"), "key abc", "short secrets are left alone");
}

#[test]
fn connectors_that_quote_bodies_redact_the_encoded_key() {
    let ctx = Context { api_key: Some(KEY), ..ctx() };
    let spaced = Context { api_key: Some(SPACED), ..ctx };
    let cases: &[Case] = &[
        (
            "alpha_vantage",
            &[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")],
            200,
            r#"{"Error Message": "bad call /query?apikey={}"}"#,
        ),
        ("alpha_vantage", &[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")], 500, "upstream failed for apikey={}"),
        (
            "polygon",
            &[
                ("ticker", "AAPL"),
                ("multiplier", "1"),
                ("timespan", "day"),
                ("from", "2005-04-01"),
                ("to", "2005-04-04"),
            ],
            401,
            r#"{"status":"ERROR","error":"Unknown API Key {}"}"#,
        ),
        (
            "polygon",
            &[
                ("ticker", "AAPL"),
                ("multiplier", "1"),
                ("timespan", "day"),
                ("from", "2005-04-01"),
                ("to", "2005-04-04"),
            ],
            502,
            "bad gateway for apiKey={}",
        ),
        ("semantic_scholar", &[("query", "x")], 400, r#"{"error":"bad key {}"}"#),
        ("semantic_scholar", &[("query", "x")], 500, "internal error x-api-key={}"),
        ("pubmed", &[("id", "1")], 200, "<eFetchResult><ERROR>Invalid api_key {}</ERROR></eFetchResult>"),
        ("pubmed", &[("id", "1")], 400, "bad api_key={}"),
    ];
    for (id, pairs, status, template) in cases {
        let c = get(id).unwrap();
        let p = params(c, pairs);
        for (ctx, forms) in [(&ctx, FORMS), (&spaced, SPACED_FORMS)] {
            let req = c.start(ctx, &p).unwrap();
            for form in forms {
                // In XML the key's `&` arrives escaped, and is read back as itself.
                let quoted = if template.starts_with('<') { form.replace('&', "&amp;") } else { form.to_string() };
                let body = template.replace("{}", &quoted);
                let err = c.read(ctx, &p, &req, &Response::new(*status, body.as_bytes())).unwrap_err();
                assert!(leaks(&err.message, forms).is_none(), "{id} {status}: {:?}", leaks(&err.message, forms));
                assert!(
                    err.message.contains("[redacted]"),
                    "{id} {status}: the quote was dropped, not redacted: {}",
                    err.message
                );
            }
        }
    }
}

#[test]
fn userinfo_never_shows_in_a_request() {
    assert_eq!(strip_userinfo("https://proxy:hunter22@upstream.test/base"), "https://upstream.test/base");
    let ctx = Context { base_url: "https://proxy:hunter22@upstream.test", ..ctx() };
    assert!(!format!("{ctx:?}").contains("hunter22"), "{ctx:?}");
    for c in apiary_connectors::all() {
        let Some(p) = (match c.id() {
            "arxiv" => Some(params(*c, &[("search_query", "all:x")])),
            "crossref" => Some(params(*c, &[("doi", "10.1/x")])),
            "sec_edgar" => Some(params(*c, &[("cik", "320193")])),
            "reddit" => Some(params(*c, &[("subreddit", "rust")])),
            _ => None,
        }) else {
            continue;
        };
        let req = c.start(&ctx, &p).unwrap();
        assert!(req.url.contains("proxy:hunter22@"), "{}: the request itself keeps its credentials", c.id());
        let shown = format!("{req} {req:?}");
        assert!(!shown.contains("hunter22") && !shown.contains("proxy:"), "{}: {shown}", c.id());
        assert!(shown.contains("https://upstream.test/"), "{}: {shown}", c.id());
    }
}
