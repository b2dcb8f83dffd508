//! Parameters and dataset keys.
//!
//! A dataset is one connector asked one question; its key is the connector id and the sorted,
//! percent-encoded parameters (`arxiv?max_results=10&search_query=cat%3Acs.AI`), so the same
//! question always lands on the same cache row and the same pending job.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Connector;

/// Parameter values by name, sorted: the canonical form of a question.
pub type Params = BTreeMap<String, String>;

/// One parameter a connector accepts.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub help: &'static str,
    /// Whether the value becomes (part of) a URL path: [`validate`] then refuses values that could
    /// leave that path (see [`crate::path::check_segment`]).
    pub in_path: bool,
}

impl Param {
    pub const fn required(name: &'static str, help: &'static str) -> Self {
        Param { name, required: true, help, in_path: false }
    }
    pub const fn optional(name: &'static str, help: &'static str) -> Self {
        Param { name, required: false, help, in_path: false }
    }
    /// Mark the parameter as one whose value is sent in the URL path.
    pub const fn in_path(self) -> Self {
        Param { in_path: true, ..self }
    }
}

/// Why a set of parameters was refused; the message lists what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter `{name}` for {connector}; valid parameters: {valid}")]
    Unknown { connector: &'static str, name: String, valid: String },
    #[error("missing parameter `{name}` for {connector}; valid parameters: {valid}")]
    Missing { connector: &'static str, name: &'static str, valid: String },
    #[error("invalid value for `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

impl ParamError {
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        ParamError::Invalid { name: name.to_owned(), reason: reason.into() }
    }
}

/// The names a connector accepts, `*` marking the required ones.
pub fn describe_params(connector: &dyn Connector) -> String {
    connector
        .params()
        .iter()
        .map(|p| if p.required { format!("{}*", p.name) } else { p.name.to_owned() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check `raw` against the connector's parameters and bring it into canonical form.
/// Values are trimmed; empty values count as absent. Path parameters ([`Param::in_path`]) are
/// checked in their canonical form, the one the request will carry.
pub fn validate(connector: &dyn Connector, raw: Params) -> Result<Params, ParamError> {
    let spec = connector.params();
    let mut params = Params::new();
    for (name, value) in raw {
        if !spec.iter().any(|p| p.name == name) {
            return Err(ParamError::Unknown { connector: connector.id(), name, valid: describe_params(connector) });
        }
        let value = value.trim();
        if !value.is_empty() {
            params.insert(name, value.to_owned());
        }
    }
    if let Some(p) = spec.iter().find(|p| p.required && !params.contains_key(p.name)) {
        return Err(ParamError::Missing { connector: connector.id(), name: p.name, valid: describe_params(connector) });
    }
    connector.normalize(&mut params)?;
    for p in spec.iter().filter(|p| p.in_path) {
        if let Some(value) = params.get(p.name) {
            crate::path::check_segment(p.name, value)?;
        }
    }
    Ok(params)
}

/// Characters left as they are in a key: RFC 3986 unreserved.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encode one key or value component.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, KEY_SET).to_string()
}

/// The dataset key of `connector` asked `params` (already validated, so already sorted).
pub fn dataset_key(connector: &str, params: &Params) -> String {
    let mut key = String::with_capacity(connector.len() + 16 * params.len());
    key.push_str(connector);
    for (i, (k, v)) in params.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(&encode(k));
        key.push('=');
        key.push_str(&encode(v));
    }
    key
}

/// A parameter parsed as an unsigned number, refused with its name when it is not one.
pub fn number(params: &Params, name: &str) -> Result<Option<u64>, ParamError> {
    params
        .get(name)
        .map(|v| v.parse::<u64>().map_err(|_| ParamError::invalid(name, format!("`{v}` is not a whole number"))))
        .transpose()
}

/// A parameter parsed as a whole number in `1..=max`, refused with its name otherwise.
pub fn count(params: &Params, name: &str, max: u64) -> Result<Option<u64>, ParamError> {
    match number(params, name)? {
        Some(n) if n == 0 || n > max => Err(ParamError::invalid(name, format!("must be 1..={max}"))),
        n => Ok(n),
    }
}

/// Refuse a value outside `allowed`.
pub fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<(), ParamError> {
    match params.get(name) {
        Some(v) if !allowed.contains(&v.as_str()) => {
            Err(ParamError::invalid(name, format!("`{v}` is not one of {}", allowed.join(", "))))
        }
        _ => Ok(()),
    }
}

/// Require exactly one of `names` (e.g. a search term or an id).
pub fn exactly_one(params: &Params, names: &[&str]) -> Result<(), ParamError> {
    match names.iter().filter(|n| params.contains_key(**n)).count() {
        1 => Ok(()),
        0 => Err(ParamError::invalid(names[0], format!("one of {} is required", names.join(", ")))),
        _ => Err(ParamError::invalid(names[0], format!("give only one of {}", names.join(", ")))),
    }
}

/// The days `from` and `to` name (`YYYY-MM-DD`, both or neither, `from` not after `to`), inclusive.
pub fn date_range(params: &Params) -> Result<Option<(chrono::NaiveDate, chrono::NaiveDate)>, ParamError> {
    let day = |name: &str| -> Result<Option<chrono::NaiveDate>, ParamError> {
        let Some(v) = params.get(name) else { return Ok(None) };
        crate::text::date(v).map(Some).ok_or_else(|| {
            ParamError::invalid(name, format!("`{}` is not a date (YYYY-MM-DD)", crate::text::snippet(v)))
        })
    };
    match (day("from")?, day("to")?) {
        (None, None) => Ok(None),
        (Some(from), Some(to)) if from <= to => Ok(Some((from, to))),
        (Some(_), Some(_)) => Err(ParamError::invalid("from", "is after `to`")),
        (Some(_), None) => Err(ParamError::invalid("to", "is required with `from`")),
        (None, Some(_)) => Err(ParamError::invalid("from", "is required with `to`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_range_is_both_days_in_order() {
        let p =
            |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let day = |s| crate::text::date(s).unwrap();
        assert_eq!(date_range(&p(&[])).unwrap(), None);
        assert_eq!(
            date_range(&p(&[("from", "2024-01-02"), ("to", "2024-01-31")])).unwrap(),
            Some((day("2024-01-02"), day("2024-01-31")))
        );
        for bad in [
            &[("from", "2024-02-01"), ("to", "2024-01-31")][..],
            &[("from", "2024-01-02")],
            &[("to", "2024-01-02")],
            &[("from", "yesterday"), ("to", "2024-01-02")],
        ] {
            assert!(date_range(&p(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_is_sorted_and_encoded() {
        let mut p = Params::new();
        p.insert("search_query".into(), "cat:cs.AI".into());
        p.insert("max_results".into(), "10".into());
        assert_eq!(dataset_key("arxiv", &p), "arxiv?max_results=10&search_query=cat%3Acs.AI");
        assert_eq!(dataset_key("arxiv", &Params::new()), "arxiv");
    }

    #[test]
    fn unknown_and_missing_are_refused_with_the_valid_list() {
        let arxiv = crate::get("arxiv").unwrap();
        let mut raw = Params::new();
        raw.insert("query".into(), "x".into());
        let err = validate(arxiv, raw).unwrap_err().to_string();
        assert!(err.contains("unknown parameter `query`"), "{err}");
        assert!(err.contains("search_query"), "{err}");
        let err = validate(arxiv, Params::new()).unwrap_err().to_string();
        assert!(err.contains("search_query") && err.contains("id_list"), "{err}");
    }
}
