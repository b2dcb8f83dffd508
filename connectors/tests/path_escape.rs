//! Path escape: a parameter that becomes a URL path segment must never reach another path on the
//! upstream host. Each connector is asked with the attack values at enqueue time (a `ParamError`
//! naming the parameter) and, skipping validation, at request-building time (refused, or encoded
//! so that no dot segment survives the URL parser's resolution).

mod common;

use apiary_connectors::params::validate;
use apiary_connectors::{Connector, ParamError, Params, get};
use common::ctx;

/// Values that climb out of a segment under WHATWG URL rules, or under an upstream that decodes
/// once more.
const ATTACKS: &[&str] = &[
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%252e%252e",
    "../../../internal/admin",
    "..\\..\\admin",
    "a/../../b",
    "10.1/../../private/x",
    "..%2Fadmin",
    "a%0d%0aHost:%20evil",
    "a\nb",
];

/// Parameters that fetch successfully against the recorded fixtures (as in the contract checks),
/// shaped so every path parameter of the connector is present.
fn base(id: &str) -> Vec<(&'static str, &'static str)> {
    match id {
        "arxiv" => vec![("search_query", "all:testing"), ("max_results", "10")],
        "pubmed" => vec![("term", "biopython"), ("retmax", "2")],
        "semantic_scholar" => vec![("paper_id", "DOI:10.18653/v1/N18-3011")],
        "crossref" => vec![("doi", "10.1037/0003-066X.59.1.29")],
        "alpha_vantage" => vec![("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")],
        "yahoo_finance" => vec![("symbol", "AAPL"), ("range", "5d"), ("interval", "1d")],
        "polygon" => {
            vec![
                ("ticker", "AAPL"),
                ("multiplier", "1"),
                ("timespan", "day"),
                ("from", "2005-04-01"),
                ("to", "2005-04-04"),
            ]
        }
        "newsapi" => vec![("endpoint", "top-headlines"), ("country", "us")],
        "guardian" => vec![("q", "news"), ("page-size", "10")],
        "reddit" => vec![("subreddit", "AskReddit"), ("sort", "new"), ("limit", "100")],
        "census" => vec![("year", "2018"), ("dataset", "acs/acs5"), ("get", "NAME"), ("for", "county:*")],
        "sec_edgar" => vec![("cik", "1800903")],
        other => panic!("no base parameters for {other}"),
    }
}

fn raw(pairs: &[(&str, &str)]) -> Params {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn with(c: &dyn Connector, name: &str, value: &str) -> Params {
    let mut p = raw(&base(c.id()));
    p.insert(name.into(), value.into());
    p
}

/// The path of `url` as the downstream URL parser would see it: no segment may be a dot segment
/// (`.`/`..`, also as `%2e`), and no `\`, `?` or `#` may split or end it.
fn assert_path_is_inert(url: &str, what: &str) {
    let path = url.strip_prefix("http://upstream.test").unwrap_or_else(|| panic!("{what}: host changed: {url}"));
    assert!(!path.contains(['\\', '?', '#']), "{what}: {url}");
    for seg in path.split('/') {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        assert!(lower != "." && lower != "..", "{what}: dot segment `{seg}` in {url}");
        assert!(!seg.chars().any(char::is_control), "{what}: control character in {url}");
    }
}

#[test]
fn base_parameters_are_valid_and_every_path_parameter_is_declared() {
    let declared: Vec<(&str, Vec<&str>)> = apiary_connectors::all()
        .iter()
        .map(|c| (c.id(), c.params().iter().filter(|p| p.in_path).map(|p| p.name).collect()))
        .collect();
    let expect: &[(&str, &[&str])] = &[
        ("arxiv", &[]),
        ("pubmed", &[]),
        ("semantic_scholar", &["paper_id"]),
        ("crossref", &["doi"]),
        ("alpha_vantage", &[]),
        ("yahoo_finance", &["symbol"]),
        ("polygon", &["ticker", "multiplier", "timespan", "from", "to"]),
        ("newsapi", &["endpoint"]),
        ("guardian", &[]),
        ("reddit", &["subreddit", "sort"]),
        ("census", &["year", "dataset"]),
        ("sec_edgar", &["cik"]),
    ];
    for ((id, got), (want_id, want)) in declared.iter().zip(expect) {
        assert_eq!(id, want_id);
        assert_eq!(got.as_slice(), *want, "{id}: path parameters");
        let c = get(id).unwrap();
        let p = validate(c, raw(&base(id))).unwrap_or_else(|e| panic!("{id}: {e}"));
        c.start(&ctx(), &p).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

#[test]
fn attack_values_are_refused_at_enqueue_naming_the_parameter() {
    for c in apiary_connectors::all() {
        for param in c.params().iter().filter(|p| p.in_path) {
            for attack in ATTACKS {
                match validate(*c, with(*c, param.name, attack)) {
                    Err(ParamError::Invalid { name, .. }) => {
                        assert_eq!(name, param.name, "{}: {}={attack:?} refused under another name", c.id(), param.name)
                    }
                    other => panic!("{}: {}={attack:?} gave {other:?}", c.id(), param.name),
                }
            }
        }
    }
}

#[test]
fn attack_values_never_reach_the_path_when_validation_is_skipped() {
    for c in apiary_connectors::all() {
        let ctx = ctx();
        for param in c.params() {
            for attack in ATTACKS {
                let what = format!("{}: {}={attack:?}", c.id(), param.name);
                let Ok(req) = c.start(&ctx, &with(*c, param.name, attack)) else { continue };
                assert_path_is_inert(&req.url, &what);
                // A query parameter may choose among fixed paths (PubMed's esearch or efetch), but
                // its value never appears in one.
                if !param.in_path && attack.len() > 1 {
                    let encoded = apiary_connectors::params::encode(attack);
                    assert!(!req.url.contains(attack) && !req.url.contains(&encoded), "{what}: {}", req.url);
                }
            }
        }
    }
}

#[test]
fn the_named_attacks() {
    let s2 = get("semantic_scholar").unwrap();
    let err = validate(s2, raw(&[("paper_id", "../../../internal/admin")])).unwrap_err().to_string();
    assert!(err.contains("`paper_id`"), "{err}");
    // Skipping validation, no request is built at all, so the key never travels with it.
    let err = s2.start(&ctx(), &raw(&[("paper_id", "../../../internal/admin")])).unwrap_err();
    assert!(err.message.contains("`paper_id`"), "{}", err.message);

    let crossref = get("crossref").unwrap();
    let err = validate(crossref, raw(&[("doi", "10.1/../../private/x")])).unwrap_err().to_string();
    assert!(err.contains("`doi`"), "{err}");
    assert!(crossref.start(&ctx(), &raw(&[("doi", "10.1/../../private/x")])).is_err());

    let yahoo = get("yahoo_finance").unwrap();
    assert!(validate(yahoo, raw(&[("symbol", "..")])).unwrap_err().to_string().contains("`symbol`"));
    assert!(yahoo.start(&ctx(), &raw(&[("symbol", "..")])).is_err());
    let req = yahoo.start(&ctx(), &raw(&[("symbol", "A/B?C#D%E\\F")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/v8/finance/chart/A%2FB%3FC%23D%25E%5CF");

    let polygon = get("polygon").unwrap();
    assert!(validate(polygon, with(polygon, "ticker", "..")).unwrap_err().to_string().contains("`ticker`"));
    assert!(polygon.start(&ctx(), &with(polygon, "ticker", "..")).is_err());
}

#[test]
fn legitimate_slashes_are_sent_encoded_within_one_segment() {
    let crossref = get("crossref").unwrap();
    let p = validate(crossref, raw(&[("doi", "10.1037/0003-066X.59.1.29")])).unwrap();
    assert_eq!(crossref.start(&ctx(), &p).unwrap().url, "http://upstream.test/works/10.1037%2F0003-066x.59.1.29");
    let s2 = get("semantic_scholar").unwrap();
    let p = validate(s2, raw(&[("paper_id", "DOI:10.18653/v1/N18-3011")])).unwrap();
    assert_eq!(s2.start(&ctx(), &p).unwrap().url, "http://upstream.test/graph/v1/paper/DOI:10.18653%2Fv1%2FN18-3011");
    // A census dataset is a path of its own: its parts stay separate segments, each encoded.
    let census = get("census").unwrap();
    let p = validate(census, raw(&base("census"))).unwrap();
    assert_eq!(census.start(&ctx(), &p).unwrap().url, "http://upstream.test/data/2018/acs/acs5");
    let reddit = get("reddit").unwrap();
    let p = validate(reddit, raw(&[("subreddit", "news+WorldNews")])).unwrap();
    assert_eq!(reddit.start(&ctx(), &p).unwrap().url, "http://upstream.test/r/news+worldnews/hot.json");
}

#[test]
fn path_choices_are_refused_when_unknown() {
    let reddit = get("reddit").unwrap();
    let err = reddit.start(&ctx(), &raw(&[("subreddit", "rust"), ("sort", "../../api/v1/me")])).unwrap_err();
    assert!(err.message.contains("`sort`"), "{}", err.message);
    let err = reddit.start(&ctx(), &raw(&[("subreddit", "rust+../../api")])).unwrap_err();
    assert!(err.message.contains("`subreddit`"), "{}", err.message);
    let newsapi = get("newsapi").unwrap();
    let err = newsapi.start(&ctx(), &raw(&[("endpoint", "../admin"), ("q", "x")])).unwrap_err();
    assert!(err.message.contains("`endpoint`"), "{}", err.message);
    let census = get("census").unwrap();
    assert!(census.start(&ctx(), &raw(&[("dataset", "acs/../../admin"), ("year", "2018")])).is_err());
    assert!(census.start(&ctx(), &raw(&[("dataset", "acs/acs5"), ("year", "..")])).is_err());
    let sec = get("sec_edgar").unwrap();
    assert!(validate(sec, raw(&[("cik", "../../x")])).unwrap_err().to_string().contains("`cik`"));
    // PubMed's path is one of its fixed E-utilities: parameters only ever reach the query.
    let pubmed = get("pubmed").unwrap();
    let p = validate(pubmed, raw(&[("term", "../../admin")])).unwrap();
    assert_eq!(pubmed.start(&ctx(), &p).unwrap().url, "http://upstream.test/entrez/eutils/esearch.fcgi");
}
