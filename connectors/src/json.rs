//! Lenient typed reading of JSON success bodies, shared by the connectors that read them
//! straight into small structs (alpha_vantage, census, crossref, polygon, sec_edgar,
//! semantic_scholar, yahoo_finance) instead of a `serde_json::Value`.
//!
//! Each type here accepts *any* JSON value and keeps only what a `Value` accessor would have
//! given: [`Str`] is `Value::as_str`, [`F64`] `as_f64`, [`I64`] `as_i64`, [`U64`] `as_u64`,
//! [`JNum`] [`text::json_number`], [`List`] `as_array`, [`Obj`] `as_object` (fields read through
//! [`Fields`], a later duplicate key replacing an earlier one as in a `Value` map) and [`Map`] an
//! object in key order. So a body reads the same as it did through a `Value`, wrong-typed fields
//! included, without building one: strings are borrowed from the input where they have no
//! escapes, and fields nobody reads are parsed and dropped by [`Skip`] — parsed, not merely
//! skipped, so a body `Value` would refuse (a number out of range, a lone surrogate) is refused
//! too.
//!
//! Also here, for text read from bodies: [`StrictStr`] (a string field as a derived `String`
//! reads it, borrowed where it can be), [`clean`] (`text::clean` with an exact test for text that
//! is already clean) and [`number`] (`text::number` without the general float parser for plain
//! decimals); and [`PlainTable`], which reads the simplest array of arrays of strings without
//! serde at all.
//!
//! [`text::json_number`]: crate::text::json_number

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What a lenient type makes of each kind of JSON value; every kind it does not take is read
/// in full and dropped, leaving the default.
pub(crate) trait Pick<'de>: Default {
    fn borrowed_str(s: &'de str) -> Self {
        Self::str(s)
    }
    fn str(_s: &str) -> Self {
        Self::default()
    }
    fn number(_n: Num) -> Self {
        Self::default()
    }
    fn null() -> Self {
        Self::default()
    }
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Self::default())
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Self::default())
    }
}

/// A JSON number as serde_json reads it.
#[derive(Clone, Copy)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::U(n) => n as f64,
            Num::I(n) => n as f64,
            Num::F(n) => n,
        }
    }
}

struct PickVisitor<T>(PhantomData<T>);

impl<'de, T: Pick<'de>> Visitor<'de> for PickVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E>(self, n: i64) -> Result<T, E> {
        Ok(T::number(Num::I(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<T, E> {
        Ok(T::number(Num::U(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<T, E> {
        Ok(T::number(Num::F(n)))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<T, E> {
        Ok(T::borrowed_str(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<T, E> {
        Ok(T::str(s))
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::null())
    }
    fn visit_none<E>(self) -> Result<T, E> {
        Ok(T::null())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

/// `Deserialize` through [`Pick`], from any JSON value.
macro_rules! via_pick {
    ($($ty:ty),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(PickVisitor::<Self>(PhantomData))
            }
        }
    )*};
}

/// Read any JSON value as `T` through [`Pick`], for `Deserialize` impls elsewhere.
pub(crate) fn via_pick<'de, T: Pick<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(PickVisitor::<T>(PhantomData))
}

/// [`Pick`] for a reader that carries state (a `DeserializeSeed`, through [`Seed`]): arrays and
/// objects go to `seq` and `map`; every other kind of value gives the default.
pub(crate) trait PickSeed<'de>: Sized {
    type Value: Default;
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Self::Value::default())
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Self::Value::default())
    }
}

/// Any JSON value read through a [`PickSeed`].
pub(crate) struct Seed<T>(pub T);

impl<'de, T: PickSeed<'de>> DeserializeSeed<'de> for Seed<T> {
    type Value = T::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: PickSeed<'de>> Visitor<'de> for Seed<T> {
    type Value = T::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_unit<E>(self) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_none<E>(self) -> Result<T::Value, E> {
        Ok(T::Value::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T::Value, A::Error> {
        self.0.seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T::Value, A::Error> {
        self.0.map(map)
    }
}

/// Any value, read and dropped.
#[derive(Default, Clone, Copy)]
pub(crate) struct Skip;
impl Pick<'_> for Skip {}

/// `Value::as_str`: the text, borrowed when it had no escapes.
#[derive(Default, Clone)]
pub(crate) struct Str<'a>(pub Option<Cow<'a, str>>);
impl<'de> Pick<'de> for Str<'de> {
    fn borrowed_str(s: &'de str) -> Self {
        Str(Some(Cow::Borrowed(s)))
    }
    fn str(s: &str) -> Self {
        Str(Some(Cow::Owned(s.to_owned())))
    }
}
impl Str<'_> {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// `text::clean_opt` of the text, reusing its buffer when it was unescaped into one and is
    /// already clean.
    pub(crate) fn clean(self) -> Option<String> {
        self.0.map(clean).filter(|s| !s.is_empty())
    }
}

/// A string field as a derived `String` field reads it: any other type is refused with the same
/// error (`invalid type: ..., expected a string`). Borrowed when it had no escapes.
pub(crate) struct StrictStr<'a>(pub Cow<'a, str>);
impl<'de: 'a, 'a> Deserialize<'de> for StrictStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a str>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrictStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<StrictStr<'a>, E> {
                Ok(StrictStr(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<StrictStr<'a>, E> {
                Ok(StrictStr(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<StrictStr<'a>, E> {
                Ok(StrictStr(Cow::Owned(s)))
            }
        }
        d.deserialize_string(V(PhantomData))
    }
}

/// `text::clean` of text read from a body: the same result, but an already clean string is
/// recognised exactly (a dash or a curly quote does not send it down the general path, as it
/// does in `text`'s conservative check) and, when it was unescaped into a buffer of its own,
/// kept without a copy.
pub(crate) fn clean(s: Cow<'_, str>) -> String {
    if is_clean(&s) {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `s` is already trimmed and single-spaced: no whitespace but single spaces between
/// words, where whitespace is what `char::is_whitespace` (and so `split_whitespace`) takes.
///
/// Eight bytes at a time: a word of printable ASCII and spaces only needs a check for two spaces
/// in a row; any other word is checked byte by byte.
pub(crate) fn is_clean(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let b = s.as_bytes();
    // A leading space counts as one after a space.
    let mut after_space = true;
    let mut at = 0;
    for chunk in b.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else { return false };
        let w = u64::from_le_bytes(word);
        // Some byte below 0x20 or from 0x80.
        if (w.wrapping_sub(ONES * 0x20) | w) & HIGH != 0 {
            if !bytes_clean(b, at, at + 8, &mut after_space) {
                return false;
            }
        } else {
            // High bit set exactly in the bytes that are spaces.
            let x = w ^ (ONES * 0x20);
            let spaces = !(((x & !HIGH).wrapping_add(!HIGH)) | x | !HIGH);
            if spaces & (spaces << 8) != 0 || (after_space && spaces & 0x80 != 0) {
                return false;
            }
            after_space = spaces >> 63 != 0;
        }
        at += 8;
    }
    bytes_clean(b, at, b.len(), &mut after_space) && (!after_space || b.is_empty())
}

/// [`is_clean`] over `b[from..to]`, byte by byte, after a space when `after_space` says so.
fn bytes_clean(b: &[u8], from: usize, to: usize, after_space: &mut bool) -> bool {
    for i in from..to {
        let Some(&c) = b.get(i) else { break };
        if c == b' ' {
            if *after_space {
                return false;
            }
            *after_space = true;
            continue;
        }
        if matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r') || (c >= 0x80 && unicode_space_at(b, i)) {
            return false;
        }
        *after_space = false;
    }
    true
}

/// Whether a non-ASCII whitespace character starts at byte `i`: U+0085, U+00A0, U+1680,
/// U+2000..=U+200A, U+2028, U+2029, U+202F, U+205F or U+3000.
fn unicode_space_at(b: &[u8], i: usize) -> bool {
    let next = |k: usize| b.get(i + k).copied().unwrap_or(0);
    match next(0) {
        0xC2 => matches!(next(1), 0x85 | 0xA0),
        0xE1 => next(1) == 0x9A && next(2) == 0x80,
        0xE2 => match next(1) {
            0x80 => matches!(next(2), 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF),
            0x81 => next(2) == 0x9F,
            _ => false,
        },
        0xE3 => next(1) == 0x80 && next(2) == 0x80,
        _ => false,
    }
}

/// `Value::as_f64`.
#[derive(Default, Clone, Copy)]
pub(crate) struct F64(pub Option<f64>);
impl Pick<'_> for F64 {
    fn number(n: Num) -> Self {
        F64(Some(n.as_f64()))
    }
}

/// `Value::as_i64`.
#[derive(Default, Clone, Copy)]
pub(crate) struct I64(pub Option<i64>);
impl Pick<'_> for I64 {
    fn number(n: Num) -> Self {
        I64(match n {
            Num::U(n) => i64::try_from(n).ok(),
            Num::I(n) => Some(n),
            Num::F(_) => None,
        })
    }
}

/// `Value::as_u64`.
#[derive(Default, Clone, Copy)]
pub(crate) struct U64(pub Option<u64>);
impl Pick<'_> for U64 {
    fn number(n: Num) -> Self {
        U64(match n {
            Num::U(n) => Some(n),
            Num::I(n) => u64::try_from(n).ok(),
            Num::F(_) => None,
        })
    }
}

/// `text::json_number`: a number, or a string holding one.
#[derive(Default, Clone, Copy)]
pub(crate) struct JNum(pub Option<f64>);
impl Pick<'_> for JNum {
    fn str(s: &str) -> Self {
        JNum(number(s))
    }
    fn number(n: Num) -> Self {
        JNum(Some(n.as_f64()))
    }
}

via_pick!(Skip, Str<'de>, F64, I64, U64, JNum);

/// `Value::as_array`: the elements, each read leniently.
pub(crate) struct List<T>(pub Option<Vec<T>>);
impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}
impl<T> List<T> {
    pub(crate) fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or_default()
    }
}
impl<'de, T: Deserialize<'de>> Pick<'de> for List<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(List(Some(out)))
    }
}
impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PickVisitor::<Self>(PhantomData))
    }
}

/// An object key, borrowed when it had no escapes.
pub(crate) struct Key<'a>(pub Cow<'a, str>);
impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A struct read from an object field by field: each key is offered in turn (duplicates too,
/// so a later one replaces an earlier one), and a key it does not know is read with [`skip`].
pub(crate) trait Fields<'de>: Default {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error>;
}

/// Read (and drop) the value of a key nobody wants.
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<Skip>().map(drop)
}

/// `Value::as_object`, read into `T`.
pub(crate) struct Obj<T>(pub Option<T>);
impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}
impl<'de, T: Fields<'de>> Pick<'de> for Obj<T> {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = T::default();
        while let Some(Key(key)) = map.next_key()? {
            out.field(key, &mut map)?;
        }
        Ok(Obj(Some(out)))
    }
}
impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PickVisitor::<Self>(PhantomData))
    }
}

/// An object as a map in key order, as a `Value` map iterates (a later duplicate key replaces an
/// earlier one).
pub(crate) struct Map<'a, T>(pub Option<BTreeMap<Cow<'a, str>, T>>);
impl<T> Default for Map<'_, T> {
    fn default() -> Self {
        Map(None)
    }
}
impl<'de, T: Deserialize<'de>> Pick<'de> for Map<'de, T> {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((Key(key), value)) = map.next_entry()? {
            out.insert(key, value);
        }
        Ok(Map(Some(out)))
    }
}
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Map<'de, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PickVisitor::<Self>(PhantomData))
    }
}

/// Declares a struct of lenient fields and its [`Fields`] reading: each field named by its JSON
/// key, the fields as visible as the struct. The struct carries the input's lifetime whether or
/// not a field borrows.
macro_rules! object {
    ($(#[$m:meta])* $vis:vis struct $name:ident<$lt:lifetime> { $($key:literal => $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default)]
        $vis struct $name<$lt> {
            $($vis $field: $ty,)*
            _input: ::std::marker::PhantomData<&$lt str>,
        }
        impl<$lt> $crate::json::Fields<$lt> for $name<$lt> {
            fn field<A: ::serde::de::MapAccess<$lt>>(
                &mut self,
                key: ::std::borrow::Cow<$lt, str>,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match &*key {
                    $($key => self.$field = map.next_value()?,)*
                    _ => $crate::json::skip(map)?,
                }
                Ok(())
            }
        }
    };
}
pub(crate) use object;

/// [`text::number`]: a string that starts and ends with an ASCII digit has nothing for it to trim,
/// and a plain decimal (`86.4900`, `-12`) of at most 15 digits is read exactly without the general
/// float parser: its digits make an integer below 2^53 and its scale a power of ten up to 10^15,
/// both exact as `f64`, so one division rounds correctly, as the parser does.
///
/// [`text::number`]: crate::text::number
pub(crate) fn number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digit_ends =
        b.first().is_some_and(|c| c.is_ascii_digit() || *c == b'-') && b.last().is_some_and(u8::is_ascii_digit);
    if !digit_ends {
        return crate::text::number(s);
    }
    if let Some(n) = plain_decimal(b) {
        return Some(n);
    }
    let n: f64 = s.parse().ok()?;
    n.is_finite().then_some(n)
}

/// `-?digits[.digits]` with at most 15 digits in all, read exactly; `None` for anything else.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut scale: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if count > 15 {
                    return None;
                }
                if let Some(k) = scale.as_mut() {
                    *k += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    // `1.` and `.5` have no digit on one side; the general parser decides those.
    let int_digits = count - scale.unwrap_or(0);
    if int_digits == 0 || scale == Some(0) {
        return None;
    }
    let n = mantissa as f64 / POW10[scale.unwrap_or(0)];
    Some(if negative { -n } else { n })
}

/// A cell of a [`PlainTable`].
pub(crate) enum PlainCell<'a> {
    Str(&'a str),
    Null,
    /// The row has no more cells.
    End,
}

/// A body read as an array of arrays of strings without escapes and `null`s, with nothing else in
/// it but JSON whitespace: a table such as the Census sends, read without serde. Any other body
/// leaves this shape somewhere, and the reading answers `None` there; what it does accept is
/// JSON, and reads as serde_json reads it.
pub(crate) struct PlainTable<'a> {
    body: &'a str,
    at: usize,
    /// No row read yet.
    first_row: bool,
    /// No cell of the current row read yet.
    first_cell: bool,
}

impl<'a> PlainTable<'a> {
    /// The table, if `body` is UTF-8 and opens an array.
    pub(crate) fn new(body: &'a [u8]) -> Option<Self> {
        let body = std::str::from_utf8(body).ok()?;
        let mut t = PlainTable { body, at: 0, first_row: true, first_cell: true };
        t.whitespace();
        (t.bump()? == b'[').then_some(t)
    }

    /// Open the next row: `Some(true)`, or `Some(false)` at the end of the table (and of the
    /// body).
    pub(crate) fn next_row(&mut self) -> Option<bool> {
        self.whitespace();
        let first = std::mem::replace(&mut self.first_row, false);
        match self.bump()? {
            b']' => {
                self.whitespace();
                return (self.at == self.body.len()).then_some(false);
            }
            b',' if !first => {
                self.whitespace();
                if self.bump()? != b'[' {
                    return None;
                }
            }
            b'[' if first => {}
            _ => return None,
        }
        self.first_cell = true;
        Some(true)
    }

    /// The next cell of the open row.
    pub(crate) fn next_cell(&mut self) -> Option<PlainCell<'a>> {
        let b = self.body.as_bytes();
        let mut i = skip_whitespace(b, self.at);
        if !std::mem::replace(&mut self.first_cell, false) {
            match b.get(i)? {
                b']' => {
                    self.at = i + 1;
                    return Some(PlainCell::End);
                }
                b',' => i = skip_whitespace(b, i + 1),
                _ => return None,
            }
        } else if b.get(i) == Some(&b']') {
            self.at = i + 1;
            return Some(PlainCell::End);
        }
        match b.get(i)? {
            b'"' => {
                let start = i + 1;
                let len = b.get(start..)?.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
                if b.get(start + len) != Some(&b'"') {
                    return None;
                }
                self.at = start + len + 1;
                self.body.get(start..start + len).map(PlainCell::Str)
            }
            b'n' if b.get(i + 1..i + 4) == Some(b"ull") => {
                self.at = i + 4;
                Some(PlainCell::Null)
            }
            _ => None,
        }
    }

    fn bump(&mut self) -> Option<u8> {
        let b = *self.body.as_bytes().get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn whitespace(&mut self) {
        self.at = skip_whitespace(self.body.as_bytes(), self.at);
    }
}

/// Where the JSON whitespace from `i` on ends.
fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A few thousand strings from an alphabet of words, spaces, every kind of whitespace and
    /// characters whose first byte a whitespace character shares, at lengths across the 8-byte
    /// steps of [`is_clean`].
    fn samples() -> Vec<String> {
        const PIECES: [&str; 16] = [
            "a", "Z", " ", "  ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}",
            "\u{2028}", "\u{2013}", "\u{3000}",
        ];
        const MORE: [&str; 6] = ["\u{202F}", "\u{205F}", "\u{200B}", "\u{2019}", "é", "\u{1F600}"];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut out = Vec::new();
        for _ in 0..4000 {
            let mut s = String::new();
            for _ in 0..next(30) {
                s.push_str(match next(4) {
                    0 => MORE[next(MORE.len())],
                    _ => PIECES[next(PIECES.len())],
                });
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn clean_agrees_with_split_whitespace() {
        for s in samples() {
            let expected = s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(is_clean(&s), s == expected, "{s:?}");
            assert_eq!(clean(Cow::Borrowed(&s)), expected, "{s:?}");
            assert_eq!(clean(Cow::Owned(s.clone())), expected, "{s:?}");
        }
    }

    #[test]
    fn number_agrees_with_text_number() {
        let mut cases: Vec<String> = [
            "86.4900",
            "-12",
            "0",
            "-0",
            "007",
            "1.",
            ".5",
            "-.5",
            "1e5",
            "0.2785%",
            " 42 ",
            "1.5 ",
            "None",
            "-",
            "",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "99999999999999.9",
            "1.2.3",
            "--5",
            "+5",
            "9007199254740993",
            "4.35",
            "0.1",
            "1e400",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for a in 0..200u32 {
            cases.push(format!("{}.{:04}", a * 37, a * 53 % 10000));
            cases.push(format!("-{}.{}", a * 7919, a));
        }
        for s in &cases {
            let expected = crate::text::number(s);
            assert_eq!(number(s).map(f64::to_bits), expected.map(f64::to_bits), "{s:?}");
        }
    }

    #[test]
    fn plain_tables_are_read_and_anything_else_refused() {
        let mut t = PlainTable::new(b" [[\"a\", null],\n [\"b\",\"c\"] ] ").unwrap();
        assert_eq!(t.next_row(), Some(true));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("a"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::Null)));
        assert!(matches!(t.next_cell(), Some(PlainCell::End)));
        assert_eq!(t.next_row(), Some(true));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("b"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("c"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::End)));
        assert_eq!(t.next_row(), Some(false));
        let refused = |body: &[u8]| {
            let Some(mut t) = PlainTable::new(body) else { return true };
            while let Some(more) = t.next_row() {
                if !more {
                    return false;
                }
                loop {
                    match t.next_cell() {
                        None => return true,
                        Some(PlainCell::End) => break,
                        Some(_) => {}
                    }
                }
            }
            true
        };
        assert!(!refused(b"[]") && !refused(b"[[]]") && !refused(b"[[\"x\"],[]]"));
        for body in [
            &b"[[\"a\\n\"]]"[..],
            b"[[1]]",
            b"[[\"a\",]]",
            b"[[\"a\"],]",
            b"[[\"a\"]] x",
            b"[[\"a\"]",
            b"[{}]",
            b"{}",
            b"[[nul]]",
            b"[[\"\xff\"]]",
            b"\xef\xbb\xbf[[]]",
            b"[[\"a\x01\"]]",
            b"[,[]]",
            b"[[,\"a\"]]",
        ] {
            assert!(refused(body), "{}", String::from_utf8_lossy(body));
        }
    }
}
