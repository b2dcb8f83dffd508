//! The Guardian connector on every recorded response in `tests/fixtures/guardian`, plus the
//! gateway's documented error shapes.

mod common;

use apiary_connectors::params::validate;
use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Params, Response, get};
use common::{articles, ctx, fixture, params, read_one};

#[test]
fn search_page_parses_every_result() {
    let g = get("guardian").unwrap();
    let p = params(g, &[("order-by", "newest")]);
    let page = read_one(g, &p, 200, &fixture("guardian/search_orderBy_newest_page1_success.json")).unwrap();
    let a = articles(&page);
    assert_eq!(a.len(), 10);
    assert!(page.next.is_none(), "a default fetch is one page, though 168727 exist");
    assert_eq!(a[0].source, "guardian");
    assert_eq!(a[0].id, "sport/blog/live/2014/sep/10/county-cricket-live-blog-notts-yorkshire-surrey");
    assert_eq!(a[0].title, "County cricket – live!");
    assert_eq!(
        a[0].url.as_deref(),
        Some("http://www.theguardian.com/sport/blog/live/2014/sep/10/county-cricket-live-blog-notts-yorkshire-surrey")
    );
    assert_eq!(a[0].published.unwrap().to_rfc3339(), "2014-09-10T16:10:21+00:00");
    assert_eq!(a[0].outlet.as_deref(), Some("Sport"));
    assert_eq!(a[0].author, None, "no fields in this recording");
    assert_eq!(a[9].id, "football/2014/sep/10/the-fiver-a-baffling-queue-of-masochists");
    assert_eq!(a[9].outlet.as_deref(), Some("Football"));
    assert!(a.iter().all(|a| a.published.is_some() && !a.title.is_empty()));
}

#[test]
fn fields_give_author_and_plain_summary() {
    let g = get("guardian").unwrap();
    let p = params(g, &[("q", "cricket")]);
    let body = br#"{"response":{"status":"ok","total":1,"currentPage":1,"pages":1,"results":[{"id":"a/b","webTitle":"  Two\n words ","webUrl":"https://www.theguardian.com/a/b","webPublicationDate":"2024-05-01T09:30:00Z","sectionName":"A","fields":{"byline":"Jo Bloggs &amp; Ann Other","trailText":"<p>Rain stops <strong>play</strong> &#8211; again</p>"}}]}}"#;
    let page = read_one(g, &p, 200, body).unwrap();
    let a = articles(&page);
    assert_eq!(a[0].title, "Two words");
    assert_eq!(a[0].author.as_deref(), Some("Jo Bloggs & Ann Other"));
    assert_eq!(a[0].summary.as_deref(), Some("Rain stops play – again"));
}

#[test]
fn not_found_envelope_is_permanent() {
    let g = get("guardian").unwrap();
    let p = params(g, &[("q", "x")]);
    let body = fixture("guardian/item_not_found_404.json");
    let err = read_one(g, &p, 404, &body).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("could not be found"), "{}", err.message);
    // An error envelope is a failure whatever the status says.
    assert_eq!(read_one(g, &p, 200, &body).unwrap_err().class, ErrorClass::Permanent);
}

#[test]
fn gateway_and_envelope_errors_classify() {
    let g = get("guardian").unwrap();
    let p = params(g, &[("q", "x")]);
    let cases: [(u16, &[u8], ErrorClass); 7] = [
        (401, br#"{"message":"Invalid authentication credentials"}"#, ErrorClass::Auth),
        (403, br#"{"message":"You cannot consume this service"}"#, ErrorClass::Auth),
        (429, br#"{"message":"API rate limit exceeded"}"#, ErrorClass::RateLimited),
        (
            400,
            br#"{"response":{"status":"error","message":"requested page is beyond the number of available pages"}}"#,
            ErrorClass::Permanent,
        ),
        (500, br#"{"response":{"status":"error","message":"internal"}}"#, ErrorClass::Transient),
        (504, b"<html>Gateway Timeout</html>", ErrorClass::Transient),
        (200, br#"{"response":{"status":"error","message":"Invalid api-key"}}"#, ErrorClass::Auth),
    ];
    for (status, body, class) in cases {
        let err = read_one(g, &p, status, body).unwrap_err();
        assert_eq!(err.class, class, "{status} {}", String::from_utf8_lossy(body));
        assert!(!err.message.contains("test-key"));
    }
    let ctx = ctx();
    let req = g.start(&ctx, &p).unwrap();
    let resp = Response::new(429, br#"{"message":"API rate limit exceeded"}"#).with_header("retry-after", "30");
    assert_eq!(g.read(&ctx, &p, &req, &resp).unwrap_err().retry_after, Some(std::time::Duration::from_secs(30)));
}

#[test]
fn empty_truncated_and_garbage_bodies() {
    let g = get("guardian").unwrap();
    let p = params(g, &[("q", "zzzzqqqq")]);
    let empty = br#"{"response":{"status":"ok","userTier":"developer","total":0,"startIndex":0,"pageSize":10,"currentPage":1,"pages":0,"orderBy":"relevance","results":[]}}"#;
    let page = read_one(g, &p, 200, empty).unwrap();
    assert!(page.records.is_empty() && page.next.is_none(), "zero hits is a success");
    let body = fixture("guardian/search_orderBy_newest_page1_success.json");
    assert_eq!(read_one(g, &p, 200, &body[..body.len() / 2]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(g, &p, 200, br#"{"response":{"status":"ok"}}"#).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(g, &p, 200, b"").unwrap_err().class, ErrorClass::Transient);
}

#[test]
fn request_shape_and_key_in_query_secret() {
    let g = get("guardian").unwrap();
    let p = params(
        g,
        &[
            ("q", "brexit"),
            ("section", "Politics"),
            ("from-date", "2024-01-01"),
            ("page-size", "50"),
            ("order-by", "oldest"),
        ],
    );
    let req = g.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/search");
    assert_eq!(req.query_value("q"), Some("brexit"));
    assert_eq!(req.query_value("section"), Some("politics"));
    assert_eq!(req.query_value("from-date"), Some("2024-01-01"));
    assert_eq!(req.query_value("page-size"), Some("50"));
    assert_eq!(req.query_value("order-by"), Some("oldest"));
    assert_eq!(req.query_value("show-fields"), Some("byline,trailText"));
    assert_eq!(req.query_value("api-key"), None, "the key is never a loggable query value");
    assert_eq!(req.secrets, vec![(SecretPlace::Query, "api-key".to_string(), "test-key".to_string())]);
    assert!(!req.to_string().contains("test-key"));

    assert!(g.requires_key());
    let no_key = Context { api_key: None, ..ctx() };
    let err = g.start(&no_key, &p).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("APIARY_CONNECTORS__GUARDIAN__API_KEY"));

    let raw =
        |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    assert!(validate(g, raw(&[])).is_ok(), "a bare search is the latest content");
    for bad in [
        [("page-size", "201")],
        [("page", "0")],
        [("order-by", "popular")],
        [("from-date", "last week")],
        [("max_pages", "99")],
    ] {
        assert!(validate(g, raw(&bad)).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn pages_follow_current_page_until_bounds() {
    let g = get("guardian").unwrap();
    let ctx = ctx();
    let body = fixture("guardian/search_orderBy_newest_page1_success.json");
    let p = params(g, &[("max_pages", "2")]);
    let first = g.start(&ctx, &p).unwrap();
    assert_eq!(first.query_value("page"), None);
    let page = g.read(&ctx, &p, &first, &Response::new(200, &body)).unwrap();
    let next = page.next.expect("page 1 of 168727 with max_pages=2");
    assert_eq!(next.query_value("page"), Some("2"));
    assert_eq!(next.index, 1);
    assert_eq!(next.secrets, first.secrets, "the key travels with every page");
    let page2 = body_for_page(&body, 2);
    let page = g.read(&ctx, &p, &next, &Response::new(200, page2.as_bytes())).unwrap();
    assert!(page.next.is_none(), "max_pages=2 reached");

    // Starting from a given page counts from there; the worker's bound also stops paging.
    let p = params(g, &[("page", "5"), ("max_pages", "3")]);
    let first = g.start(&ctx, &p).unwrap();
    assert_eq!(first.query_value("page"), Some("5"));
    let page = g.read(&ctx, &p, &first, &Response::new(200, body_for_page(&body, 5).as_bytes())).unwrap();
    assert_eq!(page.next.unwrap().query_value("page"), Some("6"));
    let tight = Context { max_pages: 1, ..ctx };
    let page = g.read(&tight, &p, &first, &Response::new(200, body_for_page(&body, 5).as_bytes())).unwrap();
    assert!(page.next.is_none());
    // The last page ends paging.
    let last = String::from_utf8(body.clone()).unwrap().replace("\"pages\": 168727", "\"pages\": 1");
    let p = params(g, &[("max_pages", "5")]);
    let page = g.read(&ctx, &p, &g.start(&ctx, &p).unwrap(), &Response::new(200, last.as_bytes())).unwrap();
    assert!(page.next.is_none());
}

fn body_for_page(body: &[u8], n: u32) -> String {
    String::from_utf8(body.to_vec()).unwrap().replace("\"currentPage\": 1", &format!("\"currentPage\": {n}"))
}

#[test]
fn no_panic_on_any_prefix_of_any_fixture() {
    let c = get("guardian").unwrap();
    let p = params(c, &[("q", "x")]);
    common::read_prefixes(c, &p, &["guardian"], &[200, 400, 403, 429, 503], 97, &[]);
}
