//! PubMed documents in one streaming pass: the root's name, its first `ERROR`, esearch's
//! `IdList`, and the records of an efetch `PubmedArticleSet` or an esummary `eSummaryResult`.
//!
//! Each open element gets a context from its parent's context and its own (local) name; only the
//! elements a record reads get one that matters, everything under any other is skipped. Wanted
//! text is cleaned (`text::clean` semantics) as it arrives and kept when its element closes: the
//! text of an element is all its descendant text.

use quick_xml::events::BytesStart;

use super::record::{Article, Dmy, DocSum, some};
use super::xml::{self, Handler};
use crate::record::Record;
use crate::text::{clean, push_clean};

/// What a whole document says.
#[derive(Default)]
pub struct Doc {
    /// The root element's local name.
    pub root: String,
    /// The cleaned text of the root's first `ERROR` child, if it has any.
    pub error: Option<String>,
    /// esearch: the non-empty PMIDs of the first `IdList`.
    pub ids: Vec<String>,
    /// Whether the root has any child element.
    pub any_child: bool,
    pub records: Vec<Record>,
}

/// Read a whole document. Any malformation is an error (see [`xml::walk`]).
pub fn document(body: &[u8]) -> Result<Doc, String> {
    let w: Walker = xml::walk(body)?;
    Ok(Doc { error: some(&w.error), ..w.doc })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Search,
    Articles,
    Summary,
    Other,
}

#[derive(Clone, Copy, PartialEq)]
enum When {
    ArticleDate,
    PubDate,
    Revised,
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Year,
    Month,
    Season,
    Day,
    Medline,
}

/// Where the text of a captured element goes.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Error,
    Id,
    Pmid,
    Title,
    Vernacular,
    BookTitle,
    Venue,
    Collective,
    Last,
    Fore,
    Initials,
    AbstractText,
    Date(When, Part),
    DoiId,
    DoiEloc,
    Descriptor,
    DsId,
    DsItem(u32),
    DsAuthor,
    DsDoi,
}

/// What an open element is.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Skip,
    /// Inside a captured element: its text counts, its structure does not.
    Inside,
    Capture(Field),
    Root,
    IdList,
    Journal,
    Book,
    Citation,
    ArticleEl,
    AuthorList,
    Author,
    Abstract,
    Date(When),
    JournalEl,
    Issue,
    Data,
    ArticleIds,
    MeshList,
    Mesh,
    BookDoc,
    BookEl,
    DocSum,
    DsAuthors,
    DsIds,
}

// First-of-a-name containers of an article, and of a DocSum's items.
const CITATION: u32 = 1;
const ARTICLE: u32 = 1 << 1;
const AUTHOR_LIST: u32 = 1 << 2;
const ABSTRACT: u32 = 1 << 3;
const ARTICLE_DATE: u32 = 1 << 4;
const JOURNAL: u32 = 1 << 5;
const ISSUE: u32 = 1 << 6;
const PUB_DATE: u32 = 1 << 7;
const DATA: u32 = 1 << 8;
const ID_LIST: u32 = 1 << 9;
const MESH_LIST: u32 = 1 << 10;
const REVISED: u32 = 1 << 11;
const BOOK_DOC: u32 = 1 << 12;
const BOOK: u32 = 1 << 13;
const DS_TITLE: u32 = 1;
const DS_PUB_DATE: u32 = 1 << 1;
const DS_ELOC: u32 = 1 << 2;
const DS_JOURNAL: u32 = 1 << 3;
const DS_SOURCE: u32 = 1 << 4;
const DS_AUTHORS: u32 = 1 << 5;
const DS_IDS: u32 = 1 << 6;

#[derive(Default)]
struct Walker {
    doc: Doc,
    kind: Option<Kind>,
    id_list_seen: bool,
    error: Option<String>,
    stack: Vec<Ctx>,
    capturing: bool,
    /// The captured text so far, cleaned as it comes (`text::clean` of all of it).
    buf: String,
    /// Whether whitespace came after the last word captured.
    gap: bool,
    art: Article,
    ds: DocSum,
}

impl Handler for Walker {
    fn open(&mut self, e: &BytesStart) {
        let ctx = match self.stack.last().copied() {
            None => {
                let name = e.local_name();
                let name: &str = name.as_ref();
                self.kind = Some(match name {
                    "eSearchResult" => Kind::Search,
                    "PubmedArticleSet" => Kind::Articles,
                    "eSummaryResult" => Kind::Summary,
                    _ => Kind::Other,
                });
                self.doc.root = name.to_owned();
                Ctx::Root
            }
            Some(Ctx::Skip) => Ctx::Skip,
            Some(Ctx::Inside | Ctx::Capture(_)) => Ctx::Inside,
            Some(parent) => {
                let name = e.local_name();
                self.child(parent, name.as_ref(), e)
            }
        };
        if let Ctx::Capture(_) = ctx {
            self.capturing = true;
            self.gap = false;
        }
        self.stack.push(ctx);
    }

    fn close(&mut self) {
        match self.stack.pop() {
            Some(Ctx::Capture(f)) => {
                self.capturing = false;
                let text = std::mem::take(&mut self.buf);
                self.store(f, text);
            }
            Some(Ctx::Author) => {
                if let Some(name) = std::mem::take(&mut self.art.author).name() {
                    self.art.authors.push(name);
                }
            }
            Some(Ctx::Mesh) => {
                if let Some(d) = self.art.descriptor.take().filter(|d| !d.is_empty()) {
                    self.art.categories.push(d);
                }
            }
            Some(Ctx::Journal | Ctx::Book) => {
                if let Some(r) = std::mem::take(&mut self.art).finish() {
                    self.doc.records.push(r);
                }
            }
            Some(Ctx::DocSum) => {
                if let Some(r) = std::mem::take(&mut self.ds).finish() {
                    self.doc.records.push(r);
                }
            }
            _ => {}
        }
    }

    fn wants_text(&self) -> bool {
        self.capturing
    }

    fn text(&mut self, t: &str) {
        push_clean(&mut self.buf, &mut self.gap, t);
    }
}

impl Walker {
    /// The context of a child `name` of an element whose context is `parent`.
    fn child(&mut self, parent: Ctx, name: &str, e: &BytesStart) -> Ctx {
        let a = &mut self.art;
        let cap = |slot: &Option<String>, f: Field| if slot.is_none() { Ctx::Capture(f) } else { Ctx::Skip };
        match (parent, name) {
            (Ctx::Root, _) => self.root_child(name),
            (Ctx::IdList, "Id") => Ctx::Capture(Field::Id),
            (Ctx::Journal, "MedlineCitation") if a.first(CITATION) => Ctx::Citation,
            (Ctx::Journal, "PubmedData") | (Ctx::Book, "PubmedBookData") if a.first(DATA) => Ctx::Data,
            (Ctx::Book, "BookDocument") if a.first(BOOK_DOC) => Ctx::BookDoc,
            (Ctx::Citation | Ctx::BookDoc, "PMID") => cap(&a.pmid, Field::Pmid),
            (Ctx::Citation, "Article") if a.first(ARTICLE) => Ctx::ArticleEl,
            (Ctx::Citation, "MeshHeadingList") if a.first(MESH_LIST) => Ctx::MeshList,
            (Ctx::Citation, "DateRevised") if a.first(REVISED) => Ctx::Date(When::Revised),
            (Ctx::ArticleEl | Ctx::BookDoc, "ArticleTitle") => cap(&a.title, Field::Title),
            (Ctx::ArticleEl, "VernacularTitle") => cap(&a.vernacular, Field::Vernacular),
            (Ctx::ArticleEl, "AuthorList") if a.first(AUTHOR_LIST) => Ctx::AuthorList,
            (Ctx::BookDoc, "AuthorList") if xml::attr(e, "Type").as_deref() != Some("editors") => Ctx::AuthorList,
            (Ctx::ArticleEl | Ctx::BookDoc, "Abstract") if a.first(ABSTRACT) => {
                a.abstract_text = Some(String::new());
                Ctx::Abstract
            }
            (Ctx::ArticleEl, "ArticleDate") if a.first(ARTICLE_DATE) => Ctx::Date(When::ArticleDate),
            (Ctx::ArticleEl, "Journal") if a.first(JOURNAL) => Ctx::JournalEl,
            (Ctx::ArticleEl, "ELocationID") if a.doi_eloc.is_none() && is_doi(e, "EIdType") => {
                Ctx::Capture(Field::DoiEloc)
            }
            (Ctx::JournalEl, "Title") => cap(&a.venue, Field::Venue),
            (Ctx::JournalEl, "JournalIssue") if a.first(ISSUE) => Ctx::Issue,
            (Ctx::Issue | Ctx::BookEl, "PubDate") if a.first(PUB_DATE) => Ctx::Date(When::PubDate),
            (Ctx::BookDoc, "Book") if a.first(BOOK) => Ctx::BookEl,
            (Ctx::BookEl, "BookTitle") => cap(&a.book_title, Field::BookTitle),
            (Ctx::AuthorList, "Author") => {
                a.author = Default::default();
                Ctx::Author
            }
            (Ctx::Author, "CollectiveName") => cap(&a.author.collective, Field::Collective),
            (Ctx::Author, "LastName") => cap(&a.author.last, Field::Last),
            (Ctx::Author, "ForeName") => cap(&a.author.fore, Field::Fore),
            (Ctx::Author, "Initials") => cap(&a.author.initials, Field::Initials),
            (Ctx::Abstract, "AbstractText") => {
                a.label = xml::attr(e, "Label").map(|l| clean(&l)).filter(|l| !l.is_empty());
                Ctx::Capture(Field::AbstractText)
            }
            (Ctx::Date(w), _) => {
                let part = match name {
                    "Year" => Part::Year,
                    "Month" => Part::Month,
                    "Season" => Part::Season,
                    "Day" => Part::Day,
                    "MedlineDate" => Part::Medline,
                    _ => return Ctx::Skip,
                };
                let d = date(a, w);
                cap(date_part(d, part), Field::Date(w, part))
            }
            (Ctx::Data, "ArticleIdList") if a.first(ID_LIST) => Ctx::ArticleIds,
            (Ctx::ArticleIds, "ArticleId") if a.doi_id.is_none() && is_doi(e, "IdType") => Ctx::Capture(Field::DoiId),
            (Ctx::MeshList, "MeshHeading") => {
                a.descriptor = None;
                Ctx::Mesh
            }
            (Ctx::Mesh, "DescriptorName") => cap(&a.descriptor, Field::Descriptor),
            (Ctx::DocSum, "Id") => cap(&self.ds.id, Field::DsId),
            (Ctx::DocSum, "Item") => self.ds_item(e),
            (Ctx::DsAuthors, "Item") => Ctx::Capture(Field::DsAuthor),
            (Ctx::DsIds, "Item") if self.ds.doi.is_none() && is_doi(e, "Name") => Ctx::Capture(Field::DsDoi),
            _ => Ctx::Skip,
        }
    }

    fn root_child(&mut self, name: &str) -> Ctx {
        self.doc.any_child = true;
        match (self.kind, name) {
            (_, "ERROR") if self.error.is_none() => Ctx::Capture(Field::Error),
            (Some(Kind::Search), "IdList") if !self.id_list_seen => {
                self.id_list_seen = true;
                Ctx::IdList
            }
            (Some(Kind::Articles), "PubmedArticle") => {
                self.art = Article::default();
                Ctx::Journal
            }
            (Some(Kind::Articles), "PubmedBookArticle") => {
                self.art = Article { book: true, ..Article::default() };
                Ctx::Book
            }
            (Some(Kind::Summary), "DocSum") => {
                self.ds = DocSum::default();
                Ctx::DocSum
            }
            _ => Ctx::Skip,
        }
    }

    /// A `DocSum` `Item`: the first of each `Name` the record reads.
    fn ds_item(&mut self, e: &BytesStart) -> Ctx {
        let name = xml::attr(e, "Name");
        let bit = match name.as_deref() {
            Some("Title") => DS_TITLE,
            Some("PubDate") => DS_PUB_DATE,
            Some("ELocationID") => DS_ELOC,
            Some("FullJournalName") => DS_JOURNAL,
            Some("Source") => DS_SOURCE,
            Some("AuthorList") => DS_AUTHORS,
            Some("ArticleIds") => DS_IDS,
            _ => return Ctx::Skip,
        };
        if !self.ds.first(bit) {
            return Ctx::Skip;
        }
        match bit {
            DS_AUTHORS => Ctx::DsAuthors,
            DS_IDS => Ctx::DsIds,
            _ => Ctx::Capture(Field::DsItem(bit)),
        }
    }

    fn store(&mut self, f: Field, text: String) {
        let a = &mut self.art;
        let slot = match f {
            Field::Error => &mut self.error,
            Field::Id => return push_nonempty(&mut self.doc.ids, text),
            Field::Pmid => &mut a.pmid,
            Field::Title => &mut a.title,
            Field::Vernacular => &mut a.vernacular,
            Field::BookTitle => &mut a.book_title,
            Field::Venue => &mut a.venue,
            Field::Collective => &mut a.author.collective,
            Field::Last => &mut a.author.last,
            Field::Fore => &mut a.author.fore,
            Field::Initials => &mut a.author.initials,
            Field::AbstractText => return a.abstract_section(text),
            Field::Date(w, p) => date_part(date(a, w), p),
            Field::DoiId => &mut a.doi_id,
            Field::DoiEloc => &mut a.doi_eloc,
            Field::Descriptor => &mut a.descriptor,
            Field::DsId => &mut self.ds.id,
            Field::DsItem(DS_TITLE) => &mut self.ds.title,
            Field::DsItem(DS_PUB_DATE) => &mut self.ds.pub_date,
            Field::DsItem(DS_ELOC) => &mut self.ds.eloc,
            Field::DsItem(DS_JOURNAL) => &mut self.ds.journal,
            Field::DsItem(_) => &mut self.ds.source,
            Field::DsAuthor => return push_nonempty(&mut self.ds.authors, text),
            Field::DsDoi => &mut self.ds.doi,
        };
        *slot = Some(text);
    }
}

fn push_nonempty(v: &mut Vec<String>, s: String) {
    if !s.is_empty() {
        v.push(s);
    }
}

fn is_doi(e: &BytesStart, attr: &str) -> bool {
    xml::attr(e, attr).as_deref() == Some("doi")
}

fn date(a: &mut Article, w: When) -> &mut Dmy {
    match w {
        When::ArticleDate => &mut a.article_date,
        When::PubDate => &mut a.pub_date,
        When::Revised => &mut a.revised,
    }
}

fn date_part(d: &mut Dmy, p: Part) -> &mut Option<String> {
    match p {
        Part::Year => &mut d.year,
        Part::Month => &mut d.month,
        Part::Season => &mut d.season,
        Part::Day => &mut d.day,
        Part::Medline => &mut d.medline,
    }
}
