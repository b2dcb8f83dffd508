//! The Yahoo Finance connector on every recorded response in `tests/fixtures/yahoo_finance`,
//! plus error envelopes, null bars, request shape and parameter rules.

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::{ErrorClass, Params, Record, Response, get};
use common::{fixture, params, read_one};

fn bars(records: &[Record]) -> Vec<&apiary_connectors::record::PriceBar> {
    records
        .iter()
        .map(|r| match r {
            Record::PriceBar(b) => b,
            _ => panic!("not a price bar"),
        })
        .collect()
}

#[test]
fn aapl_daily_chart_gives_one_bar() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "AAPL"), ("range", "5d"), ("interval", "1d")]);
    let page = read_one(yf, &p, 200, &fixture("yahoo_finance/chart_v8_AAPL_1d_2020-01-01_to_2020-01-03_success.json"))
        .unwrap();
    assert!(page.next.is_none());
    let bars = bars(&page.records);
    assert_eq!(bars.len(), 1);
    let b = bars[0];
    assert_eq!(b.source, "yahoo_finance");
    assert_eq!(b.symbol, "AAPL");
    // 1577975400 = 2020-01-02 09:30 New York, the session open Yahoo stamps daily bars with.
    assert_eq!(b.time.to_rfc3339(), "2020-01-02T14:30:00+00:00");
    assert_eq!(b.open, Some(74.05999755859375));
    assert_eq!(b.high, Some(75.1500015258789));
    assert_eq!(b.low, Some(73.79750061035156));
    assert_eq!(b.close, Some(75.0875015258789));
    assert_eq!(b.volume, Some(135_480_400.0));
    assert_eq!(b.interval.as_deref(), Some("1d"));
}

#[test]
fn btc_daily_chart_gives_three_bars_oldest_first() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "btc-usd")]);
    let page =
        read_one(yf, &p, 200, &fixture("yahoo_finance/chart_v8_BTC-USD_1d_2020-01-01_to_2020-01-03_success.json"))
            .unwrap();
    let bars = bars(&page.records);
    assert_eq!(bars.len(), 3);
    let times: Vec<String> = bars.iter().map(|b| b.time.to_rfc3339()).collect();
    assert_eq!(times, ["2020-01-01T00:00:00+00:00", "2020-01-02T00:00:00+00:00", "2020-01-03T00:00:00+00:00"]);
    assert!(bars.iter().all(|b| b.symbol == "BTC-USD"));
    assert_eq!(bars[0].close, Some(7200.17431640625));
    assert_eq!(bars[2].high, Some(7413.71533203125));
    assert_eq!(bars[2].volume, Some(28_111_481_032.0));
}

#[test]
fn weekend_minute_chart_without_timestamps_is_an_empty_success() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "AAPL"), ("range", "1d"), ("interval", "1m")]);
    let page =
        read_one(yf, &p, 200, &fixture("yahoo_finance/chart_v8_AAPL_1m_weekend_no_timestamps_success.json")).unwrap();
    assert!(page.records.is_empty());
    assert!(page.next.is_none());
}

#[test]
fn error_envelope_is_permanent() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "BTC-USD")]);
    let body = fixture("yahoo_finance/quoteSummary_v10_BTC-USD_balanceSheetHistory_not_found_404.json");
    let err = read_one(yf, &p, 404, &body).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Not Found") && err.message.contains("No fundamentals data"), "{}", err.message);
    // The same envelope at HTTP 200 is still a failure.
    assert_eq!(read_one(yf, &p, 200, &body).unwrap_err().class, ErrorClass::Permanent);

    let p = params(yf, &[("symbol", "NOPE123")]);
    let chart = br#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#;
    let err = read_one(yf, &p, 404, chart).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("delisted"), "{}", err.message);
    let bad = br#"{"chart":{"result":null,"error":{"code":"Bad Request","description":"Invalid input - interval=1m is not supported for range=max"}}}"#;
    assert_eq!(read_one(yf, &p, 400, bad).unwrap_err().class, ErrorClass::Permanent);
    let crumb = br#"{"chart":{"result":null,"error":{"code":"Unauthorized","description":"Invalid Crumb"}}}"#;
    assert_eq!(read_one(yf, &p, 401, crumb).unwrap_err().class, ErrorClass::Auth);
    let busy = br#"{"chart":{"result":null,"error":{"code":"Internal Server Error","description":"boom"}}}"#;
    assert_eq!(read_one(yf, &p, 500, busy).unwrap_err().class, ErrorClass::Transient);
}

#[test]
fn throttling_truncation_and_odd_bodies() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "AAPL")]);
    let ctx = common::ctx();
    let req = yf.start(&ctx, &p).unwrap();
    let resp = Response::new(429, b"Too Many Requests\r\n").with_header("Retry-After", "5");
    let err = yf.read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(5)));
    let body = fixture("yahoo_finance/chart_v8_BTC-USD_1d_2020-01-01_to_2020-01-03_success.json");
    assert_eq!(read_one(yf, &p, 200, &body[..body.len() - 40]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(yf, &p, 200, b"{\"finance\":{}}").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(yf, &p, 502, b"<html>bad gateway</html>").unwrap_err().class, ErrorClass::Transient);
    let page = read_one(yf, &p, 200, br#"{"chart":{"result":[],"error":null}}"#).unwrap();
    assert!(page.records.is_empty());
}

#[test]
fn all_null_bars_are_skipped_partial_ones_kept() {
    let yf = get("yahoo_finance").unwrap();
    let p = params(yf, &[("symbol", "AAPL"), ("interval", "5m"), ("range", "1d")]);
    let body = br#"{"chart":{"result":[{"meta":{"symbol":"AAPL","dataGranularity":"5m"},
        "timestamp":[1700000000,1700000300,1700000600,"x"],
        "indicators":{"quote":[{"open":[1.0,null,2.0],"high":[1.5,null,null],"low":[0.5,null,null],
                                 "close":[1.2,null,null],"volume":[100,null,0]}]}}],"error":null}}"#;
    let page = read_one(yf, &p, 200, body).unwrap();
    let bars = bars(&page.records);
    assert_eq!(bars.len(), 2, "the all-null bar and the bad timestamp are dropped");
    assert_eq!(bars[0].close, Some(1.2));
    assert_eq!(bars[0].interval.as_deref(), Some("5min"));
    assert_eq!(bars[1].time.to_rfc3339(), "2023-11-14T22:23:20+00:00");
    assert_eq!((bars[1].open, bars[1].high, bars[1].close, bars[1].volume), (Some(2.0), None, None, Some(0.0)));
}

#[test]
fn days_are_asked_for_as_periods_instead_of_a_range() {
    let yf = get("yahoo_finance").unwrap();
    let ctx = common::ctx();
    let p = params(yf, &[("symbol", "aapl"), ("from", "2020-01-01"), ("to", "2020-01-02")]);
    let req = yf.start(&ctx, &p).unwrap();
    // As in the recorded request: the start of the first day, the end of the last.
    assert_eq!(req.query_value("period1"), Some("1577836800"));
    assert_eq!(req.query_value("period2"), Some("1578009600"));
    assert_eq!(req.query_value("range"), None);
    assert_eq!(req.query_value("interval"), Some("1d"));
    for refused in [
        &[("symbol", "AAPL"), ("from", "2020-01-01"), ("to", "2020-01-02"), ("range", "5d")][..],
        &[("symbol", "AAPL"), ("from", "2020-01-03"), ("to", "2020-01-02")],
        &[("symbol", "AAPL"), ("from", "2020-01-03")],
        &[("symbol", "AAPL"), ("from", "2020-13-01"), ("to", "2020-12-02")],
    ] {
        let raw: Params = refused.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(validate(yf, raw).is_err(), "{refused:?}");
    }
}

#[test]
fn request_is_one_chart_call_with_range_and_interval() {
    let yf = get("yahoo_finance").unwrap();
    assert!(!yf.requires_key() && !yf.requires_contact());
    let ctx = common::ctx();
    let req = yf.start(&ctx, &params(yf, &[("symbol", "btc-usd")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/v8/finance/chart/BTC-USD");
    assert_eq!(req.query_value("range"), Some("1mo"));
    assert_eq!(req.query_value("interval"), Some("1d"));
    assert!(req.secrets.is_empty(), "no key, even when one is configured");
    assert!(req.headers.iter().any(|(k, v)| k == "User-Agent" && v.contains("apiary")));

    let req = yf.start(&ctx, &params(yf, &[("symbol", "^gspc"), ("range", "YTD"), ("interval", "1wk")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/v8/finance/chart/%5EGSPC");
    assert_eq!(req.query_value("range"), Some("ytd"));
    assert_eq!(req.query_value("interval"), Some("1wk"));
    let req = yf.start(&ctx, &params(yf, &[("symbol", "eurusd=x")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/v8/finance/chart/EURUSD=X");
}

#[test]
fn parameters_are_checked() {
    let yf = get("yahoo_finance").unwrap();
    let raw =
        |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    for bad in [
        raw(&[("range", "1mo")]),
        raw(&[("symbol", "AAPL"), ("range", "7d")]),
        raw(&[("symbol", "AAPL"), ("interval", "1s")]),
        raw(&[("symbol", "AAPL/../x")]),
        raw(&[("symbol", "AAPL"), ("period1", "0")]),
    ] {
        assert!(validate(yf, bad.clone()).is_err(), "{bad:?}");
    }
    let p = params(yf, &[("symbol", "aapl"), ("range", "1Y")]);
    assert_eq!(apiary_connectors::dataset_key("yahoo_finance", &p), "yahoo_finance?range=1y&symbol=AAPL");
    assert!(yf.params().iter().all(|p| !p.help.is_empty()));
}

#[test]
fn no_panic_on_any_prefix_of_any_financial_fixture() {
    let c = get("yahoo_finance").unwrap();
    let p = params(c, &[("symbol", "AAPL")]);
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
