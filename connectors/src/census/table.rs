//! The table a Census body is read into, whichever reader reads it: the header's columns (which
//! key the row, which turn numeric), and the rows, whose values share one [`Table`] and whose ids
//! are built from their key columns.

use std::borrow::Cow;

use serde_json::{Number, Value};

use crate::ConnectorError;
use crate::params::Params;
use crate::record::{Record, Row, Table};

/// One cell of the table: text (borrowed where it can be), or any other JSON value as it is.
pub(super) enum Cell<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl Cell<'_> {
    /// Add the cell to the row being read; numeric text becomes a number when `numeric` says so.
    fn add_to(self, table: &mut Table, numeric: bool) {
        match self {
            Cell::Text(s) => match numeric.then(|| numeric_value(&s)).flatten() {
                Some(n) => table.push_json(Value::Number(n)),
                None => table.push_text(&s),
            },
            Cell::Other(v) => table.push_json(v),
        }
    }

    /// The cell as it appears in a row id.
    fn push_text(&self, out: &mut String) {
        match self {
            Cell::Text(s) => out.push_str(s),
            Cell::Other(Value::Null) => {}
            Cell::Other(v) => out.push_str(&v.to_string()),
        }
    }
}

/// What is wrong with the shape of a table.
pub(super) fn shape(what: &str) -> ConnectorError {
    ConnectorError::transient(format!("unexpected Census body: {what}"))
}

/// How a row reads one column of the table.
pub(super) struct Column {
    /// The column's place among the table's names; `None` for a later column of a name already
    /// seen (read and ignored).
    slot: Option<usize>,
    /// Whether the column keys the row (geography, or `time`).
    key: bool,
    /// Whether numeric text becomes a number.
    numeric: bool,
}

/// The header row, cell by cell: the distinct names, and how each column is read.
pub(super) struct HeaderReader<'p> {
    keys: KeyRule<'p>,
    names: Vec<Box<str>>,
    columns: Vec<Column>,
    all_text: bool,
}

impl<'p> HeaderReader<'p> {
    pub(super) fn new(p: &'p Params) -> Self {
        HeaderReader { keys: KeyRule::new(p), names: Vec::new(), columns: Vec::new(), all_text: true }
    }

    pub(super) fn cell(&mut self, cell: Cell) {
        let Cell::Text(name) = cell else {
            self.all_text = false;
            return;
        };
        if !self.all_text || self.names.iter().any(|n| **n == *name) {
            self.columns.push(Column { slot: None, key: false, numeric: false });
            return;
        }
        let key = self.keys.is_key(&name);
        self.columns.push(Column { slot: Some(self.names.len()), key, numeric: !key && !is_text_column(&name) });
        self.names.push(Box::from(&*name));
    }

    pub(super) fn finish(self) -> Result<(Vec<Box<str>>, Vec<Column>), &'static str> {
        if self.all_text { Ok((self.names, self.columns)) } else { Err("header name is not a string") }
    }
}

/// The data rows read so far: their values in one table, and their ids.
pub(super) struct Rows {
    table: Table,
    ids: Vec<String>,
    /// Each id is built here and copied out at its final length.
    id: String,
}

impl Rows {
    /// Rows of columns `names`, from a body of `len` bytes.
    pub(super) fn new(names: Vec<Box<str>>, len: usize) -> Self {
        // Every cell takes at least two bytes of the body, and no text is longer than the body.
        let cells = names.len().saturating_mul(16).min(len / 2);
        let rows = cells.checked_div(names.len()).unwrap_or(0);
        Rows { table: Table::new(names, cells, len), ids: Vec::with_capacity(rows), id: String::with_capacity(64) }
    }

    /// Start reading the next row.
    pub(super) fn row<'r>(&'r mut self, columns: &'r [Column]) -> RowReader<'r> {
        self.id.clear();
        RowReader { columns, rows: self, len: 0 }
    }

    pub(super) fn records(self) -> Vec<Record> {
        let rows = self.table.rows(self.ids.len()).zip(self.ids);
        rows.map(|(values, id)| Record::Row(Row { source: "census".into(), id, values })).collect()
    }
}

/// One data row, cell by cell.
pub(super) struct RowReader<'r> {
    columns: &'r [Column],
    rows: &'r mut Rows,
    /// Cells read.
    pub(super) len: usize,
}

impl RowReader<'_> {
    /// Whether the row has room for another cell (the rest only count).
    pub(super) fn wants(&self) -> bool {
        self.len < self.columns.len()
    }

    pub(super) fn cell(&mut self, cell: Cell) {
        let Rows { table, id, .. } = &mut *self.rows;
        if let Some(Column { slot: Some(slot), key, numeric }) = self.columns.get(self.len) {
            if *key {
                if !id.is_empty() {
                    id.push(',');
                }
                id.push_str(table.name(*slot).unwrap_or_default());
                id.push('=');
                cell.push_text(id);
            }
            cell.add_to(table, *numeric);
        }
        self.len += 1;
    }

    /// The row complete: its id recorded, or what is wrong with its width.
    pub(super) fn finish(self) -> Result<(), ConnectorError> {
        let (n, len, width) = (self.rows.ids.len() + 1, self.len, self.columns.len());
        if len != width {
            return Err(shape(&format!("row {n} has {len} values for {width} columns")));
        }
        let id = match self.rows.id.as_str() {
            "" => format!("row={n}"),
            id => id.to_owned(),
        };
        self.rows.ids.push(id);
        Ok(())
    }
}

/// Which columns key a row: geography columns, and `time` for time series.
///
/// Geography columns are the ones the `for`/`in` clauses name, plus any lower-case column that is
/// not a requested variable (the Census names geographies in lower case — `state`,
/// `county subdivision` — and variables in upper case, and appends enclosing geographies such as
/// `state` even when `in` is not given).
struct KeyRule<'p> {
    requested: &'p str,
    clauses: [&'p str; 2],
}

impl<'p> KeyRule<'p> {
    fn new(p: &'p Params) -> Self {
        let get = |name: &str| p.get(name).map_or("", String::as_str);
        KeyRule { requested: get("get"), clauses: [get("for"), get("in")] }
    }

    fn is_key(&self, name: &str) -> bool {
        let lower = !name.bytes().any(|b| b.is_ascii_uppercase()) && name.bytes().any(|b| b.is_ascii_alphabetic());
        name == "time"
            || (lower && !self.requested.split(',').any(|v| v == name))
            || self.clauses.iter().any(|c| clause_names(c).any(|n| n == name))
    }
}

/// The geography names of a `for`/`in` clause: `state:06 county:037` → `state`, `county`.
/// Names may contain spaces (`county subdivision:*`), so split on the values, not on spaces.
fn clause_names(clause: &str) -> impl Iterator<Item = &str> {
    let mut rest = clause;
    std::iter::from_fn(move || {
        while let Some(colon) = rest.find(':') {
            let name = rest.get(..colon).unwrap_or_default().trim();
            let after = rest.get(colon + 1..).unwrap_or_default();
            // The value runs to the next space; the next name starts after it.
            rest = after.find(' ').and_then(|sp| after.get(sp + 1..)).unwrap_or_default();
            if !name.is_empty() {
                return Some(name);
            }
        }
        None
    })
}

/// Columns of labels and codes that must stay strings even when they look numeric.
fn is_text_column(name: &str) -> bool {
    matches!(name, "NAME" | "GEO_ID" | "GEOID" | "GEOCOMP" | "SUMLEVEL")
        || ["_TTL", "_LABEL", "_DESC", "_NAME"].iter().any(|s| name.ends_with(s))
        || name.starts_with("NAICS")
        || name.starts_with("SIC")
}

/// A plain numeric string as a JSON number (integers stay integers); codes with leading zeros
/// (`007`) and anything else stay strings.
fn numeric_value(s: &str) -> Option<Number> {
    // The common case, a count or an amount: digits only, no leading zero, within `i64`.
    let b = s.as_bytes();
    if (1..=18).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) && (b.len() == 1 || b.first() != Some(&b'0')) {
        return Some(Number::from(b.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))));
    }
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let mut chars = digits.chars();
    if chars.next() == Some('0') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(Number::from(n));
    }
    t.parse::<f64>().ok().and_then(Number::from_f64)
}
