//! A small element tree over quick-xml's event reader, for E-utilities documents whose text
//! mixes in markup (`<i>`, MathML inside `AbstractText`) that serde-based decoding handles badly.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Nesting deeper than this is refused, so a hostile body cannot exhaust the stack on drop.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
    /// Child elements named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }
    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }
    /// Follow a chain of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// All descendant text, concatenated (the XPath string value).
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }
    fn collect_text(&self, out: &mut String) {
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
            }
        }
    }
    /// The cleaned text of the child `name`, if it has any.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|e| crate::text::clean(&e.text())).filter(|s| !s.is_empty())
    }
}

/// Parse a whole document into its root element. Any malformation — including a body cut off
/// before the root closes — is an error.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("malformed XML: {e}"))?;
        match event {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(format!("content after the root element: <{}>", s.name().as_ref()));
            }
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("XML nested too deeply".into());
                }
                stack.push(element(&s)?);
            }
            Event::Empty(s) => {
                let e = element(&s)?;
                attach(&mut stack, &mut root, e);
            }
            Event::End(_) => {
                let e = stack.pop().ok_or("unbalanced end tag")?;
                attach(&mut stack, &mut root, e);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match r.as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => format!("&{other};"),
                    },
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("document ends inside <{}> (truncated)", stack.last().map_or("", |e| e.name.as_str())));
    }
    root.ok_or_else(|| "empty document".to_owned())
}

fn element(s: &quick_xml::events::BytesStart) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in s.attributes().with_checks(false) {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let value =
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| format!("bad attribute value: {e}"))?;
        attrs.push((a.key.local_name().as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element { name: s.local_name().as_ref().to_owned(), attrs, children: Vec::new() })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, e: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None => *root = Some(e),
    }
}

fn push_text(stack: &mut [Element], t: &str) {
    if let Some(parent) = stack.last_mut() {
        match parent.children.last_mut() {
            Some(Node::Text(prev)) => prev.push_str(t),
            _ => parent.children.push(Node::Text(t.to_owned())),
        }
    }
}
