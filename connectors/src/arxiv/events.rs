//! The event layer under the Atom parser (`atom.rs`): quick-xml's `Reader` events, with comments
//! dropped and text, CDATA and references merged into runs; plus walking children, field text and
//! skipping subtrees.

use std::borrow::Cow;

use quick_xml::DeError;
use quick_xml::XmlVersion;
use quick_xml::errors::{Error, IllFormedError};
use quick_xml::escape::{EscapeError, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::reader::Reader;

pub(super) type Res<T> = Result<T, DeError>;

/// A merged run of text (text, CDATA and references, across comments), or a tag.
pub(super) enum Ev<'a> {
    Start(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
    Eof,
}

pub(super) struct Events<'a> {
    reader: Reader<&'a [u8]>,
    pending: Option<Event<'a>>,
    pub(super) version: XmlVersion,
}

impl<'a> Events<'a> {
    pub(super) fn new(reader: Reader<&'a [u8]>) -> Self {
        Events { reader, pending: None, version: XmlVersion::Implicit1_0 }
    }

    /// The next child element of `parent`, or `None` at its end. Text between children is
    /// unescaped (and so checked) but dropped.
    pub(super) fn child(&mut self, parent: &BytesStart<'a>) -> Res<Option<BytesStart<'a>>> {
        loop {
            match self.next(true)? {
                Ev::Text(_) => {}
                Ev::Start(s) => return Ok(Some(s)),
                Ev::End => return Ok(None),
                Ev::Eof => return Err(missed_end(parent)),
            }
        }
    }

    /// Children of a struct with no element fields: each skipped.
    pub(super) fn skip_children(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<()> {
        while let Some(child) = self.child(start)? {
            self.skip(&child, resolve)?;
        }
        Ok(())
    }

    /// The text content of a field element; markup inside is an error.
    pub(super) fn text(&mut self, start: &BytesStart<'a>) -> Res<Cow<'a, str>> {
        let text = match self.next(true)? {
            Ev::Text(t) => t,
            Ev::End => return Ok(Cow::Borrowed("")),
            Ev::Start(s) => return Err(DeError::MixedContent(s.name().into_inner().to_owned())),
            Ev::Eof => return Err(missed_end(start)),
        };
        match self.next(true)? {
            Ev::End => Ok(text),
            Ev::Start(s) => Err(DeError::MixedContent(s.name().into_inner().to_owned())),
            Ev::Text(_) | Ev::Eof => Err(missed_end(start)),
        }
    }

    /// Skip the rest of the element `start`; with `resolve`, references inside are checked.
    pub(super) fn skip(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<()> {
        if !resolve {
            // As the deserializer did: one event read ahead, then the reader's own skipping.
            let name = start.name();
            match self.raw()? {
                Event::End(_) => {}
                Event::Start(s) if s.name() == name => {
                    let first = self.read_to_end(name);
                    let second = self.read_to_end(name);
                    first?;
                    second?;
                }
                _ => {
                    self.read_to_end(name)?;
                }
            }
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            match self.next(resolve)? {
                Ev::Start(_) => depth += 1,
                Ev::End if depth == 0 => return Ok(()),
                Ev::End => depth -= 1,
                Ev::Text(_) => {}
                Ev::Eof => return Err(missed_end(start)),
            }
        }
    }

    fn read_to_end(&mut self, name: QName<'_>) -> Res<()> {
        self.reader.read_to_end(name).map(drop).map_err(DeError::from)
    }

    /// The next event that matters (comments and processing instructions dropped).
    #[inline(always)]
    fn raw(&mut self) -> Res<Event<'a>> {
        if let Some(e) = self.pending.take() {
            return Ok(e);
        }
        loop {
            match self.reader.read_event()? {
                Event::Decl(d) => self.version = d.xml_version()?,
                Event::Comment(_) | Event::PI(_) => {}
                e => return Ok(e),
            }
        }
    }

    /// The next tag or merged text run. Without `resolve`, text is neither unescaped nor kept.
    #[inline(always)]
    pub(super) fn next(&mut self, resolve: bool) -> Res<Ev<'a>> {
        let mut text: Option<Cow<'a, str>> = None;
        loop {
            let event = self.raw()?;
            let piece = match event {
                Event::Text(t) => t.xml_content(self.version),
                Event::CData(t) => t.xml_content(self.version),
                Event::GeneralRef(r) if resolve => {
                    let name = r.as_ref();
                    let s: Cow<'a, str> = match r.resolve_char_ref()? {
                        Some(c) => Cow::Owned(c.to_string()),
                        None => match resolve_predefined_entity(name) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                let err = EscapeError::UnrecognizedEntity(0..r.len(), name.to_owned());
                                return Err(err.into());
                            }
                        },
                    };
                    s
                }
                Event::GeneralRef(_) => Cow::Borrowed(""),
                Event::DocType(_) => continue,
                other => {
                    if let Some(t) = text {
                        self.pending = Some(other);
                        return Ok(Ev::Text(t));
                    }
                    return Ok(match other {
                        Event::Start(s) => Ev::Start(s),
                        Event::Empty(s) => {
                            self.pending = Some(Event::End(s.to_end().into_owned()));
                            Ev::Start(s)
                        }
                        Event::End(_) => Ev::End,
                        _ => Ev::Eof,
                    });
                }
            };
            text = Some(match text {
                None => piece,
                Some(t) if piece.is_empty() => t,
                Some(t) if t.is_empty() => piece,
                Some(t) => Cow::Owned(t.into_owned() + &piece),
            });
        }
    }
}

fn missed_end(start: &BytesStart<'_>) -> DeError {
    Error::IllFormed(IllFormedError::MissingEndTag(start.name().into_inner().to_owned())).into()
}
