//! A listing body as reddit sends it, and a post read into a record.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::json::{self, F64, Obj, Str, StrictStr};
use crate::record::{Article, Record};
use crate::text::{clean, epoch, unescape_html};

/// A post as a record; `None` without an id. `escaped`: its text still carries HTML escapes.
pub(super) fn post(d: Post<'_>, escaped: bool) -> Option<Record> {
    let unescaped = |v| if escaped { unescape_html(v) } else { Cow::Borrowed(v) };
    let text = |field| trimmed(field).map(|v| clean(&unescaped(v)));
    let id = trimmed(&d.name).map(str::to_owned).or_else(|| trimmed(&d.id).map(|id| format!("t3_{id}")))?;
    let url = match trimmed(&d.url) {
        Some(u) => Some(absolute(unescaped(u))),
        None => trimmed(&d.permalink).map(|p| absolute(Cow::Borrowed(p))),
    };
    let published = d.created_utc.0.filter(|t| t.is_finite()).and_then(|t| epoch(t as i64, false));
    Some(Record::Article(Article {
        source: "reddit".into(),
        id,
        title: text(&d.title).unwrap_or_default(),
        url,
        published,
        author: trimmed(&d.author).filter(|a| *a != "[deleted]" && *a != "[removed]").map(str::to_owned),
        summary: text(&d.selftext).filter(|t| !t.is_empty()),
        outlet: trimmed(&d.subreddit).map(str::to_owned),
    }))
}

/// A string field's text, trimmed, if any is left.
fn trimmed<'a>(field: &'a Str<'_>) -> Option<&'a str> {
    field.get().map(str::trim).filter(|s| !s.is_empty())
}

/// Reddit's relative links (`/r/...`) made absolute.
fn absolute(link: Cow<'_, str>) -> String {
    if link.starts_with('/') { format!("https://www.reddit.com{link}") } else { link.into_owned() }
}

/// A child's `kind` (`t3` a post, `t5` a subreddit).
pub(super) fn kind<'a>(child: &'a Child<'_>) -> Option<&'a str> {
    child.kind.as_ref().map(|k| &*k.0)
}

// The envelope is read as strictly as derived `String` fields would read it (the same errors on
// other types), but borrowed from the body where it has no escapes. Posts borrow from the body
// for as long as it is borrowed, hence `'a: 'de` (with `borrow`'s `'de: 'a`, the two are one).
#[derive(Deserialize)]
#[serde(bound(deserialize = "'a: 'de"))]
pub(super) struct Body<'a> {
    #[serde(borrow)]
    pub(super) kind: Option<StrictStr<'a>>,
    #[serde(borrow)]
    pub(super) data: Option<Listing<'a>>,
    #[serde(borrow)]
    pub(super) message: Option<StrictStr<'a>>,
    pub(super) error: Option<Value>,
    #[serde(borrow)]
    pub(super) reason: Option<StrictStr<'a>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'a: 'de"))]
pub(super) struct Listing<'a> {
    #[serde(borrow)]
    pub(super) children: Option<Vec<Child<'a>>>,
    #[serde(borrow)]
    pub(super) after: Option<StrictStr<'a>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'a: 'de"))]
pub(super) struct Child<'a> {
    #[serde(borrow)]
    kind: Option<StrictStr<'a>>,
    /// Any JSON value, as a `Value` field would take it; only an object holds a post.
    #[serde(default, borrow)]
    pub(super) data: Obj<Post<'a>>,
}

json::object! {
    /// The fields of a post a record uses.
    pub(super) struct Post<'a> {
        "name" => name: Str<'a>,
        "id" => id: Str<'a>,
        "permalink" => permalink: Str<'a>,
        "url" => url: Str<'a>,
        "created_utc" => created_utc: F64,
        "title" => title: Str<'a>,
        "selftext" => selftext: Str<'a>,
        "author" => author: Str<'a>,
        "subreddit" => subreddit: Str<'a>,
    }
}
