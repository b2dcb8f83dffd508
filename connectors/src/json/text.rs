//! Text and numbers read from JSON bodies: [`StrictStr`] (a string field as a derived `String`
//! reads it, borrowed where it can be) and [`number`] (`text::number` without the general float
//! parser for plain decimals). Text is cleaned by `text::clean_cow`, which keeps a buffer a
//! string was unescaped into.

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

/// [`text::number`]: a string that starts and ends with an ASCII digit has nothing for it to trim,
/// and a plain decimal (`86.4900`, `-12`) of at most 15 digits is read exactly without the general
/// float parser: its digits make an integer below 2^53 and its scale a power of ten up to 10^15,
/// both exact as `f64`, so one division rounds correctly, as the parser does.
///
/// [`text::number`]: crate::text::number
pub(super) fn number(s: &str) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
