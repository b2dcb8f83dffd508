//! One streaming pass over an arXiv Atom feed: quick-xml's `Reader` events in, papers out.
//!
//! It reads a body as quick-xml's `de` with `overlapped-lists` would into `Feed { totalResults,
//! entry* }` and `Entry { id, title, summary, ... }`: fields by local name, and the same failures
//! (a missing `id`/`href`/`term`, a repeated single field, markup inside a text field, an unknown
//! entity where the deserializer unescapes), with text taken verbatim (no trimming; `clean`
//! applied where the record wants it). Strings borrow from the body until a record keeps them.
//! Where a malformed body has several faults, the one named may differ from the deserializer's
//! (it scans ahead for list items first).

use std::borrow::Cow;

use quick_xml::DeError;
use quick_xml::events::BytesStart;
use quick_xml::events::attributes::Attribute;
use quick_xml::reader::Reader;
use serde::de::{Error as _, Unexpected};

use super::events::{Ev, Events, Res};
use crate::record::{Paper, Record};
use crate::text::{clean, clean_opt, timestamp};

/// What a feed holds: the total, the papers, and the summary of its first error entry (if any).
pub struct Feed {
    pub total_results: Option<u64>,
    pub records: Vec<Record>,
    pub refusal: Option<Option<String>>,
}

/// Read a feed.
pub fn parse(body: &[u8]) -> Res<Feed> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().expand_empty_elements = true;
    read(&mut Events::new(reader))
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

/// Which list field of a struct started first: after it, quick-xml's deserializer scans ahead for
/// more of that list, buffering (and so unescaping) every other sibling on the way; this pass
/// refuses what that would.
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

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn static_name(name: &str) -> &'static str {
    ["id", "title", "summary", "published", "updated", "doi", "journal_ref"]
        .into_iter()
        .find(|n| *n == name)
        .unwrap_or("")
}
