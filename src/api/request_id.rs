//! `X-Request-Id`: taken from the request when it is a sensible id, minted otherwise, returned
//! on the response, kept in the span of a request that changes something (so its log lines
//! carry it) and by the job a `POST /v1/jobs` creates, whose worker span carries it too.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, for handlers that hand it on.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ids of visible ASCII are kept or minted.
        self.0.to_str().unwrap_or_default()
    }
}

/// Longest id taken from a client; a longer one, or one with other than letters, digits and
/// `-_.:`, is replaced.
const MAX_LEN: usize = 128;

fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= MAX_LEN && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// A new id: this process's random prefix and a counter, unique across a fleet without a
/// random draw per request.
fn mint() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    let id = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&HEADER) {
        Some(v) if acceptable(v) => v.clone(),
        _ => mint(),
    };
    // A request that changes something (an enqueue, a hold) runs in a span carrying the id, so
    // its log lines do, and hands it on to its handler (a job keeps it). Reads, the hot path,
    // only return it: an enabled span per read, its fields formatted as it opens, cost cached
    // reads measurably (BENCHMARKS.md), and a read logs little.
    let mut resp = match req.method() {
        &Method::GET | &Method::HEAD => next.run(req).await,
        method => {
            let method = method.clone();
            req.extensions_mut().insert(RequestId(id.clone()));
            let span = tracing::info_span!(
                "request",
                request_id = id.to_str().unwrap_or_default(),
                method = %method,
                path = req.uri().path()
            );
            next.run(req).instrument(span).await
        }
    };
    resp.headers_mut().insert(HEADER.clone(), id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensible_ids_are_kept_and_others_replaced() {
        for good in ["abc-123", "0f8e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "svc.a:1_2"] {
            assert!(acceptable(&HeaderValue::from_static(good)), "{good}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in ["", "has space", "semi;colon", "quote\"", long.as_str()] {
            assert!(!acceptable(&HeaderValue::from_str(bad).unwrap()), "{bad}");
        }
        let (a, b) = (mint(), mint());
        assert_ne!(a, b);
        assert!(acceptable(&a) && acceptable(&b));
    }
}
