//! [`PickSeed`]: the lenient reading of [`super::lenient`] for readers that carry state (a
//! `DeserializeSeed`), such as a count of the records a body should hold.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::lenient::Skip;

/// [`Pick`](super::Pick) for a reader that carries state (a `DeserializeSeed`, through [`Seed`]): arrays and
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
