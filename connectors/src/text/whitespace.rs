//! Whitespace cleaning: runs of whitespace (line breaks and non-ASCII spaces included, exactly
//! what `char::is_whitespace` takes) collapsed to single spaces, and the ends trimmed — the same
//! as `split_whitespace` joined with spaces, but without a copy for text that is already clean
//! and with clean stretches of other text copied whole.

use std::borrow::Cow;

/// Collapse runs of whitespace (line breaks included) to single spaces and trim.
pub fn clean(s: &str) -> String {
    if is_clean(s) {
        return s.to_owned();
    }
    collapse(s)
}

/// [`clean`] of text that may already own its buffer (a string unescaped from a body): when the
/// text is already clean, that buffer is kept without a copy.
pub(crate) fn clean_cow(s: Cow<'_, str>) -> String {
    if is_clean(&s) {
        return s.into_owned();
    }
    collapse(&s)
}

/// [`clean`], borrowing text that is already clean.
pub(crate) fn clean_str(s: &str) -> Cow<'_, str> {
    if is_clean(s) { Cow::Borrowed(s) } else { Cow::Owned(collapse(s)) }
}

/// `clean`, with empty results as `None`.
pub fn clean_opt(s: Option<&str>) -> Option<String> {
    s.map(clean).filter(|s| !s.is_empty())
}

/// The general path of [`clean`].
fn collapse(s: &str) -> String {
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

/// Fast path for [`clean`]: whether `s` is already trimmed and single-spaced — no whitespace but
/// single spaces between words. Exact: eight plain bytes at a time ([`plain8`]), and any other
/// eight (or the tail) byte by byte, so a dash or a curly quote does not send clean text down the
/// general path.
fn is_clean(s: &str) -> bool {
    let b = s.as_bytes();
    // A leading space counts as one after a space.
    let mut after_space = true;
    let mut at = 0;
    while let Some(w) = b.get(at..).and_then(|r| r.first_chunk::<8>()) {
        match plain8(*w, after_space) {
            Some(ends_in_space) => after_space = ends_in_space,
            None if bytes_clean(b, at, at + 8, &mut after_space) => {}
            None => return false,
        }
        at += 8;
    }
    bytes_clean(b, at, b.len(), &mut after_space) && (!after_space || b.is_empty())
}

/// [`is_clean`] over `b[from..to]`, byte by byte, after a space when `after_space` says so.
fn bytes_clean(b: &[u8], from: usize, to: usize, after_space: &mut bool) -> bool {
    for i in from..to {
        let Some(&c) = b.get(i) else { break };
        if c == b' ' {
            if *after_space {
                return false;
            }
            *after_space = true;
            continue;
        }
        if matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r') || (c >= 0x80 && unicode_space_at(b, i)) {
            return false;
        }
        *after_space = false;
    }
    true
}

/// Whether a non-ASCII whitespace character starts at byte `i`: U+0085, U+00A0, U+1680,
/// U+2000..=U+200A, U+2028, U+2029, U+202F, U+205F or U+3000.
fn unicode_space_at(b: &[u8], i: usize) -> bool {
    let next = |k: usize| b.get(i + k).copied().unwrap_or(0);
    match next(0) {
        0xC2 => matches!(next(1), 0x85 | 0xA0),
        0xE1 => next(1) == 0x9A && next(2) == 0x80,
        0xE2 => match next(1) {
            0x80 => matches!(next(2), 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF),
            0x81 => next(2) == 0x9F,
            _ => false,
        },
        0xE3 => next(1) == 0x80 && next(2) == 0x80,
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A few thousand strings from an alphabet of words, spaces, every kind of whitespace and
    /// characters whose first byte a whitespace character shares, at lengths across the 8-byte
    /// steps of [`is_clean`].
    fn samples() -> Vec<String> {
        const PIECES: [&str; 16] = [
            "a", "Z", " ", "  ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}",
            "\u{2028}", "\u{2013}", "\u{3000}",
        ];
        const MORE: [&str; 6] = ["\u{202F}", "\u{205F}", "\u{200B}", "\u{2019}", "é", "\u{1F600}"];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut out = Vec::new();
        for _ in 0..4000 {
            let mut s = String::new();
            for _ in 0..next(30) {
                s.push_str(match next(4) {
                    0 => MORE[next(MORE.len())],
                    _ => PIECES[next(PIECES.len())],
                });
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn clean_agrees_with_split_whitespace() {
        for s in samples() {
            let expected = s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(is_clean(&s), s == expected, "{s:?}");
            assert_eq!(clean(&s), expected, "{s:?}");
            assert_eq!(clean_cow(Cow::Borrowed(&s)), expected, "{s:?}");
            assert_eq!(clean_cow(Cow::Owned(s.clone())), expected, "{s:?}");
        }
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
