//! Normalised records: one shape per kind of data, so downstream code reads arXiv and PubMed
//! alike (papers), Alpha Vantage and Polygon alike (price bars). Every record keeps the upstream's
//! own id and names its `source` (the connector id).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Paper(Paper),
    PriceBar(PriceBar),
    Quote(Quote),
    Article(Article),
    Filing(Filing),
    Fact(Fact),
    Row(Row),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Paper(_) => "paper",
            Record::PriceBar(_) => "price_bar",
            Record::Quote(_) => "quote",
            Record::Article(_) => "article",
            Record::Filing(_) => "filing",
            Record::Fact(_) => "fact",
            Record::Row(_) => "row",
        }
    }
}

/// A research paper (arxiv, pubmed, semantic_scholar, crossref).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub source: String,
    /// The upstream's id: arXiv id with version, PMID, S2 paper id, DOI.
    pub id: String,
    pub title: String,
    pub authors: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated: Option<DateTime<Utc>>,
    #[serde(rename = "abstract")]
    pub abstract_text: Option<String>,
    pub doi: Option<String>,
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub venue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pdf_url: Option<String>,
}

/// One bar of a price series (alpha_vantage series, yahoo_finance, polygon).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceBar {
    pub source: String,
    pub symbol: String,
    /// Start of the bar, UTC.
    pub time: DateTime<Utc>,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: Option<f64>,
    pub volume: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interval: Option<String>,
}

/// A latest quote (alpha_vantage GLOBAL_QUOTE).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub source: String,
    pub symbol: String,
    pub price: Option<f64>,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub volume: Option<f64>,
    pub latest_trading_day: Option<NaiveDate>,
    pub previous_close: Option<f64>,
    pub change: Option<f64>,
    /// Percent, as a number (`0.2785` for "0.2785%").
    pub change_percent: Option<f64>,
}

/// A news article or post (newsapi, guardian, reddit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub source: String,
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub summary: Option<String>,
    /// The outlet, section or subreddit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outlet: Option<String>,
}

/// A filing in a company's submissions (sec_edgar).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filing {
    pub source: String,
    pub cik: String,
    pub accession_number: String,
    pub form: String,
    pub filed: Option<NaiveDate>,
    pub report_date: Option<NaiveDate>,
    pub document_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// One reported value of a company fact (sec_edgar companyfacts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub source: String,
    pub cik: String,
    pub taxonomy: String,
    pub concept: String,
    pub label: Option<String>,
    pub unit: String,
    pub value: Option<f64>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub fiscal_year: Option<i64>,
    pub fiscal_period: Option<String>,
    pub form: Option<String>,
    pub filed: Option<NaiveDate>,
    pub accession_number: Option<String>,
}

/// One row of a statistical table (census), keyed by geography.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub source: String,
    /// The geography columns joined (`state=24,county=001`): stable whatever the row order.
    pub id: String,
    /// Header names mapped to values; numeric strings become numbers, suppressed values null.
    pub values: BTreeMap<String, serde_json::Value>,
}
