//! One fetch of one dataset: the connector's chain of requests, each sent through the
//! connector's shared resilience stack. Records are returned only when the whole chain
//! succeeded, so a half-finished multi-page fetch never reaches the cache.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiary_connectors::request::SecretPlace;
use apiary_connectors::{Connector, ConnectorError, Context, ErrorClass, Method, Params, Record, Request, Response};
use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::config::{Config, ConnectorSettings};
use crate::resilience::{CallError, Fleet, Stack};
use crate::store::Validators;

/// The HTTP client and every connector's stack, shared by all jobs of a process.
pub struct Fetcher {
    client: reqwest::Client,
    /// Each configured connector's settings and stack, in `apiary_connectors::all()` order; a
    /// dozen entries, so a scan finds one faster than hashing its id would.
    connectors: Vec<(&'static str, ConnectorSettings, Arc<Stack>)>,
    config: Arc<Config>,
    /// Access tokens by connector, with when to renew them.
    tokens: Mutex<HashMap<&'static str, (String, Instant)>>,
}

/// Redirects are followed (at most 5) only within the scheme, host and port of the request:
/// an upstream, or anyone who can make it answer a redirect, cannot send a worker, and the key
/// in its query, to another host. A redirect elsewhere is answered to the connector as the 3xx
/// it is, which it reports as an upstream error.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin =
            |u: &reqwest::Url| (u.scheme().to_owned(), u.host_str().map(str::to_owned), u.port_or_known_default());
        let same = attempt.previous().first().is_some_and(|first| origin(first) == origin(attempt.url()));
        match attempt.previous().len() {
            n if n > 5 => attempt.error("more than 5 redirects"),
            _ if same => attempt.follow(),
            _ => attempt.stop(),
        }
    })
}

impl Fetcher {
    pub fn new(config: Arc<Config>, fleet: Option<Arc<Fleet>>) -> Result<Fetcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(config.fetch.user_agent.clone())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(same_origin_redirects())
            .build()?;
        let connectors = apiary_connectors::all()
            .iter()
            .filter_map(|c| {
                let settings = config.connector(c.id())?;
                let stack = Stack::new(c.id(), c.operations(), settings, &config.fetch, fleet.clone());
                Some((c.id(), settings.clone(), Arc::new(stack)))
            })
            .collect();
        Ok(Fetcher { client, connectors, config, tokens: Mutex::new(HashMap::new()) })
    }

    fn entry(&self, id: &str) -> Option<(&ConnectorSettings, &Arc<Stack>)> {
        self.connectors.iter().find(|(c, ..)| *c == id).map(|(_, settings, stack)| (settings, stack))
    }

    pub fn stack(&self, id: &str) -> Option<&Arc<Stack>> {
        self.entry(id).map(|(_, stack)| stack)
    }

    pub fn stacks(&self) -> impl Iterator<Item = &Arc<Stack>> {
        self.connectors.iter().map(|(.., stack)| stack)
    }

    /// Run the whole chain of requests for `params`. With the `validators` of a cached copy
    /// (kept only for a dataset that came in one request), the first request is conditional.
    pub async fn fetch(
        &self,
        connector: &dyn Connector,
        params: &Params,
        validators: &Validators,
    ) -> Result<Fetched, CallError> {
        let id = connector.id();
        let (settings, stack) = self
            .entry(id)
            .ok_or_else(|| CallError::Failed(ConnectorError::config(format!("{id} is not configured"))))?;
        let mut ctx = self.context(settings);
        let token = match connector.token_request(&ctx) {
            None => None,
            Some(request) => self.token(connector, settings, stack, &ctx, request.map_err(CallError::Failed)?).await?,
        };
        ctx.token = token.as_deref();
        let result = self.chain(connector, settings, stack, &ctx, params, validators).await;
        if let Err(CallError::Failed(e)) = &result
            && e.class == ErrorClass::Auth
            && token.is_some()
        {
            // A token refused before its time (revoked, rotated credentials): get a new one next time.
            self.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        }
        result
    }

    fn context<'a>(&'a self, settings: &'a ConnectorSettings) -> Context<'a> {
        Context {
            base_url: &settings.base_url,
            api_key: settings.api_key.as_ref().map(|k| k.expose()),
            contact_email: self.config.contact_email.as_deref(),
            max_pages: settings.max_pages,
            token: None,
        }
    }

    /// Whether connector `id` keeps a breaker per operation.
    pub fn per_operation(&self, id: &str) -> bool {
        self.entry(id).is_some_and(|(_, stack)| stack.operations().next().is_some())
    }

    /// The breakers a fetch of `params` goes through, each named by its operation (`None`: the
    /// connector's own): the first request's, then those of the steps that may follow it.
    /// Without per-operation breakers, or when no first request can be built (no I/O is done),
    /// just the connector's.
    pub fn breakers_of(&self, connector: &dyn Connector, params: &Params) -> Vec<Option<&'static str>> {
        let Some((settings, stack)) = self.entry(connector.id()).filter(|(_, s)| s.operations().next().is_some())
        else {
            return vec![None];
        };
        let Ok(first) = connector.start(&self.context(settings), params) else { return vec![None] };
        let mut names = Vec::with_capacity(2);
        for step in std::iter::once(first.step).chain(connector.steps_after(first.step).iter().copied()) {
            let name = stack.operations().find(|op| *op == step);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The connector's access token: cached while valid, else obtained with `request` through
    /// the stack.
    async fn token(
        &self,
        connector: &dyn Connector,
        settings: &ConnectorSettings,
        stack: &Stack,
        ctx: &Context<'_>,
        request: Request,
    ) -> Result<Option<String>, CallError> {
        let id = connector.id();
        if let Some((token, until)) = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(id)
            && Instant::now() < *until
        {
            return Ok(Some(token.clone()));
        }
        tracing::info!(connector = id, "obtaining an access token");
        let (token, lifetime) = stack
            .call(request.step, || async {
                let (status, headers, body) = self.send(&request, settings.max_body).await?;
                connector.read_token(&response(status, &headers, &body)).map_err(|e| scrub(e, ctx.api_key))
            })
            .await?;
        // Renew a minute early so that a token never expires mid-fetch.
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (token.clone(), until));
        Ok(Some(token))
    }

    async fn chain(
        &self,
        connector: &dyn Connector,
        settings: &ConnectorSettings,
        stack: &Stack,
        ctx: &Context<'_>,
        params: &Params,
        cached: &Validators,
    ) -> Result<Fetched, CallError> {
        let id = connector.id();
        let mut request = connector.start(ctx, params).map_err(CallError::Failed)?;
        // Only the first request is made conditional, and only a dataset fetched in one request
        // keeps validators: a `304` then vouches for the whole dataset.
        let conditional = !cached.is_empty() && request.method == Method::Get;
        if conditional {
            if let Some(etag) = &cached.etag {
                request.headers.push(("if-none-match".into(), etag.clone()));
            }
            if let Some(date) = &cached.last_modified {
                request.headers.push(("if-modified-since".into(), date.clone()));
            }
        }
        let mut records = Vec::new();
        let mut validators = Validators::default();
        loop {
            tracing::debug!(connector = id, request = %request, "calling upstream");
            let first = request.index == 0;
            let answer = stack
                .call_counted(
                    request.step,
                    || async {
                        let (status, headers, body) = self.send(&request, settings.max_body).await?;
                        if first && conditional && status == 304 {
                            return Ok(Answer::Current(validators_of(&headers)));
                        }
                        let page = tracing::debug_span!("parse", status, bytes = body.len())
                            .in_scope(|| connector.read(ctx, params, &request, &response(status, &headers, &body)))
                            .map_err(|e| scrub(e, ctx.api_key))?;
                        Ok(Answer::Page(page, first.then(|| validators_of(&headers))))
                    },
                    |answer| matches!(answer, Answer::Current(_)),
                )
                .await?;
            let page = match answer {
                Answer::Current(validators) => return Ok(Fetched::Current { validators }),
                Answer::Page(page, sent) => {
                    if let Some(sent) = sent {
                        validators = sent;
                    }
                    page
                }
            };
            if records.len() + page.records.len() > settings.max_records {
                return Err(CallError::Failed(ConnectorError::permanent(format!(
                    "{id} answered with more than {} records (max_records); ask for fewer",
                    settings.max_records
                ))));
            }
            // A single page's records are the result as they are; later pages are appended.
            if records.is_empty() {
                records = page.records;
            } else {
                records.extend(page.records);
            }
            match page.next {
                Some(next) if next.index < settings.max_pages => {
                    // A dataset of several requests is never refreshed conditionally.
                    validators = Validators::default();
                    request = next;
                }
                _ => return Ok(Fetched::Records { records, validators }),
            }
        }
    }

    /// Send one request. No timer of its own: every call runs inside its stack's call timeout,
    /// which covers the whole exchange, body included.
    /// A body past `max_body` fails the call for good, unread beyond the cap: a larger answer
    /// would only be downloaded again by every retry.
    async fn send(&self, req: &Request, max_body: usize) -> Result<(u16, HeaderMap, Bytes), ConnectorError> {
        let url = url(req)?;
        let mut builder = match req.method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url),
        };
        for (place, name, value) in &req.secrets {
            if *place == SecretPlace::Header {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !req.form.is_empty() {
            builder = builder.form(&req.form);
        }
        let mut response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let body = match response.content_length() {
            // A declared length: refuse an oversized body unread, else take it in one piece
            // (hyper reads no more than the declared length, so the bound holds).
            Some(len) if len > max_body as u64 => return Err(too_large(max_body)),
            Some(_) => response.bytes().await.map_err(transport_error)?,
            // No length (chunked, or until close): collect chunk by chunk, counting.
            None => {
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
                    if body.len() + chunk.len() > max_body {
                        return Err(too_large(max_body));
                    }
                    body.extend_from_slice(&chunk);
                }
                Bytes::from(body)
            }
        };
        Ok((status, headers, body))
    }
}

/// What a fetch brought back.
#[derive(Debug)]
pub enum Fetched {
    /// The dataset's records, with the validators to refresh it conditionally next time (empty
    /// unless the upstream sent some and the dataset came in one request).
    Records { records: Vec<Record>, validators: Validators },
    /// The upstream answered the conditional request `304 Not Modified`: the cached records are
    /// current. It may have sent new validators.
    Current { validators: Validators },
}

/// One request's answer, inside the stack: a page with, for the first request, the validators
/// it sent.
enum Answer {
    Page(apiary_connectors::Page, Option<Validators>),
    Current(Validators),
}

/// A response's `ETag` and `Last-Modified`, when they are short, visible ASCII (they go back
/// as request headers).
fn validators_of(headers: &HeaderMap) -> Validators {
    let header = |name: reqwest::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 256 && v.bytes().all(|b| (b' '..=b'~').contains(&b)))
            .map(str::to_owned)
    };
    Validators { etag: header(reqwest::header::ETAG), last_modified: header(reqwest::header::LAST_MODIFIED) }
}

/// The request's URL with its query, secrets included, parsed once.
fn url(req: &Request) -> Result<reqwest::Url, ConnectorError> {
    let query = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let secrets = req.secrets.iter().filter(|(place, ..)| *place == SecretPlace::Query);
    let mut query = query.chain(secrets.map(|(_, k, v)| (k.as_str(), v.as_str()))).peekable();
    // No query, no `?`; the error names no URL (its query may hold a key).
    match query.peek() {
        Some(_) => reqwest::Url::parse_with_params(&req.url, query),
        None => reqwest::Url::parse(&req.url),
    }
    .map_err(|e| ConnectorError::config(format!("not a valid upstream URL ({e})")))
}

/// What a connector reads of an answer: the headers are borrowed, not copied.
fn response<'a>(status: u16, headers: &'a HeaderMap, body: &'a [u8]) -> Response<'a> {
    let mut pairs = Vec::with_capacity(headers.len());
    pairs
        .extend(headers.iter().filter_map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Cow::Borrowed(v.to_str().ok()?)))));
    Response { status, headers: pairs, body }
}

fn too_large(max_body: usize) -> ConnectorError {
    let cap = match max_body {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    };
    ConnectorError::permanent(format!(
        "body larger than {cap} (max_body); ask for less, or raise the connector's max_body"
    ))
}

/// Upstreams may quote the caller's key back in an error body, raw or URL-encoded; it never goes
/// further than here.
fn scrub(mut e: ConnectorError, key: Option<&str>) -> ConnectorError {
    if let Some(key) = key
        && let std::borrow::Cow::Owned(clean) = apiary_connectors::scrub_secret(&e.message, key)
    {
        e.message = clean;
    }
    e
}

/// A transport failure as a transient error. The URL is dropped from the message: its query
/// may hold a key.
fn transport_error(e: reqwest::Error) -> ConnectorError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body broken off"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    ConnectorError::transient(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_query_then_query_secrets_and_no_stray_question_mark() {
        let req = Request::get("https://api.example.org/query")
            .query("symbol", "BRK.B & co")
            .secret_query("apikey", "sk-1")
            .secret_header("x-api-key", "sk-2");
        assert_eq!(url(&req).unwrap().as_str(), "https://api.example.org/query?symbol=BRK.B+%26+co&apikey=sk-1");
        let bare = Request::get("https://data.sec.gov/submissions/CIK0000320193.json");
        assert_eq!(url(&bare).unwrap().as_str(), "https://data.sec.gov/submissions/CIK0000320193.json");
        let broken = Request::get("not a url sk-1").secret_query("apikey", "sk-1");
        let e = url(&broken).unwrap_err();
        assert!(!e.message.contains("sk-1"), "{}", e.message);
    }

    #[test]
    fn a_key_quoted_back_by_the_upstream_is_scrubbed() {
        let e = ConnectorError::permanent("HTTP 401: the key sk-live-12345 is not valid");
        assert_eq!(scrub(e, Some("sk-live-12345")).message, "HTTP 401: the key [redacted] is not valid");
        let e = ConnectorError::permanent("nothing to hide");
        assert_eq!(scrub(e, Some("sk-live-12345")).message, "nothing to hide");
    }
}
