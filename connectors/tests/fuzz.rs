//! Property-based fuzzing of every connector's `read()` (classification and parsing).
//!
//! For each connector in [`apiary_connectors::all`], a few valid parameter sets (one per request
//! shape the connector has: search and by-id, each endpoint or function) give the first request;
//! reading every recorded fixture at 200 gives the follow-on requests (PubMed's `efetch` after a
//! real `esearch`, the second page of every pager), so every step the connector uses is fuzzed.
//! Each step is then fed:
//!
//! - **arbitrary bytes** (random, or random printable text), and
//! - **mutated fixtures**: every recorded body of that connector, cut at a random point, with
//!   random byte flips, random insertions (raw bytes or JSON/XML tokens), removals, and spliced
//!   with another fixture,
//!
//! at a status from {200, 204, 400, 401, 403, 404, 429, 500, 503} with random headers
//! (`retry-after` as seconds, huge or negative numbers, HTTP dates or junk; `x-ratelimit-reset`,
//! `content-type`, `location`, anything). The properties: no panic; every `Err` has a message;
//! the configured key (a canary) never shows in an error's message, `Display` or `Debug`, nor in
//! the `Display`/`Debug` of a `next` request.
//!
//! `cargo test -p apiary-connectors --test fuzz` runs [`CASES`] cases per family and connector;
//! the `#[ignore]`d `*_long` tests run 100 times as many
//! (`cargo test --release -p apiary-connectors --test fuzz -- --ignored --nocapture` prints the
//! counts). `PROPTEST_CASES` overrides the per-family count of the short tests.

mod common;

use std::cell::Cell;
use std::path::PathBuf;

use apiary_connectors::{Connector, Context, Params, Request, Response};
use common::{fixtures_dir, params};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRunner};

/// Cases per family (arbitrary bytes, mutated fixtures) and connector in the default run.
const CASES: u32 = 2000;
/// The `#[ignore]`d long run: 100 times as many.
const LONG_CASES: u32 = CASES * 100;

/// A key nobody would write by accident; it must never reach a message or a logged request.
const CANARY: &str = "CANARY-k3y-7f3a9c1e";

const STATUSES: [u16; 9] = [200, 204, 400, 401, 403, 404, 429, 500, 503];

fn canary_ctx() -> Context<'static> {
    Context {
        base_url: "http://upstream.test",
        api_key: Some(CANARY),
        contact_email: Some("ops@example.org"),
        max_pages: 10,
        token: None,
    }
}

/// Valid parameter sets, one per request shape the connector has (taken from its tests).
fn scenarios(id: &str) -> Vec<Vec<(&'static str, &'static str)>> {
    match id {
        "arxiv" => vec![
            vec![("search_query", "all:testing"), ("max_results", "200")],
            vec![("id_list", "1605.08386,0000.0000")],
        ],
        "pubmed" => vec![vec![("term", "biopython"), ("retmax", "20")], vec![("id", "12091962,9997")]],
        "semantic_scholar" => vec![
            vec![("query", "turing"), ("fields", "title"), ("limit", "300")],
            vec![("paper_id", "CorpusId:470667")],
        ],
        "crossref" => vec![
            vec![("query", "widget"), ("cursor", "*"), ("rows", "2")],
            vec![("query", "ecology"), ("rows", "2")],
            vec![("doi", "10.1371/journal.pone.0033693")],
        ],
        "alpha_vantage" => vec![
            vec![("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")],
            vec![("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT")],
            vec![("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT"), ("interval", "1min")],
        ],
        "yahoo_finance" => {
            vec![vec![("symbol", "AAPL"), ("range", "5d"), ("interval", "1d")], vec![("symbol", "BTC-USD")]]
        }
        "polygon" => vec![vec![
            ("ticker", "AAPL"),
            ("multiplier", "1"),
            ("timespan", "day"),
            ("from", "2005-04-01"),
            ("to", "2005-04-04"),
        ]],
        "newsapi" => vec![
            vec![("q", "bitcoin"), ("pageSize", "2"), ("max_pages", "3")],
            vec![("endpoint", "top-headlines"), ("country", "us"), ("pageSize", "2"), ("max_pages", "2")],
        ],
        "guardian" => vec![vec![("order-by", "newest"), ("max_pages", "3")]],
        "reddit" => vec![vec![("subreddit", "askreddit"), ("sort", "new"), ("limit", "300")]],
        "census" => vec![vec![
            ("year", "2018"),
            ("dataset", "acs/acs5"),
            ("get", "NAME,B19013_001E"),
            ("for", "county:*"),
            ("in", "state:24"),
        ]],
        "sec_edgar" => vec![vec![("cik", "1835632")], vec![("cik", "1835632"), ("endpoint", "companyfacts")]],
        other => panic!("no fuzz scenario for connector `{other}`: add one"),
    }
}

/// One request of one fetch, ready to be answered.
struct Target {
    params: Params,
    req: Request,
}

/// Every recorded body of a connector, sorted by name.
fn fixtures(id: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = fixtures_dir().join(id);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("fixture")))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{id}: no fixtures");
    out
}

/// The first request of each scenario, then every follow-on request a real fixture leads to
/// (breadth first, a few steps deep).
fn targets(c: &dyn Connector, bodies: &[(String, Vec<u8>)]) -> Vec<Target> {
    let ctx = canary_ctx();
    let mut out: Vec<Target> = Vec::new();
    for pairs in scenarios(c.id()) {
        let p = params(c, &pairs);
        let first = c.start(&ctx, &p).unwrap_or_else(|e| panic!("{}: start {pairs:?}: {e}", c.id()));
        let mut seen: Vec<Request> = vec![first.clone()];
        let mut frontier = vec![first];
        for _depth in 0..3 {
            let mut next_frontier = Vec::new();
            for req in &frontier {
                for (_, body) in bodies {
                    if let Ok(page) = c.read(&ctx, &p, req, &Response::new(200, body))
                        && let Some(next) = page.next
                        && !seen.contains(&next)
                    {
                        seen.push(next.clone());
                        next_frontier.push(next);
                    }
                }
            }
            frontier = next_frontier;
        }
        out.extend(seen.into_iter().map(|req| Target { params: p.clone(), req }));
    }
    out
}

/// Answer `target` with `status`, `headers` and `body`, and check the properties.
fn check(
    c: &dyn Connector,
    target: &Target,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), TestCaseError> {
    let ctx = canary_ctx();
    let mut resp = Response::new(status, body);
    for (k, v) in headers {
        resp = resp.with_header(k, v);
    }
    match c.read(&ctx, &target.params, &target.req, &resp) {
        Err(e) => {
            prop_assert!(!e.message.trim().is_empty(), "{}: empty error message ({:?})", c.id(), e.class);
            let shown = format!("{e} {e:?}");
            prop_assert!(!shown.contains(CANARY), "{}: key in error: {shown}", c.id());
        }
        Ok(page) => {
            if let Some(next) = page.next {
                let shown = format!("{next} {next:?}");
                prop_assert!(!shown.contains(CANARY), "{}: key in next request: {shown}", c.id());
            }
        }
    }
    Ok(())
}

fn status() -> impl Strategy<Value = u16> {
    select(STATUSES.to_vec())
}

fn retry_after_value() -> impl Strategy<Value = String> {
    let date = (0u32..7, 1u32..=31, 0usize..12, 0i32..=9999, 0u32..=24, 0u32..=60, 0u32..=60).prop_map(
        |(wd, d, m, y, hh, mm, ss)| {
            const WD: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            const MON: [&str; 12] =
                ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            format!("{}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} GMT", WD[wd as usize], MON[m])
        },
    );
    prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        date,
        any::<String>(),
        "[ 0-9a-zA-Z:,+-]{0,40}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let header = prop_oneof![
        4 => retry_after_value().prop_map(|v| ("retry-after".to_owned(), v)),
        1 => prop_oneof![any::<f64>().prop_map(|f| f.to_string()), "[0-9.e+-]{0,12}"]
            .prop_map(|v| ("x-ratelimit-reset".to_owned(), v)),
        1 => select(vec!["application/json", "text/html; charset=utf-8", "application/xml", "text/plain", ""])
            .prop_map(|v| ("content-type".to_owned(), v.to_owned())),
        1 => "[ -~]{0,40}".prop_map(|v| ("location".to_owned(), v)),
        1 => ("[A-Za-z-]{1,20}", any::<String>()),
    ];
    prop::collection::vec(header, 0..4)
}

/// Random bytes, or random text (which reaches further into the text-based parsers).
fn arbitrary_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        any::<String>().prop_map(String::into_bytes),
        "[ -~\\n]{0,512}".prop_map(String::into_bytes),
    ]
}

/// Bits of JSON and XML that steer a mutated body into the parsers' less travelled branches.
const TOKENS: [&str; 32] = [
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "-0",
    "18446744073709551616",
    "\"\\ud800\"",
    "\\u0000",
    "<",
    ">",
    "</",
    "/>",
    "&",
    "&amp;",
    "&#xFFFFFF;",
    "&#0;",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\"?>",
    "<ERROR>x</ERROR>",
    "é",
    "\u{1F600}",
    "\u{feff}",
    "\r\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Cut the body here.
    Truncate(Index),
    /// XOR one byte.
    Flip(Index, u8),
    /// Insert bytes here.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes from here.
    Remove(Index, usize),
    /// Keep the body up to a point, then continue with another fixture from a point.
    Splice { other: Index, cut: Index, from: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let insert = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        select(TOKENS.to_vec()).prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        3 => (any::<Index>(), insert).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(other, cut, from)| Mutation::Splice { other, cut, from }),
    ]
}

/// A position in `0..=len`.
fn at(i: &Index, len: usize) -> usize {
    i.index(len + 1)
}

fn mutate(mut body: Vec<u8>, mutations: &[Mutation], bodies: &[(String, Vec<u8>)]) -> Vec<u8> {
    for m in mutations {
        match m {
            Mutation::Truncate(i) => body.truncate(at(i, body.len())),
            Mutation::Flip(i, x) => {
                if !body.is_empty() {
                    let i = i.index(body.len());
                    body[i] ^= x;
                }
            }
            Mutation::Insert(i, bytes) => {
                let i = at(i, body.len());
                body.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(i, body.len());
                let end = (i + n).min(body.len());
                body.drain(i..end);
            }
            Mutation::Splice { other, cut, from } => {
                let other = &bodies[other.index(bodies.len())].1;
                body.truncate(at(cut, body.len()));
                body.extend_from_slice(&other[at(from, other.len())..]);
            }
        }
    }
    body
}

/// XorShift rather than proptest's default ChaCha: in a debug build ChaCha's unoptimised SIMD
/// dominated the run time; statistical quality is not what a fuzzer needs.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    })
}

/// Both families for one connector, `cases` cases each (each case answers one of the connector's
/// request steps, drawn at random); returns the number of `read` calls, shrinking included.
fn fuzz(id: &str, cases: u32) -> u64 {
    let c = apiary_connectors::get(id).unwrap_or_else(|| panic!("no connector {id}"));
    let bodies = fixtures(id);
    let targets = targets(c, &bodies);
    let reads = Cell::new(0u64);
    let run_one = |target: &Index, status: u16, headers: &[(String, String)], body: &[u8]| {
        reads.set(reads.get() + 1);
        check(c, &targets[target.index(targets.len())], status, headers, body)
    };

    runner(cases)
        .run(&(any::<Index>(), arbitrary_body(), status(), headers()), |(target, body, status, headers)| {
            run_one(&target, status, &headers, &body)
        })
        .unwrap_or_else(|e| panic!("{id}, arbitrary bytes: {e}"));
    let arbitrary = reads.get();

    let case = (any::<Index>(), any::<Index>(), prop::collection::vec(mutation(), 1..5), status(), headers());
    runner(cases)
        .run(&case, |(target, which, mutations, status, headers)| {
            let body = mutate(bodies[which.index(bodies.len())].1.clone(), &mutations, &bodies);
            run_one(&target, status, &headers, &body)
        })
        .unwrap_or_else(|e| panic!("{id}, mutated fixtures: {e}"));
    let mutated = reads.get() - arbitrary;

    println!(
        "fuzz {id}: {} request steps, {} fixtures; {cases} cases per family; reads: {arbitrary} arbitrary + {mutated} mutated = {}",
        targets.len(),
        bodies.len(),
        arbitrary + mutated
    );
    arbitrary + mutated
}

fn default_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES)
}

macro_rules! fuzz_connectors {
    ($($id:ident),* $(,)?) => {
        $(
            mod $id {
                #[test]
                fn read_never_panics_nor_leaks_the_key() {
                    super::fuzz(stringify!($id), super::default_cases());
                }

                #[test]
                #[ignore = "long: 100x cases; run in release with --ignored"]
                fn read_never_panics_nor_leaks_the_key_long() {
                    super::fuzz(stringify!($id), super::LONG_CASES);
                }
            }
        )*

        /// Every connector the crate ships has a fuzz test above.
        #[test]
        fn every_connector_is_fuzzed() {
            let fuzzed = [$(stringify!($id)),*];
            for c in apiary_connectors::all() {
                assert!(fuzzed.contains(&c.id()), "{} has no fuzz test", c.id());
            }
        }
    };
}

fuzz_connectors!(
    arxiv,
    pubmed,
    semantic_scholar,
    crossref,
    alpha_vantage,
    yahoo_finance,
    polygon,
    newsapi,
    guardian,
    reddit,
    census,
    sec_edgar,
);

/// The follow-on steps are really reached: PubMed's efetch after a real esearch, and at least
/// one next page for every pager.
#[test]
fn targets_cover_every_step() {
    let c = apiary_connectors::get("pubmed").unwrap();
    let steps: Vec<&str> = targets(c, &fixtures("pubmed")).iter().map(|t| t.req.step).collect();
    assert!(steps.contains(&"esearch") && steps.contains(&"efetch"), "{steps:?}");
    for id in ["arxiv", "semantic_scholar", "crossref", "polygon", "newsapi", "guardian", "reddit"] {
        let c = apiary_connectors::get(id).unwrap();
        let t = targets(c, &fixtures(id));
        assert!(t.iter().any(|t| t.req.index > 0), "{id}: no follow-on request reached");
    }
}
