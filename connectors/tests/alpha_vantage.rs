//! The Alpha Vantage connector on every recorded response in `tests/fixtures/alpha_vantage`,
//! plus the documented notice bodies, request shape and parameter rules.

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Params, Record, get};
use common::{fixture, params, read_one};

fn raw(pairs: &[(&str, &str)]) -> Params {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn global_quote_becomes_one_quote_with_numbers() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")]);
    let page = read_one(av, &p, 200, &fixture("alpha_vantage/global_quote_MSFT_success.json")).unwrap();
    assert!(page.next.is_none());
    assert_eq!(page.records.len(), 1);
    let Record::Quote(q) = &page.records[0] else { panic!("not a quote") };
    assert_eq!(q.source, "alpha_vantage");
    assert_eq!(q.symbol, "MSFT");
    assert_eq!(q.price, Some(112.13));
    assert_eq!(q.open, Some(112.63));
    assert_eq!(q.high, Some(113.17));
    assert_eq!(q.low, Some(110.64));
    assert_eq!(q.volume, Some(29_062_853.0));
    assert_eq!(q.previous_close, Some(112.79));
    assert_eq!(q.change, Some(-0.66));
    assert_eq!(q.change_percent, Some(-0.5852));
    assert_eq!(q.latest_trading_day.unwrap().to_string(), "2018-10-05");
}

#[test]
fn daily_series_bar_starts_at_new_york_midnight() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT")]);
    let page = read_one(av, &p, 200, &fixture("alpha_vantage/time_series_daily_MSFT_one_day_success.json")).unwrap();
    assert_eq!(page.records.len(), 1);
    let Record::PriceBar(bar) = &page.records[0] else { panic!("not a bar") };
    assert_eq!(bar.source, "alpha_vantage");
    assert_eq!(bar.symbol, "MSFT");
    // 2017-08-11 in US/Eastern (daylight time, UTC-4).
    assert_eq!(bar.time.to_rfc3339(), "2017-08-11T04:00:00+00:00");
    assert_eq!((bar.open, bar.high, bar.low, bar.close), (Some(71.61), Some(72.7), Some(71.28), Some(72.5)));
    assert_eq!(bar.volume, Some(21_121_250.0));
    assert_eq!(bar.interval.as_deref(), Some("1d"));
}

#[test]
fn a_series_asked_for_days_keeps_the_bars_of_those_days() {
    let av = get("alpha_vantage").unwrap();
    let body = fixture("alpha_vantage/time_series_daily_MSFT_one_day_success.json");
    let on = |from: &str, to: &str| {
        params(av, &[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT"), ("from", from), ("to", to)])
    };
    assert_eq!(read_one(av, &on("2017-08-01", "2017-08-11"), 200, &body).unwrap().records.len(), 1);
    assert_eq!(read_one(av, &on("2017-08-11", "2017-08-11"), 200, &body).unwrap().records.len(), 1);
    assert!(read_one(av, &on("2017-08-12", "2017-08-31"), 200, &body).unwrap().records.is_empty());
    assert!(read_one(av, &on("2017-08-01", "2017-08-10"), 200, &body).unwrap().records.is_empty());
    // Days long past need the whole history; a size given is sent as it is.
    let ctx = common::ctx();
    assert_eq!(av.start(&ctx, &on("2017-08-01", "2017-08-11")).unwrap().query_value("outputsize"), Some("full"));
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(av.start(&ctx, &on(&today, &today)).unwrap().query_value("outputsize"), Some("compact"));
    let sized = params(
        av,
        &[
            ("function", "TIME_SERIES_DAILY"),
            ("symbol", "MSFT"),
            ("from", "2017-08-01"),
            ("to", "2017-08-11"),
            ("outputsize", "compact"),
        ],
    );
    assert_eq!(av.start(&ctx, &sized).unwrap().query_value("outputsize"), Some("compact"));
    let quote = raw(&[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT"), ("from", "2017-08-01"), ("to", "2017-08-11")]);
    assert!(validate(av, quote).is_err(), "a quote has no days");
}

#[test]
fn intraday_series_is_oldest_first_in_utc() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "TIME_SERIES_INTRADAY"), ("symbol", "msft"), ("interval", "1min")]);
    let page = read_one(av, &p, 200, &fixture("alpha_vantage/time_series_intraday_1min_MSFT_success.json")).unwrap();
    assert_eq!(page.records.len(), 100, "compact output: 100 points");
    let bars: Vec<_> = page
        .records
        .iter()
        .map(|r| match r {
            Record::PriceBar(b) => b,
            _ => panic!("not a bar"),
        })
        .collect();
    assert!(bars.windows(2).all(|w| w[0].time < w[1].time), "oldest first, no duplicates");
    let first = bars[0];
    let last = bars[99];
    // 2017-12-18 13:17:00 / 14:56:00 US/Eastern, standard time (UTC-5).
    assert_eq!(first.time.to_rfc3339(), "2017-12-18T18:17:00+00:00");
    assert_eq!(first.close, Some(86.8));
    assert_eq!(first.volume, Some(31_172.0));
    assert_eq!(last.time.to_rfc3339(), "2017-12-18T19:56:00+00:00");
    assert_eq!((last.open, last.low, last.close), (Some(86.49), Some(86.475), Some(86.5)));
    assert!(bars.iter().all(|b| b.symbol == "MSFT" && b.interval.as_deref() == Some("1min")));
    assert!(bars.iter().all(|b| b.open.is_some() && b.high.is_some() && b.low.is_some() && b.volume.is_some()));
}

#[test]
fn note_at_http_200_is_rate_limited() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT")]);
    let err = read_one(av, &p, 200, &fixture("alpha_vantage/rate_limit_note_200.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert!(err.message.contains("5 calls per minute"), "{}", err.message);
    assert_eq!(err.retry_after, Some(Duration::from_secs(60)), "a per-minute quota: wait a minute");
}

#[test]
fn notice_bodies_are_classified_and_never_show_the_key() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "GLOBAL_QUOTE"), ("symbol", "IBM")]);
    let cases: &[(&str, ErrorClass)] = &[
        (
            r#"{"Information": "Thank you for using Alpha Vantage! We have detected your API key as test-key and our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."}"#,
            ErrorClass::RateLimited,
        ),
        (
            r#"{"Information": "We have detected your API key as ABCDEF123 and our standard API rate limit is 25 requests per day."}"#,
            ErrorClass::RateLimited,
        ),
        (
            r#"{"Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for GLOBAL_QUOTE."}"#,
            ErrorClass::Permanent,
        ),
        (
            r#"{"Error Message": "the parameter apikey is invalid or missing. Please claim your free API key on (https://www.alphavantage.co/support/#api-key)."}"#,
            ErrorClass::Auth,
        ),
        (
            r#"{"Information": "The **demo** API key is for demo purposes only. Please claim your free API key at (https://www.alphavantage.co/support/#api-key) to explore our full API offerings."}"#,
            ErrorClass::Auth,
        ),
        (
            r#"{"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium endpoints"}"#,
            ErrorClass::Auth,
        ),
        (r#"{"Information": "Something new the docs never mentioned."}"#, ErrorClass::RateLimited),
        (r#"{"Global Quote": {}}"#, ErrorClass::Permanent),
        (r#"{}"#, ErrorClass::Transient),
        (r#"[1, 2]"#, ErrorClass::Transient),
    ];
    for (body, class) in cases {
        let err = read_one(av, &p, 200, body.as_bytes()).unwrap_err();
        assert_eq!(err.class, *class, "{body}");
        assert!(!err.message.contains("test-key") && !err.message.contains("ABCDEF123"), "key leaked: {}", err.message);
    }
    let p = params(av, &[("function", "TIME_SERIES_WEEKLY"), ("symbol", "IBM")]);
    let err = read_one(av, &p, 200, b"{}").unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "no series in a 200 body");
}

/// Notices are read in the same pass as the data: whatever their value's type, wherever they sit,
/// a repeated one counting by its last value.
#[test]
fn notices_of_any_shape_are_read_in_one_pass() {
    let av = get("alpha_vantage").unwrap();
    let quote = params(av, &[("function", "GLOBAL_QUOTE"), ("symbol", "IBM")]);
    let series = params(av, &[("function", "TIME_SERIES_DAILY"), ("symbol", "IBM")]);
    let cases: &[(&Params, &str, ErrorClass, &str)] = &[
        (&quote, r#"{"Information": 25}"#, ErrorClass::RateLimited, "Alpha Vantage notice: 25"),
        (
            &quote,
            r#"{"Note": {"b": [1, null], "a": true}}"#,
            ErrorClass::RateLimited,
            r#"rate limit: {"a":true,"b":[1,null]}"#,
        ),
        (
            &quote,
            r#"{"Error Message": "Invalid API call.\n  Retry"}"#,
            ErrorClass::Permanent,
            "refused the call: Invalid API call. Retry",
        ),
        // A later repeat of a key replaces the earlier value; `Error Message` wins over `Note`.
        (
            &quote,
            r#"{"Note": "your apikey is invalid", "Note": "5 calls per minute"}"#,
            ErrorClass::RateLimited,
            "rate limit: 5 calls per minute",
        ),
        (
            &quote,
            r#"{"Information": "the apikey is invalid", "Information": "new"}"#,
            ErrorClass::RateLimited,
            "notice: new",
        ),
        (
            &quote,
            r#"{"Global Quote": {"01. symbol": "IBM"}, "Error Message": "the apikey is missing"}"#,
            ErrorClass::Auth,
            "refused the call: the apikey is missing",
        ),
        (
            &series,
            r#"{"Time Series (Daily)": {}, "Note": "call frequency"}"#,
            ErrorClass::RateLimited,
            "rate limit: call frequency",
        ),
        (
            &series,
            r#"{"Information": "This is a premium endpoint.", "Meta Data": {}}"#,
            ErrorClass::Auth,
            "refused the key: This is a premium endpoint.",
        ),
    ];
    for (p, body, class, message) in cases {
        let err = read_one(av, p, 200, body.as_bytes()).unwrap_err();
        assert_eq!((err.class, err.message.contains(message)), (*class, true), "{body}: {}", err.message);
    }
    let long = format!(r#"{{"Note": "{}"}}"#, "é".repeat(300));
    let err = read_one(av, &quote, 200, long.as_bytes()).unwrap_err();
    assert_eq!(err.message, format!("Alpha Vantage rate limit: {}…", "é".repeat(200)));
}

#[test]
fn truncated_and_http_failures() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT"), ("interval", "1min")]);
    let body = fixture("alpha_vantage/time_series_intraday_1min_MSFT_success.json");
    assert_eq!(read_one(av, &p, 200, &body[..body.len() / 2]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(av, &p, 502, b"<html>Bad Gateway</html>").unwrap_err().class, ErrorClass::Transient);
    let ctx = common::ctx();
    let req = av.start(&ctx, &p).unwrap();
    let resp = apiary_connectors::Response::new(429, b"Too Many Requests").with_header("Retry-After", "30");
    let err = av.read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    // A notice wins over the status, whatever it is.
    let err = read_one(av, &p, 503, &fixture("alpha_vantage/rate_limit_note_200.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
}

#[test]
fn weekly_adjusted_and_utc_series_parse() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "time_series_weekly_adjusted"), ("symbol", "IBM")]);
    let body = r#"{"Meta Data": {"1. Information": "Weekly Adjusted Prices and Volumes", "2. Symbol": "IBM",
        "3. Last Refreshed": "2024-07-03", "4. Time Zone": "US/Eastern"},
      "Weekly Adjusted Time Series": {
        "2024-07-03": {"1. open": "174.0", "2. high": "178.0", "3. low": "173.5", "4. close": "176.0",
                       "5. adjusted close": "176.0", "6. volume": "9000000", "7. dividend amount": "0.0000"},
        "2024-01-05": {"1. open": "162.0", "2. high": "163.0", "3. low": "158.0", "4. close": "159.2",
                       "5. adjusted close": "155.1", "6. volume": "-", "7. dividend amount": "0.0000"}}}"#;
    let page = read_one(av, &p, 200, body.as_bytes()).unwrap();
    let times: Vec<String> = page
        .records
        .iter()
        .map(|r| match r {
            Record::PriceBar(b) => b.time.to_rfc3339(),
            _ => panic!(),
        })
        .collect();
    // January is standard time (UTC-5), July daylight time (UTC-4).
    assert_eq!(times, ["2024-01-05T05:00:00+00:00", "2024-07-03T04:00:00+00:00"]);
    let Record::PriceBar(jan) = &page.records[0] else { panic!() };
    assert_eq!(jan.close, Some(159.2), "close, not adjusted close");
    assert_eq!(jan.volume, None, "a non-number stays empty");
    assert_eq!(jan.interval.as_deref(), Some("1wk"));

    let p = params(av, &[("function", "TIME_SERIES_INTRADAY"), ("symbol", "BTC"), ("interval", "5min")]);
    let body = r#"{"Meta Data": {"2. Symbol": "BTC", "4. Interval": "5min", "6. Time Zone": "UTC"},
      "Time Series (5min)": {"2024-07-01 09:30:00": {"1. open": "1", "2. high": "2", "3. low": "0.5", "4. close": "1.5", "5. volume": "10"}}}"#;
    let page = read_one(av, &p, 200, body.as_bytes()).unwrap();
    let Record::PriceBar(b) = &page.records[0] else { panic!() };
    assert_eq!(b.time.to_rfc3339(), "2024-07-01T09:30:00+00:00");
    assert_eq!(b.interval.as_deref(), Some("5min"));
}

#[test]
fn request_has_function_symbol_and_a_secret_apikey() {
    let av = get("alpha_vantage").unwrap();
    assert!(av.requires_key());
    let ctx = common::ctx();
    let p = params(
        av,
        &[("function", "TIME_SERIES_INTRADAY"), ("symbol", "msft"), ("interval", "5min"), ("outputsize", "full")],
    );
    let req = av.start(&ctx, &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/query");
    assert_eq!(req.query_value("function"), Some("TIME_SERIES_INTRADAY"));
    assert_eq!(req.query_value("symbol"), Some("MSFT"));
    assert_eq!(req.query_value("interval"), Some("5min"));
    assert_eq!(req.query_value("outputsize"), Some("full"));
    assert_eq!(req.query_value("apikey"), None, "the key is never a loggable query value");
    assert_eq!(req.secrets, vec![(SecretPlace::Query, "apikey".to_owned(), "test-key".to_owned())]);
    assert!(!req.to_string().contains("test-key"));
    assert!(!format!("{req:?}").contains("test-key"));

    let p = params(av, &[("function", "GLOBAL_QUOTE"), ("symbol", "IBM")]);
    let req = av.start(&ctx, &p).unwrap();
    assert_eq!(req.query.len(), 2, "one call, no extras: {req}");
    let no_key = Context { api_key: None, ..ctx };
    let err = av.start(&no_key, &p).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY"), "{}", err.message);
}

#[test]
fn parameters_are_checked_and_canonical() {
    let av = get("alpha_vantage").unwrap();
    let p = params(av, &[("function", "global_quote"), ("symbol", "msft")]);
    assert_eq!(apiary_connectors::dataset_key("alpha_vantage", &p), "alpha_vantage?function=GLOBAL_QUOTE&symbol=MSFT");
    let refused = [
        raw(&[("symbol", "MSFT")]),
        raw(&[("function", "GLOBAL_QUOTE")]),
        raw(&[("function", "CRYPTO_INTRADAY"), ("symbol", "MSFT")]),
        raw(&[("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT")]),
        raw(&[("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT"), ("interval", "2min")]),
        raw(&[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT"), ("interval", "1min")]),
        raw(&[("function", "GLOBAL_QUOTE"), ("symbol", "MSFT"), ("outputsize", "full")]),
        raw(&[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT"), ("outputsize", "huge")]),
        raw(&[("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT"), ("apikey", "x")]),
    ];
    for r in refused {
        let shown = format!("{r:?}");
        let err = validate(av, r).expect_err(&shown).to_string();
        assert!(!err.is_empty());
    }
    let err = validate(av, raw(&[("function", "NOPE"), ("symbol", "MSFT")])).unwrap_err().to_string();
    assert!(err.contains("GLOBAL_QUOTE") && err.contains("TIME_SERIES_DAILY"), "lists the valid functions: {err}");
    assert!(av.params().iter().all(|p| !p.help.is_empty()));
}

#[test]
fn no_panic_on_any_prefix_of_any_financial_fixture() {
    let c = get("alpha_vantage").unwrap();
    let p = params(c, &[("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT"), ("interval", "1min")]);
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
