//! What a connector asks the worker to send, and what it gets back.
//!
//! Secrets (API keys) travel in their own field so that the request's `Display` — the form that
//! reaches logs, job errors and metrics — can never show them; nor does it show a password in
//! the URL's `user:password@` (a base URL may carry one for a proxy).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::Record;

/// What a connector needs to know about its deployment to build a request.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The upstream root, without a trailing slash (`https://export.arxiv.org`).
    pub base_url: &'a str,
    /// The upstream key, when one is configured.
    pub api_key: Option<&'a str>,
    /// `APIARY_CONTACT_EMAIL`, for upstreams that ask callers to identify themselves.
    pub contact_email: Option<&'a str>,
    /// Bound on the requests one fetch may chain (pages, steps), so paging always ends.
    pub max_pages: u32,
    /// An access token obtained with [`crate::Connector::token_request`], while it is valid.
    pub token: Option<&'a str>,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("base_url", &crate::redact::strip_userinfo(self.base_url))
            .field("api_key", &self.api_key.map(|_| "[redacted]"))
            .field("contact_email", &self.contact_email)
            .field("max_pages", &self.max_pages)
            .field("token", &self.token.map(|_| "[redacted]"))
            .finish()
    }
}

impl Context<'_> {
    /// The contact e-mail, or a configuration error naming the upstream that needs it.
    pub fn require_contact(&self, upstream: &str) -> Result<&str, crate::ConnectorError> {
        self.contact_email.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
            crate::ConnectorError::config(format!(
                "{upstream} requires callers to identify themselves: set APIARY_CONTACT_EMAIL"
            ))
        })
    }

    /// The API key, or an auth error naming the variable to set.
    pub fn require_key(&self, id: &str) -> Result<&str, crate::ConnectorError> {
        self.api_key.ok_or_else(|| {
            crate::ConnectorError::auth(format!(
                "{id} needs an API key: set APIARY_CONNECTORS__{}__API_KEY",
                id.to_uppercase()
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Where a secret goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPlace {
    Query,
    Header,
}

/// One request of a fetch.
#[derive(Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Scheme, host and path; no query string.
    pub url: String,
    /// Query parameters that may be logged.
    pub query: Vec<(String, String)>,
    /// Headers that may be logged.
    pub headers: Vec<(String, String)>,
    /// Query parameters or headers that must never be logged (keys, tokens).
    pub secrets: Vec<(SecretPlace, String, String)>,
    /// A form body (`application/x-www-form-urlencoded`), for POSTs.
    pub form: Vec<(String, String)>,
    /// Which step of the fetch this is (`esearch`, `efetch`, `page`): the connector reads it, and
    /// a per-operation breaker is chosen by it (see [`crate::Connector::operations`]).
    pub step: &'static str,
    /// 0 for the first request of a fetch, then counting.
    pub index: u32,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: Method::Get,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            secrets: Vec::new(),
            form: Vec::new(),
            step: "page",
            index: 0,
        }
    }
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
    pub fn secret_query(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((SecretPlace::Query, name.to_owned(), value.to_owned()));
        self
    }
    pub fn secret_header(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((SecretPlace::Header, name.to_owned(), value.to_owned()));
        self
    }
    pub fn step(mut self, step: &'static str) -> Self {
        self.step = step;
        self
    }
    /// The request that follows `prev` in the same fetch.
    pub fn after(mut self, prev: &Request) -> Self {
        self.index = prev.index + 1;
        self
    }
    /// The value of a loggable query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// Copy `prev`'s secrets (keys travel with every page).
    pub fn with_secrets_of(mut self, prev: &Request) -> Self {
        self.secrets = prev.secrets.clone();
        self
    }
}

/// Method, URL (without userinfo) and loggable query only.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        write!(f, "{method} {}", crate::redact::strip_userinfo(&self.url))?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", crate::params::encode(k), crate::params::encode(v))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("request", &format_args!("{self}"))
            .field("headers", &self.headers)
            .field("secrets", &self.secrets.iter().map(|(p, k, _)| (p, k, "[redacted]")).collect::<Vec<_>>())
            .field("step", &self.step)
            .field("index", &self.index)
            .finish()
    }
}

/// An upstream's answer, as the connector sees it.
#[derive(Debug, Clone)]
pub struct Response<'a> {
    pub status: u16,
    /// Header names in lower case; borrowed from the HTTP client's header map where it can be.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub body: &'a [u8],
}

impl<'a> Response<'a> {
    pub fn new(status: u16, body: &'a [u8]) -> Self {
        Response { status, headers: Vec::new(), body }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((Cow::Owned(name.to_ascii_lowercase()), Cow::Owned(value.to_owned())));
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The body as text, lossily.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.body)
    }
    /// `Retry-After` as a wait: delta-seconds, or an HTTP date (RFC 9110 §10.2.3), at most
    /// [`crate::MAX_RETRY_AFTER`]; a date already past is zero, anything else `None`.
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.header("retry-after")?;
        crate::wait::delta_seconds(v).or_else(|| crate::wait::until_http_date(v, chrono::Utc::now()))
    }
    /// A failure classified from the status, with the wait the upstream asked for.
    pub fn status_error(&self) -> crate::ConnectorError {
        crate::ConnectorError::from_status(self.status, &self.text()).with_retry_after(self.retry_after())
    }
}

/// What one response contributed to a fetch.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<Record>,
    /// The next request of the same fetch, if there is more to get.
    pub next: Option<Request>,
}

impl Page {
    pub fn last(records: Vec<Record>) -> Self {
        Page { records, next: None }
    }
}
