//! Waits read from upstream headers and bodies are bounded: a 429 asking for
//! `Retry-After: 18446744073709551615` once made the worker panic (`DateTime + TimeDelta
//! overflowed`) when it scheduled the retry. Every connector is read a 429 with each hostile value,
//! and the wait it reports is added to the current time the way the worker does.

mod common;

use std::time::Duration;

use apiary_connectors::{Connector, MAX_RETRY_AFTER, Response, get};
use chrono::{TimeDelta, Utc};
use common::{ctx, params};

const HUGE: &[&str] = &["10000000000000", "18446744073709551615", "99999999999999999999999"];
const NO_WAIT: &[&str] = &["1e300", "-5", "NaN", "inf", "soon", ""];
const FAR_DATE: &str = "Fri, 31 Dec 9999 23:59:59 GMT";
const PAST_DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

fn retry_after(value: &str) -> Option<Duration> {
    Response::new(429, b"").with_header("Retry-After", value).retry_after()
}

/// What the worker does with a wait: schedule the next attempt at now + wait.
fn schedule(wait: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + TimeDelta::from_std(wait).expect("a bounded wait fits a TimeDelta")
}

#[test]
fn retry_after_is_clamped_to_a_day() {
    assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(86_400));
    for v in HUGE {
        assert_eq!(retry_after(v), Some(MAX_RETRY_AFTER), "{v}");
    }
    assert_eq!(retry_after(FAR_DATE), Some(MAX_RETRY_AFTER));
    assert_eq!(retry_after(PAST_DATE), Some(Duration::ZERO));
    for v in NO_WAIT {
        assert_eq!(retry_after(v), None, "{v:?}");
    }
    assert_eq!(retry_after("120"), Some(Duration::from_secs(120)), "valid values keep their meaning");
    let soon = (Utc::now() + TimeDelta::seconds(600)).to_rfc2822();
    let wait = retry_after(&soon).unwrap();
    assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600), "{wait:?}");
}

/// Parameters each connector can build a first request with.
fn first_params(c: &dyn Connector) -> apiary_connectors::Params {
    let pairs: &[(&str, &str)] = match c.id() {
        "arxiv" => &[("search_query", "all:x")],
        "pubmed" => &[("term", "x")],
        "semantic_scholar" => &[("query", "x")],
        "crossref" => &[("query", "x")],
        "alpha_vantage" => &[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")],
        "yahoo_finance" => &[("symbol", "AAPL")],
        "polygon" => &[
            ("ticker", "AAPL"),
            ("multiplier", "1"),
            ("timespan", "day"),
            ("from", "2005-04-01"),
            ("to", "2005-04-04"),
        ],
        "newsapi" => &[("q", "x")],
        "guardian" => &[("q", "x")],
        "reddit" => &[("subreddit", "rust")],
        "census" => &[("year", "2018"), ("dataset", "acs/acs5"), ("get", "NAME")],
        "sec_edgar" => &[("cik", "320193")],
        other => panic!("no parameters for {other}"),
    };
    params(c, pairs)
}

#[test]
fn no_connector_reports_an_unbounded_wait() {
    let values: Vec<&str> = HUGE.iter().chain(NO_WAIT).copied().chain([FAR_DATE, PAST_DATE]).collect();
    let bodies: [&[u8]; 3] = [
        b"Too Many Requests",
        b"{\"message\": \"Too Many Requests\", \"error\": 429}",
        b"<html><body>whoa there, pardner! please wait 99999999999999999999999 second(s)</body></html>",
    ];
    let ctx = ctx();
    for c in apiary_connectors::all() {
        let p = first_params(*c);
        let req = c.start(&ctx, &p).unwrap();
        for v in &values {
            for body in bodies {
                let resp = Response::new(429, body).with_header("Retry-After", v).with_header("x-ratelimit-reset", v);
                let err = c.read(&ctx, &p, &req, &resp).expect_err("a 429 is a failure");
                if let Some(wait) = err.retry_after {
                    assert!(wait <= MAX_RETRY_AFTER, "{}: {v:?} gave {wait:?}", c.id());
                    schedule(wait);
                }
                if let Err(e) = c.read_token(&resp)
                    && let Some(wait) = e.retry_after
                {
                    assert!(wait <= MAX_RETRY_AFTER, "{} token: {v:?} gave {wait:?}", c.id());
                    schedule(wait);
                }
            }
        }
    }
}

#[test]
fn reddit_reset_and_throttle_text_are_bounded() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "rust")]);
    let ctx = ctx();
    let req = r.start(&ctx, &p).unwrap();
    let wait = |resp: Response| r.read(&ctx, &p, &req, &resp).unwrap_err().retry_after;
    for v in HUGE.iter().chain(&["1e300"]) {
        assert_eq!(wait(Response::new(429, b"").with_header("x-ratelimit-reset", v)), Some(MAX_RETRY_AFTER), "{v}");
    }
    for v in ["-5", "NaN", "inf", "soon"] {
        assert_eq!(wait(Response::new(429, b"").with_header("x-ratelimit-reset", v)), None, "{v}");
    }
    assert_eq!(wait(Response::new(429, b"").with_header("x-ratelimit-reset", "244")), Some(Duration::from_secs(244)));
    assert_eq!(wait(Response::new(429, b"").with_header("x-ratelimit-reset", "1.5")), Some(Duration::from_secs(2)));
    let page = b"whoa there, pardner! please wait 18446744073709551616 second(s)";
    assert_eq!(wait(Response::new(429, page)), Some(MAX_RETRY_AFTER));
    assert_eq!(wait(Response::new(429, b"please wait 4 second(s)")), Some(Duration::from_secs(4)));
    assert_eq!(wait(Response::new(429, b"please wait  second(s)")), None);
    // The token endpoint reads the same headers.
    let resp = Response::new(429, b"").with_header("x-ratelimit-reset", "99999999999999999999999");
    assert_eq!(r.read_token(&resp).unwrap_err().retry_after, Some(MAX_RETRY_AFTER));
}

#[test]
fn an_error_never_carries_more_than_the_longest_wait() {
    let e = apiary_connectors::ConnectorError::rate_limited("x").with_retry_after(Some(Duration::MAX));
    assert_eq!(e.retry_after, Some(MAX_RETRY_AFTER));
    let e = apiary_connectors::ConnectorError::rate_limited("x").with_retry_after(Some(Duration::from_secs(7)));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
}
