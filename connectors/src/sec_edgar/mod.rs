//! SEC EDGAR: the `data.sec.gov` JSON APIs — company submissions and XBRL company facts.
//!
//! Docs: <https://www.sec.gov/search-filings/edgar-application-programming-interfaces> and the
//! fair-access rules at <https://www.sec.gov/os/accessing-edgar-data>. No key, but every caller
//! must declare itself with a `User-Agent` naming a contact e-mail, so this connector refuses to
//! build a request without `APIARY_CONTACT_EMAIL` (a [`ErrorClass::Config`] failure) and sends
//! `User-Agent: apiary/0.1 (contact: EMAIL)`. The limit is 10 requests/s per client, fleet-wide;
//! going over gets the IP throttled for about 10 minutes.
//!
//! Endpoints (`endpoint` parameter):
//! - `submissions` (default): `/submissions/CIK##########.json`. Filings come as parallel column
//!   arrays under `filings.recent` (at least the last year, up to 1000 filings); each index becomes
//!   one [`Filing`] whose `document_url` points at the primary document in the archive
//!   (`https://www.sec.gov/Archives/edgar/data/{cik}/{accession without dashes}/{document}`).
//!   Older filings listed in `filings.files[]` (extra JSON pages) are not followed: one dataset is
//!   one request.
//! - `companyfacts`: `/api/xbrl/companyfacts/CIK##########.json`, nested
//!   `facts.{taxonomy}.{concept}.units.{unit}[]`; every reported value becomes one [`Fact`]. The
//!   body can exceed 1 MB and yield tens of thousands of facts for a large filer.
//!
//! `cik` is accepted in any usual form (`320193`, `0000320193`, `CIK0000320193`) and canonicalised
//! to ten digits, so equal questions share one dataset key; `endpoint=submissions` is the default
//! and is dropped from the key.
//!
//! Quirks and classification: errors are not JSON. An unknown CIK gives **404 `application/xml`**
//! with an S3 `NoSuchKey` error (permanent). An S3 `AccessDenied` 403 is what the archive answers
//! for an object that does not exist (S3 hides existence without list rights), so it is
//! permanent too — not an auth failure. Identification and throttling come as HTML pages instead:
//! "Undeclared Automated Tool" (auth: the User-Agent was refused) and "Request Rate Threshold
//! Exceeded" (rate limited, with a 10-minute wait unless `Retry-After` says otherwise), both at
//! 403. Truncated or unparseable success bodies are transient.
//!
//! Parsing: bodies are read straight into structs (`body`, with the lenient readers of
//! `crate::json`), only the columns and fields records hold, not into a `serde_json::Value`.
//!
//! [`ErrorClass::Config`]: crate::ErrorClass::Config
//! [`Filing`]: crate::record::Filing
//! [`Fact`]: crate::record::Fact

use std::time::Duration;

mod body;

use body::{Body, CikJson, facts, filings};

use crate::json::{self, Obj};
use crate::params::{self, Param, ParamError, Params};
use crate::text::snippet;
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};

/// Where the archive documents live (not under `data.sec.gov`).
const ARCHIVE_ROOT: &str = "https://www.sec.gov/Archives/edgar/data";
/// How long SEC throttles an IP that went over the limit, when it does not say.
const THROTTLE_WAIT: Duration = Duration::from_secs(600);

pub struct SecEdgar;

static PARAMS: [Param; 2] = [
    Param::required("cik", "company CIK in any form: 320193, 0000320193 or CIK0000320193").in_path(),
    Param::optional("endpoint", "submissions (filings, the default) or companyfacts (XBRL facts)"),
];

static META: Meta = Meta {
    id: "sec_edgar",
    describe: "SEC EDGAR company filings and XBRL facts (data.sec.gov)",
    group: Group::Government,
    params: &PARAMS,
    requires_key: false,
    requires_contact: true,
    operations: &["submissions", "companyfacts"],
};

impl Connector for SecEdgar {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// A small filer's submissions file (a few kilobytes).
    fn probe(&self) -> Option<&'static [(&'static str, &'static str)]> {
        Some(&[("cik", "1800903")])
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(raw) = p.get("cik") {
            let cik = canonical_cik(raw)?;
            p.insert("cik".into(), cik);
        }
        if let Some(e) = p.get("endpoint") {
            let e = e.to_ascii_lowercase();
            p.insert("endpoint".into(), e);
        }
        params::one_of(p, "endpoint", &["submissions", "companyfacts"])?;
        if p.get("endpoint").map(String::as_str) == Some("submissions") {
            p.remove("endpoint");
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let contact = ctx.require_contact("SEC EDGAR")?;
        let cik = p.get("cik").ok_or_else(|| ConnectorError::permanent("sec_edgar needs a cik"))?;
        let cik = canonical_cik(cik).map_err(|e| ConnectorError::permanent(e.to_string()))?;
        // Ten digits by now; encoded anyway so no later change to the CIK rules can reach the path.
        let cik = crate::path::segment("cik", &cik)?;
        let req = match Endpoint::of(p) {
            Endpoint::Submissions => {
                Request::get(format!("{}/submissions/CIK{cik}.json", ctx.base_url)).step("submissions")
            }
            Endpoint::CompanyFacts => {
                Request::get(format!("{}/api/xbrl/companyfacts/CIK{cik}.json", ctx.base_url)).step("companyfacts")
            }
        };
        Ok(req
            .header("User-Agent", format!("apiary/0.1 (contact: {})", contact.trim()))
            .header("Accept", "application/json"))
    }

    fn read(&self, _ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if !resp.is_success() {
            return Err(failure(resp));
        }
        let body: Body = match json::parse::<Obj<Body>>(resp.body) {
            Ok(b) => b.0.unwrap_or_default(),
            // An SEC notice served with a 2xx is still a notice; anything else is a broken body.
            Err(_) if is_notice(&resp.text()) => return Err(failure(resp)),
            Err(e) => return Err(ConnectorError::transient(format!("unreadable SEC JSON: {e}"))),
        };
        let cik = p
            .get("cik")
            .and_then(|c| canonical_cik(c).ok())
            .or_else(|| body.cik.0.as_ref().and_then(CikJson::canonical))
            .unwrap_or_default();
        let records = match Endpoint::of(p) {
            Endpoint::CompanyFacts => facts(&cik, body.facts)?,
            Endpoint::Submissions => filings(&cik, body.filings)?,
        };
        Ok(Page::last(records))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Submissions,
    CompanyFacts,
}

impl Endpoint {
    fn of(p: &Params) -> Self {
        match p.get("endpoint").map(String::as_str) {
            Some("companyfacts") => Endpoint::CompanyFacts,
            _ => Endpoint::Submissions,
        }
    }
}

/// A CIK as ten digits: `CIK320193`, `0000320193` and `320193` are the same company.
pub fn canonical_cik(raw: &str) -> Result<String, ParamError> {
    let s = raw.trim();
    let s = match s.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("cik") => {
            s.get(3..).unwrap_or_default().trim_start_matches([':', ' ', '-'])
        }
        _ => s,
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::invalid("cik", format!("`{raw}` is not a CIK (digits, e.g. 320193)")));
    }
    let digits = s.trim_start_matches('0');
    if digits.is_empty() || digits.len() > 10 {
        return Err(ParamError::invalid("cik", format!("`{raw}` is not a CIK (1 to 10 digits, not zero)")));
    }
    Ok(format!("{digits:0>10}"))
}

/// Classify a failure body: S3 XML errors, SEC's HTML notices, or the bare status.
fn failure(resp: &Response) -> ConnectorError {
    let text = resp.text();
    if resp.status == 429 || text.contains("Request Rate Threshold Exceeded") {
        let wait = resp.retry_after().or(Some(THROTTLE_WAIT));
        return ConnectorError::rate_limited(format!(
            "HTTP {}: SEC request rate threshold exceeded (10 requests/s fleet-wide)",
            resp.status
        ))
        .with_retry_after(wait);
    }
    if text.contains("Undeclared Automated Tool") {
        return ConnectorError::auth(format!(
            "HTTP {}: SEC refused the request as an undeclared automated tool; \
             APIARY_CONTACT_EMAIL must be a real contact address",
            resp.status
        ));
    }
    if let Some(code) = xml_tag(&text, "Code") {
        let message = xml_tag(&text, "Message").unwrap_or_default();
        let key = xml_tag(&text, "Key").map(|k| format!(" ({k})")).unwrap_or_default();
        let detail = snippet(&format!("{code}: {message}{key}"));
        return match code {
            "NoSuchKey" => ConnectorError::permanent(format!(
                "HTTP {}: SEC has no such document, check the CIK: {detail}",
                resp.status
            )),
            "AccessDenied" => ConnectorError::permanent(format!(
                "HTTP {}: SEC has no such document (S3 answers AccessDenied for missing objects): {detail}",
                resp.status
            )),
            "SlowDown" => ConnectorError::rate_limited(format!("HTTP {}: {detail}", resp.status))
                .with_retry_after(resp.retry_after()),
            "InternalError" | "ServiceUnavailable" => {
                ConnectorError::transient(format!("HTTP {}: {detail}", resp.status))
            }
            _ => ConnectorError::from_status(resp.status, &detail).with_retry_after(resp.retry_after()),
        };
    }
    resp.status_error()
}

/// Whether a body is one of SEC's error notices (HTML pages or S3 XML) rather than data.
fn is_notice(text: &str) -> bool {
    text.contains("Request Rate Threshold Exceeded")
        || text.contains("Undeclared Automated Tool")
        || xml_tag(text, "Code").is_some()
}

/// The text of the first `<name>...</name>` element, for the small S3 error documents.
fn xml_tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text.get(start..)?.find(&format!("</{name}>"))?;
    text.get(start..start + len).map(str::trim)
}
