//! SEC EDGAR success bodies read straight into structs, and turned into filing and fact records.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer};

use super::{ARCHIVE_ROOT, canonical_cik};
use crate::ConnectorError;
use crate::json::{self, I64, JNum, List, Map, Num, Obj, Pick, Str, U64, object};
use crate::record::{Fact, Filing, Record};
use crate::text::{clean, clean_opt, date};

/// The `cik` field of a body: a zero-padded string in submissions, a bare number in companyfacts.
pub(super) enum CikJson<'a> {
    Text(Cow<'a, str>),
    Number(Option<u64>),
}

impl CikJson<'_> {
    pub(super) fn canonical(&self) -> Option<String> {
        match self {
            CikJson::Text(s) => canonical_cik(s).ok(),
            CikJson::Number(n) => n.and_then(|n| canonical_cik(&n.to_string()).ok()),
        }
    }
}

/// The `cik` field, kept raw: it is only needed when the parameters hold none.
#[derive(Default)]
pub(super) struct Cik<'a>(pub(super) Option<CikJson<'a>>);

impl<'de> Pick<'de> for Cik<'de> {
    fn borrowed_str(s: &'de str) -> Self {
        Cik(Some(CikJson::Text(Cow::Borrowed(s))))
    }
    fn str(s: &str) -> Self {
        Cik(Some(CikJson::Text(Cow::Owned(s.to_owned()))))
    }
    fn number(n: Num) -> Self {
        Cik(Some(CikJson::Number(U64::number(n).0)))
    }
}

impl<'de> Deserialize<'de> for Cik<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

object! {
    /// A submissions or companyfacts body: only what the records hold.
    pub(super) struct Body<'a> {
        "cik" => cik: Cik<'a>,
        "filings" => filings: Obj<Filings<'a>>,
        "facts" => facts: Map<'a, Map<'a, Obj<Concept<'a>>>>,
    }
}

object! {
    pub(super) struct Filings<'a> {
        "recent" => recent: Obj<Recent<'a>>,
    }
}

object! {
    /// `filings.recent`: parallel columns, one entry per filing.
    pub(super) struct Recent<'a> {
        "accessionNumber" => accession: List<Str<'a>>,
        "form" => form: List<Str<'a>>,
        "filingDate" => filed: List<Str<'a>>,
        "reportDate" => reported: List<Str<'a>>,
        "primaryDocument" => document: List<Str<'a>>,
        "primaryDocDescription" => description: List<Str<'a>>,
    }
}

object! {
    pub(super) struct Concept<'a> {
        "label" => label: Str<'a>,
        "units" => units: Map<'a, List<Obj<FactValue<'a>>>>,
    }
}

object! {
    /// One reported value of a concept in a unit.
    pub(super) struct FactValue<'a> {
        "val" => val: JNum,
        "start" => start: Str<'a>,
        "end" => end: Str<'a>,
        "fy" => fy: FiscalYear,
        "fp" => fp: Str<'a>,
        "form" => form: Str<'a>,
        "filed" => filed: Str<'a>,
        "accn" => accn: Str<'a>,
    }
}

/// `fy`: a number, or a string holding one.
#[derive(Default)]
pub(super) struct FiscalYear(Option<i64>);

impl Pick<'_> for FiscalYear {
    fn str(s: &str) -> Self {
        FiscalYear(s.trim().parse().ok())
    }
    fn number(n: Num) -> Self {
        FiscalYear(I64::number(n).0)
    }
}

impl<'de> Deserialize<'de> for FiscalYear {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

/// A column cell: its text trimmed, when it is non-empty text.
fn cell<'a>(col: &'a [Str<'_>], i: usize) -> Option<&'a str> {
    col.get(i).and_then(Str::get).map(str::trim).filter(|s| !s.is_empty())
}

/// `filings.recent` (parallel column arrays) as one filing per accession number.
pub(super) fn filings(cik: &str, filings: Obj<Filings<'_>>) -> Result<Vec<Record>, ConnectorError> {
    let recent = filings
        .0
        .and_then(|f| f.recent.0)
        .ok_or_else(|| ConnectorError::transient("SEC submissions body has no filings.recent"))?;
    let accessions = recent.accession.items();
    let (forms, filed, reported) = (recent.form.items(), recent.filed.items(), recent.reported.items());
    let (documents, descriptions) = (recent.document.items(), recent.description.items());
    let cik_number = cik.trim_start_matches('0');
    let mut records = Vec::with_capacity(accessions.len());
    for i in 0..accessions.len() {
        let Some(accession) = cell(accessions, i) else { continue };
        let document_url = cell(documents, i).map(|doc| {
            let mut url =
                String::with_capacity(ARCHIVE_ROOT.len() + cik_number.len() + accession.len() + doc.len() + 3);
            url.push_str(ARCHIVE_ROOT);
            url.push('/');
            url.push_str(cik_number);
            url.push('/');
            url.extend(accession.chars().filter(|c| *c != '-'));
            url.push('/');
            url.push_str(doc);
            url
        });
        records.push(Record::Filing(Filing {
            source: "sec_edgar".into(),
            cik: cik.to_owned(),
            accession_number: accession.to_owned(),
            form: cell(forms, i).map(clean).unwrap_or_default(),
            filed: cell(filed, i).and_then(date),
            report_date: cell(reported, i).and_then(date),
            document_url,
            description: clean_opt(cell(descriptions, i)),
        }));
    }
    Ok(records)
}

/// `facts.{taxonomy}.{concept}.units.{unit}[]` as one fact per reported value.
pub(super) fn facts(cik: &str, facts: Map<'_, Map<'_, Obj<Concept<'_>>>>) -> Result<Vec<Record>, ConnectorError> {
    let taxonomies = facts.0.ok_or_else(|| ConnectorError::transient("SEC companyfacts body has no facts object"))?;
    let mut records = Vec::new();
    for (taxonomy, concepts) in &taxonomies {
        let Some(concepts) = &concepts.0 else { continue };
        for (concept, detail) in concepts {
            let Some(detail) = &detail.0 else { continue };
            let label = clean_opt(detail.label.get());
            let Some(units) = &detail.units.0 else { continue };
            for (unit, values) in units {
                for v in values.items().iter().filter_map(|v| v.0.as_ref()) {
                    let s = |f: &Str<'_>| f.get().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
                    records.push(Record::Fact(Fact {
                        source: "sec_edgar".into(),
                        cik: cik.to_owned(),
                        taxonomy: taxonomy.clone().into_owned(),
                        concept: concept.clone().into_owned(),
                        label: label.clone(),
                        unit: unit.clone().into_owned(),
                        value: v.val.0,
                        start: v.start.get().and_then(trimmed_date),
                        end: v.end.get().and_then(trimmed_date),
                        fiscal_year: v.fy.0,
                        fiscal_period: s(&v.fp),
                        form: s(&v.form),
                        filed: v.filed.get().and_then(trimmed_date),
                        accession_number: s(&v.accn),
                    }));
                }
            }
        }
    }
    Ok(records)
}

/// A date, from text that is non-empty once trimmed.
fn trimmed_date(s: &str) -> Option<chrono::NaiveDate> {
    Some(s.trim()).filter(|s| !s.is_empty()).and_then(date)
}
