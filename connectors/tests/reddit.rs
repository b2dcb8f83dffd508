//! The Reddit connector on every recorded response in `tests/fixtures/reddit`.

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Params, Response, get};
use common::{articles, ctx, fixture, params, read_one};

fn anonymous() -> Context<'static> {
    Context { api_key: None, ..ctx() }
}

#[test]
fn listing_parses_every_post() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "askreddit"), ("sort", "new"), ("limit", "100")]);
    let page = read_one(r, &p, 200, &fixture("reddit/r_askreddit_new_limit100_success.json")).unwrap();
    let a = articles(&page);
    assert_eq!(a.len(), 100);
    assert!(page.next.is_none(), "limit=100 met by one page");
    let first = a[0];
    assert_eq!(first.source, "reddit");
    assert_eq!(first.id, "t3_48fbm9");
    assert_eq!(
        first.title,
        "[Serious] Parents of Reddit, what's the biggest lie about yourself you've told your kids?"
    );
    assert_eq!(first.author.as_deref(), Some("RedHeadQc"));
    assert_eq!(first.outlet.as_deref(), Some("AskReddit"));
    assert_eq!(first.published.unwrap().to_rfc3339(), "2016-03-01T08:37:38+00:00");
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.reddit.com/r/AskReddit/comments/48fbm9/serious_parents_of_reddit_whats_the_biggest_lie/")
    );
    assert_eq!(first.summary, None, "empty selftext");
    assert_eq!(a[99].id, "t3_48f6io");
    assert!(a.iter().all(|a| a.id.starts_with("t3_") && a.published.is_some() && !a.title.is_empty()));
    assert!(a.iter().any(|a| a.title == "If practice makes perfect & nobody's perfect, why practice?"));
    assert!(a.iter().any(|a| a.summary.as_deref() == Some(".")), "a self post with text");
}

#[test]
fn default_fetch_is_one_request_and_trims_to_limit() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "askreddit")]);
    let page = read_one(r, &p, 200, &fixture("reddit/r_askreddit_new_limit100_success.json")).unwrap();
    assert_eq!(page.records.len(), 25, "reddit's default of 25, even when a fake serves more");
    assert!(page.next.is_none());
}

#[test]
fn pages_with_after_and_count() {
    let r = get("reddit").unwrap();
    let ctx = anonymous();
    let body = fixture("reddit/r_askreddit_new_limit100_success.json");
    let p = params(r, &[("subreddit", "askreddit"), ("sort", "new"), ("limit", "250")]);
    let first = r.start(&ctx, &p).unwrap();
    assert_eq!(first.query_value("limit"), Some("100"));
    assert_eq!(first.query_value("after"), None);
    let page = r.read(&ctx, &p, &first, &Response::new(200, &body)).unwrap();
    assert_eq!(page.records.len(), 100);
    let second = page.next.expect("150 more wanted");
    assert_eq!(second.url, first.url);
    assert_eq!(second.query_value("after"), Some("t3_48f6io"));
    assert_eq!(second.query_value("count"), Some("100"));
    assert_eq!(second.query_value("limit"), Some("100"));
    assert_eq!(second.index, 1);
    let page = r.read(&ctx, &p, &second, &Response::new(200, &body)).unwrap();
    let third = page.next.expect("50 more wanted");
    assert_eq!(third.query_value("count"), Some("200"));
    assert_eq!(third.query_value("limit"), Some("50"));
    let page = r.read(&ctx, &p, &third, &Response::new(200, &body)).unwrap();
    assert_eq!(page.records.len(), 50, "trimmed to the 250 asked for");
    assert!(page.next.is_none());

    // No `after` is the end of the listing; the worker's bound stops paging too.
    let end = String::from_utf8(body.clone()).unwrap().replace("\"after\": \"t3_48f6io\"", "\"after\": null");
    assert!(r.read(&ctx, &p, &first, &Response::new(200, end.as_bytes())).unwrap().next.is_none());
    let tight = Context { max_pages: 1, ..ctx };
    assert!(r.read(&tight, &p, &first, &Response::new(200, &body)).unwrap().next.is_none());
}

#[test]
fn request_shape_anonymous_and_with_token() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "r/AskReddit/"), ("sort", "top"), ("t", "week"), ("limit", "10")]);
    let req = r.start(&anonymous(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/r/askreddit/top.json");
    assert_eq!(req.query_value("limit"), Some("10"));
    assert_eq!(req.query_value("t"), Some("week"));
    assert_eq!(req.query_value("raw_json"), Some("1"));
    assert!(req.secrets.is_empty(), "anonymous listing");
    let ua = req.headers.iter().find(|(k, _)| k == "User-Agent").map(|(_, v)| v.as_str());
    assert_eq!(ua, Some("apiary/0.1 (by contact ops@example.org)"));

    let req = r.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/r/askreddit/top.json", "a configured base is kept");
    assert_eq!(req.secrets, vec![(SecretPlace::Header, "Authorization".to_string(), "Bearer test-key".to_string())]);
    assert!(!format!("{req:?} {req}").contains("test-key"));
    let real = Context { base_url: "https://www.reddit.com", ..ctx() };
    assert_eq!(r.start(&real, &p).unwrap().url, "https://oauth.reddit.com/r/askreddit/top.json");
    let real_anon = Context { base_url: "https://www.reddit.com", api_key: None, ..ctx() };
    assert_eq!(r.start(&real_anon, &p).unwrap().url, "https://www.reddit.com/r/askreddit/top.json");

    let no_contact = Context { contact_email: None, ..anonymous() };
    let req = r.start(&no_contact, &params(r, &[("subreddit", "news")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/r/news/hot.json");
    assert_eq!(req.headers, vec![("User-Agent".to_string(), "apiary/0.1".to_string())]);
    assert!(!r.requires_key() && !r.requires_contact());
}

#[test]
fn parameters_are_checked_and_canonical() {
    let r = get("reddit").unwrap();
    let raw =
        |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    let a = validate(r, raw(&[("subreddit", "/r/AskReddit"), ("sort", "hot")])).unwrap();
    let b = validate(r, raw(&[("subreddit", "askreddit")])).unwrap();
    assert_eq!(a, b, "one question, one key");
    assert!(validate(r, raw(&[("subreddit", "news+WorldNews")])).is_ok());
    for bad in [
        vec![],
        vec![("subreddit", "ask reddit")],
        vec![("subreddit", "x"), ("sort", "best-ever")],
        vec![("subreddit", "x"), ("t", "week")],
        vec![("subreddit", "x"), ("sort", "top"), ("t", "decade")],
        vec![("subreddit", "x"), ("limit", "0")],
        vec![("subreddit", "x"), ("limit", "1001")],
    ] {
        assert!(validate(r, raw(&bad)).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn html_429_is_rate_limited_with_retry_after() {
    let r = get("reddit").unwrap();
    let ctx = ctx();
    let p = params(r, &[("subreddit", "askreddit")]);
    let req = r.start(&ctx, &p).unwrap();
    let body = fixture("reddit/api_v1_me_too_many_requests_429.html");
    let resp = Response::new(429, &body)
        .with_header("Content-Type", "text/html; charset=UTF-8")
        .with_header("retry-after", "4");
    let err = r.read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
    assert!(err.message.contains("whoa there") && !err.message.contains('<'), "{}", err.message);
    // Without the header the page's own "please wait 4 second(s)" is the wait.
    let err = r.read(&ctx, &p, &req, &Response::new(429, &body)).unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
    // Failing both, the rate window's reset is the wait.
    let plain = Response::new(429, b"Too Many Requests").with_header("x-ratelimit-reset", "244");
    assert_eq!(r.read(&ctx, &p, &req, &plain).unwrap_err().retry_after, Some(Duration::from_secs(244)));
    // The token endpoint's JSON 429 is rate-limited too.
    let err = read_one(r, &p, 429, &fixture("reddit/access_token_too_many_requests_429.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
}

#[test]
fn json_errors_classify() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "ferguson")]);
    let err = read_one(r, &p, 401, &fixture("reddit/api_v1_me_invalid_token_401.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(!err.message.contains("test-key"));
    let err = read_one(r, &p, 403, &fixture("reddit/r_ferguson_hot_quarantined_forbidden_403.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent, "quarantined: the question cannot be answered");
    assert!(err.message.contains("Forbidden"), "{}", err.message);
    let err = read_one(r, &p, 404, &fixture("reddit/r_announcements_about_traffic_not_found_404.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    // An error body at 200 is still an error; a network-policy HTML 403 is a block of the caller.
    let err = read_one(r, &p, 200, &fixture("reddit/r_ferguson_hot_quarantined_forbidden_403.json")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    let err = read_one(r, &p, 403, b"<html><body>Your request has been blocked due to a network policy.</body></html>")
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(read_one(r, &p, 503, b"<html>upstream overloaded</html>").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(
        read_one(r, &p, 500, br#"{"message":"Internal Server Error","error":500}"#).unwrap_err().class,
        ErrorClass::Transient
    );
}

#[test]
fn odd_success_bodies() {
    let r = get("reddit").unwrap();
    let p = params(r, &[("subreddit", "nosuchsubxyz")]);
    let empty = br#"{"kind":"Listing","data":{"after":null,"dist":0,"children":[],"before":null}}"#;
    let page = read_one(r, &p, 200, empty).unwrap();
    assert!(page.records.is_empty() && page.next.is_none(), "an empty listing is a success");
    let search = br#"{"kind":"Listing","data":{"after":null,"children":[{"kind":"t5","data":{"display_name":"nosuchsubxyz2"}}]}}"#;
    assert_eq!(read_one(r, &p, 200, search).unwrap_err().class, ErrorClass::Permanent);
    let body = fixture("reddit/r_askreddit_new_limit100_success.json");
    assert_eq!(read_one(r, &p, 200, &body[..body.len() / 3]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(r, &p, 200, br#"{"kind":"t3","data":{}}"#).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(r, &p, 200, b"<html>maintenance</html>").unwrap_err().class, ErrorClass::Transient);
}

#[test]
fn escaped_text_is_unescaped_without_raw_json() {
    let r = get("reddit").unwrap();
    let ctx = ctx();
    let p = params(r, &[("subreddit", "news")]);
    let mut req = r.start(&ctx, &p).unwrap();
    req.query.retain(|(k, _)| k != "raw_json");
    let body = br#"{"kind":"Listing","data":{"after":null,"children":[{"kind":"t3","data":{"id":"abc","title":"Q&amp;A: &lt;this&gt; &#39;one&#39;","selftext":"a &amp;\n\n b","author":"[deleted]","created_utc":1700000000,"permalink":"/r/news/comments/abc/qa/","subreddit":"news"}}]}}"#;
    let page = r.read(&ctx, &p, &req, &Response::new(200, body)).unwrap();
    let a = articles(&page);
    assert_eq!(a[0].id, "t3_abc", "fullname built from a bare id");
    assert_eq!(a[0].title, "Q&A: <this> 'one'");
    assert_eq!(a[0].summary.as_deref(), Some("a & b"));
    assert_eq!(a[0].author, None, "deleted author");
    assert_eq!(a[0].url.as_deref(), Some("https://www.reddit.com/r/news/comments/abc/qa/"));
    assert_eq!(a[0].published.unwrap().to_rfc3339(), "2023-11-14T22:13:20+00:00");
}

#[test]
fn no_panic_on_any_prefix_of_any_fixture() {
    let c = get("reddit").unwrap();
    let p = params(c, &[("subreddit", "x")]);
    common::read_prefixes(c, &p, &["reddit"], &[200, 400, 403, 429, 503], 97, &[]);
}

#[test]
fn client_credentials_are_exchanged_for_a_cached_token() {
    use apiary_connectors::Method;
    use apiary_connectors::request::SecretPlace;
    let reddit = get("reddit").unwrap();
    let creds = Context { api_key: Some("my-app:s3cret"), base_url: "https://www.reddit.com", ..ctx() };
    let req = reddit.token_request(&creds).expect("credentials ask for a token").unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "https://www.reddit.com/api/v1/access_token");
    assert_eq!(req.form, vec![("grant_type".to_string(), "client_credentials".to_string())]);
    // base64("my-app:s3cret")
    assert!(req.secrets.contains(&(SecretPlace::Header, "Authorization".into(), "Basic bXktYXBwOnMzY3JldA==".into())));
    assert!(!format!("{req} {req:?}").contains("s3cret"), "credentials must not show");
    // A plain key is a bearer token already: no exchange.
    assert!(reddit.token_request(&Context { api_key: Some("abc"), ..ctx() }).is_none());
    assert!(reddit.token_request(&anonymous()).is_none());

    let ok = br#"{"access_token": "tok-123", "token_type": "bearer", "expires_in": 86400, "scope": "*"}"#;
    let (token, ttl) = reddit.read_token(&Response::new(200, ok)).unwrap();
    assert_eq!((token.as_str(), ttl.as_secs()), ("tok-123", 86400));
    let err = reddit.read_token(&Response::new(401, br#"{"message": "Unauthorized", "error": 401}"#)).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    let body = fixture("reddit/access_token_too_many_requests_429.json");
    let err = reddit.read_token(&Response::new(429, &body).with_header("retry-after", "7")).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(7)));
    let err = reddit.read_token(&Response::new(200, br#"{"error": "invalid_grant"}"#)).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);

    // With the token, listings go to the OAuth host with a bearer header.
    let with_token = Context { token: Some("tok-123"), ..creds };
    let p = params(reddit, &[("subreddit", "rust")]);
    let listing = reddit.start(&with_token, &p).unwrap();
    assert!(listing.url.starts_with("https://oauth.reddit.com/r/rust/"), "{}", listing.url);
    assert!(listing.secrets.contains(&(SecretPlace::Header, "Authorization".into(), "Bearer tok-123".into())));
}
