//! The NewsAPI connector on every recorded response in `tests/fixtures/newsapi`, plus the error
//! shapes NewsAPI documents (no error body was recorded).

mod common;

use apiary_connectors::params::validate;
use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Context, ErrorClass, Params, Response, get};
use common::{articles, ctx, fixture, params, read_one};

#[test]
fn everything_page_parses_all_twenty_articles() {
    let news = get("newsapi").unwrap();
    let p = params(news, &[("q", "bitcoin")]);
    let page = read_one(news, &p, 200, &fixture("newsapi/everything_bitcoin_20_articles_success.json")).unwrap();
    let a = articles(&page);
    assert_eq!(a.len(), 20);
    assert!(page.next.is_none(), "a default fetch is one page");
    assert_eq!(a[0].source, "newsapi");
    assert_eq!(a[0].id, "https://cdr.cz/clanek/mlade-nezajima-zlato-investuji-radeji-do-bitcoinu");
    assert_eq!(a[0].url.as_deref(), Some(a[0].id.as_str()));
    assert_eq!(a[0].title, "Mladé nezajímá zlato, investují raději do Bitcoinu");
    assert_eq!(a[0].author.as_deref(), Some("Jáchym Flídr"));
    assert_eq!(a[0].outlet.as_deref(), Some("Cdr.cz"));
    assert_eq!(a[0].published.unwrap().to_rfc3339(), "2020-08-09T07:00:00+00:00");
    assert!(a[0].summary.as_deref().unwrap().starts_with("Odpradávna se lidstvo"));
    assert_eq!(a[2].published.unwrap().to_rfc3339(), "2020-08-09T05:58:26+00:00");
    for art in &a {
        assert!(art.published.is_some() && !art.title.is_empty() && art.url.is_some());
        assert!(!art.title.contains('\n') && !art.title.contains("  "));
    }
}

#[test]
fn two_article_bodies_keep_nulls_as_none() {
    let news = get("newsapi").unwrap();
    let p = params(news, &[("q", "bitcoin")]);
    let page = read_one(news, &p, 200, &fixture("newsapi/everything_two_articles_success.json")).unwrap();
    let a = articles(&page);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].title, "Anarchy, Bitcoin, and Murder in Acapulco");
    assert_eq!(a[0].outlet.as_deref(), Some("Wired"));
    assert_eq!(a[1].author.as_deref(), Some("Rachel England"));

    let p = params(news, &[("endpoint", "top-headlines"), ("country", "us")]);
    let page = read_one(news, &p, 200, &fixture("newsapi/top_headlines_two_articles_success.json")).unwrap();
    let a = articles(&page);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].author, None, "null author");
    assert_eq!(a[0].outlet.as_deref(), Some("The Washington Post"));
    assert_eq!(a[1].summary, None, "null description");
    assert_eq!(a[1].id, "https://www.youtube.com/watch?v=B5dlk4v-7gg");
    assert_eq!(a[1].published.unwrap().to_rfc3339(), "2019-03-27T19:11:28+00:00");
}

#[test]
fn request_shape_and_key_in_header() {
    let news = get("newsapi").unwrap();
    let p = params(news, &[("q", "bitcoin"), ("language", "EN"), ("pageSize", "50")]);
    let req = news.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/v2/everything");
    assert_eq!(req.query_value("q"), Some("bitcoin"));
    assert_eq!(req.query_value("language"), Some("en"));
    assert_eq!(req.query_value("pageSize"), Some("50"));
    assert_eq!(req.query_value("page"), None, "no page unless asked");
    assert_eq!(req.secrets, vec![(SecretPlace::Header, "X-Api-Key".to_string(), "test-key".to_string())]);
    assert!(!req.to_string().contains("test-key") && !format!("{req:?}").contains("test-key"));
    assert!(req.query.iter().all(|(k, _)| k != "apiKey"));
    assert_eq!(req.headers, vec![("User-Agent".to_string(), "apiary/0.1".to_string())]);

    let p = params(news, &[("endpoint", "top-headlines"), ("category", "Business"), ("country", "gb")]);
    let req = news.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/v2/top-headlines");
    assert_eq!(req.query_value("category"), Some("business"));
    assert_eq!(req.query_value("endpoint"), None);

    assert!(news.requires_key());
    let no_key = Context { api_key: None, ..ctx() };
    assert_eq!(news.start(&no_key, &p).unwrap_err().class, ErrorClass::Auth);
}

#[test]
fn parameters_are_checked_and_canonical() {
    let news = get("newsapi").unwrap();
    let raw =
        |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    let explicit = validate(news, raw(&[("endpoint", "everything"), ("q", "x")])).unwrap();
    let implicit = validate(news, raw(&[("q", "x")])).unwrap();
    assert_eq!(explicit, implicit, "the default endpoint shares one key");
    for bad in [
        vec![("endpoint", "sources")],
        vec![("language", "en")],
        vec![("q", "x"), ("country", "us")],
        vec![("endpoint", "top-headlines"), ("sources", "bbc-news"), ("country", "us")],
        vec![("endpoint", "top-headlines"), ("q", "x"), ("from", "2024-01-01")],
        vec![("endpoint", "top-headlines")],
        vec![("q", "x"), ("pageSize", "101")],
        vec![("q", "x"), ("page", "0")],
        vec![("q", "x"), ("from", "yesterday")],
        vec![("endpoint", "top-headlines"), ("category", "gossip")],
    ] {
        assert!(validate(news, raw(&bad)).is_err(), "{bad:?} accepted");
    }
    assert!(validate(news, raw(&[("sources", "bbc-news"), ("from", "2024-05-01T10:00:00")])).is_ok());
}

#[test]
fn pages_on_up_to_max_pages() {
    let news = get("newsapi").unwrap();
    let ctx = ctx();
    let body = fixture("newsapi/everything_bitcoin_20_articles_success.json");
    let p = params(news, &[("q", "bitcoin"), ("pageSize", "20"), ("max_pages", "3")]);
    let first = news.start(&ctx, &p).unwrap();
    let page = news.read(&ctx, &p, &first, &Response::new(200, &body)).unwrap();
    let second = page.next.expect("7724 results: a second page");
    assert_eq!(second.query_value("page"), Some("2"));
    assert_eq!(second.query_value("pageSize"), Some("20"));
    assert_eq!(second.index, 1);
    assert_eq!(second.secrets, first.secrets, "the key travels with every page");
    let page = news.read(&ctx, &p, &second, &Response::new(200, &body)).unwrap();
    let third = page.next.expect("a third page");
    assert_eq!(third.query_value("page"), Some("3"));
    let page = news.read(&ctx, &p, &third, &Response::new(200, &body)).unwrap();
    assert!(page.next.is_none(), "max_pages=3 reached");

    // The developer plan's 100-result cap ends a multi-page fetch with what it has.
    let capped = br#"{"status":"error","code":"maximumResultsReached","message":"You have requested too many results. Developer accounts are limited to a max of 100 results."}"#;
    let page = news.read(&ctx, &p, &second, &Response::new(426, capped)).unwrap();
    assert!(page.records.is_empty() && page.next.is_none());
    assert_eq!(news.read(&ctx, &p, &first, &Response::new(426, capped)).unwrap_err().class, ErrorClass::Permanent);

    // The last page (short, or total reached) ends paging; so does the worker's bound.
    let p2 = params(news, &[("q", "bitcoin"), ("max_pages", "5")]);
    let two = fixture("newsapi/everything_two_articles_success.json");
    let req = news.start(&ctx, &p2).unwrap();
    assert!(news.read(&ctx, &p2, &req, &Response::new(200, &two)).unwrap().next.is_none());
    let tight = Context { max_pages: 1, ..ctx };
    let req = news.start(&tight, &p).unwrap();
    assert!(news.read(&tight, &p, &req, &Response::new(200, &body)).unwrap().next.is_none());
}

#[test]
fn error_codes_classify() {
    let news = get("newsapi").unwrap();
    let p = params(news, &[("q", "x")]);
    let body = |code: &str| format!(r#"{{"status":"error","code":"{code}","message":"message for {code}"}}"#);
    for (status, code, class) in [
        (429, "rateLimited", ErrorClass::RateLimited),
        (429, "apiKeyExhausted", ErrorClass::RateLimited),
        (401, "apiKeyInvalid", ErrorClass::Auth),
        (401, "apiKeyMissing", ErrorClass::Auth),
        (401, "apiKeyDisabled", ErrorClass::Auth),
        (400, "parameterInvalid", ErrorClass::Permanent),
        (400, "parametersMissing", ErrorClass::Permanent),
        (400, "sourcesTooMany", ErrorClass::Permanent),
        (400, "sourceDoesNotExist", ErrorClass::Permanent),
        (500, "unexpectedError", ErrorClass::Transient),
        (200, "rateLimited", ErrorClass::RateLimited),
        (503, "somethingNew", ErrorClass::Transient),
    ] {
        let err = read_one(news, &p, status, body(code).as_bytes()).unwrap_err();
        assert_eq!(err.class, class, "{code}");
        assert!(err.message.contains(code) && !err.message.contains("test-key"), "{}", err.message);
    }
    let ctx = ctx();
    let req = news.start(&ctx, &p).unwrap();
    let limited = body("rateLimited");
    let resp = Response::new(429, limited.as_bytes()).with_header("Retry-After", "3600");
    let err = news.read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(3600)));
}

#[test]
fn empty_truncated_and_garbage_bodies() {
    let news = get("newsapi").unwrap();
    let p = params(news, &[("q", "nothing-matches-this")]);
    let page = read_one(news, &p, 200, br#"{"status":"ok","totalResults":0,"articles":[]}"#).unwrap();
    assert!(page.records.is_empty() && page.next.is_none(), "zero hits is a success");
    let body = fixture("newsapi/everything_bitcoin_20_articles_success.json");
    assert_eq!(read_one(news, &p, 200, &body[..body.len() / 2]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(news, &p, 200, br#"{"status":"ok"}"#).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(news, &p, 502, b"<html>Bad Gateway</html>").unwrap_err().class, ErrorClass::Transient);
    let removed = br#"{"status":"ok","totalResults":1,"articles":[{"source":{"id":null,"name":"[Removed]"},"author":null,"title":"[Removed]","description":"[Removed]","url":"https://removed.com","publishedAt":"1970-01-01T00:00:00Z"}]}"#;
    assert!(read_one(news, &p, 200, removed).unwrap().records.is_empty(), "removed placeholders are skipped");
}

#[test]
fn no_panic_on_any_prefix_of_any_fixture() {
    let c = get("newsapi").unwrap();
    let p = params(c, &[("q", "x")]);
    common::read_prefixes(c, &p, &["newsapi"], &[200, 400, 403, 429, 503], 97, &[]);
}
