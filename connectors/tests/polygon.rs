//! The Polygon connector on every recorded response in `tests/fixtures/polygon`, plus the
//! documented error bodies, `next_url` paging, request shape and parameter rules.

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Params, Record, Response, get};
use common::{fixture, params, read_one};

fn aapl_daily() -> Params {
    params(
        get("polygon").unwrap(),
        &[("ticker", "AAPL"), ("multiplier", "1"), ("timespan", "day"), ("from", "2005-04-01"), ("to", "2005-04-04")],
    )
}

fn bar(r: &Record) -> &apiary_connectors::record::PriceBar {
    match r {
        Record::PriceBar(b) => b,
        _ => panic!("not a price bar"),
    }
}

#[test]
fn daily_range_gives_two_bars() {
    let pg = get("polygon").unwrap();
    let page =
        read_one(pg, &aapl_daily(), 200, &fixture("polygon/aggs_range_AAPL_1_day_2005-04-01_2005-04-04_success.json"))
            .unwrap();
    assert!(page.next.is_none(), "no next_url: one request");
    assert_eq!(page.records.len(), 2);
    let b = bar(&page.records[0]);
    assert_eq!(b.source, "polygon");
    assert_eq!(b.symbol, "AAPL");
    // Polygon stamps daily bars with midnight New York time.
    assert_eq!(b.time.to_rfc3339(), "2005-04-01T05:00:00+00:00");
    assert_eq!((b.open, b.high, b.low, b.close), (Some(1.5032), Some(1.5064), Some(1.4489), Some(1.4604)));
    assert_eq!(b.volume, Some(642_646_396.0));
    assert_eq!(b.interval.as_deref(), Some("1d"));
    let b = bar(&page.records[1]);
    assert_eq!(b.time.to_rfc3339(), "2005-04-04T04:00:00+00:00");
    assert_eq!(b.close, Some(1.4675));
}

#[test]
fn previous_close_bar_takes_its_ticker_from_t() {
    let pg = get("polygon").unwrap();
    let p = params(
        pg,
        &[("ticker", "aapl"), ("multiplier", "1"), ("timespan", "day"), ("from", "2022-04-26"), ("to", "2022-04-26")],
    );
    let page = read_one(pg, &p, 200, &fixture("polygon/aggs_prev_AAPL_success.json")).unwrap();
    assert_eq!(page.records.len(), 1);
    let b = bar(&page.records[0]);
    assert_eq!(b.symbol, "AAPL");
    assert_eq!(b.time.to_rfc3339(), "2022-04-26T20:00:00+00:00");
    assert_eq!((b.open, b.close, b.volume), (Some(162.25), Some(156.8), Some(95_595_226.0)));
}

#[test]
fn next_url_is_followed_on_the_configured_root_with_the_key_as_a_secret() {
    let pg = get("polygon").unwrap();
    let p = aapl_daily();
    let ctx = common::ctx();
    let first = pg.start(&ctx, &p).unwrap();
    let body = fixture("polygon/reference_tickers_page1_with_next_url_success.json");
    let page = pg.read(&ctx, &p, &first, &Response::new(200, &body)).unwrap();
    assert!(page.records.is_empty(), "ticker reference items carry no bar time");
    let next = page.next.expect("a next page");
    assert_eq!(next.url, "http://upstream.test/v3/reference/tickers");
    assert!(next.query_value("cursor").unwrap().starts_with("YWN0aXZlPXRydWUmZGF0ZT0yMDIy"));
    assert_eq!(next.query.len(), 1, "only the cursor: {next}");
    assert_eq!(next.secrets, vec![(SecretPlace::Query, "apiKey".to_owned(), "test-key".to_owned())]);
    assert_eq!(next.index, 1);
    assert!(!next.to_string().contains("test-key"));

    // An aggregates page with a next_url: bars and a next request; a key in next_url is not logged.
    let with_next = String::from_utf8(fixture("polygon/aggs_range_AAPL_1_day_2005-04-01_2005-04-04_success.json"))
        .unwrap()
        .replacen(
            "\"status\"",
            "\"next_url\": \"https://api.massive.com/v2/aggs/ticker/AAPL/range/1/day/1112331600000/1112587200000?cursor=bGltaXQ9MiZzb3J0PWFzYw&apiKey=leaked\", \"status\"",
            1,
        );
    let page = pg.read(&ctx, &p, &next, &Response::new(200, with_next.as_bytes())).unwrap();
    assert_eq!(page.records.len(), 2);
    let third = page.next.expect("a third page");
    assert_eq!(third.url, "http://upstream.test/v2/aggs/ticker/AAPL/range/1/day/1112331600000/1112587200000");
    assert_eq!(third.query_value("cursor"), Some("bGltaXQ9MiZzb3J0PWFzYw"));
    assert_eq!(third.query_value("apiKey"), None);
    assert_eq!(third.index, 2);
    assert!(!third.to_string().contains("leaked"));

    // The fetch's page bound ends the chain.
    let bounded = Context { max_pages: 1, ..ctx };
    let page = pg.read(&bounded, &p, &first, &Response::new(200, &body)).unwrap();
    assert!(page.next.is_none());
}

#[test]
fn error_bodies_are_classified() {
    let pg = get("polygon").unwrap();
    let p = aapl_daily();
    let ctx = common::ctx();
    let req = pg.start(&ctx, &p).unwrap();
    let read = |status: u16, body: &str| pg.read(&ctx, &p, &req, &Response::new(status, body.as_bytes()));
    let cases: &[(u16, &str, ErrorClass)] = &[
        (
            429,
            r#"{"status":"ERROR","request_id":"a1","error":"You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"}"#,
            ErrorClass::RateLimited,
        ),
        (
            403,
            r#"{"status":"NOT_AUTHORIZED","request_id":"a2","message":"You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"}"#,
            ErrorClass::Auth,
        ),
        (401, r#"{"status":"ERROR","request_id":"a3","error":"Unknown API Key"}"#, ErrorClass::Auth),
        (
            400,
            r#"{"status":"ERROR","request_id":"a4","error":"Could not parse the time parameter: 'from'."}"#,
            ErrorClass::Permanent,
        ),
        (
            404,
            r#"{"status":"NOT_FOUND","request_id":"a5","message":"The requested resource was not found"}"#,
            ErrorClass::Permanent,
        ),
        (200, r#"{"status":"ERROR","request_id":"a6","error":"bad timespan"}"#, ErrorClass::Permanent),
        (500, r#"{"status":"ERROR","request_id":"a7","error":"Internal error"}"#, ErrorClass::Transient),
        (502, "<html><body>502 Bad Gateway</body></html>", ErrorClass::Transient),
        (200, r#"{"ticker":"AAPL","results":[{"t":1"#, ErrorClass::Transient),
        (200, r#"{"unexpected":true}"#, ErrorClass::Transient),
    ];
    for (status, body, class) in cases {
        let err = read(*status, body).unwrap_err();
        assert_eq!(err.class, *class, "{status} {body}");
    }
    let resp = Response::new(429, br#"{"status":"ERROR","error":"exceeded the maximum requests per minute"}"#)
        .with_header("Retry-After", "12");
    let err = pg.read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(12)));
    let err = read(401, r#"{"status":"ERROR","error":"Unknown API Key test-key"}"#).unwrap_err();
    assert!(!err.message.contains("test-key"), "key echoed into the message: {}", err.message);
}

#[test]
fn delayed_and_empty_answers_are_successes() {
    let pg = get("polygon").unwrap();
    let p = aapl_daily();
    let delayed = String::from_utf8(fixture("polygon/aggs_range_AAPL_1_day_2005-04-01_2005-04-04_success.json"))
        .unwrap()
        .replace("\"OK\"", "\"DELAYED\"");
    assert_eq!(read_one(pg, &p, 200, delayed.as_bytes()).unwrap().records.len(), 2);
    let empty = br#"{"ticker":"AAPL","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK","request_id":"x","count":0}"#;
    let page = read_one(pg, &p, 200, empty).unwrap();
    assert!(page.records.is_empty() && page.next.is_none());
}

#[test]
fn request_builds_the_aggs_path_with_a_secret_api_key() {
    let pg = get("polygon").unwrap();
    assert!(pg.requires_key());
    let ctx = common::ctx();
    let req = pg.start(&ctx, &aapl_daily()).unwrap();
    assert_eq!(req.url, "http://upstream.test/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04");
    assert_eq!(req.query_value("sort"), Some("asc"));
    assert_eq!(req.query_value("apiKey"), None);
    assert_eq!(req.secrets, vec![(SecretPlace::Query, "apiKey".to_owned(), "test-key".to_owned())]);
    assert!(!format!("{req} {req:?}").contains("test-key"));
    assert_eq!(req.index, 0);

    let p = params(
        pg,
        &[
            ("ticker", "x:btcusd"),
            ("multiplier", "5"),
            ("timespan", "Minute"),
            ("from", "1626912000000"),
            ("to", "1629590400000"),
            ("adjusted", "FALSE"),
            ("limit", "50000"),
        ],
    );
    let req = pg.start(&ctx, &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/v2/aggs/ticker/X:BTCUSD/range/5/minute/1626912000000/1629590400000");
    assert_eq!(req.query_value("adjusted"), Some("false"));
    assert_eq!(req.query_value("limit"), Some("50000"));

    let err = pg.start(&Context { api_key: None, ..ctx }, &aapl_daily()).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
}

#[test]
fn parameters_are_checked() {
    let pg = get("polygon").unwrap();
    let base =
        [("ticker", "AAPL"), ("multiplier", "1"), ("timespan", "day"), ("from", "2024-01-01"), ("to", "2024-01-31")];
    let with = |k: &str, v: &str| -> Params {
        let mut p: Params = base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if v.is_empty() {
            p.remove(k);
        } else {
            p.insert(k.to_owned(), v.to_owned());
        }
        p
    };
    assert!(validate(pg, with("limit", "")).is_ok());
    for (k, v) in [
        ("multiplier", ""),
        ("multiplier", "0"),
        ("multiplier", "two"),
        ("timespan", "fortnight"),
        ("from", "01/01/2024"),
        ("from", "2024-02-01"),
        ("to", ""),
        ("adjusted", "maybe"),
        ("limit", "50001"),
        ("ticker", "AAPL/prev"),
        ("apiKey", "x"),
    ] {
        assert!(validate(pg, with(k, v)).is_err(), "{k}={v:?} accepted");
    }
    let p = params(
        pg,
        &[("ticker", "aapl"), ("multiplier", "1"), ("timespan", "DAY"), ("from", "2024-01-01"), ("to", "2024-01-31")],
    );
    assert_eq!(
        apiary_connectors::dataset_key("polygon", &p),
        "polygon?from=2024-01-01&multiplier=1&ticker=AAPL&timespan=day&to=2024-01-31"
    );
    assert!(pg.params().iter().all(|p| !p.help.is_empty()));
}

#[test]
fn no_panic_on_any_prefix_of_any_financial_fixture() {
    let c = get("polygon").unwrap();
    let p = params(
        c,
        &[("ticker", "AAPL"), ("multiplier", "1"), ("timespan", "day"), ("from", "2005-04-01"), ("to", "2005-04-04")],
    );
    common::read_prefixes(c, &p, &["alpha_vantage", "yahoo_finance", "polygon"], &[200, 404, 429, 500], 64, &[]);
    for odd in [
        "null",
        "[]",
        "\"x\"",
        "{\"chart\":null}",
        "{\"results\":7,\"status\":\"OK\"}",
        "{\"Meta Data\":1,\"x\":{\"2020-13-45\":{}}}",
    ] {
        let _ = read_one(c, &p, 200, odd.as_bytes());
    }
}
