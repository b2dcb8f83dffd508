//! Text read from JSON bodies: [`StrictStr`], a string field as a derived `String` reads it,
//! borrowed where it can be.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Visitor};

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
