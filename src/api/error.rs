//! API errors: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::RequestError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u64>,
    /// The challenge of a `401`/`403`, for `WWW-Authenticate`.
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, www_authenticate: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// `503 upstream_unavailable` with `Retry-After` until `retry_at` (at least 1 s; 1 s when
    /// unknown); `message` is given those seconds.
    pub fn upstream_unavailable(
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
        message: impl FnOnce(u64) -> String,
    ) -> Self {
        let secs = retry_at.map_or(1, |at| (at - chrono::Utc::now()).num_seconds().max(1) as u64);
        ApiError {
            retry_after: Some(secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable", message(secs))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.www_authenticate {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        resp
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::UnknownConnector(_) => ApiError::not_found("unknown_connector", e.to_string()),
            RequestError::Params(p) => ApiError::bad_request("invalid_params", p.to_string()),
            RequestError::TooLong(_) | RequestError::GroupParams { .. } => {
                ApiError::bad_request("invalid_params", e.to_string())
            }
            RequestError::UnknownGroup { .. } => ApiError::not_found("unknown_group", e.to_string()),
            RequestError::NoMember { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "group_unavailable", e.to_string())
            }
            RequestError::QueueFull { message, retry_after } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", message)
            },
            RequestError::Store(s) => {
                tracing::error!(error = %s, "store error while serving a request");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", s.to_string())
            }
            RequestError::Queue(q) => {
                tracing::error!(error = %q, "queue error while serving a request");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable", q.to_string())
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        RequestError::from(e).into()
    }
}

/// Refusals of malformed bodies and queries, in the same shape as every other error.
pub fn rejection(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad_request", e.to_string())
}

/// A JSON body refused: `413` past `api.max_body`, else as [`rejection`].
pub fn body_rejection(e: axum::extract::rejection::JsonRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this API accepts (api.max_body)",
        ),
        _ => rejection(e),
    }
}
