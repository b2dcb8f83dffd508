//! Bearer tokens: `read` for datasets, jobs, breakers and connectors; `admin` for everything,
//! enqueueing and holding breakers besides. With no token configured the API asks for none
//! (and refuses to start on an address other than loopback; see `cli`).
//!
//! A presented token is compared by its SHA-256 digest with the digests of the configured ones,
//! so the comparison takes the same time whatever prefix matches. Tokens are never logged: a
//! refusal is counted in `apiary_api_refusals_total{reason}` and logged without it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::{ApiToken, Scope};

/// The configured tokens, as digests.
#[derive(Clone)]
pub struct Gate {
    tokens: Arc<[(Scope, [u8; 32])]>,
}

impl Gate {
    pub fn new(tokens: &[ApiToken]) -> Gate {
        Gate { tokens: tokens.iter().map(|t| (t.scope, digest(t.token.expose()))).collect() }
    }

    /// Whether no token is configured, so that every request is let through.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether a request with this `Authorization` header may do what `need` allows.
    pub fn admit(&self, authorization: Option<&[u8]>, need: Scope) -> Result<(), Refusal> {
        if self.is_open() {
            return Ok(());
        }
        let Some(value) = authorization else { return Err(Refusal::Missing) };
        let token = value
            .split_at_checked(7)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .ok_or(Refusal::Invalid)?;
        let presented = digest(token);
        // Every digest is compared, so that the time taken does not say which one matched.
        let scope = self.tokens.iter().fold(None, |best, (scope, d)| match *d == presented {
            true => best.max(Some(*scope)),
            false => best,
        });
        match scope {
            None => Err(Refusal::Invalid),
            Some(scope) if scope < need => Err(Refusal::Scope(need)),
            Some(_) => Ok(()),
        }
    }
}

fn digest(token: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// Not a bearer token, or not one of the configured ones.
    Invalid,
    /// A valid token without the scope the route needs.
    Scope(Scope),
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "missing_token",
            Refusal::Invalid => "invalid_token",
            Refusal::Scope(_) => "insufficient_scope",
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let (status, message, challenge) = match r {
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                "this API needs a bearer token: send `Authorization: Bearer TOKEN`".to_owned(),
                r#"Bearer realm="apiary""#,
            ),
            Refusal::Invalid => (
                StatusCode::UNAUTHORIZED,
                "the bearer token is not one this API accepts".to_owned(),
                r#"Bearer realm="apiary", error="invalid_token""#,
            ),
            Refusal::Scope(need) => (
                StatusCode::FORBIDDEN,
                format!("this needs a token with the `{}` scope", need.as_str()),
                match need {
                    Scope::Read => r#"Bearer realm="apiary", error="insufficient_scope", scope="read""#,
                    Scope::Admin => r#"Bearer realm="apiary", error="insufficient_scope", scope="admin""#,
                },
            ),
        };
        ApiError { www_authenticate: Some(challenge), ..ApiError::new(status, r.reason(), message) }
    }
}

/// Middleware: let the request through if its token has scope `need`.
pub async fn require(State((gate, need)): State<(Gate, Scope)>, req: Request, next: Next) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    match gate.admit(authorization, need) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            metrics::counter!("apiary_api_refusals_total", "reason" => refusal.reason()).increment(1);
            tracing::debug!(reason = refusal.reason(), path = req.uri().path(), "request refused");
            ApiError::from(refusal).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn gate() -> Gate {
        Gate::new(&[
            ApiToken { scope: Scope::Read, token: Secret::new("r".repeat(20)) },
            ApiToken { scope: Scope::Admin, token: Secret::new("a".repeat(20)) },
        ])
    }

    #[test]
    fn scopes_are_checked() {
        let g = gate();
        let read = format!("Bearer {}", "r".repeat(20));
        let admin = format!("bearer  {} ", "a".repeat(20));
        assert_eq!(g.admit(Some(read.as_bytes()), Scope::Read), Ok(()));
        assert_eq!(g.admit(Some(read.as_bytes()), Scope::Admin), Err(Refusal::Scope(Scope::Admin)));
        assert_eq!(g.admit(Some(admin.as_bytes()), Scope::Admin), Ok(()));
        assert_eq!(g.admit(Some(admin.as_bytes()), Scope::Read), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        let g = gate();
        assert_eq!(g.admit(None, Scope::Read), Err(Refusal::Missing));
        for bad in ["", "Bearer", "Bearer ", "Basic cnJycnJycnJycnJycnJycnJycnI=", "rrrrrrrrrrrrrrrrrrrr"] {
            assert_eq!(g.admit(Some(bad.as_bytes()), Scope::Read), Err(Refusal::Invalid), "{bad:?}");
        }
        let near = format!("Bearer {}", "r".repeat(19));
        assert_eq!(g.admit(Some(near.as_bytes()), Scope::Read), Err(Refusal::Invalid));
        assert_eq!(g.admit(Some(&[0xff, 0xfe][..]), Scope::Read), Err(Refusal::Invalid));
    }

    #[test]
    fn without_tokens_everything_is_open() {
        assert_eq!(Gate::new(&[]).admit(None, Scope::Admin), Ok(()));
    }
}
