//! The PubMed connector on every recorded response in `tests/fixtures/pubmed`, plus request shape
//! and the esearch → efetch chain.

mod common;

use std::time::Duration;

use apiary_connectors::request::{Method, SecretPlace};
use apiary_connectors::{Context, ErrorClass, Record, Response, get, params::validate};
use common::{ctx, fixture, params, read_one};

fn paper(r: &Record) -> &apiary_connectors::record::Paper {
    match r {
        Record::Paper(p) => p,
        other => panic!("not a paper: {other:?}"),
    }
}

#[test]
fn esearch_request_shape_and_identification() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("term", "biopython"), ("retmax", "20")]);
    let req = pubmed.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/entrez/eutils/esearch.fcgi");
    assert_eq!(req.step, "esearch");
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.query_value("db"), Some("pubmed"));
    assert_eq!(req.query_value("term"), Some("biopython"));
    assert_eq!(req.query_value("retmax"), Some("20"));
    assert_eq!(req.query_value("tool"), Some("apiary"));
    assert_eq!(req.query_value("email"), Some("ops@example.org"));
    assert!(req.query_value("api_key").is_none(), "the key never goes in the loggable query");
    assert_eq!(req.secrets, vec![(SecretPlace::Query, "api_key".to_owned(), "test-key".to_owned())]);
    assert!(!req.to_string().contains("test-key"));
    // No key, no contact: plain anonymous request (the key is optional).
    let anon = Context { api_key: None, contact_email: None, ..ctx() };
    let req = pubmed.start(&anon, &p).unwrap();
    assert!(req.secrets.is_empty());
    assert!(req.query_value("tool").is_none() && req.query_value("email").is_none());
    assert!(!pubmed.requires_key() && !pubmed.requires_contact());
}

#[test]
fn esearch_yields_no_records_and_chains_to_efetch() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("term", "biopython")]);
    let c = ctx();
    let first = pubmed.start(&c, &p).unwrap();
    assert_eq!(first.query_value("retmax"), Some("20"), "NCBI's default page");
    let body = fixture("pubmed/esearch_db_pubmed_term_biopython_success.xml");
    let page = pubmed.read(&c, &p, &first, &Response::new(200, &body)).unwrap();
    assert!(page.records.is_empty(), "esearch lists ids only");
    let next = page.next.expect("efetch follows");
    assert_eq!(next.url, "http://upstream.test/entrez/eutils/efetch.fcgi");
    assert_eq!(next.step, "efetch");
    assert_eq!(next.index, 1);
    assert_eq!(next.method, Method::Get);
    let ids = next.query_value("id").unwrap();
    assert_eq!(ids.split(',').count(), 20);
    assert!(ids.starts_with("41282813,41148224,") && ids.ends_with(",37810457"));
    assert_eq!(next.query_value("retmode"), Some("xml"));
    assert_eq!(next.query_value("db"), Some("pubmed"));
    assert_eq!(next.query_value("email"), Some("ops@example.org"));
    assert_eq!(next.secrets.len(), 1, "the key travels with the efetch");
    // The efetch answer ends the chain.
    let body = fixture("pubmed/efetch_db_pubmed_ids_12091962_9997_xml_abstract_success.xml");
    let page = pubmed.read(&c, &p, &next, &Response::new(200, &body)).unwrap();
    assert_eq!(page.records.len(), 2);
    assert!(page.next.is_none());
}

#[test]
fn esearch_needs_room_for_its_second_step() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("term", "biopython")]);
    let c = Context { max_pages: 1, ..ctx() };
    let first = pubmed.start(&c, &p).unwrap();
    let body = fixture("pubmed/esearch_db_pubmed_term_biopython_success.xml");
    let err = pubmed.read(&c, &p, &first, &Response::new(200, &body)).unwrap_err();
    assert_eq!(err.class, ErrorClass::Config);
}

#[test]
fn phrase_not_found_is_an_empty_success() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("term", "abcXYZ")]);
    let body = fixture("pubmed/esearch_db_protein_term_abcXYZ_phrase_not_found_200.xml");
    let page = read_one(pubmed, &p, 200, &body).unwrap();
    assert!(page.records.is_empty());
    assert!(page.next.is_none(), "nothing to fetch");
}

#[test]
fn efetch_article_with_mathml_abstract_and_collective_author() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "29963580")]);
    let body = fixture("pubmed/efetch_db_pubmed_id_29963580_xml_success.xml");
    let page = read_one(pubmed, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(page.next.is_none());
    let a = paper(&page.records[0]);
    assert_eq!(a.source, "pubmed");
    assert_eq!(a.id, "29963580");
    assert_eq!(
        a.title,
        "Development of a pulmonary imaging biomarker pipeline for phenotyping of chronic lung disease."
    );
    assert_eq!(a.authors.len(), 9);
    assert_eq!(a.authors[0], "Fumin Guo");
    assert_eq!(a.authors[5], "David G McCormack");
    assert_eq!(a.authors[8], "Canadian Respiratory Research Network");
    assert_eq!(a.doi.as_deref(), Some("10.1117/1.JMI.5.2.026002"), "from PubmedData, not a reference's id list");
    assert_eq!(a.url.as_deref(), Some("https://pubmed.ncbi.nlm.nih.gov/29963580/"));
    assert_eq!(a.venue.as_deref(), Some("Journal of medical imaging (Bellingham, Wash.)"));
    assert_eq!(a.published.unwrap().to_rfc3339(), "2018-06-28T00:00:00+00:00", "electronic ArticleDate");
    assert_eq!(a.updated.unwrap().to_rfc3339(), "2018-11-14T00:00:00+00:00");
    let abs = a.abstract_text.as_deref().unwrap();
    assert!(abs.starts_with("We designed and generated pulmonary imaging biomarker pipelines"), "{abs}");
    assert!(abs.contains("inhaled He 3 / Xe 129"), "MathML text kept, single-spaced: {abs}");
    assert!(!abs.contains('\n') && !abs.contains("  "));
}

#[test]
fn efetch_two_articles_dates_doi_and_mesh() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "12091962,9997")]);
    let body = fixture("pubmed/efetch_db_pubmed_ids_12091962_9997_xml_abstract_success.xml");
    let page = read_one(pubmed, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 2);
    let a = paper(&page.records[0]);
    assert_eq!(a.id, "12091962");
    assert_eq!(a.authors, vec!["J Michael Olivero"]);
    assert!(a.abstract_text.is_none(), "no Abstract element");
    assert!(a.doi.is_none());
    assert_eq!(a.published.unwrap().to_rfc3339(), "1990-03-01T00:00:00+00:00", "Season Spring");
    assert!(a.categories.contains(&"Prisoners".to_owned()));
    let b = paper(&page.records[1]);
    assert_eq!(b.id, "9997");
    assert_eq!(
        b.title,
        "Magnetic studies of Chromatium flavocytochrome C552. A mechanism for heme-flavin interaction."
    );
    assert_eq!(b.doi.as_deref(), Some("10.1016/0005-2795(76)90109-4"));
    assert_eq!(b.published.unwrap().to_rfc3339(), "1976-09-28T00:00:00+00:00");
    assert!(b.abstract_text.as_deref().unwrap().starts_with("Electron paramagnetic resonance"));
    assert_eq!(b.venue.as_deref(), Some("Biochimica et biophysica acta"));
    assert_eq!(b.categories.len(), 13);
}

#[test]
fn esummary_docsums_are_papers() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "11850928,11482001")]);
    let body = fixture("pubmed/esummary_db_pubmed_two_ids_xml_success.xml");
    let page = read_one(pubmed, &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 2);
    let a = paper(&page.records[0]);
    assert_eq!(a.id, "11850928");
    assert_eq!(a.title, "Zirconium granuloma following treatment of rhus dermatitis.");
    assert_eq!(a.authors, vec!["LoPresti PJ", "Hambrick GW Jr"]);
    assert_eq!(a.published.unwrap().to_rfc3339(), "1965-08-01T00:00:00+00:00");
    assert_eq!(a.venue.as_deref(), Some("Archives of dermatology"));
    let b = paper(&page.records[1]);
    assert_eq!(b.authors.len(), 3);
    assert_eq!(b.published.unwrap().to_rfc3339(), "2001-06-01T00:00:00+00:00");
}

#[test]
fn error_element_in_a_200_is_permanent() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "1")]);
    let err = read_one(pubmed, &p, 200, &fixture("pubmed/esummary_no_id_error_element.xml")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("Neither query_key nor id specified"), "{}", err.message);
}

#[test]
fn rate_limit_json_is_rate_limited_and_never_echoed() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("term", "asthma")]);
    let body = fixture("pubmed/eutils_rate_limit_exceeded_429.json");
    let c = ctx();
    let req = pubmed.start(&c, &p).unwrap();
    let resp = Response::new(429, &body).with_header("Retry-After", "2");
    let err = pubmed.read(&c, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
    assert!(err.message.contains("limit 3"), "{}", err.message);
    assert!(!err.message.contains("132.246.3.117"), "the api-key field is not copied: {}", err.message);
    // The same body behind a 200 is still throttling.
    let err = read_one(pubmed, &p, 200, &body).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
}

#[test]
fn a_key_echoed_in_an_error_is_redacted() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "1")]);
    let body = b"<eFetchResult><ERROR>Invalid api_key test-key</ERROR></eFetchResult>";
    let err = read_one(pubmed, &p, 200, body).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(!err.message.contains("test-key"), "{}", err.message);
    let err = read_one(pubmed, &p, 400, b"bad api_key=test-key").unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(!err.message.contains("test-key"), "{}", err.message);
}

#[test]
fn id_mode_is_one_efetch_and_long_lists_are_posted() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "12091962, 9997")]);
    assert_eq!(p["id"], "12091962,9997");
    let req = pubmed.start(&ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/entrez/eutils/efetch.fcgi");
    assert_eq!(req.step, "efetch");
    assert_eq!(req.index, 0);
    assert_eq!(req.query_value("id"), Some("12091962,9997"));
    let many: Vec<String> = (1..=250).map(|n| n.to_string()).collect();
    let p = params(pubmed, &[("id", &many.join(","))]);
    let req = pubmed.start(&ctx(), &p).unwrap();
    assert_eq!(req.method, Method::Post);
    assert!(req.query_value("id").is_none());
    assert_eq!(req.form.iter().find(|(k, _)| k == "id").map(|(_, v)| v.split(',').count()), Some(250));
    // A PMID that no longer exists gives an empty set: a success with no records.
    let page =
        read_one(pubmed, &params(pubmed, &[("id", "1")]), 200, b"<PubmedArticleSet></PubmedArticleSet>").unwrap();
    assert!(page.records.is_empty());
}

#[test]
fn parameters_are_checked_and_canonical() {
    let pubmed = get("pubmed").unwrap();
    let raw = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(validate(pubmed, raw(&[])).is_err(), "term or id is required");
    assert!(validate(pubmed, raw(&[("term", "a"), ("id", "1")])).is_err(), "not both");
    assert!(validate(pubmed, raw(&[("term", "a"), ("retmax", "0")])).is_err());
    assert!(validate(pubmed, raw(&[("term", "a"), ("retmax", "501")])).is_err());
    assert!(validate(pubmed, raw(&[("term", "a"), ("retstart", "x")])).is_err());
    assert!(validate(pubmed, raw(&[("id", "1"), ("retmax", "5")])).is_err());
    assert!(validate(pubmed, raw(&[("id", "PMC123")])).is_err());
    assert!(validate(pubmed, raw(&[("db", "protein"), ("term", "a")])).is_err(), "unknown parameter");
    let p = params(pubmed, &[("id", "0009997,12,12")]);
    assert_eq!(p["id"], "9997,12");
    let p = params(pubmed, &[("term", "  asthma\n AND  2020[dp] ")]);
    assert_eq!(p["term"], "asthma AND 2020[dp]");
    let p = params(pubmed, &[("term", "x"), ("retstart", "40"), ("retmax", "5")]);
    let req = pubmed.start(&ctx(), &p).unwrap();
    assert_eq!(req.query_value("retstart"), Some("40"));
    assert_eq!(req.query_value("retmax"), Some("5"));
}

#[test]
fn broken_bodies_are_transient() {
    let pubmed = get("pubmed").unwrap();
    let p = params(pubmed, &[("id", "29963580")]);
    let body = fixture("pubmed/efetch_db_pubmed_id_29963580_xml_success.xml");
    let err = read_one(pubmed, &p, 200, &body[..body.len() / 2]).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
    assert_eq!(read_one(pubmed, &p, 200, b"").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(pubmed, &p, 200, b"<html><body>oops</body></html>").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(pubmed, &p, 502, b"Bad Gateway").unwrap_err().class, ErrorClass::Transient);
    // esearch listed ids, then efetch came back empty: a hiccup, not an answer.
    let q = params(pubmed, &[("term", "biopython")]);
    let c = ctx();
    let first = pubmed.start(&c, &q).unwrap();
    let esearch = fixture("pubmed/esearch_db_pubmed_term_biopython_success.xml");
    let next = pubmed.read(&c, &q, &first, &Response::new(200, &esearch)).unwrap().next.unwrap();
    let err = pubmed.read(&c, &q, &next, &Response::new(200, b"<PubmedArticleSet/>")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    // A search result where the articles should be does not start another chain.
    let err = pubmed.read(&c, &q, &next, &Response::new(200, &esearch)).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
}

#[test]
fn book_articles_are_papers_too() {
    // No recording holds a PubmedBookArticle; this is its documented shape, trimmed.
    let body = br#"<?xml version="1.0" ?>
<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>
<Book><Publisher><PublisherName>University of Washington, Seattle</PublisherName></Publisher>
<BookTitle book="gene">GeneReviews&#174;</BookTitle><PubDate><Year>1993</Year></PubDate>
<AuthorList Type="editors"><Author><LastName>Adam</LastName><ForeName>Margaret P</ForeName></Author></AuthorList></Book>
<ArticleTitle book="gene" part="alport">Alport   Syndrome</ArticleTitle>
<AuthorList Type="authors"><Author><LastName>Kashtan</LastName><ForeName>Clifford E</ForeName></Author></AuthorList>
<Abstract><AbstractText Label="CLINICAL CHARACTERISTICS">Alport syndrome is
 characterized by renal disease.</AbstractText></Abstract></BookDocument>
<PubmedBookData><ArticleIdList><ArticleId IdType="bookaccession">NBK1207</ArticleId></ArticleIdList></PubmedBookData>
</PubmedBookArticle></PubmedArticleSet>"#;
    let pubmed = get("pubmed").unwrap();
    let page = read_one(pubmed, &params(pubmed, &[("id", "20301295")]), 200, body).unwrap();
    assert_eq!(page.records.len(), 1);
    let b = paper(&page.records[0]);
    assert_eq!(b.id, "20301295");
    assert_eq!(b.title, "Alport Syndrome");
    assert_eq!(b.authors, vec!["Clifford E Kashtan"], "editors are not authors");
    assert_eq!(b.venue.as_deref(), Some("GeneReviews®"));
    assert_eq!(
        b.abstract_text.as_deref(),
        Some("CLINICAL CHARACTERISTICS: Alport syndrome is characterized by renal disease.")
    );
    assert_eq!(b.published.unwrap().to_rfc3339(), "1993-01-01T00:00:00+00:00");
}

#[test]
fn no_panic_on_any_cut_of_any_fixture() {
    let c = get("pubmed").unwrap();
    let p = params(c, &[("term", "x")]);
    let ctx = ctx();
    let first = c.start(&ctx, &p).unwrap();
    let later = first.clone().after(&first);
    common::read_prefixes(c, &p, &["pubmed"], &[200, 400, 404, 429, 500], 97, &[&first, &later]);
}
