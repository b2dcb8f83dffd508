//! Normalised records: one shape per kind of data, so downstream code reads arXiv and PubMed
//! alike (papers), Alpha Vantage and Polygon alike (price bars). Every record keeps the upstream's
//! own id and names its `source` (the connector id: a static name, so a record read does not
//! allocate one; a record deserialised owns it).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
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
    pub source: Cow<'static, str>,
    /// The geography columns joined (`state=24,county=001`): stable whatever the row order.
    pub id: String,
    /// Header names mapped to values; numeric strings become numbers, suppressed values null.
    pub values: Values,
}

/// A row's values by column name, in name order; serialised as a JSON object.
///
/// The rows of one table share its storage: the column names once, every row's cells
/// in one list and every string cell's text in one string. A row itself owns nothing but its
/// place in the table, where a map of `serde_json::Value`s would own one allocation per name and
/// one per string.
#[derive(Clone, Default)]
pub struct Values {
    table: Arc<Table>,
    row: usize,
}

/// The values of every row of a table.
#[derive(Default)]
pub(crate) struct Table {
    /// Distinct column names, in the order of a row's cells.
    names: Vec<Box<str>>,
    /// Indices into `names`, in name order.
    order: Vec<usize>,
    /// Every row's cells, row after row, one per name.
    cells: Vec<Cell>,
    /// The text of every string cell, one after another.
    text: String,
}

/// One value in a [`Table`].
enum Cell {
    /// A string, at these bytes of the table's text.
    Text(usize, usize),
    /// Any other JSON value.
    Json(Value),
}

impl Table {
    /// An empty table of columns `names` (distinct), with room for `cells` cells and `text_len`
    /// bytes of text.
    pub(crate) fn new(names: Vec<Box<str>>, cells: usize, text_len: usize) -> Self {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_unstable_by(|a, b| names.get(*a).cmp(&names.get(*b)));
        Table { names, order, cells: Vec::with_capacity(cells), text: String::with_capacity(text_len) }
    }

    /// The next cell of the row being added: a string.
    pub(crate) fn push_text(&mut self, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.cells.push(Cell::Text(start, self.text.len()));
    }

    /// The next cell of the row being added: any other value.
    pub(crate) fn push_json(&mut self, v: Value) {
        self.cells.push(Cell::Json(v));
    }

    /// A column name, by its place in a row.
    pub(crate) fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(|n| &**n)
    }

    /// The values of each of the first `rows` rows, sharing the table.
    pub(crate) fn rows(self, rows: usize) -> impl Iterator<Item = Values> {
        let table = Arc::new(self);
        (0..rows).map(move |row| Values { table: Arc::clone(&table), row })
    }
}

impl Values {
    pub fn len(&self) -> usize {
        self.table.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.names.is_empty()
    }

    /// The value of a column, as a JSON value.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.entries().find(|(n, _)| *n == name).map(|(_, cell)| self.value(cell))
    }

    /// Names and values, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Value)> {
        self.entries().map(|(name, cell)| (name, self.value(cell)))
    }

    /// Names and cells, in name order.
    fn entries(&self) -> impl Iterator<Item = (&str, &Cell)> {
        let t = &*self.table;
        let width = t.names.len();
        let row = t.cells.get(self.row * width..(self.row + 1) * width).unwrap_or_default();
        t.order.iter().filter_map(move |i| Some((&**t.names.get(*i)?, row.get(*i)?)))
    }

    fn text(&self, cell: &Cell) -> Option<&str> {
        match cell {
            Cell::Text(from, to) => self.table.text.get(*from..*to),
            Cell::Json(_) => None,
        }
    }

    fn value(&self, cell: &Cell) -> Value {
        match cell {
            Cell::Text(..) => Value::String(self.text(cell).unwrap_or_default().to_owned()),
            Cell::Json(v) => v.clone(),
        }
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// As the map of names to `serde_json::Value`s it stands for.
impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (name, cell) in self.entries() {
            match cell {
                Cell::Text(..) => map.serialize_entry(name, self.text(cell).unwrap_or_default())?,
                Cell::Json(v) => map.serialize_entry(name, v)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Value>::deserialize(d)?;
        let mut table = Table::new(map.keys().map(|k| Box::from(k.as_str())).collect(), map.len(), 0);
        for value in map.into_values() {
            match value {
                Value::String(s) => table.push_text(&s),
                other => table.push_json(other),
            }
        }
        Ok(table.rows(1).next().unwrap_or_default())
    }
}
