//! US Census Bureau: the data API (`/data/{year}/{dataset}`), JSON array of arrays.
//!
//! Docs: <https://www.census.gov/data/developers/guidance/api-user-guide.html> and the dataset
//! list at <https://api.census.gov/data.html>. A key is optional (`key=`, sent as a secret query
//! parameter when configured); without one the Census allows 500 queries per IP per day and at
//! most 50 variables per query. No paging: one dataset is one request.
//!
//! Parameters are the API's own: `year` (the vintage; omitted for `timeseries/...` datasets,
//! whose path is `/data/{dataset}`), `dataset` (`acs/acs5`, `dec/pl`, ...), `get` (comma-separated
//! variables or `group(...)`), `for` (`county:*`) and `in` (`state:24`, several separated by
//! spaces; a `+` separator is accepted and canonicalised to a space).
//!
//! The answer's first row is the header; every value is a string, and the geography columns
//! (`state`, `county`, `tract`, ...) are appended after the requested variables. Row order is not
//! stable between calls, so each [`Row`] is keyed by its geography (`state=24,county=001`, plus
//! `time` for time series; `row=N` only when there is no geography at all). Numeric strings become
//! JSON numbers, except geography codes, codes with leading zeros and label/code columns (`NAME`,
//! `GEO_ID`, `*_TTL`, `*_LABEL`, `*_DESC`, `NAICS*`, `SIC*`), which stay strings; suppressed
//! values arrive as `null` and stay `null`. Census sentinel estimates such as `-666666666` are kept
//! as the numbers the Bureau sent.
//!
//! Errors: **HTTP 400 with a plain-text body** such as `error: unknown variable 'X'` or
//! `error: unknown/unsupported geography heirarchy` (permanent; HTML tags are stripped from the
//! message). An invalid key is answered with an HTML "Invalid Key" page, possibly behind a 302
//! (auth). Some empty results come back as 204 No Content or an empty body: a success with no
//! records. Truncated or unparseable success bodies are transient.
//!
//! Parsing: never into a `serde_json::Value`. A table of strings and `null`s without escapes
//! (what the Census sends) is read by a small scanner of its own (`json::PlainTable`); any other
//! body with serde and the lenient readers of `crate::json`, where a table of the wrong shape is
//! still read to its end, so that a body that is not JSON at all fails as such whatever its shape.
//! Either way the header is read first, into the columns every row shares (names, which key the
//! row, which turn numeric), then each row into one table of values the rows share: a [`Row`]
//! owns its id and its place in that table, not a map of its own.
//!
//! [`Row`]: crate::record::Row

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::json::{self, PlainCell, PlainTable, Skip};
use crate::params::{Param, ParamError, Params};
use crate::record::{Record, Row, Table};
use crate::text::{clean, snippet};
use crate::{Connector, ConnectorError, Context, Group, Page, Request, Response};

/// Variables the Census accepts in one query.
const MAX_VARIABLES: usize = 50;

pub struct Census;

static PARAMS: [Param; 5] = [
    Param::optional("year", "vintage year, e.g. 2018 (omit only for timeseries/... datasets)"),
    Param::required("dataset", "dataset path, e.g. acs/acs5, dec/pl or timeseries/poverty/saipe"),
    Param::required("get", "comma-separated variables (at most 50), e.g. NAME,B19013_001E or group(B19013)"),
    Param::optional("for", "geography to return, e.g. county:* or state:24"),
    Param::optional("in", "enclosing geography, e.g. state:24 or state:06 county:037"),
];

impl Connector for Census {
    fn id(&self) -> &'static str {
        "census"
    }
    fn describe(&self) -> &'static str {
        "US Census Bureau data API (ACS, decennial, time series), rows keyed by geography"
    }
    fn group(&self) -> Group {
        Group::Government
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(year) = p.get("year")
            && (year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ParamError::invalid("year", format!("`{year}` is not a four-digit year")));
        }
        if let Some(raw) = p.get("dataset") {
            let dataset = raw.trim_matches('/').to_owned();
            let ok_chars = dataset.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c));
            if dataset.is_empty() || !ok_chars || dataset.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
                return Err(ParamError::invalid("dataset", format!("`{raw}` is not a dataset path like acs/acs5")));
            }
            if !p.contains_key("year") && !dataset.starts_with("timeseries/") {
                return Err(ParamError::invalid("year", "required except for timeseries/... datasets"));
            }
            p.insert("dataset".into(), dataset);
        }
        if let Some(raw) = p.get("get") {
            let vars: Vec<&str> = raw.split(',').map(str::trim).collect();
            if vars.iter().any(|v| v.is_empty()) {
                return Err(ParamError::invalid("get", format!("`{raw}` has an empty variable name")));
            }
            if vars.len() > MAX_VARIABLES {
                return Err(ParamError::invalid(
                    "get",
                    format!("{} variables; the Census allows {MAX_VARIABLES}", vars.len()),
                ));
            }
            let get = vars.join(",");
            p.insert("get".into(), get);
        }
        for name in ["for", "in"] {
            if let Some(v) = p.get(name) {
                let v = clean(&v.replace('+', " "));
                p.insert(name.into(), v);
            }
        }
        Ok(())
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let dataset = p.get("dataset").ok_or_else(|| ConnectorError::permanent("census needs a dataset"))?;
        let url = match p.get("year") {
            Some(year) => format!("{}/data/{year}/{dataset}", ctx.base_url),
            None => format!("{}/data/{dataset}", ctx.base_url),
        };
        let mut req = Request::get(url);
        for name in ["get", "for", "in"] {
            if let Some(v) = p.get(name) {
                req = req.query(name, v.clone());
            }
        }
        if let Some(key) = ctx.api_key.filter(|k| !k.trim().is_empty()) {
            req = req.secret_query("key", key);
        }
        Ok(req)
    }

    fn read(&self, _ctx: &Context, p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if !resp.is_success() {
            return Err(failure(resp));
        }
        if resp.status == 204 || resp.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Page::last(Vec::new()));
        }
        if let Some(records) = plain(p, resp.body) {
            return Ok(Page::last(records));
        }
        match json::parse_seed(resp.body, Body { p, len: resp.body.len() }) {
            Ok(rows) => rows.map(Page::last),
            Err(_) if is_refusal(&resp.text()) => Err(failure(resp)),
            Err(e) => Err(ConnectorError::transient(format!("unreadable Census JSON: {e}"))),
        }
    }
}

/// One cell of the table: text (borrowed where it can be), or any other JSON value as it is.
enum Cell<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::Null))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other(Value::from(n)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Cell::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(Cell::Other)
            }
        }
        d.deserialize_any(V)
    }
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
fn shape(what: &str) -> ConnectorError {
    ConnectorError::transient(format!("unexpected Census body: {what}"))
}

/// Visitor methods for every kind of value but an array: the value is read to its end and the
/// shape error `$what` returned.
macro_rules! not_an_array {
    ($de:lifetime, $what:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Err($what))
        }
        fn visit_map<A: MapAccess<$de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<Skip, Skip>()?.is_some() {}
            Ok(Err($what))
        }
    };
}

/// The table read without serde, when the body is a plain table of strings and `null`s whose
/// header is all names and whose rows are all the header's width (the Census's own answers);
/// `None` for anything else, which the general reading then reads from the start.
fn plain(p: &Params, body: &[u8]) -> Option<Vec<Record>> {
    let mut t = PlainTable::new(body)?;
    if !t.next_row()? {
        return Some(Vec::new());
    }
    let mut header = HeaderReader::new(p);
    loop {
        match t.next_cell()? {
            PlainCell::Str(name) => header.cell(Cell::Text(Cow::Borrowed(name))),
            PlainCell::Null => return None,
            PlainCell::End => break,
        }
    }
    let (names, columns) = header.finish().ok()?;
    let mut rows = Rows::new(names, body.len());
    while t.next_row()? {
        let mut row = rows.row(&columns);
        loop {
            match t.next_cell()? {
                PlainCell::Str(s) => row.cell(Cell::Text(Cow::Borrowed(s))),
                PlainCell::Null => row.cell(Cell::Other(Value::Null)),
                PlainCell::End => break,
            }
        }
        row.finish().ok()?;
    }
    Some(rows.records())
}

/// The whole body, read with serde: an array whose first row is the header.
struct Body<'p> {
    p: &'p Params,
    /// The body's length, which bounds what the table holds.
    len: usize,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Result<Vec<Record>, ConnectorError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Result<Vec<Record>, ConnectorError>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    not_an_array!('de, shape("not an array of rows"));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (names, columns) = match seq.next_element_seed(Header { p: self.p })? {
            None => return Ok(Ok(Vec::new())),
            Some(Ok(header)) => header,
            Some(Err(what)) => return skip_rest(seq, shape(what)),
        };
        let mut rows = Rows::new(names, self.len);
        while let Some(row) = seq.next_element_seed(RowSeed(rows.row(&columns)))? {
            if let Err(e) = row {
                return skip_rest(seq, e);
            }
        }
        Ok(Ok(rows.records()))
    }
}

/// Read the rest of the table (it must still be JSON) and fail with `e`.
fn skip_rest<'de, A: SeqAccess<'de>, T>(mut seq: A, e: ConnectorError) -> Result<Result<T, ConnectorError>, A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(Err(e))
}

/// How a row reads one column of the table.
struct Column {
    /// The column's place among the table's names; `None` for a later column of a name already
    /// seen (read and ignored).
    slot: Option<usize>,
    /// Whether the column keys the row (geography, or `time`).
    key: bool,
    /// Whether numeric text becomes a number.
    numeric: bool,
}

/// The header row, cell by cell: the distinct names, and how each column is read.
struct HeaderReader<'p> {
    keys: KeyRule<'p>,
    names: Vec<Box<str>>,
    columns: Vec<Column>,
    all_text: bool,
}

impl<'p> HeaderReader<'p> {
    fn new(p: &'p Params) -> Self {
        HeaderReader { keys: KeyRule::new(p), names: Vec::new(), columns: Vec::new(), all_text: true }
    }

    fn cell(&mut self, cell: Cell) {
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

    fn finish(self) -> Result<(Vec<Box<str>>, Vec<Column>), &'static str> {
        if self.all_text { Ok((self.names, self.columns)) } else { Err("header name is not a string") }
    }
}

/// The header row, read with serde.
struct Header<'p> {
    p: &'p Params,
}

impl<'de> DeserializeSeed<'de> for Header<'_> {
    type Value = Result<(Vec<Box<str>>, Vec<Column>), &'static str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Header<'_> {
    type Value = Result<(Vec<Box<str>>, Vec<Column>), &'static str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    not_an_array!('de, "header is not an array");
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut header = HeaderReader::new(self.p);
        while let Some(cell) = seq.next_element::<Cell>()? {
            header.cell(cell);
        }
        Ok(header.finish())
    }
}

/// The data rows read so far: their values in one table, and their ids.
struct Rows {
    table: Table,
    ids: Vec<String>,
    /// Each id is built here and copied out at its final length.
    id: String,
}

impl Rows {
    /// Rows of columns `names`, from a body of `len` bytes.
    fn new(names: Vec<Box<str>>, len: usize) -> Self {
        // Every cell takes at least two bytes of the body, and no text is longer than the body.
        let cells = names.len().saturating_mul(16).min(len / 2);
        let rows = cells.checked_div(names.len()).unwrap_or(0);
        Rows { table: Table::new(names, cells, len), ids: Vec::with_capacity(rows), id: String::with_capacity(64) }
    }

    /// Start reading the next row.
    fn row<'r>(&'r mut self, columns: &'r [Column]) -> RowReader<'r> {
        self.id.clear();
        RowReader { columns, rows: self, len: 0 }
    }

    fn records(self) -> Vec<Record> {
        let rows = self.table.rows(self.ids.len()).zip(self.ids);
        rows.map(|(values, id)| Record::Row(Row { source: "census".into(), id, values })).collect()
    }
}

/// One data row, cell by cell.
struct RowReader<'r> {
    columns: &'r [Column],
    rows: &'r mut Rows,
    /// Cells read.
    len: usize,
}

impl RowReader<'_> {
    /// Whether the row has room for another cell (the rest only count).
    fn wants(&self) -> bool {
        self.len < self.columns.len()
    }

    fn cell(&mut self, cell: Cell) {
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
    fn finish(self) -> Result<(), ConnectorError> {
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

/// A data row, read with serde.
struct RowSeed<'r>(RowReader<'r>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Result<(), ConnectorError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Result<(), ConnectorError>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    not_an_array!('de, shape("row is not an array"));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut row = self.0;
        loop {
            if row.wants() {
                match seq.next_element::<Cell>()? {
                    Some(cell) => row.cell(cell),
                    None => break,
                }
            } else if seq.next_element::<Skip>()?.is_some() {
                row.len += 1;
            } else {
                break;
            }
        }
        Ok(row.finish())
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

/// Whether a non-JSON body is a Census refusal rather than a broken answer.
fn is_refusal(text: &str) -> bool {
    let t = text.trim_start().to_ascii_lowercase();
    t.starts_with("error") || t.contains("invalid key")
}

/// Classify a failure: the key page, the plain-text `error: ...` refusals, or the bare status.
fn failure(resp: &Response) -> ConnectorError {
    let text = strip_tags(&resp.text());
    let redirect_to_key_page = (300..400).contains(&resp.status)
        && resp.header("location").is_some_and(|l| l.to_ascii_lowercase().contains("key"));
    if redirect_to_key_page || text.to_ascii_lowercase().contains("invalid key") {
        return ConnectorError::auth(format!(
            "HTTP {}: the Census rejected the API key; check APIARY_CONNECTORS__CENSUS__API_KEY",
            resp.status
        ));
    }
    match resp.status {
        200..=299 | 400 | 404 if !text.trim().is_empty() => {
            ConnectorError::permanent(format!("HTTP {}: the Census refused the query: {}", resp.status, snippet(&text)))
        }
        _ => ConnectorError::from_status(resp.status, &text).with_retry_after(resp.retry_after()),
    }
}

/// Text with HTML tags removed, as the Census sometimes wraps its messages in markup.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    clean(&out)
}
