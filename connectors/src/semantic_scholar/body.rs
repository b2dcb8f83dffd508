//! Semantic Scholar bodies read straight into structs, each paper made a record as it is read.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess};

use super::S2_PAPER_URL;
use crate::json::{self, Fields, I64, List, Obj, Pick, Str, U64, object};
use crate::record::{Paper, Record};
use crate::text::{clean, clean_opt};

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
    fn read<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut out = PaperList { len: 0, records: Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000)) };
        while let Some(p) = seq.next_element::<Obj<PaperJson>>()? {
            out.len += 1;
            out.records.extend(p.0.as_ref().and_then(paper));
        }
        Ok(out)
    }
}

/// `data`: `Some` when it is an array.
#[derive(Default)]
pub(super) struct Papers(pub(super) Option<PaperList>);

impl<'de> Pick<'de> for Papers {
    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        PaperList::read(seq).map(|l| Papers(Some(l)))
    }
}

impl<'de> Deserialize<'de> for Papers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

impl<'de> Pick<'de> for Body<'de> {
    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        PaperList::read(seq).map(Body::List)
    }
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Ok(Obj::map(map)?.0.map_or(Body::Other, |top| Body::Object(Box::new(top))))
    }
}

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

/// A top-level object: a search page's fields, or a paper's.
#[derive(Default)]
pub(super) struct Top<'a> {
    pub(super) data: Papers,
    pub(super) next: U64,
    pub(super) has_paper_id: bool,
    paper: PaperJson<'a>,
}

impl Top<'_> {
    /// The top-level object read as one paper.
    pub(super) fn paper(&self) -> Option<Record> {
        paper(&self.paper)
    }
}

impl<'de> Fields<'de> for Top<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        match &*key {
            "data" => self.data = map.next_value()?,
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

fn name<'a>(o: &'a Obj<Named<'_>>) -> Option<&'a str> {
    o.0.as_ref()?.name.get()
}

fn paper(p: &PaperJson<'_>) -> Option<Record> {
    let id = p.paper_id.get().filter(|s| !s.is_empty())?.to_owned();
    let none = More::default();
    let v = p.more.as_deref().unwrap_or(&none);
    let authors =
        v.authors.0.as_ref().map(|l| l.iter().filter_map(|a| clean_opt(name(a))).collect()).unwrap_or_default();
    let published = clean_opt(v.publication_date.get()).and_then(|d| crate::text::timestamp(&d)).or_else(|| {
        let year = i32::try_from(v.year.0?).ok()?;
        crate::text::timestamp(&format!("{year:04}-01-01"))
    });
    let doi = v.external_ids.0.as_ref().and_then(|e| e.doi.get()).map(clean).filter(|d| !d.is_empty());
    let venue = clean_opt(v.venue.get())
        .or_else(|| clean_opt(name(&v.journal)))
        .or_else(|| clean_opt(name(&v.publication_venue)));
    let pdf_url = clean_opt(v.open_access_pdf.0.as_ref().and_then(|o| o.url.get()));
    let mut categories: Vec<String> = Vec::new();
    let listed = v.fields_of_study.items().iter().filter_map(Str::get);
    let s2 = v.s2_fields_of_study.items().iter().filter_map(|f| f.0.as_ref()?.category.get());
    for c in listed.chain(s2).map(clean) {
        if !c.is_empty() && !categories.contains(&c) {
            categories.push(c);
        }
    }
    let url = clean_opt(v.url.get()).unwrap_or_else(|| {
        let mut url = String::with_capacity(S2_PAPER_URL.len() + id.len());
        url.push_str(S2_PAPER_URL);
        url.push_str(&id);
        url
    });
    Some(Record::Paper(Paper {
        source: "semantic_scholar".into(),
        url: Some(url),
        title: clean_opt(p.title.get()).unwrap_or_default(),
        authors,
        published,
        abstract_text: clean_opt(v.abstract_text.get()),
        doi,
        categories,
        venue,
        pdf_url,
        id,
        ..Paper::default()
    }))
}
