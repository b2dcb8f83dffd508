//! Caller-supplied identifiers as URL path segments (a ticker, a DOI, a subreddit, a CIK).
//!
//! An identifier placed in a path must stay one segment: the URL parser downstream (reqwest and
//! `url`, WHATWG rules) resolves `.` and `..` segments — also spelled `%2e`, `%2E%2e` — and reads
//! `\` as `/` in http URLs, so `paper_id=../../../internal/admin` would otherwise reach another
//! path on the upstream host, with the connector's key attached. Two layers stop that: at
//! enqueue time [`check_segment`] refuses what can never be an identifier (run by
//! [`crate::params::validate`] for every parameter declared [`crate::Param::in_path`]); when a
//! request is built [`segment`] refuses the same values again and percent-encodes everything
//! outside the RFC 3986 unreserved set, so `/`, `?`, `#`, `%` and `\` inside a value are data,
//! never structure. Identifiers that hold a `/` of their own (DOIs) have it sent as `%2F`.

use percent_encoding::percent_decode_str;

use crate::{ConnectorError, ParamError};

/// RFC 3986 sub-delimiters (plus `:` and `@`, the rest of `pchar`): characters a path segment may
/// hold as they are without changing the path. Only these may be kept by [`segment_keeping`].
const PCHAR_EXTRA: &[u8] = b"!$&'()*+,;=:@";

/// How many rounds of percent-decoding are looked through: an upstream or proxy that decodes
/// twice would still see `%252e%252e` as `..`.
const DECODE_ROUNDS: usize = 4;

/// Why `value` cannot be a path segment, if it cannot.
fn refusal(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    let mut text = std::borrow::Cow::Borrowed(value);
    for _ in 0..=DECODE_ROUNDS {
        if text.chars().any(char::is_control) {
            return Some("must not contain control characters");
        }
        // `\` counts as `/`: WHATWG URL parsing treats them alike in http paths, and some
        // servers decode `%2F` before routing, so no component of the value may be a dot segment.
        if text.split(['/', '\\']).any(|c| c == "." || c == "..") {
            return Some("must not be `.` or `..` or contain such a path component (in any percent-encoded form)");
        }
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == *text {
            break;
        }
        text = std::borrow::Cow::Owned(decoded);
    }
    None
}

/// Refuse, at validation time, a value of parameter `name` that cannot be a path segment: empty,
/// `.` or `..` (also percent-encoded, also as one `/`- or `\`-separated component), or holding a
/// control character (also percent-encoded).
pub fn check_segment(name: &str, value: &str) -> Result<(), ParamError> {
    match refusal(value) {
        Some(reason) => Err(ParamError::invalid(name, reason)),
        None => Ok(()),
    }
}

/// `value` (of parameter `name`) as one percent-encoded path segment: every byte outside the
/// RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) is encoded, upper-case hex. Values
/// [`check_segment`] refuses are refused here too, as a permanent error naming the parameter.
pub fn segment(name: &str, value: &str) -> Result<String, ConnectorError> {
    segment_keeping(name, value, b"")
}

/// [`segment`], keeping as they are those of `keep` that are sub-delimiters, `:` or `@` (which a
/// segment may hold without changing the path: Polygon's `X:BTCUSD`, Yahoo's `EURUSD=X`). Any
/// other byte in `keep` (`/`, `?`, `%`, ...) is still encoded.
pub fn segment_keeping(name: &str, value: &str, keep: &[u8]) -> Result<String, ConnectorError> {
    if let Some(reason) = refusal(value) {
        return Err(ConnectorError::permanent(format!("invalid value for `{name}`: {reason}")));
    }
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep.contains(&b) && PCHAR_EXTRA.contains(&b)) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for bad in [
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%252e%252e",
            "../../../internal/admin",
            "10.1/../../private/x",
            "a/./b",
            "a\\..\\b",
            "..%2Fadmin",
            "%2e%2e%2fadmin",
            "%2e%2e%5cadmin",
            "",
        ] {
            assert!(check_segment("id", bad).is_err(), "`{bad}` accepted");
            assert!(segment("id", bad).is_err(), "`{bad}` encoded");
        }
        let err = check_segment("ticker", "..").unwrap_err().to_string();
        assert!(err.contains("`ticker`") && err.contains("`..`"), "{err}");
    }

    #[test]
    fn control_characters_are_refused_raw_and_encoded() {
        for bad in ["a\nb", "a\0", "a%0Ab", "a%00", "a%0d%0aHost:%20x", "\u{7f}", "a\u{85}b"] {
            assert!(check_segment("id", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn structure_characters_are_encoded() {
        assert_eq!(segment("id", "a/b?c#d%e\\f g").unwrap(), "a%2Fb%3Fc%23d%25e%5Cf%20g");
        assert_eq!(segment("doi", "10.1037/0003-066X.59.1.29").unwrap(), "10.1037%2F0003-066X.59.1.29");
        assert_eq!(segment("id", "...").unwrap(), "...", "three dots are a name, not a dot segment");
        assert_eq!(segment("id", "a..b").unwrap(), "a..b");
        assert_eq!(segment("id", "é").unwrap(), "%C3%A9");
        assert_eq!(segment("id", "X:BTC=Y").unwrap(), "X%3ABTC%3DY");
    }

    #[test]
    fn only_path_safe_characters_can_be_kept() {
        assert_eq!(segment_keeping("t", "X:BTCUSD", b":").unwrap(), "X:BTCUSD");
        assert_eq!(segment_keeping("s", "EURUSD=X", b"=").unwrap(), "EURUSD=X");
        assert_eq!(segment_keeping("s", "a/b?c%d", b"/?%").unwrap(), "a%2Fb%3Fc%25d", "structure is never kept");
        assert!(segment_keeping("s", "..", b".").is_err());
    }
}
