//! A stack's metric handles, built once.

use std::sync::OnceLock;

use apiary_connectors::ErrorClass;
use metrics::{Counter, Histogram};

/// This stack's metric handles. Building one through `metrics::counter!` with labels makes a key
/// and looks it up in the recorder's registry, which cost more than the rest of a call did; each
/// handle is therefore built on first use (so a series appears in `/metrics` at its first
/// increment, as with the macro at each call) and reused after. The handle belongs to the recorder
/// installed at that first use: `App::start` installs the Prometheus recorder before any stack
/// exists.
#[derive(Default)]
pub(super) struct Meters {
    /// `apiary_upstream_calls_total` by outcome: index 0 is `success`, then each [`ErrorClass`],
    /// then `not_modified`.
    pub(super) calls: [OnceLock<Counter>; 7],
    pub(super) call_seconds: OnceLock<Histogram>,
    pub(super) rejections: OnceLock<Counter>,
    pub(super) deferrals: OnceLock<Counter>,
}

/// `result`: whether the call succeeded as not modified, or its error class.
pub(super) fn outcome_index(result: &Result<bool, ErrorClass>) -> usize {
    match result {
        Ok(false) => 0,
        Ok(true) => 6,
        Err(ErrorClass::RateLimited) => 1,
        Err(ErrorClass::Transient) => 2,
        Err(ErrorClass::Permanent) => 3,
        Err(ErrorClass::Auth) => 4,
        Err(ErrorClass::Config) => 5,
    }
}
