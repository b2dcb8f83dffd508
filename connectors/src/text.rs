//! Small text and number helpers shared by the parsers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Collapse runs of whitespace (line breaks included) to single spaces and trim.
pub fn clean(s: &str) -> String {
    if is_clean(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    push_clean(&mut out, &mut false, s);
    out
}

/// How [`push_clean`] sees a byte: inside a word, ASCII whitespace, or the first byte of a
/// character that may be non-ASCII whitespace (U+0085, U+00A0, U+1680, U+2000.., U+3000).
const WORD: u8 = 0;
const SPACE: u8 = 1;
const MAYBE_SPACE: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [WORD; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' => SPACE,
            0xC2 | 0xE1 | 0xE2 | 0xE3 => MAYBE_SPACE,
            _ => WORD,
        };
        i += 1;
    }
    t
};

/// Append `s` to text being cleaned piece by piece: runs of whitespace between words become one
/// space, leading and trailing whitespace goes; the same as [`clean`] on all the pieces joined.
/// `gap` carries "whitespace came after the last word" from one piece to the next (start with
/// `false` and an empty `out`). Stretches that are already clean (words with single spaces
/// between) are copied whole.
pub(crate) fn push_clean(out: &mut String, gap: &mut bool, s: &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        loop {
            if b.get(i..).and_then(|r| r.first_chunk::<8>()) == Some(&[b' '; 8]) {
                i += 8;
                continue;
            }
            match space_len(s, i) {
                Some(n) => i += n,
                None => break,
            }
        }
        if i > start {
            *gap = true;
        }
        if i >= b.len() {
            break;
        }
        let run = i;
        i = stretch_end(s, run);
        push_word(out, gap, s.get(run..i).unwrap_or_default());
    }
}

/// The length of the whitespace character at byte `i` of `s`, if one starts there.
fn space_len(s: &str, i: usize) -> Option<usize> {
    match CLASS[usize::from(*s.as_bytes().get(i)?)] {
        SPACE => Some(1),
        MAYBE_SPACE => s.get(i..)?.chars().next().filter(|c| c.is_whitespace()).map(char::len_utf8),
        _ => None,
    }
}

/// Where the clean stretch that starts at `run` (not whitespace) ends: at the first whitespace
/// that is not a single space between two words, or at the end of `s`.
fn stretch_end(s: &str, run: usize) -> usize {
    let b = s.as_bytes();
    let is_word = |i: usize| b.get(i).is_some_and(|&c| CLASS[usize::from(c)] == WORD);
    let (mut i, mut next_try) = (run, run);
    loop {
        if i >= next_try {
            // Eight plain bytes at once; a space last only when a word byte follows it.
            while let Some(w) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
                match plain8(*w, b.get(i.wrapping_sub(1)) == Some(&b' ')) {
                    Some(false) => i += 8,
                    Some(true) if is_word(i + 8) => i += 8,
                    _ => break,
                }
            }
            next_try = i + 8;
        }
        let Some(&c) = b.get(i) else { return i };
        match CLASS[usize::from(c)] {
            WORD => i += 1,
            SPACE if c == b' ' && is_word(i + 1) => i += 2,
            _ if space_len(s, i).is_some() => return i,
            _ => i += 1,
        }
    }
}

fn push_word(out: &mut String, gap: &mut bool, w: &str) {
    if *gap && !out.is_empty() {
        out.push(' ');
    }
    *gap = false;
    out.push_str(w);
}

/// Fast path for [`clean`]: whether `s` is already trimmed and single-spaced. Conservative: a
/// byte that may start a non-ASCII whitespace character (U+0085, U+00A0, U+1680, U+2000..,
/// U+3000) sends the string down the general path.
fn is_clean(s: &str) -> bool {
    let (words, tail) = s.as_bytes().as_chunks::<8>();
    let mut after_space = true;
    for w in words {
        after_space = match plain8(*w, after_space) {
            Some(ends_in_space) => ends_in_space,
            None if bytes_clean(w, &mut after_space) => after_space,
            None => return false,
        };
    }
    bytes_clean(tail, &mut after_space) && (!after_space || s.is_empty())
}

/// [`is_clean`] a byte at a time, carrying whether the last byte was a space.
fn bytes_clean(b: &[u8], after_space: &mut bool) -> bool {
    for &b in b {
        match b {
            b' ' if *after_space => return false,
            b' ' => *after_space = true,
            b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0xC2 | 0xE1 | 0xE2 | 0xE3 => return false,
            _ => *after_space = false,
        }
    }
    true
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// Whether eight bytes are plain — all ASCII, no control characters, no two spaces in a row
/// (nor a space first when `space_before`) — and if so whether the last is a space. Eight at
/// once: adding 0x60 to an ASCII byte sets its high bit exactly when it is at least 0x20, and a
/// byte XOR 0x20 is zero exactly for a space; no carry crosses from one ASCII byte to the next.
fn plain8(w: [u8; 8], space_before: bool) -> Option<bool> {
    let x = u64::from_le_bytes(w);
    if x & HIGH != 0 || !x.wrapping_add(ONES * 0x60) & HIGH != 0 {
        return None;
    }
    let y = x ^ (ONES * 0x20);
    let space = !(y.wrapping_add(ONES * 0x7F) | y) & HIGH;
    if space & ((space << 8) | (u64::from(space_before) << 7)) != 0 {
        return None;
    }
    Some(space >> 63 == 1)
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

    /// Cleaning piece by piece is `split_whitespace` of the pieces joined, however the text is cut.
    #[test]
    fn push_clean_matches_split_whitespace() {
        let slow = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let atoms = [
            "a",
            "bc",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\u{a0}",
            "\u{2003}",
            "\u{3000}",
            "\u{1680}",
            "\u{2028}",
            "\u{202f}",
            "\u{205f}",
            "é",
            "–",
            "µ",
            "\u{85}",
            "x y",
            "\u{0b}",
            "\u{0c}",
            "\u{1c}",
            "\u{200b}",
            "\u{2060}",
            "abcdefghijk",
            "a b c d e f g h",
            "Deep Learning (DL) has",
            "\u{7f}",
            "~",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            let mut pieces: Vec<String> = Vec::new();
            for _ in 0..(seed % 6) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = (seed % 12) as usize;
                pieces.push(
                    (0..n).map(|k| atoms[(seed.rotate_right(5 * k as u32) % atoms.len() as u64) as usize]).collect(),
                );
            }
            let (mut out, mut gap) = (String::new(), false);
            for p in &pieces {
                push_clean(&mut out, &mut gap, p);
            }
            let joined = pieces.concat();
            assert_eq!(out, slow(&joined), "{pieces:?}");
            assert_eq!(clean(&joined), slow(&joined), "{joined:?}");
        }
    }

    /// Every non-ASCII whitespace character starts with a byte [`push_clean`] looks at closely.
    #[test]
    fn whitespace_lead_bytes() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|c| c.is_whitespace()) {
            let mut buf = [0u8; 4];
            let first = c.encode_utf8(&mut buf).as_bytes()[0];
            let want = if c.is_ascii() { SPACE } else { MAYBE_SPACE };
            assert_eq!(CLASS[usize::from(first)], want, "{c:?}");
        }
    }

    /// The eight-at-once test agrees with a byte-by-byte one on every byte in every position.
    #[test]
    fn plain8_agrees() {
        let slow = |w: [u8; 8], space_before: bool| {
            let mut prev = space_before;
            for b in w {
                if !(0x20..0x80).contains(&b) || (b == b' ' && prev) {
                    return None;
                }
                prev = b == b' ';
            }
            Some(prev)
        };
        for b in 0..=255u8 {
            for at in 0..8 {
                for fill in [b'a', b' '] {
                    let mut w = [b'x'; 8];
                    w[at] = b;
                    if at > 0 {
                        w[at - 1] = fill;
                    }
                    for before in [false, true] {
                        assert_eq!(plain8(w, before), slow(w, before), "{w:?} {before}");
                    }
                }
            }
        }
    }

    #[test]
    fn clean_fast_path_agrees() {
        let slow = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for s in [
            "",
            " ",
            "a",
            "a b",
            "a  b",
            " a",
            "a ",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "Church\u{2013}Turing",
            "x\u{0B}y",
        ] {
            assert_eq!(clean(s), slow(s), "{s:?}");
        }
    }
}
