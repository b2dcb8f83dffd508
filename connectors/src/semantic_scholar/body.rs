//! Semantic Scholar bodies read straight into structs, each paper made a record as it is read.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess};

use super::S2_PAPER_URL;
use crate::json::{self, Fields, I64, Key, List, Obj, PickSeed, Seed, Str, U64, object};
use crate::record::{Paper, Record};

/// A body: a batch (array), a search page (`data`, `next`) or one paper (`paperId`, ...).
#[derive(Default)]
pub(super) enum Body<'a> {
    #[default]
    Other,
    List(PaperList),
    Object(Box<Top<'a>>),
}

/// An array of papers, each made a record as soon as it is read.
#[derive(Default)]
pub(super) struct PaperList {
    /// Entries in the array, papers or not.
    pub(super) len: usize,
    pub(super) records: Vec<Record>,
}

impl<'de> PaperList {
    fn read<A: SeqAccess<'de>>(mut seq: A, expected: usize) -> Result<Self, A::Error> {
        let mut out = PaperList { len: 0, records: Vec::with_capacity(expected) };
        while let Some(p) = seq.next_element::<Obj<PaperJson>>()? {
            out.len += 1;
            out.records.extend(p.0.and_then(paper));
        }
        Ok(out)
    }
}

/// Reads a body, sizing its list of papers for `expected` of them (the page size asked for).
pub(super) struct BodySeed {
    pub(super) expected: usize,
}

impl<'de> PickSeed<'de> for BodySeed {
    type Value = Body<'de>;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Body<'de>, A::Error> {
        PaperList::read(seq, self.expected).map(Body::List)
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
        let mut top = Top { expected: self.expected, ..Top::default() };
        while let Some(Key(key)) = map.next_key()? {
            top.field(key, &mut map)?;
        }
        Ok(Body::Object(Box::new(top)))
    }
}

/// `data`: `Some` when it is an array.
#[derive(Default)]
pub(super) struct Papers(pub(super) Option<PaperList>);

/// Reads `data`, sized for `expected` papers.
struct PapersSeed {
    expected: usize,
}

impl<'de> PickSeed<'de> for PapersSeed {
    type Value = Papers;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Papers, A::Error> {
        PaperList::read(seq, self.expected).map(|l| Papers(Some(l)))
    }
}

/// A top-level object: a search page's fields, or a paper's.
#[derive(Default)]
pub(super) struct Top<'a> {
    /// Papers `data` is expected to hold.
    expected: usize,
    pub(super) data: Papers,
    pub(super) next: U64,
    pub(super) has_paper_id: bool,
    paper: PaperJson<'a>,
}

impl Top<'_> {
    /// The top-level object read as one paper.
    pub(super) fn paper(self) -> Option<Record> {
        paper(self.paper)
    }
}

impl<'de> Fields<'de> for Top<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        match &*key {
            "data" => self.data = map.next_value_seed(Seed(PapersSeed { expected: self.expected }))?,
            "next" => self.next = map.next_value()?,
            _ => {
                self.has_paper_id |= key == "paperId";
                self.paper.field(key, map)?;
            }
        }
        Ok(())
    }
}

/// The paper fields a record holds: id and title inline, the rest boxed only when the body has
/// any of them (a search for `fields=title` gives just the two).
#[derive(Default)]
struct PaperJson<'a> {
    paper_id: Str<'a>,
    title: Str<'a>,
    more: Option<Box<More<'a>>>,
}

impl<'de> Fields<'de> for PaperJson<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        match &*key {
            "paperId" => self.paper_id = map.next_value()?,
            "title" => self.title = map.next_value()?,
            k if MORE.contains(&k) => self.more.get_or_insert_default().field(key, map)?,
            _ => json::skip(map)?,
        }
        Ok(())
    }
}

/// The keys [`More`] reads.
const MORE: [&str; 12] = [
    "url",
    "abstract",
    "publicationDate",
    "year",
    "authors",
    "externalIds",
    "venue",
    "journal",
    "publicationVenue",
    "openAccessPdf",
    "fieldsOfStudy",
    "s2FieldsOfStudy",
];

object! {
    struct More<'a> {
        "url" => url: Str<'a>,
        "abstract" => abstract_text: Str<'a>,
        "publicationDate" => publication_date: Str<'a>,
        "year" => year: I64,
        "authors" => authors: List<Obj<Named<'a>>>,
        "externalIds" => external_ids: Obj<ExternalIds<'a>>,
        "venue" => venue: Str<'a>,
        "journal" => journal: Obj<Named<'a>>,
        "publicationVenue" => publication_venue: Obj<Named<'a>>,
        "openAccessPdf" => open_access_pdf: Obj<Pdf<'a>>,
        "fieldsOfStudy" => fields_of_study: List<Str<'a>>,
        "s2FieldsOfStudy" => s2_fields_of_study: List<Obj<S2Field<'a>>>,
    }
}

object! {
    /// An author, journal or venue: only its name.
    struct Named<'a> {
        "name" => name: Str<'a>,
    }
}

object! {
    struct ExternalIds<'a> {
        "DOI" => doi: Str<'a>,
    }
}

object! {
    struct Pdf<'a> {
        "url" => url: Str<'a>,
    }
}

object! {
    struct S2Field<'a> {
        "category" => category: Str<'a>,
    }
}

/// The cleaned name of an author, journal or venue.
fn name(o: Obj<Named<'_>>) -> Option<String> {
    o.0?.name.clean()
}

fn paper(p: PaperJson<'_>) -> Option<Record> {
    let id = p.paper_id.get().filter(|s| !s.is_empty())?.to_owned();
    let mut paper = Paper { title: p.title.clean().unwrap_or_default(), ..Paper::default() };
    // A body with ids and titles only (a search for `fields=title`) has nothing more to read.
    let url = match p.more {
        Some(more) => more.fill(&mut paper),
        None => None,
    };
    paper.url = Some(url.unwrap_or_else(|| {
        let mut url = String::with_capacity(S2_PAPER_URL.len() + id.len());
        url.push_str(S2_PAPER_URL);
        url.push_str(&id);
        url
    }));
    paper.source = "semantic_scholar".into();
    paper.id = id;
    Some(Record::Paper(paper))
}

impl More<'_> {
    /// Fill in what a paper holds beyond its id and title; the body's `url`, when it has one.
    fn fill(self, paper: &mut Paper) -> Option<String> {
        paper.authors = self.authors.0.map(|l| l.into_iter().filter_map(name).collect()).unwrap_or_default();
        let year = self.year.0;
        paper.published = self.publication_date.clean().and_then(|d| crate::text::timestamp(&d)).or_else(|| {
            let year = i32::try_from(year?).ok()?;
            crate::text::timestamp(&format!("{year:04}-01-01"))
        });
        paper.doi = self.external_ids.0.and_then(|e| e.doi.clean());
        let (journal, publication_venue) = (self.journal, self.publication_venue);
        paper.venue = self.venue.clean().or_else(|| name(journal)).or_else(|| name(publication_venue));
        paper.pdf_url = self.open_access_pdf.0.and_then(|o| o.url.clean());
        let listed = self.fields_of_study.0.unwrap_or_default().into_iter().filter_map(Str::clean);
        let s2 = self.s2_fields_of_study.0.unwrap_or_default().into_iter().filter_map(|f| f.0?.category.clean());
        for c in listed.chain(s2) {
            if !paper.categories.contains(&c) {
                paper.categories.push(c);
            }
        }
        paper.abstract_text = self.abstract_text.clean();
        self.url.clean()
    }
}
