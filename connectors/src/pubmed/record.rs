//! What a PubMed record keeps while it streams by, and the paper it becomes: efetch
//! `PubmedArticle` / `PubmedBookArticle` and esummary `DocSum`.
//!
//! A text slot is `None` until its element has been seen, then the element's cleaned text (maybe
//! empty): only the first element of a name counts, as with "the first child named X", and an
//! empty first one hides any later one.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::record::{Paper, Record};

/// A slot's text, when it has some.
pub fn some(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// `<Year>`, `<Month>` (a number or a name) or `<Season>`, `<Day>`, and `<MedlineDate>`.
#[derive(Default)]
pub struct Dmy {
    pub year: Option<String>,
    pub month: Option<String>,
    pub season: Option<String>,
    pub day: Option<String>,
    pub medline: Option<String>,
}

impl Dmy {
    fn ymd(&self) -> Option<DateTime<Utc>> {
        let year: i32 = some(&self.year)?.parse().ok()?;
        let month = some(&self.month).or_else(|| some(&self.season)).and_then(|m| month(&m)).unwrap_or(1);
        let day = some(&self.day).and_then(|d| d.parse().ok()).unwrap_or(1);
        midnight(year, month, day)
    }
    /// A journal `PubDate`: Year/Month/Day, or a free-form `MedlineDate` ("1998 Dec-1999 Jan").
    fn pub_date(&self) -> Option<DateTime<Utc>> {
        self.ymd().or_else(|| loose_date(&some(&self.medline)?))
    }
}

/// One child of a `PubmedArticleSet`, journal article or book (chapter), as it is read.
#[derive(Default)]
pub struct Article {
    pub book: bool,
    /// Container elements already entered (only the first of each name counts).
    pub seen: u32,
    pub pmid: Option<String>,
    pub title: Option<String>,
    pub vernacular: Option<String>,
    pub book_title: Option<String>,
    pub venue: Option<String>,
    pub authors: Vec<String>,
    pub author: Author,
    /// `Some` once an `Abstract` is entered: its non-empty sections, joined.
    pub abstract_text: Option<String>,
    pub label: Option<String>,
    pub article_date: Dmy,
    pub pub_date: Dmy,
    pub revised: Dmy,
    pub doi_id: Option<String>,
    pub doi_eloc: Option<String>,
    pub categories: Vec<String>,
    pub descriptor: Option<String>,
}

/// One `Author`: "ForeName LastName", or a collective name.
#[derive(Default)]
pub struct Author {
    pub collective: Option<String>,
    pub last: Option<String>,
    pub fore: Option<String>,
    pub initials: Option<String>,
}

impl Author {
    pub fn name(&self) -> Option<String> {
        if let Some(c) = some(&self.collective) {
            return Some(c);
        }
        let last = some(&self.last)?;
        Some(match some(&self.fore).or_else(|| some(&self.initials)) {
            Some(fore) => format!("{fore} {last}"),
            None => last,
        })
    }
}

impl Article {
    /// Whether the container `bit` is entered for the first time (and mark it).
    pub fn first(&mut self, bit: u32) -> bool {
        let new = self.seen & bit == 0;
        self.seen |= bit;
        new
    }
    /// Structured abstracts carry a `Label` per section; keep it as a prefix.
    pub fn abstract_section(&mut self, body: String) {
        let part = match self.label.take() {
            Some(label) if !body.is_empty() => format!("{label}: {body}"),
            _ => body,
        };
        if let Some(text) = self.abstract_text.as_mut().filter(|_| !part.is_empty()) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&part);
        }
    }
    pub fn finish(self) -> Option<Record> {
        let pmid = some(&self.pmid)?;
        let abstract_text = self.abstract_text.filter(|s| !s.is_empty());
        let doi = self.doi_id.or(self.doi_eloc).filter(|s| !s.is_empty());
        let url = Some(format!("https://pubmed.ncbi.nlm.nih.gov/{pmid}/"));
        let paper = if self.book {
            let book_title = some(&self.book_title);
            Paper {
                source: "pubmed".into(),
                url,
                id: pmid,
                title: some(&self.title).or_else(|| book_title.clone()).unwrap_or_default(),
                authors: self.authors,
                published: self.pub_date.pub_date(),
                abstract_text,
                doi,
                venue: book_title,
                ..Paper::default()
            }
        } else {
            Paper {
                source: "pubmed".into(),
                url,
                id: pmid,
                title: some(&self.title).or_else(|| some(&self.vernacular)).unwrap_or_default(),
                authors: self.authors,
                published: self.article_date.ymd().or_else(|| self.pub_date.pub_date()),
                updated: self.revised.ymd(),
                abstract_text,
                doi,
                categories: self.categories,
                venue: some(&self.venue),
                pdf_url: None,
            }
        };
        Some(Record::Paper(paper))
    }
}

/// One esummary `DocSum` (no abstract in a summary): `Id` and the first `Item` of each `Name`.
#[derive(Default)]
pub struct DocSum {
    pub seen: u32,
    pub id: Option<String>,
    pub title: Option<String>,
    pub pub_date: Option<String>,
    pub eloc: Option<String>,
    pub journal: Option<String>,
    pub source: Option<String>,
    pub authors: Vec<String>,
    pub doi: Option<String>,
}

impl DocSum {
    pub fn first(&mut self, bit: u32) -> bool {
        let new = self.seen & bit == 0;
        self.seen |= bit;
        new
    }
    pub fn finish(self) -> Option<Record> {
        let id = some(&self.id)?;
        let doi = self
            .doi
            .or_else(|| some(&self.eloc).and_then(|e| e.strip_prefix("doi:").map(|d| d.trim().to_owned())))
            .filter(|s| !s.is_empty());
        Some(Record::Paper(Paper {
            source: "pubmed".into(),
            url: Some(format!("https://pubmed.ncbi.nlm.nih.gov/{id}/")),
            title: some(&self.title).unwrap_or_default(),
            authors: self.authors,
            published: some(&self.pub_date).and_then(|s| loose_date(&s)),
            doi,
            venue: some(&self.journal).or_else(|| some(&self.source)),
            id,
            ..Paper::default()
        }))
    }
}

/// "1965 Aug", "2001 Jun 5", "1998 Dec-1999 Jan", "2012/03/21 00:00": the first date it names.
pub fn loose_date(s: &str) -> Option<DateTime<Utc>> {
    let mut words = s.split(|c: char| c.is_whitespace() || c == '/' || c == '-').filter(|w| !w.is_empty());
    let year: i32 = words.next()?.parse().ok().filter(|y| (1000..=9999).contains(y))?;
    let month = words.next().and_then(month);
    let day = month.and_then(|_| words.next()).and_then(|d| d.parse().ok());
    midnight(year, month.unwrap_or(1), day.unwrap_or(1))
}

fn month(m: &str) -> Option<u32> {
    if let Ok(n) = m.trim().parse::<u32>() {
        return (1..=12).contains(&n).then_some(n);
    }
    let m = m.trim().to_ascii_lowercase();
    let names = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    if let Some(i) = names.iter().position(|n| m.starts_with(n)) {
        return Some(i as u32 + 1);
    }
    match m.as_str() {
        "spring" => Some(3),
        "summer" => Some(6),
        "fall" | "autumn" => Some(9),
        "winter" => Some(12),
        _ => None,
    }
}

fn midnight(y: i32, m: u32, d: u32) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, m, 1))?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}
