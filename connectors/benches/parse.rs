//! Parse throughput per connector, on its largest recorded success body (figures in BENCHMARKS.md).
//!
//! For each connector: the typed path (`Connector::read` at HTTP 200: classification and parsing
//! into normalised records) beside untyped reads of the same bytes. For JSON bodies that is
//! `serde_json::from_slice` into a `serde_json::Value`. For XML bodies there are two: a generic
//! element tree built with quick-xml (the XML analogue of a `serde_json::Value`: each element with
//! its owned name, its attributes as owned key and unescaped value, its children and its unescaped
//! text, whitespace-only runs between tags dropped), and a bare quick-xml `Reader` loop over every
//! event that builds nothing — a stricter bar than the tree. The readers take turns within each
//! round, which one goes first rotating; each sample times enough iterations to last about 20 ms;
//! the figure is the median over the rounds, in MB/s (10^6 bytes per second). For JSON rows the
//! tree columns hold the `serde_json::Value` figure (that value is the tree) and the event-loop
//! columns show "—".
//!
//! The body is the connector's largest `*success*` fixture that its typed path turns into at least
//! one record with the parameters below (Polygon's largest success fixture is a reference-tickers
//! page, which its aggregates path reads as zero bars, so its largest aggregates body is used).
//!
//! No benchmark framework: `cargo bench -p apiary-connectors --bench parse`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use apiary_connectors::{Connector, Params, Request, Response};
use common::{ctx, fixtures_dir, params};
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

/// Alternating rounds; the median of each side is reported.
const ROUNDS: usize = 11;
/// Each sample runs for about this long.
const SAMPLE: Duration = Duration::from_millis(20);

/// Parameter sets that match the recorded requests (from each connector's tests).
fn candidates(id: &str) -> Vec<Vec<(&'static str, &'static str)>> {
    match id {
        "arxiv" => vec![vec![("search_query", "all:testing"), ("max_results", "10")]],
        "pubmed" => vec![vec![("id", "29963580")], vec![("term", "biopython")]],
        "semantic_scholar" => vec![vec![("query", "turing"), ("fields", "title")], vec![("paper_id", "CorpusId:1")]],
        "crossref" => vec![vec![("query", "widget"), ("cursor", "*")], vec![("doi", "10.1371/journal.pone.0033693")]],
        "alpha_vantage" => vec![
            vec![("function", "TIME_SERIES_INTRADAY"), ("symbol", "MSFT"), ("interval", "1min")],
            vec![("function", "TIME_SERIES_DAILY"), ("symbol", "MSFT")],
            vec![("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")],
        ],
        "yahoo_finance" => vec![vec![("symbol", "BTC-USD")], vec![("symbol", "AAPL")]],
        "polygon" => vec![vec![
            ("ticker", "AAPL"),
            ("multiplier", "1"),
            ("timespan", "day"),
            ("from", "2005-04-01"),
            ("to", "2005-04-04"),
        ]],
        "newsapi" => vec![vec![("q", "bitcoin")], vec![("endpoint", "top-headlines"), ("country", "us")]],
        "guardian" => vec![vec![("order-by", "newest")]],
        "reddit" => vec![vec![("subreddit", "askreddit"), ("sort", "new"), ("limit", "100")]],
        "census" => vec![vec![
            ("year", "2018"),
            ("dataset", "acs/acs5"),
            ("get", "NAME,B19013_001E"),
            ("for", "county:*"),
            ("in", "state:24"),
        ]],
        "sec_edgar" => vec![vec![("cik", "1835632")], vec![("cik", "1835632"), ("endpoint", "companyfacts")]],
        other => panic!("no benchmark parameters for `{other}`"),
    }
}

struct Case {
    id: &'static str,
    file: String,
    body: Vec<u8>,
    params: Params,
    req: Request,
    records: usize,
    xml: bool,
}

/// The largest success fixture the typed path turns into records, with its parameters.
fn case(c: &'static dyn Connector) -> Case {
    let dir = fixtures_dir().join(c.id());
    let mut files: Vec<(u64, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("success")))
        .map(|p| (p.metadata().expect("metadata").len(), p.file_name().unwrap().to_string_lossy().into_owned()))
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    let ctx = ctx();
    for (_, file) in files {
        let body = std::fs::read(dir.join(&file)).expect("fixture");
        for pairs in candidates(c.id()) {
            let p = params(c, &pairs);
            let req = c.start(&ctx, &p).expect("start");
            if let Ok(page) = c.read(&ctx, &p, &req, &Response::new(200, &body))
                && !page.records.is_empty()
            {
                let xml = file.ends_with(".xml");
                return Case { id: c.id(), file, body, params: p, req, records: page.records.len(), xml };
            }
        }
    }
    panic!("{}: no success fixture parses into records", c.id());
}

fn typed(c: &dyn Connector, case: &Case) -> usize {
    let ctx = ctx();
    let page = c.read(&ctx, &case.params, &case.req, &Response::new(200, black_box(&case.body))).expect("typed read");
    black_box(page).records.len()
}

fn json_value(body: &[u8]) -> usize {
    let v: serde_json::Value = serde_json::from_slice(black_box(body)).expect("JSON");
    usize::from(black_box(v).is_object())
}

/// The bare event loop: every quick-xml event read, nothing built.
fn xml_events(body: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(black_box(body));
    let mut buf = Vec::new();
    let mut events = 0;
    loop {
        match reader.read_event_into(&mut buf).expect("XML") {
            Event::Eof => break,
            e => {
                black_box(&e);
                events += 1;
            }
        }
        buf.clear();
    }
    events
}

/// An XML element with everything owned and nothing typed: the analogue of `serde_json::Value`.
#[expect(dead_code, reason = "built to be measured, never read")]
struct Element {
    name: String,
    /// Qualified key and unescaped (normalised) value, in document order.
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    /// The element's own text, unescaped, runs joined.
    text: String,
}

impl Element {
    fn new(start: &BytesStart<'_>) -> Element {
        let attributes = start
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let value = a.normalized_value(XmlVersion::Implicit1_0).expect("attribute value");
                (a.key.as_ref().to_owned(), value.into_owned())
            })
            .collect();
        Element { name: start.name().as_ref().to_owned(), attributes, children: Vec::new(), text: String::new() }
    }
}

/// The whole body as an element tree. Text runs (text, CDATA and references between two tags)
/// that are only whitespace are dropped, as generic XML trees do by default.
fn xml_tree(body: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(black_box(body));
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    let mut run = String::new();
    loop {
        let event = reader.read_event().expect("XML");
        let piece = match &event {
            Event::Text(t) => Some(t.xml10_content()),
            Event::CData(t) => Some(t.xml10_content()),
            Event::GeneralRef(r) => Some(match r.resolve_char_ref().expect("character reference") {
                Some(c) => Cow::Owned(c.to_string()),
                None => Cow::Borrowed(resolve_predefined_entity(r.as_ref()).expect("known entity")),
            }),
            _ => None,
        };
        if let Some(piece) = piece {
            run.push_str(&piece);
            continue;
        }
        if !matches!(event, Event::Comment(_) | Event::PI(_)) {
            if let Some(parent) = open.last_mut()
                && !run.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                parent.text.push_str(&run);
            }
            run.clear();
        }
        let done = match event {
            Event::Start(s) => {
                open.push(Element::new(&s));
                continue;
            }
            Event::Empty(s) => Element::new(&s),
            Event::End(_) => open.pop().expect("balanced tags"),
            Event::Eof => break,
            _ => continue,
        };
        match open.last_mut() {
            Some(parent) => parent.children.push(done),
            None => root = Some(done),
        }
    }
    usize::from(black_box(root).is_some())
}

/// MB/s of `f` over `bytes`-sized inputs, timing enough iterations to fill one sample.
fn sample(bytes: usize, iters: u64, f: &mut dyn FnMut() -> usize) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    let secs = t.elapsed().as_secs_f64();
    (bytes as f64 * iters as f64) / secs / 1e6
}

/// Iterations that make one sample last about [`SAMPLE`].
fn calibrate(f: &mut dyn FnMut() -> usize) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let took = t.elapsed();
        if took >= SAMPLE / 4 {
            return (iters as f64 * SAMPLE.as_secs_f64() / took.as_secs_f64()).ceil() as u64;
        }
        iters *= 2;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter may follow.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!("Connector parse throughput: median of {ROUNDS} alternating rounds, ~{} ms a sample", SAMPLE.as_millis());
    println!();
    println!(
        "| connector | fixture | bytes | records | typed `read()` MB/s | untyped tree MB/s | tree reader | tree ratio \
         | event loop MB/s | event-loop ratio |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
    for &c in apiary_connectors::all() {
        if filter.as_deref().is_some_and(|f| !c.id().contains(f)) {
            continue;
        }
        let case = case(c);
        let mut typed_f = || typed(c, &case);
        let mut tree_f = || if case.xml { xml_tree(&case.body) } else { json_value(&case.body) };
        let mut events_f = || xml_events(&case.body);
        let mut sides: Vec<&mut dyn FnMut() -> usize> = vec![&mut typed_f, &mut tree_f];
        if case.xml {
            sides.push(&mut events_f);
        }
        let iters: Vec<u64> = sides.iter_mut().map(|f| calibrate(&mut **f)).collect();
        let mut figures: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); sides.len()];
        for round in 0..ROUNDS {
            // Rotate which side goes first, so none always runs on a warmer cache.
            for k in 0..sides.len() {
                let i = (round + k) % sides.len();
                figures[i].push(sample(case.body.len(), iters[i], &mut *sides[i]));
            }
        }
        let m: Vec<f64> = figures.into_iter().map(median).collect();
        let (t, tree) = (m[0], m[1]);
        let reader = if case.xml { "quick-xml element tree" } else { "serde_json Value" };
        let events = match m.get(2) {
            Some(e) => format!("{e:.1} | {:.2}", t / e),
            None => "— | —".to_owned(),
        };
        println!(
            "| {} | `{}` | {} | {} | {t:.1} | {tree:.1} | {reader} | {:.2} | {events} |",
            case.id,
            case.file,
            case.body.len(),
            case.records,
            t / tree
        );
    }
}
