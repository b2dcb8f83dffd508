//! Reddit: subreddit listings `/r/{subreddit}/{sort}.json`, JSON.
//!
//! Docs: <https://www.reddit.com/dev/api/#GET_hot> (listings), rules at
//! <https://github.com/reddit-archive/reddit/wiki/API>. Reddit wants a descriptive User-Agent and
//! at most one request every two seconds from anonymous or bot-like callers; the User-Agent names
//! `APIARY_CONTACT_EMAIL` when it is set. Auth is optional: without a key the listing is fetched
//! anonymously. A key of the form `CLIENT_ID:CLIENT_SECRET` is an OAuth2 app's client
//! credentials: the worker exchanges them at `/api/v1/access_token` (HTTP Basic, form
//! `grant_type=client_credentials`) for a token it caches until shortly before `expires_in`, and
//! sends `Authorization: Bearer`. Any other key is taken as a ready bearer token. Tokens only
//! work on `oauth.reddit.com`, so with one a base URL of `https://www.reddit.com` is switched to
//! it for listings (any other base, such as a test fake, is kept); tokens are asked of
//! `www.reddit.com`.
//!
//! Paging is a cursor: `after` (the fullname of the last post) with `limit` at most 100 a request
//! and `count` (posts already seen). `limit` here is the total wanted (default 25, at most 1000,
//! the depth of a listing), fetched in pages of 100, bounded by the worker's page limit.
//!
//! Quirks: a 429 can come as an HTML page ("whoa there, pardner!") with `retry-after`, whose text
//! also says "please wait N second(s)"; rate-limited either way (the wait: `retry-after`, else
//! that text, else `x-ratelimit-reset`). Other errors are tiny JSON bodies
//! `{"message":"Forbidden","error":403}`: 401 is a bad token (auth), 403 a private, quarantined or
//! banned subreddit (permanent: the upstream is healthy and the question cannot be answered),
//! 404 unknown (permanent). An HTML 403 is a network-policy block of the caller (auth). An unknown
//! subreddit may also be redirected to subreddit search, whose listing holds `t5` (subreddit)
//! children instead of `t3` posts: permanent. `raw_json=1` is always sent so text arrives
//! unescaped; should a body still carry escaped text (no `raw_json`), it is unescaped here.
//! The record id is the post's fullname (`t3_48fbm9`).
//!
//! Parsing (in `body`): the envelope is read into derived structs, as strictly as `String` fields
//! would be read (a field of the wrong type makes the body unreadable), with strings borrowed from
//! the body where they have no escapes. Each post is read leniently, as a `serde_json::Value`
//! would be (any JSON accepted, a field of another type as absent), keeping only the fields a
//! record uses: the many others are parsed and dropped without being built.

mod body;

use serde_json::Value;

use crate::json::{self, StrictStr};
use crate::params::{self, Param, ParamError, Params};
use crate::record::Record;
use crate::text::{clean, snippet};
use crate::{Connector, ConnectorError, Context, Group, Meta, Page, Request, Response};
use body::{Body, kind, post};

/// Most posts reddit returns per request.
const PAGE_SIZE: u64 = 100;
/// Reddit's own default, used when `limit` is not given.
const DEFAULT_LIMIT: u64 = 25;
/// Listings end about 1000 posts deep.
const LIMIT_CAP: u64 = 1000;
const SORTS: [&str; 5] = ["hot", "new", "top", "rising", "controversial"];
const USER_AGENT: &str = "apiary/0.1";

pub struct Reddit;

static PARAMS: [Param; 4] = [
    Param::required("subreddit", "subreddit name (askreddit, r/askreddit) or several joined with + (news+worldnews)")
        .in_path(),
    Param::optional("sort", "hot (default), new, top, rising or controversial").in_path(),
    Param::optional("limit", "posts to fetch, 1..=1000, in requests of 100 (default 25)"),
    Param::optional("t", "time window for top/controversial: hour, day, week, month, year or all"),
];

static META: Meta = Meta {
    id: "reddit",
    describe: "Reddit subreddit listings (posts)",
    group: Group::News,
    params: &PARAMS,
    requires_key: false,
    requires_contact: false,
    operations: &[],
};

impl Connector for Reddit {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn normalize(&self, p: &mut Params) -> Result<(), ParamError> {
        if let Some(v) = p.get_mut("subreddit") {
            let name = v.trim().trim_start_matches('/');
            let name = name.strip_prefix("r/").or_else(|| name.strip_prefix("R/")).unwrap_or(name);
            *v = name.trim_end_matches('/').to_ascii_lowercase();
            let ok = !v.is_empty()
                && v.split('+').all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            if !ok {
                return Err(ParamError::invalid("subreddit", format!("`{v}` is not a subreddit name")));
            }
        }
        for name in ["sort", "t"] {
            if let Some(v) = p.get_mut(name) {
                *v = v.to_ascii_lowercase();
            }
        }
        params::one_of(p, "sort", &SORTS)?;
        params::one_of(p, "t", &["hour", "day", "week", "month", "year", "all"])?;
        if p.contains_key("t") && !matches!(p.get("sort").map(String::as_str), Some("top" | "controversial")) {
            return Err(ParamError::invalid("t", "applies only to sort=top or sort=controversial"));
        }
        // The default sort is left implicit so that both spellings share one dataset key.
        if p.get("sort").is_some_and(|s| s == "hot") {
            p.remove("sort");
        }
        match params::number(p, "limit")? {
            Some(n) if n == 0 || n > LIMIT_CAP => Err(ParamError::invalid("limit", format!("must be 1..={LIMIT_CAP}"))),
            _ => Ok(()),
        }
    }

    fn token_request(&self, ctx: &Context) -> Option<Result<Request, ConnectorError>> {
        let (id, secret) = client_credentials(ctx)?;
        let base = match ctx.base_url {
            "https://oauth.reddit.com" | "https://reddit.com" => "https://www.reddit.com",
            base => base,
        };
        let basic = base64(format!("{id}:{secret}").as_bytes());
        let mut req = Request::get(format!("{base}/api/v1/access_token"))
            .step("token")
            .header("User-Agent", user_agent(ctx))
            .secret_header("Authorization", &format!("Basic {basic}"));
        req.method = crate::Method::Post;
        req.form.push(("grant_type".into(), "client_credentials".into()));
        Some(Ok(req))
    }

    fn read_token(&self, resp: &Response) -> Result<(String, std::time::Duration), ConnectorError> {
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: Option<String>,
            expires_in: Option<u64>,
            error: Option<serde_json::Value>,
        }
        if resp.status == 429 {
            let wait = resp.retry_after().or_else(|| window_reset(resp));
            return Err(ConnectorError::rate_limited("reddit token endpoint: HTTP 429").with_retry_after(wait));
        }
        if resp.status == 401 || resp.status == 403 {
            return Err(ConnectorError::auth(format!(
                "reddit refused the client credentials (HTTP {}); check APIARY_CONNECTORS__REDDIT__API_KEY (CLIENT_ID:CLIENT_SECRET)",
                resp.status
            )));
        }
        if !resp.is_success() {
            return Err(resp.status_error());
        }
        let token: Token = serde_json::from_slice(resp.body)
            .map_err(|e| ConnectorError::transient(format!("unreadable token response: {e}")))?;
        match (token.access_token, token.error) {
            (Some(t), None) if !t.is_empty() => {
                Ok((t, std::time::Duration::from_secs(token.expires_in.unwrap_or(3600).clamp(60, 86_400))))
            }
            (_, Some(e)) => Err(ConnectorError::auth(format!("reddit refused the client credentials: {e}"))),
            _ => Err(ConnectorError::transient("token response without a token")),
        }
    }

    fn start(&self, ctx: &Context, p: &Params) -> Result<Request, ConnectorError> {
        let mut req = page_request(ctx, p, None, 0)?;
        if let Some(token) = bearer(ctx) {
            req = req.secret_header("Authorization", &format!("Bearer {token}"));
        }
        Ok(req)
    }

    fn read(&self, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        if resp.status == 429 {
            let wait = resp.retry_after().or_else(|| wait_from_text(&resp.text())).or_else(|| window_reset(resp));
            return Err(
                ConnectorError::rate_limited(format!("reddit HTTP 429: {}", summary_of(resp))).with_retry_after(wait)
            );
        }
        let body: Body = match json::parse(resp.body) {
            Ok(body) => body,
            Err(e) if resp.is_success() => {
                return Err(ConnectorError::transient(format!("unreadable reddit body: {e}")));
            }
            Err(_) if resp.status == 403 => {
                return Err(ConnectorError::auth(format!(
                    "reddit blocked the request (HTTP 403 page: {}); set APIARY_CONTACT_EMAIL for a descriptive User-Agent or configure an OAuth token",
                    summary_of(resp)
                )));
            }
            Err(_) => return Err(resp.status_error()),
        };
        if !resp.is_success() || body.error.is_some() {
            return Err(classify(resp, &body));
        }
        let (Some("Listing"), Some(data)) = (body.kind.as_ref().map(|k| &*k.0), body.data) else {
            return Err(ConnectorError::transient(format!(
                "reddit answered without a listing: {}",
                snippet(&resp.text())
            )));
        };
        let children = data.children.unwrap_or_default();
        if !children.is_empty() && children.iter().all(|c| kind(c) == Some("t5")) {
            return Err(ConnectorError::permanent(format!(
                "no subreddit `{}`: reddit redirected to subreddit search",
                p.get("subreddit").map(String::as_str).unwrap_or("")
            )));
        }
        let escaped = req.query_value("raw_json") != Some("1");
        let seen: u64 = req.query_value("count").and_then(|s| s.parse().ok()).unwrap_or(0);
        let remaining = wanted(p).saturating_sub(seen);
        let got = children.len() as u64;
        let records: Vec<Record> = children
            .into_iter()
            .filter(|c| kind(c) == Some("t3"))
            .filter_map(|c| c.data.0.and_then(|d| post(d, escaped)))
            .take(usize::try_from(remaining).unwrap_or(usize::MAX))
            .collect();
        let fetched = seen.saturating_add(got);
        let after = data.after.map(|a| a.0).filter(|a| !a.is_empty());
        let next = match after {
            Some(after) if got > 0 && fetched < wanted(p) && req.index + 1 < ctx.max_pages => {
                Some(page_request(ctx, p, Some(&after), fetched)?.with_secrets_of(req).after(req))
            }
            _ => None,
        };
        Ok(Page { records, next })
    }
}

fn wanted(p: &Params) -> u64 {
    p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_LIMIT)
}

/// The configured key as client credentials (`CLIENT_ID:CLIENT_SECRET`), if it is that.
fn client_credentials<'a>(ctx: &Context<'a>) -> Option<(&'a str, &'a str)> {
    let (id, secret) = ctx.api_key?.trim().split_once(':')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// The bearer token to send: the one obtained from client credentials, or a key that is one.
fn bearer<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    if client_credentials(ctx).is_some() {
        return ctx.token;
    }
    ctx.api_key.map(str::trim).filter(|k| !k.is_empty())
}

fn user_agent(ctx: &Context) -> String {
    match ctx.contact_email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(email) => format!("{USER_AGENT} (by contact {email})"),
        None => USER_AGENT.to_owned(),
    }
}

/// Standard base64 with padding (RFC 4648), for HTTP Basic credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The API root: with a token, reddit's own www host becomes the OAuth host.
fn root<'a>(ctx: &Context<'a>) -> &'a str {
    let has_token = bearer(ctx).is_some();
    match ctx.base_url {
        "https://www.reddit.com" | "https://reddit.com" | "http://www.reddit.com" if has_token => {
            "https://oauth.reddit.com"
        }
        base => base,
    }
}

fn page_request(ctx: &Context, p: &Params, after: Option<&str>, seen: u64) -> Result<Request, ConnectorError> {
    // Each name of a `news+worldnews` multi is one encoded segment part; the `+` between is ours.
    let sub = p
        .get("subreddit")
        .map(String::as_str)
        .unwrap_or("")
        .split('+')
        .map(|name| crate::path::segment("subreddit", name))
        .collect::<Result<Vec<_>, _>>()?
        .join("+");
    // Only a known sort ever reaches the path, whatever `p` holds.
    let sort = match p.get("sort") {
        None => "hot",
        Some(s) => SORTS.iter().copied().find(|known| known == s).ok_or_else(|| {
            ConnectorError::permanent(format!("invalid value for `sort`: `{s}` is not one of {}", SORTS.join(", ")))
        })?,
    };
    let remaining = wanted(p).saturating_sub(seen);
    let mut req = Request::get(format!("{}/r/{sub}/{sort}.json", root(ctx)))
        .query("limit", remaining.clamp(1, PAGE_SIZE).to_string());
    if let Some(t) = p.get("t") {
        req = req.query("t", t.clone());
    }
    if let Some(after) = after {
        req = req.query("after", after).query("count", seen.to_string());
    }
    Ok(req.query("raw_json", "1").header("User-Agent", user_agent(ctx)))
}

/// A JSON error body, by HTTP status (or the `error` number when the status says success).
fn classify(resp: &Response, body: &Body) -> ConnectorError {
    let code = match resp.status {
        200..=299 => body.error.as_ref().and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()).unwrap_or(400),
        s => s,
    };
    let mut detail = body.message.as_ref().map_or_else(|| "error".into(), |m| m.0.clone().into_owned());
    if let Some(StrictStr(reason)) = &body.reason {
        detail = format!("{detail} ({reason})");
    }
    if let Some(Value::String(e)) = &body.error {
        detail = format!("{detail} ({e})");
    }
    let message = format!("reddit HTTP {code}: {}", snippet(&detail));
    match code {
        401 => ConnectorError::auth(format!("{message}; the configured OAuth token is invalid or expired")),
        403 => ConnectorError::permanent(format!("{message}; the subreddit is private, quarantined or banned")),
        429 => ConnectorError::rate_limited(message).with_retry_after(resp.retry_after()),
        _ => {
            let by_status = ConnectorError::from_status(code, &detail).with_retry_after(resp.retry_after());
            ConnectorError { message, ..by_status }
        }
    }
}

/// "please wait 4 second(s)" in reddit's HTML throttle page (bounded like any upstream wait).
fn wait_from_text(text: &str) -> Option<std::time::Duration> {
    let at = text.find("please wait ")? + "please wait ".len();
    let digits = &text[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    crate::wait::delta_seconds(&digits[..end])
}

/// `x-ratelimit-reset`: seconds until reddit's rate window starts over (may be fractional).
fn window_reset(resp: &Response) -> Option<std::time::Duration> {
    crate::wait::seconds(resp.header("x-ratelimit-reset")?)
}

/// A short, tag-free summary of an error body for messages.
fn summary_of(resp: &Response) -> String {
    let text = resp.text();
    let plain = if text.trim_start().starts_with('<') { crate::guardian::html_to_text(&text) } else { clean(&text) };
    snippet(&plain)
}
