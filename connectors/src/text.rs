//! Small text and number helpers shared by the parsers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Collapse runs of whitespace (line breaks included) to single spaces and trim.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `clean`, with empty results as `None`.
pub fn clean_opt(s: Option<&str>) -> Option<String> {
    s.map(clean).filter(|s| !s.is_empty())
}

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
    let s = clean(s);
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
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
    }
}
