//! Whitespace cleaning: runs of whitespace (line breaks and non-ASCII spaces included, exactly
//! what `char::is_whitespace` takes) collapsed to single spaces, and the ends trimmed — the words
//! of `split_whitespace`, joined with single spaces.

/// Collapse runs of whitespace (line breaks included) to single spaces and trim.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_clean(&mut out, &mut false, s);
    out
}

/// `clean`, with empty results as `None`.
pub fn clean_opt(s: Option<&str>) -> Option<String> {
    s.map(clean).filter(|s| !s.is_empty())
}

/// Append `s` to text being cleaned piece by piece: the same as [`clean`] on all the pieces
/// joined. `gap` carries "whitespace came after the last word" from one piece to the next (start
/// with `false` and an empty `out`).
pub(crate) fn push_clean(out: &mut String, gap: &mut bool, s: &str) {
    *gap |= s.starts_with(char::is_whitespace);
    for (i, word) in s.split_whitespace().enumerate() {
        if !out.is_empty() && (i > 0 || *gap) {
            out.push(' ');
        }
        out.push_str(word);
        *gap = false;
    }
    *gap |= s.ends_with(char::is_whitespace);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few thousand strings from an alphabet of words, spaces, every kind of whitespace and
    /// characters whose first byte a whitespace character shares.
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
            assert_eq!(clean(&s), expected, "{s:?}");
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
}
