//! Small text and number helpers shared by the parsers; whitespace cleaning in `whitespace`.

mod whitespace;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

pub(crate) use whitespace::push_clean;
pub use whitespace::{clean, clean_opt};

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
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
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
    let s = clean(s);
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

    /// The shapes upstreams use read as chrono reads each of them; the impossible ones not at all.
    #[test]
    fn timestamps_read_as_chrono_reads_them() {
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
            assert_eq!(timestamp(s), slow(s), "{s}");
        }
        assert_eq!(date("2020-02-29"), NaiveDate::from_ymd_opt(2020, 2, 29));
        assert_eq!(date(" 2020-2-9 "), NaiveDate::from_ymd_opt(2020, 2, 9));
        assert_eq!(date("2020-02-30"), None);
    }
}
