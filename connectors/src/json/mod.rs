//! Lenient typed reading of JSON bodies, shared by the connectors that read them straight into
//! small structs (alpha_vantage, census, crossref, polygon, reddit, sec_edgar, semantic_scholar,
//! yahoo_finance) instead of a `serde_json::Value`.
//!
//! - [`lenient`]: types that accept *any* JSON value and keep only what a `Value` accessor would
//!   have given ([`Str`], [`F64`], [`List`], [`Obj`], ...), so a body reads the same as it did
//!   through a `Value` without building one.
//! - [`seed`]: the same for readers that carry state ([`PickSeed`] through [`Seed`]).
//! - [`text`]: text and numbers read from bodies ([`StrictStr`], and the exact decimals [`JNum`]
//!   reads).
//! - [`table`]: [`PlainTable`], which reads the simplest array of arrays of strings without serde
//!   at all.
//!
//! And here, the entry points: [`parse`] and [`parse_seed`] read a whole body, accepting exactly
//! the bytes `serde_json::from_slice` accepts.

mod lenient;
mod seed;
mod table;
mod text;

use serde::de::{Deserialize, DeserializeSeed};

pub(crate) use lenient::{
    F64, Fields, I64, JNum, Key, List, Map, Num, Obj, Pick, Skip, Str, U64, object, skip, via_pick,
};
pub(crate) use seed::{PickSeed, Seed};
pub(crate) use table::{PlainCell, PlainTable};
pub(crate) use text::StrictStr;

/// Parse a whole body through `seed`: the same bytes `serde_json::from_slice` accepts, with the
/// same error when it does not.
pub(crate) fn parse_seed<'de, S: DeserializeSeed<'de>>(body: &'de [u8], seed: S) -> serde_json::Result<S::Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Parse a whole body as `T`: the same bytes `serde_json::from_slice::<Value>` accepts, with the
/// same error when it does not.
pub(crate) fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> serde_json::Result<T> {
    serde_json::from_slice(body)
}
