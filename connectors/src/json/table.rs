//! [`PlainTable`]: a body read as an array of arrays of strings without serde at all, for tables
//! such as the Census sends.

/// A cell of a [`PlainTable`].
pub(crate) enum PlainCell<'a> {
    Str(&'a str),
    Null,
    /// The row has no more cells.
    End,
}

/// A body read as an array of arrays of strings without escapes and `null`s, with nothing else in
/// it but JSON whitespace: a table such as the Census sends, read without serde. Any other body
/// leaves this shape somewhere, and the reading answers `None` there; what it does accept is
/// JSON, and reads as serde_json reads it.
pub(crate) struct PlainTable<'a> {
    body: &'a str,
    at: usize,
    /// No row read yet.
    first_row: bool,
    /// No cell of the current row read yet.
    first_cell: bool,
}

impl<'a> PlainTable<'a> {
    /// The table, if `body` is UTF-8 and opens an array.
    pub(crate) fn new(body: &'a [u8]) -> Option<Self> {
        let body = std::str::from_utf8(body).ok()?;
        let mut t = PlainTable { body, at: 0, first_row: true, first_cell: true };
        t.whitespace();
        (t.bump()? == b'[').then_some(t)
    }

    /// Open the next row: `Some(true)`, or `Some(false)` at the end of the table (and of the
    /// body).
    pub(crate) fn next_row(&mut self) -> Option<bool> {
        self.whitespace();
        let first = std::mem::replace(&mut self.first_row, false);
        match self.bump()? {
            b']' => {
                self.whitespace();
                return (self.at == self.body.len()).then_some(false);
            }
            b',' if !first => {
                self.whitespace();
                if self.bump()? != b'[' {
                    return None;
                }
            }
            b'[' if first => {}
            _ => return None,
        }
        self.first_cell = true;
        Some(true)
    }

    /// The next cell of the open row.
    pub(crate) fn next_cell(&mut self) -> Option<PlainCell<'a>> {
        let b = self.body.as_bytes();
        let mut i = skip_whitespace(b, self.at);
        if !std::mem::replace(&mut self.first_cell, false) {
            match b.get(i)? {
                b']' => {
                    self.at = i + 1;
                    return Some(PlainCell::End);
                }
                b',' => i = skip_whitespace(b, i + 1),
                _ => return None,
            }
        } else if b.get(i) == Some(&b']') {
            self.at = i + 1;
            return Some(PlainCell::End);
        }
        match b.get(i)? {
            b'"' => {
                let start = i + 1;
                let len = b.get(start..)?.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
                if b.get(start + len) != Some(&b'"') {
                    return None;
                }
                self.at = start + len + 1;
                self.body.get(start..start + len).map(PlainCell::Str)
            }
            b'n' if b.get(i + 1..i + 4) == Some(b"ull") => {
                self.at = i + 4;
                Some(PlainCell::Null)
            }
            _ => None,
        }
    }

    fn bump(&mut self) -> Option<u8> {
        let b = *self.body.as_bytes().get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn whitespace(&mut self) {
        self.at = skip_whitespace(self.body.as_bytes(), self.at);
    }
}

/// Where the JSON whitespace from `i` on ends.
fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tables_are_read_and_anything_else_refused() {
        let mut t = PlainTable::new(b" [[\"a\", null],\n [\"b\",\"c\"] ] ").unwrap();
        assert_eq!(t.next_row(), Some(true));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("a"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::Null)));
        assert!(matches!(t.next_cell(), Some(PlainCell::End)));
        assert_eq!(t.next_row(), Some(true));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("b"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::Str("c"))));
        assert!(matches!(t.next_cell(), Some(PlainCell::End)));
        assert_eq!(t.next_row(), Some(false));
        let refused = |body: &[u8]| {
            let Some(mut t) = PlainTable::new(body) else { return true };
            while let Some(more) = t.next_row() {
                if !more {
                    return false;
                }
                loop {
                    match t.next_cell() {
                        None => return true,
                        Some(PlainCell::End) => break,
                        Some(_) => {}
                    }
                }
            }
            true
        };
        assert!(!refused(b"[]") && !refused(b"[[]]") && !refused(b"[[\"x\"],[]]"));
        for body in [
            &b"[[\"a\\n\"]]"[..],
            b"[[1]]",
            b"[[\"a\",]]",
            b"[[\"a\"],]",
            b"[[\"a\"]] x",
            b"[[\"a\"]",
            b"[{}]",
            b"{}",
            b"[[nul]]",
            b"[[\"\xff\"]]",
            b"\xef\xbb\xbf[[]]",
            b"[[\"a\x01\"]]",
            b"[,[]]",
            b"[[,\"a\"]]",
        ] {
            assert!(refused(body), "{}", String::from_utf8_lossy(body));
        }
    }
}
