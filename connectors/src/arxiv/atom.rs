//! One streaming pass over an arXiv Atom feed: quick-xml events in, papers out. The events come
//! from the fast scanner (`crate::xml_scan`); where it is unsure, the feed is read again from
//! the start with quick-xml's `Reader`, so a body gets quick-xml's reading (and errors) either way.
//!
//! It reads a body as the serde mapping it replaced did (quick-xml's `de` with `overlapped-lists`,
//! into `Feed { totalResults, entry* }` and `Entry { id, title, summary, ... }`): the same fields
//! by local name, the same failures (a missing `id`/`href`/`term`, a repeated single field, markup
//! inside a text field, an unknown entity where the deserializer unescaped), and text taken
//! verbatim (no trimming; `clean` applied where the record wants it). Strings borrow from the body
//! until a record keeps them. One difference, in messages only: where a malformed body has several
//! faults, the one named may differ (the deserializer scanned ahead for list items first).

use std::borrow::Cow;

use quick_xml::DeError;
use quick_xml::XmlVersion;
use quick_xml::errors::{Error, IllFormedError};
use quick_xml::escape::{EscapeError, resolve_predefined_entity};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::reader::Reader;
use serde::de::{Error as _, Unexpected};

use crate::record::{Paper, Record};
use crate::text::{clean, clean_opt, timestamp};
use crate::xml_scan::{Scanner, text_content};

/// What a feed holds: the total, the papers, and the summary of its first error entry (if any).
pub struct Feed {
    pub total_results: Option<u64>,
    pub records: Vec<Record>,
    pub refusal: Option<Option<String>>,
}

type Res<T> = Result<T, DeError>;

/// A merged run of text (text, CDATA and references, across comments), or a tag.
enum Ev<'a> {
    Start(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
    Eof,
}

/// Where events come from: the fast scanner, or quick-xml's reader (see [`parse`]).
enum Source<'a> {
    Fast(Scanner<'a>),
    Quick(Reader<&'a [u8]>),
}

struct Events<'a> {
    source: Source<'a>,
    pending: Option<Event<'a>>,
    version: XmlVersion,
    /// The scanner gave up; what was read from it counts for nothing.
    unsure: bool,
    /// Whether the body may hold a carriage return (text then needs its line ends normalised).
    any_cr: bool,
}

impl<'a> Events<'a> {
    fn new(source: Source<'a>, any_cr: bool) -> Self {
        Events { source, pending: None, version: XmlVersion::Implicit1_0, unsure: false, any_cr }
    }
}

/// Read a feed. The fast scanner reads first; where it is unsure, quick-xml reads the whole body
/// again, so the result is quick-xml's either way.
pub fn parse(body: &[u8]) -> Res<Feed> {
    if let Ok(text) = std::str::from_utf8(body)
        && let Some(scanner) = Scanner::new(text, true)
    {
        let mut ev = Events::new(Source::Fast(scanner), text.contains('\r'));
        let feed = read(&mut ev);
        if !ev.unsure {
            return feed;
        }
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().expand_empty_elements = true;
    read(&mut Events::new(Source::Quick(reader), true))
}

fn read(ev: &mut Events<'_>) -> Res<Feed> {
    let root = loop {
        match ev.next(true)? {
            Ev::Text(t) if t.trim_matches(is_xml_space).is_empty() => continue,
            Ev::Text(t) => return Err(DeError::invalid_type(Unexpected::Str(&t), &"struct Feed")),
            Ev::Start(s) => break s,
            Ev::End | Ev::Eof => return Err(DeError::UnexpectedEof),
        }
    };
    let mut feed = Feed { total_results: None, records: Vec::new(), refusal: None };
    let mut seen_total = false;
    let mut list = Lists::default();
    check_attrs(&root, |_, _| Ok(()))?;
    while let Some(child) = ev.child(&root)? {
        let resolve = list.resolve(&child, &["entry"]);
        match child.local_name().into_inner() {
            "totalResults" => {
                if std::mem::replace(&mut seen_total, true) {
                    return Err(DeError::duplicate_field("totalResults"));
                }
                let text = ev.text(&child)?;
                let n = text.trim_matches(is_xml_space).parse::<u64>();
                feed.total_results = Some(n.map_err(|_| DeError::invalid_type(Unexpected::Str(&text), &"u64"))?);
            }
            "entry" => {
                let (paper, refusal) = ev.entry(&child, resolve)?;
                if feed.refusal.is_none() && refusal.is_some() {
                    feed.refusal = refusal;
                }
                feed.records.push(paper);
            }
            _ => ev.skip(&child, resolve)?,
        }
    }
    Ok(feed)
}

/// Which list field of a struct started first: after it, the old deserializer scanned ahead for
/// more of that list, buffering (and so unescaping) every other sibling on the way.
#[derive(Default)]
struct Lists<'n> {
    first: Option<&'n str>,
}

impl<'n> Lists<'n> {
    /// Whether the subtree `child` is read with its text unescaped, given the struct's lists.
    fn resolve(&mut self, child: &BytesStart<'_>, names: &[&'n str]) -> bool {
        let name = child.local_name().into_inner();
        match self.first {
            Some(first) => first != name,
            None => {
                self.first = names.iter().copied().find(|l| *l == name);
                false
            }
        }
    }
}

#[derive(Default)]
struct Entry<'a> {
    id: Option<Cow<'a, str>>,
    title: Option<Cow<'a, str>>,
    summary: Option<Cow<'a, str>>,
    published: Option<Cow<'a, str>>,
    updated: Option<Cow<'a, str>>,
    doi: Option<Cow<'a, str>>,
    journal_ref: Option<Cow<'a, str>>,
    primary: Option<Cow<'a, str>>,
    url: Option<Cow<'a, str>>,
    pdf_url: Option<Cow<'a, str>>,
    authors: Vec<String>,
    categories: Vec<Cow<'a, str>>,
}

impl<'a> Events<'a> {
    /// One `<entry>`: its paper, and `Some(summary)` if it is an error entry.
    fn entry(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<(Record, Option<Option<String>>)> {
        check_attrs(start, |_, _| Ok(()))?;
        let mut e = Entry::default();
        let mut list = Lists::default();
        while let Some(child) = self.child(start)? {
            let resolve = resolve || list.resolve(&child, &["author", "link", "category"]);
            let name = child.local_name().into_inner();
            let slot = match name {
                "id" => &mut e.id,
                "title" => &mut e.title,
                "summary" => &mut e.summary,
                "published" => &mut e.published,
                "updated" => &mut e.updated,
                "doi" => &mut e.doi,
                "journal_ref" => &mut e.journal_ref,
                "primary_category" => {
                    if e.primary.is_some() {
                        return Err(DeError::duplicate_field("primary_category"));
                    }
                    e.primary = Some(self.category(&child, resolve)?);
                    continue;
                }
                "category" => {
                    let term = self.category(&child, resolve)?;
                    e.categories.push(term);
                    continue;
                }
                "author" => {
                    let name = self.author(&child, resolve)?;
                    e.authors.push(clean(&name));
                    continue;
                }
                "link" => {
                    self.link(&child, resolve, &mut e)?;
                    continue;
                }
                _ => {
                    self.skip(&child, resolve)?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(DeError::duplicate_field(static_name(name)));
            }
            *slot = Some(self.text(&child)?);
        }
        let id = e.id.ok_or_else(|| DeError::missing_field("id"))?;
        let refusal = id.contains("/api/errors").then(|| e.summary.clone().map(Cow::into_owned));
        let mut categories: Vec<String> = e.primary.into_iter().map(Cow::into_owned).collect();
        for c in e.categories {
            if !categories.iter().any(|k| *k == c) {
                categories.push(c.into_owned());
            }
        }
        let short = id.rsplit_once("/abs/").map_or(&*id, |(_, id)| id).to_owned();
        let paper = Paper {
            source: "arxiv".into(),
            id: short,
            title: clean(e.title.as_deref().unwrap_or("")),
            authors: e.authors,
            published: e.published.as_deref().and_then(timestamp),
            updated: e.updated.as_deref().and_then(timestamp),
            abstract_text: clean_opt(e.summary.as_deref()),
            doi: clean_opt(e.doi.as_deref()),
            url: Some(e.url.unwrap_or(id).into_owned()),
            categories,
            venue: clean_opt(e.journal_ref.as_deref()),
            pdf_url: e.pdf_url.map(Cow::into_owned),
        };
        Ok((Record::Paper(paper), refusal))
    }

    /// An `<author>`: its `name` (empty when missing).
    fn author(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<Cow<'a, str>> {
        check_attrs(start, |_, _| Ok(()))?;
        let mut name = None;
        while let Some(child) = self.child(start)? {
            if child.local_name().into_inner() == "name" {
                if name.is_some() {
                    return Err(DeError::duplicate_field("name"));
                }
                name = Some(self.text(&child)?);
            } else {
                self.skip(&child, resolve)?;
            }
        }
        Ok(name.unwrap_or_default())
    }

    /// A `<link>`: its `href` becomes the entry's URL (`rel="alternate"`) or PDF URL.
    fn link(&mut self, start: &BytesStart<'a>, resolve: bool, e: &mut Entry<'a>) -> Res<()> {
        let version = self.version;
        // Of a key repeated under different prefixes the last counts, as for a struct field.
        let (mut href, mut alternate, mut title_pdf, mut type_pdf) = (None, false, false, false);
        check_attrs(start, |key, a| {
            match key {
                "href" => href = Some(a.normalized_value(version)?.into_owned()),
                "rel" => alternate = a.normalized_value(version)? == "alternate",
                "title" => title_pdf = a.normalized_value(version)? == "pdf",
                "type" => type_pdf = a.normalized_value(version)? == "application/pdf",
                _ => {}
            }
            Ok(())
        })?;
        self.skip_children(start, resolve)?;
        let href = href.ok_or_else(|| DeError::missing_field("@href"))?;
        if e.url.is_none() && alternate {
            e.url = Some(Cow::Owned(href.clone()));
        }
        if e.pdf_url.is_none() && (title_pdf || type_pdf) {
            e.pdf_url = Some(Cow::Owned(href));
        }
        Ok(())
    }

    /// A `<category>` or `<arxiv:primary_category>`: its `term`.
    fn category(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<Cow<'a, str>> {
        let version = self.version;
        let mut term = None;
        check_attrs(start, |key, a| {
            if key == "term" {
                term = Some(Cow::Owned(a.normalized_value(version)?.into_owned()));
            }
            Ok(())
        })?;
        self.skip_children(start, resolve)?;
        term.ok_or_else(|| DeError::missing_field("@term"))
    }

    /// The next child element of `parent`, or `None` at its end. Text between children is
    /// unescaped (and so checked) but dropped.
    fn child(&mut self, parent: &BytesStart<'a>) -> Res<Option<BytesStart<'a>>> {
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
    fn skip_children(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<()> {
        while let Some(child) = self.child(start)? {
            self.skip(&child, resolve)?;
        }
        Ok(())
    }

    /// The text content of a field element; markup inside is an error.
    fn text(&mut self, start: &BytesStart<'a>) -> Res<Cow<'a, str>> {
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
    fn skip(&mut self, start: &BytesStart<'a>, resolve: bool) -> Res<()> {
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

    /// `Reader::read_to_end` on either source.
    fn read_to_end(&mut self, name: QName<'_>) -> Res<()> {
        match &mut self.source {
            Source::Quick(reader) => reader.read_to_end(name).map(drop).map_err(DeError::from),
            Source::Fast(scanner) => scanner.read_to_end(name.as_ref()).map_err(|_| self.gave_up()),
        }
    }

    /// Note that the scanner gave up; the error only unwinds the read, which starts again.
    fn gave_up(&mut self) -> DeError {
        self.unsure = true;
        DeError::Custom("scanner unsure".into())
    }

    /// The next event that matters (comments and processing instructions dropped).
    #[inline(always)]
    fn raw(&mut self) -> Res<Event<'a>> {
        if let Some(e) = self.pending.take() {
            return Ok(e);
        }
        loop {
            let event = match &mut self.source {
                Source::Quick(reader) => reader.read_event()?,
                Source::Fast(scanner) => scanner.next().map_err(|_| self.gave_up())?,
            };
            match event {
                Event::Decl(d) => self.version = d.xml_version()?,
                Event::Comment(_) | Event::PI(_) => {}
                e => return Ok(e),
            }
        }
    }

    /// The next tag or merged text run. Without `resolve`, text is neither unescaped nor kept.
    #[inline(always)]
    fn next(&mut self, resolve: bool) -> Res<Ev<'a>> {
        let mut text: Option<Cow<'a, str>> = None;
        loop {
            let event = self.raw()?;
            let piece = match event {
                Event::Text(t) => text_content(t, self.version, self.any_cr),
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

/// Every attribute of a struct element is read as a key (so malformed or repeated attributes are
/// errors); `f` gets each local name and the attribute, to unescape the values it reads.
fn check_attrs(start: &BytesStart<'_>, mut f: impl FnMut(&str, &Attribute<'_>) -> Res<()>) -> Res<()> {
    for a in start.attributes() {
        let a = a?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        f(a.key.local_name().into_inner(), &a)?;
    }
    Ok(())
}

fn missed_end(start: &BytesStart<'_>) -> DeError {
    Error::IllFormed(IllFormedError::MissingEndTag(start.name().into_inner().to_owned())).into()
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn static_name(name: &str) -> &'static str {
    ["id", "title", "summary", "published", "updated", "doi", "journal_ref"]
        .into_iter()
        .find(|n| *n == name)
        .unwrap_or("")
}
