//! Lenient readers: each type here accepts *any* JSON value and keeps only what a `Value`
//! accessor would have given: [`Str`] is `Value::as_str`, [`F64`] `as_f64`, [`I64`] `as_i64`,
//! [`U64`] `as_u64`, [`JNum`] [`text::json_number`], [`List`] `as_array`, [`Obj`] `as_object`
//! (fields read through [`Fields`], a later duplicate key replacing an earlier one as in a `Value`
//! map) and [`Map`] an object in key order. So a body reads the same as it did through a `Value`,
//! wrong-typed fields included, without building one: strings are borrowed from the input where
//! they have no escapes, and fields nobody reads are parsed and dropped by [`Skip`] — parsed, not
//! merely skipped, so a body `Value` would refuse (a number out of range, a lone surrogate) is
//! refused too.
//!
//! [`text::json_number`]: crate::text::json_number

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::text::clean;
use crate::text::number;

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
        self.0.map(|s| clean(&s)).filter(|s| !s.is_empty())
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
