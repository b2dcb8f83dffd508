//! PubMed documents into papers: efetch `PubmedArticle` and esummary `DocSum`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::xml::Element;
use crate::record::{Paper, Record};
use crate::text::clean;

/// One child of a `PubmedArticleSet`: a journal article or a book (chapter).
pub fn article(a: &Element) -> Option<Record> {
    match a.name.as_str() {
        "PubmedArticle" => journal_article(a),
        "PubmedBookArticle" => book_article(a),
        _ => None,
    }
}

fn journal_article(a: &Element) -> Option<Record> {
    let citation = a.child("MedlineCitation")?;
    let pmid = citation.child_text("PMID")?;
    let art = citation.child("Article");
    let title = art.and_then(|a| a.child_text("ArticleTitle").or_else(|| a.child_text("VernacularTitle")));
    let authors = art
        .and_then(|a| a.child("AuthorList"))
        .map(|l| l.all("Author").filter_map(author).collect())
        .unwrap_or_default();
    let abstract_text = art.and_then(|a| a.child("Abstract")).map(abstract_of).filter(|s| !s.is_empty());
    let published = art
        .and_then(|a| a.child("ArticleDate"))
        .and_then(ymd)
        .or_else(|| art.and_then(|a| a.path(&["Journal", "JournalIssue", "PubDate"])).and_then(pub_date));
    let doi = a
        .path(&["PubmedData", "ArticleIdList"])
        .and_then(|l| l.all("ArticleId").find(|i| i.attr("IdType") == Some("doi")))
        .or_else(|| art.and_then(|a| a.all("ELocationID").find(|e| e.attr("EIdType") == Some("doi"))))
        .map(|e| clean(&e.text()))
        .filter(|s| !s.is_empty());
    let categories = citation
        .child("MeshHeadingList")
        .map(|l| l.all("MeshHeading").filter_map(|h| h.child_text("DescriptorName")).collect())
        .unwrap_or_default();
    Some(Record::Paper(Paper {
        source: "pubmed".into(),
        url: Some(format!("https://pubmed.ncbi.nlm.nih.gov/{pmid}/")),
        id: pmid,
        title: title.unwrap_or_default(),
        authors,
        published,
        updated: citation.child("DateRevised").and_then(ymd),
        abstract_text,
        doi,
        categories,
        venue: art.and_then(|a| a.path(&["Journal", "Title"])).map(|t| clean(&t.text())).filter(|s| !s.is_empty()),
        pdf_url: None,
    }))
}

/// A `PubmedBookArticle` (NCBI Bookshelf): the title, authors and abstract sit on `BookDocument`.
fn book_article(a: &Element) -> Option<Record> {
    let doc = a.child("BookDocument")?;
    let pmid = doc.child_text("PMID")?;
    let book = doc.child("Book");
    let book_title = book.and_then(|b| b.child_text("BookTitle"));
    let authors = doc
        .all("AuthorList")
        .filter(|l| l.attr("Type") != Some("editors"))
        .flat_map(|l| l.all("Author"))
        .filter_map(author)
        .collect();
    let doi = a
        .path(&["PubmedBookData", "ArticleIdList"])
        .and_then(|l| l.all("ArticleId").find(|i| i.attr("IdType") == Some("doi")))
        .map(|e| clean(&e.text()))
        .filter(|s| !s.is_empty());
    Some(Record::Paper(Paper {
        source: "pubmed".into(),
        url: Some(format!("https://pubmed.ncbi.nlm.nih.gov/{pmid}/")),
        id: pmid,
        title: doc.child_text("ArticleTitle").or_else(|| book_title.clone()).unwrap_or_default(),
        authors,
        published: book.and_then(|b| b.child("PubDate")).and_then(pub_date),
        abstract_text: doc.child("Abstract").map(abstract_of).filter(|s| !s.is_empty()),
        doi,
        venue: book_title,
        ..Paper::default()
    }))
}

/// "ForeName LastName", or a collective name.
fn author(a: &Element) -> Option<String> {
    if let Some(c) = a.child_text("CollectiveName") {
        return Some(c);
    }
    let last = a.child_text("LastName")?;
    Some(match a.child_text("ForeName").or_else(|| a.child_text("Initials")) {
        Some(fore) => format!("{fore} {last}"),
        None => last,
    })
}

/// Structured abstracts carry a `Label` per section; keep it as a prefix.
fn abstract_of(abs: &Element) -> String {
    let parts: Vec<String> = abs
        .all("AbstractText")
        .map(|t| {
            let body = clean(&t.text());
            match t.attr("Label").map(clean).filter(|l| !l.is_empty()) {
                Some(label) if !body.is_empty() => format!("{label}: {body}"),
                _ => body,
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(" ")
}

/// `<Year>`, `<Month>` (a number or a name) or `<Season>`, `<Day>`.
fn ymd(e: &Element) -> Option<DateTime<Utc>> {
    let year: i32 = e.child_text("Year")?.parse().ok()?;
    let month = e.child_text("Month").or_else(|| e.child_text("Season")).and_then(|m| month(&m)).unwrap_or(1);
    let day = e.child_text("Day").and_then(|d| d.parse().ok()).unwrap_or(1);
    midnight(year, month, day)
}

/// A journal `PubDate`: Year/Month/Day, or a free-form `MedlineDate` ("1998 Dec-1999 Jan").
fn pub_date(e: &Element) -> Option<DateTime<Utc>> {
    ymd(e).or_else(|| loose_date(&e.child_text("MedlineDate")?))
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

/// One esummary `DocSum` (no abstract in a summary).
pub fn docsum(d: &Element) -> Option<Record> {
    let id = d.child_text("Id")?;
    let item = |name: &str| d.all("Item").find(|i| i.attr("Name") == Some(name));
    let item_text = |name: &str| item(name).map(|i| clean(&i.text())).filter(|s| !s.is_empty());
    let authors = item("AuthorList")
        .map(|l| l.all("Item").map(|a| clean(&a.text())).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let doi = item("ArticleIds")
        .and_then(|l| l.all("Item").find(|i| i.attr("Name") == Some("doi")))
        .map(|i| clean(&i.text()))
        .or_else(|| item_text("ELocationID").and_then(|e| e.strip_prefix("doi:").map(|d| d.trim().to_owned())))
        .filter(|s| !s.is_empty());
    Some(Record::Paper(Paper {
        source: "pubmed".into(),
        url: Some(format!("https://pubmed.ncbi.nlm.nih.gov/{id}/")),
        title: item_text("Title").unwrap_or_default(),
        authors,
        published: item_text("PubDate").and_then(|s| loose_date(&s)),
        doi,
        venue: item_text("FullJournalName").or_else(|| item_text("Source")),
        id,
        ..Paper::default()
    }))
}
