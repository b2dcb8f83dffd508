//! Classified connector failures. The class, not the HTTP status, decides what happens next:
//! whether the call is retried, whether it counts against the upstream's health in the breaker,
//! and whether the job fails loudly.

use std::time::Duration;

/// What kind of failure a response (or a request that could not be built) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The upstream throttled us (HTTP 429, or a body that says so). Retried after a wait.
    RateLimited,
    /// 5xx, timeouts, connection errors, truncated or unparseable bodies. Retried with backoff.
    Transient,
    /// Bad parameters or an unknown id. Not retried; the upstream is healthy.
    Permanent,
    /// A bad or missing key. Not retried; surfaced loudly.
    Auth,
    /// apiary's own configuration cannot make this call (e.g. no contact e-mail for SEC).
    Config,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Auth => "auth",
            ErrorClass::Config => "config",
        }
    }
}

/// A classified failure with a message fit for logs and job status (never a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{class}: {message}", class = .class.as_str())]
pub struct ConnectorError {
    pub class: ErrorClass,
    pub message: String,
    /// The wait the upstream asked for, when it said so.
    pub retry_after: Option<Duration>,
}

impl ConnectorError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ConnectorError { class, message: message.into(), retry_after: None }
    }
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::RateLimited, message)
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Auth, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Config, message)
    }
    /// The wait the upstream asked for, at most [`crate::MAX_RETRY_AFTER`] however it was read.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait.map(crate::wait::clamp);
        self
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::RateLimited | ErrorClass::Transient)
    }

    /// Whether the failure says something about the upstream's health (and so feeds the breaker).
    pub fn counts_against_upstream(&self) -> bool {
        matches!(self.class, ErrorClass::RateLimited | ErrorClass::Transient)
    }

    /// A failure classified from the HTTP status alone, for bodies that carry nothing better.
    pub fn from_status(status: u16, detail: &str) -> Self {
        let detail = crate::text::snippet(detail);
        let message = format!("HTTP {status}: {detail}");
        match status {
            429 => Self::rate_limited(message),
            401 | 403 => Self::auth(message),
            408 | 425 | 500..=599 => Self::transient(message),
            _ => Self::permanent(message),
        }
    }
}
