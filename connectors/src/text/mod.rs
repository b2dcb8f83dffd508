//! Small text and number helpers shared by the parsers; whitespace cleaning in `whitespace`.

mod whitespace;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

pub use whitespace::{clean, clean_opt};
pub(crate) use whitespace::{clean_cow, push_clean};

/// A number that may arrive as a string (`"112.1300"`, `"0.2785%"`), or `None` when it is not one
/// (`"-"`, `"None"`, empty).
pub fn number(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches('%').trim();
    let n: f64 = s.parse().ok()?;
    n.is_finite().then_some(n)
}

/// A JSON value read as a number, whether it is a number or a numeric string.
pub fn json_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => number(s),
        _ => None,
    }
}

/// A timestamp in any of the common shapes upstreams use, as UTC: RFC 3339, a bare
/// `YYYY-MM-DD HH:MM:SS` (taken as UTC) or a bare date (midnight UTC).
pub fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = fast_timestamp(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    date(s).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| Utc.from_utc_datetime(&t))
}

/// A `YYYY-MM-DD` date.
pub fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Some((t, Sep::None)) = fixed(s) {
        return Some(t.date());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// What separates the date from the time in a [`fixed`] shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// A bare `YYYY-MM-DD` (midnight).
    None,
    /// `YYYY-MM-DD HH:MM:SS`.
    Space,
    /// `YYYY-MM-DDTHH:MM:SS`.
    T,
}

/// Fast path for the commonest shapes: exactly `YYYY-MM-DD`, or that followed by ` HH:MM:SS` or
/// `THH:MM:SS`, all digits, a year from 1000 and a valid date and time (seconds up to 59). Only
/// what chrono's own parsing would read the same way is accepted here; anything else (other
/// widths, fractions, leap seconds, padding) returns `None` and takes the general path.
pub(crate) fn fixed(s: &str) -> Option<(NaiveDateTime, Sep)> {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    if b.len() != 10 && b.len() != 19 {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(0, 4).filter(|y| *y >= 1000)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, digits(5, 7)?, digits(8, 10)?)?;
    if b.len() == 10 {
        return Some((date.and_hms_opt(0, 0, 0)?, Sep::None));
    }
    let sep = match b[10] {
        b' ' => Sep::Space,
        b'T' => Sep::T,
        _ => return None,
    };
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if sec > 59 {
        return None;
    }
    Some((date.and_hms_opt(h, m, sec)?, sep))
}

/// [`timestamp`] for the shapes [`fixed`] knows, bare or followed by `Z` or `±HH:MM` (RFC 3339).
fn fast_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let (head, zone) = match b.len() {
        10 | 19 => (s, ""),
        20 if b[19] == b'Z' && b[10] == b'T' => s.split_at(19),
        25 if b[10] == b'T' => s.split_at(19),
        _ => return None,
    };
    let (naive, _) = fixed(head)?;
    let offset_secs = match zone.as_bytes() {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let (h, m) = (two(*h1, *h2).filter(|h| *h < 24)?, two(*m1, *m2).filter(|m| *m < 60)?);
            if *sign == b'-' { -(h * 3600 + m * 60) } else { h * 3600 + m * 60 }
        }
        _ => return None,
    };
    let utc = naive.checked_sub_signed(chrono::Duration::seconds(offset_secs))?;
    Some(Utc.from_utc_datetime(&utc))
}

/// Seconds (or milliseconds, with `millis`) since the epoch, as UTC.
pub fn epoch(n: i64, millis: bool) -> Option<DateTime<Utc>> {
    if millis { Utc.timestamp_millis_opt(n).single() } else { Utc.timestamp_opt(n, 0).single() }
}

/// At most 200 characters of a body, single-spaced, for error messages.
pub fn snippet(s: &str) -> String {
    let mut out = String::new();
    push_snippet(&mut out, s);
    out
}

/// [`snippet`], appended to `out`.
pub fn push_snippet(out: &mut String, s: &str) {
    const MAX: usize = 200;
    let s = whitespace::clean_str(s);
    // Where character `MAX` starts, if there is one: at byte `MAX` when the bytes before it are
    // all ASCII, which error bodies almost always are.
    let cut = if s.len() <= MAX {
        None
    } else if s.as_bytes()[..MAX].is_ascii() {
        Some(MAX)
    } else {
        s.char_indices().nth(MAX).map(|(i, _)| i)
    };
    match cut {
        Some(i) => {
            out.reserve(i + '…'.len_utf8());
            out.push_str(&s[..i]);
            out.push('…');
        }
        None => out.push_str(&s),
    }
}

/// Decode the HTML character references upstreams put in text (`&amp;`, `&mdash;`, `&#39;`,
/// `&#x27;`, every HTML5 name); unknown or malformed references are kept as they are.
pub(crate) fn unescape_html(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::decode_html_entities(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_parses() {
        assert_eq!(clean("  A title\n  wrapped   here "), "A title wrapped here");
        assert_eq!(number("0.2785%"), Some(0.2785));
        assert_eq!(number("None"), None);
        assert_eq!(timestamp("2020-01-02").unwrap().to_rfc3339(), "2020-01-02T00:00:00+00:00");
        assert_eq!(timestamp("2022-02-24T15:05:19Z").unwrap().to_rfc3339(), "2022-02-24T15:05:19+00:00");
        assert!(snippet(&"x".repeat(500)).chars().count() <= 201);
        for s in [
            "x".repeat(200),
            "x".repeat(201),
            "é".repeat(150),
            format!("{}é{}", "x".repeat(199), "y".repeat(5)),
            " a  b ".repeat(60),
        ] {
            let clean = clean(&s);
            let expected = match clean.char_indices().nth(200) {
                Some((i, _)) => format!("{}…", &clean[..i]),
                None => clean.clone(),
            };
            assert_eq!(snippet(&s), expected, "{s:?}");
        }
    }

    /// Every HTML name is decoded, not a handful (`&mdash;` reached Guardian and Reddit records),
    /// and what is not a reference stays as it was.
    #[test]
    fn html_references_are_decoded() {
        assert_eq!(unescape_html("Tom &amp; Jerry &mdash; &ldquo;live&rdquo;&hellip;"), "Tom & Jerry — “live”…");
        assert_eq!(unescape_html("it&#39;s &#x27;q&#x27; &lt;b&gt;"), "it's 'q' <b>");
        assert_eq!(unescape_html("AT&T; a & b; &unknownname; &#xZZ;"), "AT&T; a & b; &unknownname; &#xZZ;");
        assert!(matches!(unescape_html("no references"), std::borrow::Cow::Borrowed(_)));
    }

    /// The fast path gives what the general path gives, and leaves it everything else.
    #[test]
    fn fast_path_agrees_with_chrono() {
        let slow = |s: &str| {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok().map(|t| t.and_utc()))
                .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok().map(|t| t.and_utc()))
                .or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(Default::default()).and_utc())
                })
        };
        for s in [
            "2020-01-02",
            " 2020-01-02 ",
            "2017-12-18 14:56:00",
            "2017-12-18T14:56:00",
            "2022-02-24T15:05:19Z",
            "2022-02-24T15:05:19+05:30",
            "2022-02-24T00:05:19-08:00",
            "2020-02-29",
            "2020-02-30",
            "2019-02-29T00:00:00Z",
            "2020-13-01",
            "2020-01-02T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2020-01-02T10:00:00.5Z",
            "2020-1-2",
            "0999-01-01",
            "2020-01-02x",
            "2020-01-02T10:00:00+24:00",
        ] {
            assert_eq!(fast_timestamp(s.trim()).or_else(|| timestamp(s)), slow(s), "{s}");
            assert_eq!(timestamp(s), slow(s), "{s}");
            if let Some(t) = fast_timestamp(s.trim()) {
                assert_eq!(Some(t), slow(s), "fast path on {s}");
            }
        }
        assert_eq!(date("2020-02-29"), NaiveDate::from_ymd_opt(2020, 2, 29));
        assert_eq!(date(" 2020-2-9 "), NaiveDate::from_ymd_opt(2020, 2, 9));
        assert_eq!(date("2020-02-30"), None);
        assert_eq!(fixed("2017-12-18 14:56:00").map(|(_, s)| s), Some(Sep::Space));
    }
}
