//! One streaming pass over quick-xml events, for E-utilities documents whose text mixes in markup
//! (`<i>`, MathML inside `AbstractText`) that serde-based decoding handles badly. The events are
//! quick-xml's reader's.
//!
//! The whole document is checked as it goes by: any malformation — a bad attribute anywhere,
//! content after the root, a body cut off before the root closes — is an error, even after the
//! records the caller wanted. Events borrow from the body; text is handed on (line ends
//! normalised, references resolved) only while the [`Handler`] wants it.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

/// Nesting deeper than this is refused, so a hostile body cannot make the walk unbounded.
const MAX_DEPTH: usize = 256;

/// What the walk reports: elements opening (an empty element opens and closes at once), closing,
/// and the text inside them while [`Handler::wants_text`] says so.
pub trait Handler {
    fn open(&mut self, e: &BytesStart);
    fn close(&mut self);
    fn wants_text(&self) -> bool;
    fn text(&mut self, t: &str);
}

/// Walk a whole document into a fresh handler. Text outside the root is never reported.
pub fn walk<H: Handler + Default>(body: &[u8]) -> Result<H, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut h = H::default();
    walk_events(text, &mut h)?;
    Ok(h)
}

/// The walk itself.
fn walk_events<H: Handler>(text: &str, h: &mut H) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut root_done = false;
    loop {
        match reader.read_event().map_err(|e| format!("malformed XML: {e}"))? {
            Event::Start(s) | Event::Empty(s) if root_done => {
                return Err(format!("content after the root element: <{}>", s.name().as_ref()));
            }
            Event::Start(s) => {
                if depth >= MAX_DEPTH {
                    return Err("XML nested too deeply".into());
                }
                check_attrs(&s)?;
                depth += 1;
                h.open(&s);
            }
            Event::Empty(s) => {
                check_attrs(&s)?;
                h.open(&s);
                h.close();
                root_done = depth == 0;
            }
            Event::End(_) => {
                if depth == 0 {
                    return Err("unbalanced end tag".into());
                }
                depth -= 1;
                h.close();
                root_done = depth == 0;
            }
            Event::Text(t) if h.wants_text() => h.text(&t.xml10_content()),
            Event::CData(t) if h.wants_text() => h.text(&t.xml10_content()),
            Event::GeneralRef(r) if h.wants_text() => h.text(&resolve(&r)),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 {
        return Err(format!("document ends inside <{}> (truncated)", innermost_open(text)));
    }
    if !root_done {
        return Err("empty document".into());
    }
    Ok(())
}

/// The value of the first attribute whose local name is `name`, normalised.
pub fn attr(e: &BytesStart, name: &str) -> Option<String> {
    for a in e.attributes().with_checks(false) {
        let a = a.ok()?;
        if a.key.local_name().as_ref() == name {
            return a.normalized_value(XmlVersion::Implicit1_0).ok().map(|v| v.into_owned());
        }
    }
    None
}

/// Every attribute must parse and normalise, whether or not anything reads it.
fn check_attrs(s: &BytesStart) -> Result<(), String> {
    if s.attributes_raw().is_empty() {
        return Ok(());
    }
    for a in s.attributes().with_checks(false) {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("bad attribute value: {e}"))?;
    }
    Ok(())
}

/// A character reference as its character, a predefined entity as its text, anything else as
/// written.
fn resolve(r: &BytesRef) -> String {
    match r.resolve_char_ref() {
        Ok(Some(c)) => c.to_string(),
        _ => match r.as_ref() {
            "amp" => "&".into(),
            "lt" => "<".into(),
            "gt" => ">".into(),
            "quot" => "\"".into(),
            "apos" => "'".into(),
            other => format!("&{other};"),
        },
    }
}

/// The element a truncated document ends inside (error path only: a second pass keeping names).
fn innermost_open(text: &str) -> String {
    let mut reader = Reader::from_str(text);
    let mut open: Vec<String> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(s)) => open.push(s.local_name().as_ref().to_owned()),
            Ok(Event::End(_)) => {
                open.pop();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    open.pop().unwrap_or_default()
}
