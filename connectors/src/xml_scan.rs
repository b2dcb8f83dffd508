//! A fast path for reading plain XML: the events quick-xml's `Reader<&[u8]>` yields (default
//! settings, optionally `expand_empty_elements`), for bodies written the way upstreams write them.
//!
//! quick-xml checks every piece it hands out for UTF-8 and carries state for everything XML
//! allows; most bodies need neither. The scanner checks the whole body once, finds markup eight
//! bytes at a time, and builds the very same events borrowing from the body. It never reports an
//! error: wherever quick-xml would fail, or where matching it exactly would take more than plain
//! markup (comments, CDATA, processing instructions, a byte-order mark, a dangling `&`,
//! mismatched or unmatched end tags, a cut-off tag), it gives up with [`Unsure`] — and gives up
//! again on every later call — and the caller reads the whole body again with quick-xml. So
//! whatever the scanner yields is what quick-xml yields, and every error still comes from
//! quick-xml.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesDecl, BytesEnd, BytesRef, BytesStart, BytesText, Event};

/// The scanner cannot vouch for what quick-xml would do next.
#[derive(Debug)]
pub(crate) struct Unsure;

pub(crate) struct Scanner<'a> {
    /// The whole body, known to be UTF-8.
    s: &'a str,
    /// Where reading continues.
    pos: usize,
    /// Names of the open elements, innermost last (quick-xml checks end tags against them).
    open: Vec<&'a str>,
    /// With `expand_empty_elements`: an empty element was reported as a start, its end is next.
    pending_end: Option<&'a str>,
    /// Report `<a/>` as a start and an end, as quick-xml's `expand_empty_elements` does.
    expand_empty: bool,
    /// Set once unsure; the scanner stays so.
    unsure: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner for a body already known to be UTF-8, or `None` when quick-xml should read it
    /// from the start (it strips a byte-order mark).
    pub(crate) fn new(s: &'a str, expand_empty: bool) -> Option<Scanner<'a>> {
        if s.starts_with('\u{feff}') {
            return None;
        }
        Some(Scanner { s, pos: 0, open: Vec::new(), pending_end: None, expand_empty, unsure: false })
    }

    /// The next event, as `Reader::read_event` would return it.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Result<Event<'a>, Unsure> {
        if self.unsure {
            return Err(Unsure);
        }
        let event = self.event();
        self.unsure = event.is_err();
        event
    }

    /// `Reader::read_to_end(name)`: events up to the end of the element `name` just started.
    pub(crate) fn read_to_end(&mut self, name: &str) -> Result<(), Unsure> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Event::Start(e) if e.name().as_ref() == name => depth += 1,
                Event::End(e) if e.name().as_ref() == name => {
                    if depth == 0 {
                        return Ok(());
                    }
                    depth -= 1;
                }
                // quick-xml fails here; let it say how.
                Event::Eof => {
                    self.unsure = true;
                    return Err(Unsure);
                }
                _ => {}
            }
        }
    }

    #[inline(always)]
    fn event(&mut self) -> Result<Event<'a>, Unsure> {
        if let Some(name) = self.pending_end.take() {
            return Ok(Event::End(BytesEnd::new(name)));
        }
        let (s, b, at) = (self.s, self.s.as_bytes(), self.pos);
        match b.get(at) {
            None => Ok(Event::Eof),
            Some(b'<') => self.markup(),
            Some(b'&') => {
                // A reference runs to `;`, unless `&` or `<` comes first (quick-xml's error).
                let end = find(b, at + 1, [b';', b'&', b'<']).filter(|&i| b[i] == b';').ok_or(Unsure)?;
                self.pos = end + 1;
                Ok(Event::GeneralRef(BytesRef::new(s.get(at + 1..end).ok_or(Unsure)?)))
            }
            Some(_) => {
                let end = find(b, at, [b'<', b'&']).unwrap_or(b.len());
                self.pos = end;
                Ok(Event::Text(BytesText::from_escaped(s.get(at..end).ok_or(Unsure)?)))
            }
        }
    }

    /// A tag, or the XML declaration, or a document type declaration, at `<`.
    #[inline(always)]
    fn markup(&mut self) -> Result<Event<'a>, Unsure> {
        let (s, b, at) = (self.s, self.s.as_bytes(), self.pos);
        match b.get(at + 1) {
            Some(b'/') => {
                let end = end_tag_end(b, at).ok_or(Unsure)?;
                let name = s.get(at + 2..end).ok_or(Unsure)?;
                // quick-xml trims the name and compares it with the open element's.
                if self.open.pop() != Some(name) {
                    return Err(Unsure);
                }
                self.pos = end + 1;
                Ok(Event::End(BytesEnd::new(name)))
            }
            Some(b'?') => {
                // The first `>` after a `?` closes it; only the declaration is read here.
                let end = (at + 2..b.len()).find(|&i| b[i] == b'>' && b[i - 1] == b'?').ok_or(Unsure)?;
                let content = s.get(at + 2..end - 1).ok_or(Unsure)?;
                let decl = content.strip_prefix("xml").is_some_and(|r| r.is_empty() || r.starts_with(is_space));
                if end - at < 3 || !decl {
                    return Err(Unsure);
                }
                self.pos = end + 1;
                Ok(Event::Decl(BytesDecl::from_start(BytesStart::from_content(content, 3))))
            }
            Some(b'!') => {
                let end = doctype_end(b, at).ok_or(Unsure)?;
                let content = s.get(at + 9..end).ok_or(Unsure)?.trim_start_matches(is_space);
                if content.is_empty() {
                    return Err(Unsure);
                }
                self.pos = end + 1;
                Ok(Event::DocType(BytesText::from_escaped(content)))
            }
            Some(_) => {
                let end = tag_end(b, at).ok_or(Unsure)?;
                self.pos = end + 1;
                let (content, empty) = match s.get(at + 1..end).ok_or(Unsure)? {
                    c if c.ends_with('/') => (c.get(..c.len() - 1).ok_or(Unsure)?, true),
                    c => (c, false),
                };
                let name_len = content.find(is_space).unwrap_or(content.len());
                let start = BytesStart::from_content(content, name_len);
                let name = content.get(..name_len).ok_or(Unsure)?;
                if !empty {
                    self.open.push(name);
                    Ok(Event::Start(start))
                } else if self.expand_empty {
                    self.pending_end = Some(name);
                    Ok(Event::Start(start))
                } else {
                    Ok(Event::Empty(start))
                }
            }
            None => Err(Unsure),
        }
    }
}

/// `BytesText::xml_content`, cheaper in the commonest case: XML 1.0 text from a body with no
/// carriage return anywhere (`any_cr` false) needs no change.
pub(crate) fn text_content(t: BytesText<'_>, version: XmlVersion, any_cr: bool) -> Cow<'_, str> {
    if any_cr || matches!(version, XmlVersion::Explicit1_1) {
        return t.xml_content(version);
    }
    t.into_inner()
}

/// XML's whitespace, as quick-xml counts it.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The `>` closing the start tag at `at`: the first outside quotes, as quick-xml finds it.
fn tag_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i = find(b, i, [b'>', b'"', b'\''])?;
        let c = *b.get(i)?;
        if c == b'>' {
            return Some(i);
        }
        i = find(b, i + 1, [c, c, c])? + 1;
    }
}

/// The `>` closing the end tag at `at`, when only a name comes before it (no spaces, no quotes).
fn end_tag_end(b: &[u8], at: usize) -> Option<usize> {
    let i =
        at + 2 + b.get(at + 2..)?.iter().position(|&c| matches!(c, b'>' | b'"' | b'\'') || c.is_ascii_whitespace())?;
    (b[i] == b'>').then_some(i)
}

/// The `>` closing a `<!DOCTYPE ...>` at `at` without an internal subset; `None` for anything
/// else after `<!` (comments, CDATA, a subset).
fn doctype_end(b: &[u8], at: usize) -> Option<usize> {
    if !b.get(at..at + 9)?.eq_ignore_ascii_case(b"<!DOCTYPE") {
        return None;
    }
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(at + 9) {
        match (quote, c) {
            (None, b'>') => return Some(i),
            (None, b'[') => return None,
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            _ => {}
        }
    }
    None
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// High bits set in the bytes of `x` equal to `c`. Exact for the lowest such byte, which is all
/// the searches below use (a borrow can only flag a byte above a true match).
fn eq_mask(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * u64::from(c));
    y.wrapping_sub(ONES) & !y & HIGH
}

/// The first of the bytes `cs` at or after `from`, eight bytes at a time.
fn find<const N: usize>(b: &[u8], from: usize, cs: [u8; N]) -> Option<usize> {
    let mut i = from;
    while let Some(w) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*w);
        let m = cs.iter().fold(0, |m, &c| m | eq_mask(x, c));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|c| cs.contains(c)).map(|k| i + k)
}

#[cfg(test)]
mod tests {
    use quick_xml::reader::Reader;

    use super::Scanner;

    /// Whatever the scanner yields, quick-xml yields the same, event for event, up to the end or
    /// to where the scanner gives up.
    fn agrees(body: &str) {
        for expand in [false, true] {
            let Some(mut scan) = Scanner::new(body, expand) else { continue };
            let mut reader = Reader::from_str(body);
            reader.config_mut().expand_empty_elements = expand;
            while let Ok(ours) = scan.next() {
                let eof = matches!(ours, quick_xml::events::Event::Eof);
                assert_eq!(reader.read_event().ok(), Some(ours), "{body:?} (expand: {expand})");
                if eof {
                    break;
                }
            }
        }
    }

    #[test]
    fn agrees_with_quick_xml_on_odd_markup() {
        for body in [
            "",
            "text only",
            "<a/>",
            "<a />",
            "<a b='>'>x</a>",
            "<a b=\"'\" c='\"'>x</a>",
            "<a b=\"1\"c=\"2\"/>",
            "<a\tb = '1'\n/>",
            "< a></ a>",
            "<></>",
            "<a></a >",
            "<a></b>",
            "</a>",
            "<a>",
            "<a",
            "<",
            "<a>x &amp; y &#65;&#x42; &unknown; &; z</a>",
            "<a>x & y</a>",
            "<a>x &amp</a>",
            "<a>&amp",
            "<a>\r\nx\ry</a>",
            "<?xml version=\"1.0\"?><a/>",
            "<?xml version='1.1' encoding='UTF-8'?>\n<a/>",
            "<?xml?><a/>",
            "<?xmlx?><a/>",
            "<?>",
            "<??>",
            "<?pi x?><a/>",
            "<!-- c --><a/>",
            "<a><![CDATA[x<y]]></a>",
            "<!DOCTYPE a><a/>",
            "<!doctype a><a/>",
            "<!DOCTYPE a PUBLIC \"x>y\" 'z'><a/>",
            "<!DOCTYPE a [<!ELEMENT a ANY>]><a/>",
            "<!DOCTYPE ><a/>",
            "<!DOCTYPE>",
            "<!X>",
            "\u{feff}<a/>",
            "<a>é\u{a0}–</a>",
            "<a:b xmlns:a='u'><a:c/></a:b>",
            "<a/><b/>trailing",
            "<a><b></a></b>",
        ] {
            agrees(body);
        }
    }

    /// The recorded XML bodies are plain enough for the scanner to read whole.
    #[test]
    fn reads_recorded_bodies_whole() {
        let dir = crate::fixtures::dir();
        for upstream in ["arxiv", "pubmed"] {
            let files = std::fs::read_dir(dir.join(upstream)).expect("the recorded XML bodies");
            for path in files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|e| e == "xml")) {
                let body = std::fs::read_to_string(&path).expect("UTF-8 fixture");
                for expand in [false, true] {
                    let mut scan = Scanner::new(&body, expand).expect("no byte-order mark");
                    while !matches!(scan.next(), Ok(quick_xml::events::Event::Eof)) {
                        assert!(!scan.unsure, "{} (expand: {expand})", path.display());
                    }
                }
            }
        }
    }

    /// Every recorded body, and many damaged copies of each.
    #[test]
    fn agrees_with_quick_xml_on_fixtures() {
        let dir = crate::fixtures::dir();
        let upstreams = std::fs::read_dir(&dir).expect("the recorded bodies");
        let pieces: [&[u8]; 12] =
            [b"<", b">", b"/", b"&", b"'", b"\"", b"<x>", b"</x>", b"<x/>", b"&amp;", b"<!-- -->", b"\r\n"];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        for file in upstreams.flatten().filter_map(|d| std::fs::read_dir(d.path()).ok()).flatten().flatten() {
            let Ok(body) = std::fs::read(file.path()) else { continue };
            if let Ok(text) = std::str::from_utf8(&body) {
                agrees(text);
            }
            for _ in 0..150 {
                let mut b = body.clone();
                let at = rand(b.len() + 1);
                match rand(3) {
                    0 => b.truncate(at),
                    1 => drop(b.splice(at..at, pieces[rand(pieces.len())].iter().copied())),
                    _ => drop(b.drain(at..(at + rand(40)).min(b.len()))),
                }
                if let Ok(text) = std::str::from_utf8(&b) {
                    agrees(text);
                }
            }
        }
    }
}
