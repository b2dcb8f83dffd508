//! The SEC EDGAR connector on every recorded response in `tests/fixtures/sec_edgar`.

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::{Context, ErrorClass, Params, Record, Response, dataset_key, get};
use common::{fixture, params, read_one};

fn sec() -> &'static dyn apiary_connectors::Connector {
    get("sec_edgar").unwrap()
}

#[test]
fn cik_in_any_form_is_padded_to_ten_digits() {
    for raw in ["320193", "0000320193", "CIK0000320193", "cik320193", " CIK:320193 ", "00000000000320193"] {
        let p = params(sec(), &[("cik", raw)]);
        assert_eq!(p.get("cik").map(String::as_str), Some("0000320193"), "{raw}");
    }
    // The default endpoint is dropped, so equal questions share one key.
    let a = params(sec(), &[("cik", "320193"), ("endpoint", "submissions")]);
    let b = params(sec(), &[("cik", "CIK0000320193")]);
    assert_eq!(dataset_key("sec_edgar", &a), dataset_key("sec_edgar", &b));
    assert_eq!(dataset_key("sec_edgar", &b), "sec_edgar?cik=0000320193");
    let c = params(sec(), &[("cik", "320193"), ("endpoint", "CompanyFacts")]);
    assert_eq!(dataset_key("sec_edgar", &c), "sec_edgar?cik=0000320193&endpoint=companyfacts");
}

#[test]
fn bad_params_are_refused() {
    let refuse = |pairs: &[(&str, &str)]| {
        let raw: Params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        validate(sec(), raw).unwrap_err().to_string()
    };
    assert!(refuse(&[("cik", "AAPL")]).contains("cik"));
    assert!(refuse(&[("cik", "0")]).contains("cik"));
    assert!(refuse(&[("cik", "12345678901")]).contains("cik"));
    assert!(refuse(&[("cik", "-000000001")]).contains("cik"));
    assert!(refuse(&[("cik", "320193"), ("endpoint", "frames")]).contains("endpoint"));
    assert!(refuse(&[("endpoint", "submissions")]).contains("missing parameter `cik`"));
    assert!(sec().requires_contact());
    assert!(!sec().requires_key());
}

#[test]
fn requests_name_a_contact_and_use_the_padded_cik() {
    let ctx = common::ctx();
    let req = sec().start(&ctx, &params(sec(), &[("cik", "1835632")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/submissions/CIK0001835632.json");
    assert!(req.query.is_empty() && req.secrets.is_empty(), "no key, no query: {req:?}");
    let ua = req.headers.iter().find(|(k, _)| k == "User-Agent").map(|(_, v)| v.as_str()).unwrap();
    assert!(ua.starts_with("apiary/") && ua.contains("ops@example.org"), "{ua}");
    let req = sec().start(&ctx, &params(sec(), &[("cik", "1835632"), ("endpoint", "companyfacts")])).unwrap();
    assert_eq!(req.url, "http://upstream.test/api/xbrl/companyfacts/CIK0001835632.json");
    assert_eq!(req.to_string(), "GET http://upstream.test/api/xbrl/companyfacts/CIK0001835632.json");
}

#[test]
fn no_contact_is_a_config_error() {
    let ctx = Context { contact_email: None, ..common::ctx() };
    let err = sec().start(&ctx, &params(sec(), &[("cik", "320193")])).unwrap_err();
    assert_eq!(err.class, ErrorClass::Config);
    assert!(err.message.contains("APIARY_CONTACT_EMAIL"), "{}", err.message);
    let blank = Context { contact_email: Some("  "), ..common::ctx() };
    assert_eq!(sec().start(&blank, &params(sec(), &[("cik", "320193")])).unwrap_err().class, ErrorClass::Config);
}

#[test]
fn mrvl_submissions_become_filings_with_archive_urls() {
    let p = params(sec(), &[("cik", "1835632")]);
    let page = read_one(sec(), &p, 200, &fixture("sec_edgar/submissions_CIK0001835632_MRVL_success.json")).unwrap();
    assert_eq!(page.records.len(), 787, "one filing per filings.recent entry");
    assert!(page.next.is_none(), "one request per dataset");
    let Record::Filing(first) = &page.records[0] else { panic!("not a filing") };
    assert_eq!(first.source, "sec_edgar");
    assert_eq!(first.cik, "0001835632");
    assert_eq!(first.accession_number, "0000315066-26-001414");
    assert_eq!(first.form, "SCHEDULE 13G/A");
    assert_eq!(first.filed.unwrap().to_string(), "2026-06-05");
    assert_eq!(first.report_date, None, "empty reportDate is none");
    assert_eq!(
        first.document_url.as_deref(),
        Some("https://www.sec.gov/Archives/edgar/data/1835632/000031506626001414/xslSCHEDULE_13G_X02/primary_doc.xml")
    );
    let Record::Filing(second) = &page.records[1] else { panic!() };
    assert_eq!(second.form, "SD");
    assert_eq!(second.description.as_deref(), Some("SD"));
    assert!(second.document_url.as_deref().unwrap().ends_with("/1835632/000119312526258064/d152119dsd.htm"));
    let tenk = page.records.iter().filter(|r| matches!(r, Record::Filing(f) if f.form == "10-K")).count();
    assert!(tenk >= 4, "MRVL files a 10-K a year: {tenk}");
    assert!(page.records.iter().any(|r| matches!(r, Record::Filing(f) if f.report_date.is_some())));
}

#[test]
fn small_entity_with_one_filing() {
    let p = params(sec(), &[("cik", "CIK0001800903")]);
    let page =
        read_one(sec(), &p, 200, &fixture("sec_edgar/submissions_CIK0001800903_small_entity_success.json")).unwrap();
    assert_eq!(page.records.len(), 1);
    let Record::Filing(f) = &page.records[0] else { panic!() };
    assert_eq!(f.cik, "0001800903");
    assert_eq!(f.form, "D");
    assert_eq!(f.accession_number, "0001800903-20-000001");
    assert_eq!(f.filed.unwrap().to_string(), "2020-01-27");
    assert_eq!(f.description, None);
    assert_eq!(
        f.document_url.as_deref(),
        Some("https://www.sec.gov/Archives/edgar/data/1800903/000180090320000001/xslFormDX01/primary_doc.xml")
    );
}

#[test]
fn companyfacts_become_one_fact_per_reported_value() {
    let p = params(sec(), &[("cik", "1835632"), ("endpoint", "companyfacts")]);
    let body = fixture("sec_edgar/companyfacts_CIK0001835632_MRVL_trimmed_success.json");
    let page = read_one(sec(), &p, 200, &body).unwrap();
    assert_eq!(page.records.len(), 451);
    let facts: Vec<_> = page
        .records
        .iter()
        .map(|r| match r {
            Record::Fact(f) => f,
            _ => panic!("not a fact"),
        })
        .collect();
    assert!(facts.iter().all(|f| f.cik == "0001835632" && f.source == "sec_edgar"));
    let shares = facts.iter().find(|f| f.concept == "EntityCommonStockSharesOutstanding").unwrap();
    assert_eq!(shares.taxonomy, "dei");
    assert_eq!(shares.unit, "shares");
    assert_eq!(shares.label.as_deref(), Some("Entity Common Stock, Shares Outstanding"));
    assert_eq!(shares.value, Some(819_500_000.0));
    assert_eq!(shares.end.unwrap().to_string(), "2021-06-02");
    assert_eq!(shares.start, None, "an instant has no start");
    assert_eq!(shares.fiscal_year, Some(2022));
    assert_eq!(shares.fiscal_period.as_deref(), Some("Q1"));
    assert_eq!(shares.form.as_deref(), Some("10-Q"));
    assert_eq!(shares.filed.unwrap().to_string(), "2021-06-09");
    assert_eq!(shares.accession_number.as_deref(), Some("0001835632-21-000010"));
    let assets = facts.iter().find(|f| f.taxonomy == "us-gaap" && f.concept == "Assets").unwrap();
    assert_eq!(assets.unit, "USD");
    assert_eq!(assets.value, Some(10_764_924_000.0));
    let taxonomies: std::collections::BTreeSet<_> = facts.iter().map(|f| f.taxonomy.as_str()).collect();
    assert_eq!(taxonomies.into_iter().collect::<Vec<_>>(), ["dei", "ecd", "ffd", "srt", "us-gaap"]);
    assert!(facts.iter().any(|f| f.start.is_some()), "duration facts carry a start");
    assert!(facts.iter().all(|f| f.value.is_some()));
}

#[test]
fn unknown_cik_nosuchkey_is_permanent() {
    let p = params(sec(), &[("cik", "1")]);
    let err = read_one(sec(), &p, 404, &fixture("sec_edgar/submissions_bad_cik_NoSuchKey_404.xml")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("NoSuchKey"), "{}", err.message);
    assert!(!err.is_retryable() && !err.counts_against_upstream());
}

#[test]
fn access_denied_xml_is_a_missing_object_not_an_auth_failure() {
    let p = params(sec(), &[("cik", "1")]);
    let err =
        read_one(sec(), &p, 403, &fixture("sec_edgar/archives_full_index_missing_AccessDenied_403.xml")).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("AccessDenied"), "{}", err.message);
}

#[test]
fn sec_html_notices_are_classified() {
    let p = params(sec(), &[("cik", "320193")]);
    let throttled =
        b"<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>...</body></html>";
    let err = read_one(sec(), &p, 403, throttled).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(600)), "SEC throttles for ten minutes");
    let undeclared = b"<html><title>SEC.gov | Your Request Originates from an Undeclared Automated Tool</title></html>";
    let err = read_one(sec(), &p, 403, undeclared).unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    // The same notices served with a 200 are still failures.
    assert_eq!(read_one(sec(), &p, 200, throttled).unwrap_err().class, ErrorClass::RateLimited);
    assert_eq!(read_one(sec(), &p, 200, undeclared).unwrap_err().class, ErrorClass::Auth);
    let xml = fixture("sec_edgar/submissions_bad_cik_NoSuchKey_404.xml");
    assert_eq!(read_one(sec(), &p, 200, &xml).unwrap_err().class, ErrorClass::Permanent);
}

#[test]
fn statuses_and_broken_bodies() {
    let p = params(sec(), &[("cik", "320193")]);
    let ctx = common::ctx();
    let req = sec().start(&ctx, &p).unwrap();
    let resp = Response::new(429, b"Too Many Requests").with_header("Retry-After", "7");
    let err = sec().read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(read_one(sec(), &p, 503, b"Service Unavailable").unwrap_err().class, ErrorClass::Transient);
    let body = fixture("sec_edgar/submissions_CIK0001835632_MRVL_success.json");
    assert_eq!(read_one(sec(), &p, 200, &body[..body.len() / 2]).unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(sec(), &p, 200, b"").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(sec(), &p, 200, b"{\"cik\":\"0000320193\"}").unwrap_err().class, ErrorClass::Transient);
    let facts = params(sec(), &[("cik", "320193"), ("endpoint", "companyfacts")]);
    assert_eq!(read_one(sec(), &facts, 200, b"[1,2]").unwrap_err().class, ErrorClass::Transient);
}

#[test]
fn odd_but_valid_shapes_do_not_panic() {
    let p = params(sec(), &[("cik", "320193")]);
    // No filings yet, ragged columns, nulls where strings belong.
    let empty = br#"{"cik":"0000320193","filings":{"recent":{"accessionNumber":[],"form":[]},"files":[]}}"#;
    assert!(read_one(sec(), &p, 200, empty).unwrap().records.is_empty());
    let ragged = br#"{"filings":{"recent":{"accessionNumber":["0000320193-24-000001",null,"0000320193-24-000003"],"form":["10-K"],"filingDate":[null]}}}"#;
    let page = read_one(sec(), &p, 200, ragged).unwrap();
    assert_eq!(page.records.len(), 2);
    let Record::Filing(last) = &page.records[1] else { panic!() };
    assert_eq!((last.form.as_str(), last.filed, last.document_url.as_deref()), ("", None, None));
    let facts = params(sec(), &[("cik", "320193"), ("endpoint", "companyfacts")]);
    let odd = br#"{"cik":320193,"facts":{"dei":{"X":{"label":null,"units":{"USD":[{"val":"12.5","fy":"2020"},7,{"val":null}]}},"Y":3}}}"#;
    let page = read_one(sec(), &facts, 200, odd).unwrap();
    assert_eq!(page.records.len(), 2);
    let Record::Fact(f) = &page.records[0] else { panic!() };
    assert_eq!((f.value, f.fiscal_year, f.label.as_deref()), (Some(12.5), Some(2020), None));
    let none = br#"{"cik":320193,"entityName":"X","facts":{}}"#;
    assert!(read_one(sec(), &facts, 200, none).unwrap().records.is_empty());
}
