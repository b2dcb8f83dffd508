//! CrossRef bodies read straight into structs, and works turned into paper records.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess};

use crate::json::{self, Fields, I64, List, Obj, Pick, Str, object};
use crate::record::{Paper, Record};
use crate::text::{clean, clean_opt};

object! {
    /// The envelope; refusals are read again as a `Value`.
    pub(super) struct Body<'a> {
        "status" => status: Str<'a>,
        "message-type" => message_type: Str<'a>,
        "message" => message: Obj<Message<'a>>,
    }
}

/// `message`: one work (`message-type: work`) or a page of them (`work-list`).
#[derive(Default)]
pub(super) struct Message<'a> {
    pub(super) work: Work<'a>,
    pub(super) items: List<Obj<Work<'a>>>,
    pub(super) next_cursor: Str<'a>,
}

impl<'de> Fields<'de> for Message<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        match &*key {
            "items" => self.items = map.next_value()?,
            "next-cursor" => self.next_cursor = map.next_value()?,
            _ => self.work.field(key, map)?,
        }
        Ok(())
    }
}

object! {
    /// The fields of a work a paper record holds.
    pub(super) struct Work<'a> {
        "DOI" => doi: Str<'a>,
        "author" => author: List<Obj<Author<'a>>>,
        "published" => published: Obj<Date<'a>>,
        "issued" => issued: Obj<Date<'a>>,
        "published-print" => published_print: Obj<Date<'a>>,
        "published-online" => published_online: Obj<Date<'a>>,
        "deposited" => deposited: Obj<Deposited<'a>>,
        "subject" => subject: List<Str<'a>>,
        "link" => link: List<Obj<Link<'a>>>,
        "title" => title: Texts<'a>,
        "container-title" => container_title: Texts<'a>,
        "abstract" => abstract_text: Str<'a>,
        "URL" => url: Str<'a>,
    }
}

object! {
    pub(super) struct Author<'a> {
        "given" => given: Str<'a>,
        "family" => family: Str<'a>,
        "name" => name: Str<'a>,
    }
}

object! {
    /// `{"date-parts": [[2020, 11, 13]]}`, `[[2020]]` or `[[null]]`.
    pub(super) struct Date<'a> {
        "date-parts" => parts: List<List<I64>>,
    }
}

object! {
    pub(super) struct Deposited<'a> {
        "date-time" => date_time: Str<'a>,
    }
}

object! {
    pub(super) struct Link<'a> {
        "content-type" => content_type: Str<'a>,
        "URL" => url: Str<'a>,
    }
}

/// A field that is a string or a list of them (`title`, `container-title`).
#[derive(Default)]
pub(super) enum Texts<'a> {
    #[default]
    Neither,
    One(Cow<'a, str>),
    Many(Vec<Str<'a>>),
}

impl<'de> Pick<'de> for Texts<'de> {
    fn borrowed_str(s: &'de str) -> Self {
        Texts::One(Cow::Borrowed(s))
    }
    fn str(s: &str) -> Self {
        Texts::One(Cow::Owned(s.to_owned()))
    }
    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        Ok(List::seq(seq)?.0.map_or(Texts::Neither, Texts::Many))
    }
}

impl<'de> Deserialize<'de> for Texts<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::via_pick(d)
    }
}

impl Texts<'_> {
    /// The first non-empty text, without markup.
    fn first(&self) -> Option<String> {
        match self {
            Texts::Many(list) => list.iter().filter_map(Str::get).map(strip_markup).find(|s| !s.is_empty()),
            Texts::One(s) => Some(strip_markup(s)).filter(|s| !s.is_empty()),
            Texts::Neither => None,
        }
    }
}

pub(super) fn paper(w: &Work<'_>) -> Option<Record> {
    let doi = w.doi.get().map(str::trim).filter(|s| !s.is_empty())?.to_owned();
    let authors = w.author.0.as_ref().map(|list| list.iter().filter_map(author).collect()).unwrap_or_default();
    let published = [&w.published, &w.issued, &w.published_print, &w.published_online].into_iter().find_map(date_parts);
    let updated = w.deposited.0.as_ref().and_then(|d| d.date_time.get()).and_then(crate::text::timestamp);
    let categories = w
        .subject
        .0
        .as_ref()
        .map(|l| l.iter().filter_map(Str::get).map(clean).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let pdf_url = w.link.0.as_ref().and_then(|links| {
        links
            .iter()
            .find(|l| l.0.as_ref().is_some_and(|l| l.content_type.get() == Some("application/pdf")))
            .and_then(|l| l.0.as_ref()?.url.get())
            .map(str::to_owned)
    });
    Some(Record::Paper(Paper {
        source: "crossref".into(),
        id: doi.clone(),
        title: w.title.first().unwrap_or_default(),
        authors,
        published,
        updated,
        abstract_text: w.abstract_text.get().map(jats_abstract).filter(|s| !s.is_empty()),
        url: w.url.get().map(str::to_owned).or_else(|| Some(format!("https://doi.org/{doi}"))),
        doi: Some(doi),
        categories,
        venue: w.container_title.first(),
        pdf_url,
    }))
}

fn author(a: &Obj<Author<'_>>) -> Option<String> {
    let a = a.0.as_ref()?;
    let part = |s: &Str<'_>| clean_opt(s.get());
    match (part(&a.given), part(&a.family)) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (None, Some(f)) => Some(f),
        (g, None) => part(&a.name).or(g),
    }
}

/// The first `date-parts` entry as a UTC midnight; a missing month or day is the first.
fn date_parts(d: &Obj<Date<'_>>) -> Option<chrono::DateTime<chrono::Utc>> {
    let parts = d.0.as_ref()?.parts.0.as_ref()?.first()?.0.as_ref()?;
    let num = |i: usize| parts.get(i).and_then(|n| n.0);
    let year = i32::try_from(num(0)?).ok()?;
    let month = num(1).and_then(|m| u32::try_from(m).ok()).unwrap_or(1);
    let day = num(2).and_then(|d| u32::try_from(d).ok()).unwrap_or(1);
    let date =
        chrono::NaiveDate::from_ymd_opt(year, month, day).or_else(|| chrono::NaiveDate::from_ymd_opt(year, 1, 1))?;
    Some(chrono::TimeZone::from_utc_datetime(&chrono::Utc, &date.and_hms_opt(0, 0, 0)?))
}

/// A JATS abstract as plain text, without a leading "Abstract" heading.
fn jats_abstract(raw: &str) -> String {
    let text = strip_markup(raw);
    let starts_with_title = raw.trim_start().starts_with("<jats:title") || raw.trim_start().starts_with("<title");
    match text.strip_prefix("Abstract ") {
        Some(rest) if starts_with_title => rest.to_owned(),
        _ => text,
    }
}

/// Tags removed (block tags become a space, inline ones vanish), the XML entities decoded, and
/// the result single-spaced.
fn strip_markup(raw: &str) -> String {
    const BLOCK: [&str; 8] = ["p", "title", "sec", "list", "list-item", "br", "label", "def"];
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            // A lone '<' is text.
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or(name);
        if BLOCK.contains(&local) {
            out.push(' ');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    clean(&crate::text::unescape_html(&out))
}
