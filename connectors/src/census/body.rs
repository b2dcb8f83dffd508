//! The two readers of a Census body: [`plain`], a scanner for the plain tables the Census sends,
//! and [`parse`], serde through the lenient readers for anything else.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::table::{Cell, Column, HeaderReader, RowReader, Rows, shape};
use crate::ConnectorError;
use crate::json::{self, PlainCell, PlainTable, Skip};
use crate::params::Params;
use crate::record::Record;

/// A cell as serde reads it: text borrowed where it has no escapes, anything else as a `Value`.
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
pub(super) fn plain(p: &Params, body: &[u8]) -> Option<Vec<Record>> {
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

/// The whole body read with serde: its records, or what is wrong with the table's shape; `Err`
/// when the body is not JSON.
pub(super) fn parse(p: &Params, body: &[u8]) -> serde_json::Result<Result<Vec<Record>, ConnectorError>> {
    json::parse_seed(body, Body { p, len: body.len() })
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
