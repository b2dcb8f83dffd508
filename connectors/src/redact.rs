//! Keeping secrets out of text that reaches logs, job errors and API answers.
//!
//! A key rarely comes back the way it was configured: an upstream that quotes the request URL in
//! its error quotes it as it went on the wire, percent-encoded, and a key with `+`, `/`, `=` or
//! `&` in it then reads `ab%2Bcd%2Fef%3Dgh%26ij` (or `%2b...`, or `+` for a space when the query
//! was form-encoded). [`scrub_secret`] replaces every such spelling. [`strip_userinfo`] takes
//! `user:password@` out of a URL shown in logs, as [`crate::Request`]'s `Display` does.

use std::borrow::Cow;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are left alone: replacing two or three characters would shred
/// ordinary text and hides little.
const MIN_SECRET_LEN: usize = 4;

/// RFC 3986 unreserved: what [`crate::params::encode`] (and [`crate::path::segment`]) leave as is.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// What `application/x-www-form-urlencoded` leaves as is (the `url` crate's query serializer,
/// which reqwest's `.query()` uses); it writes a space as `+` and `+` as `%2B`.
fn form_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

/// What the WHATWG URL parser leaves as is in the query of a URL given as a string: all printable
/// ASCII but space, `"`, `#`, `<`, `>` and `'`.
fn query_safe(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'\'')
}

fn encode(secret: &str, keep: fn(u8) -> bool, space_as_plus: bool, lower: bool) -> String {
    let hex: &[u8; 16] = if lower { b"0123456789abcdef" } else { b"0123456789ABCDEF" };
    let mut out = String::with_capacity(secret.len() * 3);
    for &b in secret.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(hex[usize::from(b >> 4)]));
            out.push(char::from(hex[usize::from(b & 15)]));
        }
    }
    out
}

/// `text` with `secret` replaced by `[redacted]` in every form it travels in: as it is,
/// percent-encoded (upper- and lower-case hex) as [`crate::params::encode`] writes it,
/// form-encoded as the `url` crate's query serializer writes it (`+` for a space, `%2B` for `+`),
/// and as the URL parser writes a query given as a string. Secrets shorter than four bytes are
/// left alone. Borrows `text` when there was nothing to replace.
pub fn scrub_secret<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.len() < MIN_SECRET_LEN {
        return Cow::Borrowed(text);
    }
    let mut forms: Vec<String> = vec![secret.to_owned()];
    for lower in [false, true] {
        forms.push(encode(secret, unreserved, false, lower));
        forms.push(encode(secret, form_safe, true, lower));
        forms.push(encode(secret, query_safe, false, lower));
    }
    // Longest first, so that no shorter form eats part of a longer one before it is matched.
    forms.sort_unstable_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut out = Cow::Borrowed(text);
    for form in &forms {
        if out.contains(form.as_str()) {
            out = Cow::Owned(out.replace(form.as_str(), REDACTED));
        }
    }
    out
}

/// `url` without the `user:password@` of its authority (`https://u:p@host/x` becomes
/// `https://host/x`), for showing and logging base URLs. The authority ends at the first `/`,
/// `?`, `#` or `\` (WHATWG reads `\` as `/` in http URLs) and the userinfo at its last `@`. A
/// string without `://` is read as starting with its authority. Borrows `url` when it has none.
pub fn strip_userinfo(url: &str) -> Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority = &url[start..];
    let end = authority.find(['/', '?', '#', '\\']).unwrap_or(authority.len());
    match authority[..end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}{}", &url[..start], &authority[at + 1..])),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ab+cd/ef=gh&ij";

    #[test]
    fn every_encoding_of_the_key_is_redacted() {
        for form in [KEY, "ab%2Bcd%2Fef%3Dgh%26ij", "ab%2bcd%2fef%3dgh%26ij", &crate::params::encode(KEY)] {
            let text = format!("HTTP 401: GET /query?apikey={form}&symbol=MSFT is not allowed");
            assert_eq!(scrub_secret(&text, KEY), "HTTP 401: GET /query?apikey=[redacted]&symbol=MSFT is not allowed");
        }
    }

    #[test]
    fn spaces_tildes_and_non_ascii_in_each_form() {
        let key = "k e~y*é";
        for form in ["k e~y*é", "k%20e~y%2A%C3%A9", "k+e%7Ey*%C3%A9", "k+e%7ey*%c3%a9", "k%20e~y*%C3%A9"] {
            assert_eq!(scrub_secret(&format!("<{form}>"), key), "<[redacted]>", "{form}");
        }
    }

    #[test]
    fn short_secrets_and_clean_text_are_left_alone() {
        assert!(matches!(scrub_secret("the key abc", "abc"), Cow::Borrowed("the key abc")));
        assert!(matches!(scrub_secret("nothing here", KEY), Cow::Borrowed(_)));
        assert_eq!(scrub_secret("abcd and abcd", "abcd"), "[redacted] and [redacted]");
    }

    #[test]
    fn userinfo_is_stripped() {
        assert_eq!(strip_userinfo("https://user:p%40ss@host.test:8443/x?y=@z"), "https://host.test:8443/x?y=@z");
        assert_eq!(strip_userinfo("http://u:p@w@host.test"), "http://host.test");
        assert_eq!(strip_userinfo("http://user@host.test\\@evil/x"), "http://host.test\\@evil/x");
        assert_eq!(strip_userinfo("user:pw@host.test/x"), "host.test/x");
        assert!(matches!(strip_userinfo("https://host.test/a@b"), Cow::Borrowed("https://host.test/a@b")));
        assert!(matches!(strip_userinfo("https://host.test?q=a@b"), Cow::Borrowed(_)));
        assert_eq!(strip_userinfo(""), "");
    }
}
