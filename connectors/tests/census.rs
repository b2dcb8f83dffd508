//! The Census connector on every recorded response in `tests/fixtures/census`, plus the error
//! shapes API_FACTS describes (no error body was recorded).

mod common;

use std::time::Duration;

use apiary_connectors::params::validate;
use apiary_connectors::{Context, ErrorClass, Params, Record, Response, dataset_key, get};
use common::{fixture, params, read_one};
use serde_json::json;

const FIXTURE: &str = "census/acs5_2018_NAME_B19013_001E_county_in_state24_truncated_success.json";

fn census() -> &'static dyn apiary_connectors::Connector {
    get("census").unwrap()
}

fn maryland() -> Params {
    params(
        census(),
        &[
            ("year", "2018"),
            ("dataset", "acs/acs5"),
            ("get", "NAME,B19013_001E"),
            ("for", "county:*"),
            ("in", "state:24"),
        ],
    )
}

#[test]
fn request_has_the_dataset_path_and_the_key_as_a_secret() {
    let ctx = common::ctx();
    let req = census().start(&ctx, &maryland()).unwrap();
    assert_eq!(req.url, "http://upstream.test/data/2018/acs/acs5");
    assert_eq!(req.query_value("get"), Some("NAME,B19013_001E"));
    assert_eq!(req.query_value("for"), Some("county:*"));
    assert_eq!(req.query_value("in"), Some("state:24"));
    assert!(req.query_value("key").is_none(), "the key never goes in the loggable query");
    assert_eq!(req.secrets.len(), 1);
    assert_eq!((req.secrets[0].1.as_str(), req.secrets[0].2.as_str()), ("key", "test-key"));
    assert!(!req.to_string().contains("test-key"));
    // Without a key the call is still made, keyless.
    let keyless = Context { api_key: None, ..ctx };
    assert!(census().start(&keyless, &maryland()).unwrap().secrets.is_empty());
    assert!(!census().requires_key() && !census().requires_contact());
}

#[test]
fn timeseries_datasets_have_no_year_in_the_path() {
    let p = params(
        census(),
        &[("dataset", "/timeseries/poverty/saipe/"), ("get", "NAME, SAEPOVRTALL_PT"), ("for", "state:01")],
    );
    let req = census().start(&common::ctx(), &p).unwrap();
    assert_eq!(req.url, "http://upstream.test/data/timeseries/poverty/saipe");
    assert_eq!(req.query_value("get"), Some("NAME,SAEPOVRTALL_PT"));
    assert!(req.query_value("in").is_none());
}

#[test]
fn params_are_checked_and_canonical() {
    let refuse = |pairs: &[(&str, &str)]| {
        let raw: Params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        validate(census(), raw).unwrap_err().to_string()
    };
    assert!(refuse(&[("dataset", "acs/acs5"), ("get", "NAME")]).contains("year"));
    assert!(refuse(&[("year", "18"), ("dataset", "acs/acs5"), ("get", "NAME")]).contains("year"));
    assert!(refuse(&[("year", "2018"), ("dataset", "acs/../x"), ("get", "NAME")]).contains("dataset"));
    assert!(refuse(&[("year", "2018"), ("dataset", "acs/acs5"), ("get", "NAME,,X")]).contains("get"));
    let many = (0..51).map(|i| format!("V{i}")).collect::<Vec<_>>().join(",");
    assert!(refuse(&[("year", "2018"), ("dataset", "acs/acs5"), ("get", &many)]).contains("50"));
    assert!(refuse(&[("year", "2018"), ("get", "NAME")]).contains("missing parameter `dataset`"));
    // Spaces and `+` separators give the same key as the plain form.
    let a = params(
        census(),
        &[
            ("year", "2010"),
            ("dataset", "dec/sf1"),
            ("get", "NAME , P001001"),
            ("for", "block:*"),
            ("in", "state:36+county:027  tract:010000"),
        ],
    );
    let b = params(
        census(),
        &[
            ("year", "2010"),
            ("dataset", "dec/sf1"),
            ("get", "NAME,P001001"),
            ("for", "block:*"),
            ("in", "state:36 county:027 tract:010000"),
        ],
    );
    assert_eq!(dataset_key("census", &a), dataset_key("census", &b));
    assert_eq!(
        dataset_key("census", &maryland()),
        "census?dataset=acs%2Facs5&for=county%3A%2A&get=NAME%2CB19013_001E&in=state%3A24&year=2018"
    );
}

#[test]
fn maryland_counties_become_rows_keyed_by_fips() {
    let page = read_one(census(), &maryland(), 200, &fixture(FIXTURE)).unwrap();
    assert_eq!(page.records.len(), 9, "header + 9 county rows as recorded");
    assert!(page.next.is_none());
    let rows: Vec<_> = page
        .records
        .iter()
        .map(|r| match r {
            Record::Row(r) => r,
            _ => panic!("not a row"),
        })
        .collect();
    let howard = rows[0];
    assert_eq!(howard.source, "census");
    assert_eq!(howard.id, "state=24,county=027");
    assert_eq!(howard.values.get("NAME"), Some(json!("Howard County, Maryland")));
    assert_eq!(howard.values.get("B19013_001E"), Some(json!(117730)), "numeric strings become numbers");
    assert_eq!(howard.values.get("state"), Some(json!("24")), "FIPS codes stay strings");
    assert_eq!(howard.values.get("county"), Some(json!("027")));
    assert_eq!(howard.values.len(), 4);
    let pg = rows.iter().find(|r| r.id == "state=24,county=033").unwrap();
    assert_eq!(pg.values.get("NAME"), Some(json!("Prince George's County, Maryland")));
    assert_eq!(pg.values.get("B19013_001E"), Some(json!(81969)));
    let ids: std::collections::BTreeSet<_> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 9, "ids are unique");
}

#[test]
fn nulls_codes_groups_and_time_series() {
    // Suppressed values are null; state is appended although `in` was not given; a leading-zero
    // code and a label column stay strings; variables from group() are not mistaken for geography.
    let p = params(
        census(),
        &[
            ("year", "2020"),
            ("dataset", "acs/acs5"),
            ("get", "NAME,group(B19013)"),
            ("for", "county subdivision:*"),
            ("in", "state:09 county:001"),
        ],
    );
    let body = br#"[["NAME","B19013_001E","B19013_001M","B19013_001EA","NAICS2017","GEO_ID","state","county","county subdivision"],
        ["Bethel town",null,"1234.5","007","23","0600000US0900104720","09","001","04720"]]"#;
    let page = read_one(census(), &p, 200, body).unwrap();
    let Record::Row(row) = &page.records[0] else { panic!() };
    assert_eq!(row.id, "state=09,county=001,county subdivision=04720");
    assert_eq!(row.values.get("B19013_001E"), Some(json!(null)));
    assert_eq!(row.values.get("B19013_001M"), Some(json!(1234.5)));
    assert_eq!(row.values.get("B19013_001EA"), Some(json!("007")));
    assert_eq!(row.values.get("NAICS2017"), Some(json!("23")));
    assert_eq!(row.values.get("GEO_ID"), Some(json!("0600000US0900104720")));
    // Time series: lower-case variables that were asked for are values, `time` joins the key.
    let p = params(
        census(),
        &[("dataset", "timeseries/eits/resconst"), ("get", "cell_value,category_code"), ("for", "us:*")],
    );
    let body = br#"[["cell_value","category_code","time","us"],["1234","APERMITS","2020-01","1"],["1300","APERMITS","2020-02","1"]]"#;
    let page = read_one(census(), &p, 200, body).unwrap();
    let ids: Vec<_> = page
        .records
        .iter()
        .map(|r| match r {
            Record::Row(r) => r.id.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(ids, ["time=2020-01,us=1", "time=2020-02,us=1"]);
    let Record::Row(first) = &page.records[0] else { panic!() };
    assert_eq!(first.values.get("cell_value"), Some(json!(1234)));
    assert_eq!(first.values.get("category_code"), Some(json!("APERMITS")));
    // No geography at all: rows are numbered.
    let p = params(census(), &[("dataset", "timeseries/x"), ("get", "A")]);
    let page = read_one(census(), &p, 200, br#"[["A"],["1"]]"#).unwrap();
    let Record::Row(row) = &page.records[0] else { panic!() };
    assert_eq!(row.id, "row=1");
}

#[test]
fn empty_answers_are_successes_with_no_records() {
    let p = maryland();
    assert!(read_one(census(), &p, 204, b"").unwrap().records.is_empty());
    assert!(read_one(census(), &p, 200, b"").unwrap().records.is_empty());
    assert!(read_one(census(), &p, 200, b"  \n").unwrap().records.is_empty());
    assert!(read_one(census(), &p, 200, b"[]").unwrap().records.is_empty());
    assert!(read_one(census(), &p, 200, br#"[["NAME","state"]]"#).unwrap().records.is_empty());
}

#[test]
fn plain_text_400s_are_permanent() {
    let p = maryland();
    for body in [
        "error: unknown variable 'B19013_001X'",
        "error: unknown/unsupported geography heirarchy",
        "<p>error: missing 'for' argument</p>",
    ] {
        let err = read_one(census(), &p, 400, body.as_bytes()).unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent, "{body}");
        assert!(err.message.contains("error:") && !err.message.contains("<p>"), "{}", err.message);
    }
    // The same refusal with a 200 is still a refusal.
    assert_eq!(read_one(census(), &p, 200, b"error: unknown variable 'X'").unwrap_err().class, ErrorClass::Permanent);
    assert_eq!(read_one(census(), &p, 404, b"<html>Not Found</html>").unwrap_err().class, ErrorClass::Permanent);
}

#[test]
fn invalid_key_is_auth_and_never_echoes_the_key() {
    let p = maryland();
    let page = b"<html><head><title>Invalid Key</title></head><body>A valid <em>key</em> must be included with each data API request.</body></html>";
    for status in [200, 400] {
        let err = read_one(census(), &p, status, page).unwrap_err();
        assert_eq!(err.class, ErrorClass::Auth);
        assert!(!err.message.contains("test-key"));
    }
    let ctx = common::ctx();
    let req = census().start(&ctx, &p).unwrap();
    let redirect = Response::new(302, b"").with_header("Location", "https://api.census.gov/data/invalid_key.html");
    assert_eq!(census().read(&ctx, &p, &req, &redirect).unwrap_err().class, ErrorClass::Auth);
}

#[test]
fn throttling_outages_and_broken_bodies() {
    let p = maryland();
    let ctx = common::ctx();
    let req = census().start(&ctx, &p).unwrap();
    let resp = Response::new(429, b"Too Many Requests").with_header("retry-after", "30");
    let err = census().read(&ctx, &p, &req, &resp).unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(read_one(census(), &p, 503, b"Service Unavailable").unwrap_err().class, ErrorClass::Transient);
    assert_eq!(read_one(census(), &p, 500, b"").unwrap_err().class, ErrorClass::Transient);
    let body = fixture(FIXTURE);
    let cut = read_one(census(), &p, 200, &body[..body.len() - 40]).unwrap_err();
    assert_eq!(cut.class, ErrorClass::Transient);
    for odd in [
        &br#"{"a":1}"#[..],
        br#"[["NAME",1]]"#,
        br#"[["NAME","state"],["x"]]"#,
        br#"[["NAME"],"x"]"#,
        b"<html>oops</html>",
    ] {
        assert_eq!(
            read_one(census(), &p, 200, odd).unwrap_err().class,
            ErrorClass::Transient,
            "{}",
            String::from_utf8_lossy(odd)
        );
    }
}

#[test]
fn rows_serialise_as_plain_maps_and_read_back() {
    let page = read_one(census(), &maryland(), 200, &fixture(FIXTURE)).unwrap();
    let json = serde_json::to_string(&page.records[0]).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"row","source":"census","id":"state=24,county=027","values":{"B19013_001E":117730,"NAME":"Howard County, Maryland","county":"027","state":"24"}}"#
    );
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, page.records[0]);
    assert_eq!(format!("{back:?}"), format!("{:?}", page.records[0]));
    // Cells that are not strings, and escaped text, read the same way.
    let p = params(census(), &[("dataset", "timeseries/x"), ("get", "A,B,C")]);
    let page = read_one(census(), &p, 200, br#"[["A","B","C"],["x\u00e9",5,[1]],["y",null,"6"]]"#).unwrap();
    let rows: Vec<String> = page.records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    assert_eq!(
        rows,
        [
            r#"{"kind":"row","source":"census","id":"row=1","values":{"A":"xé","B":5,"C":[1]}}"#,
            r#"{"kind":"row","source":"census","id":"row=2","values":{"A":"y","B":null,"C":6}}"#,
        ]
    );
}
