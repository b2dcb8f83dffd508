//! A breaker's state as operators see it and as it is persisted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
    /// How far from closed: 0 closed, 1 half-open, 2 open (the `apiary_breaker_state` gauge).
    pub fn rank(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "closed" => Some(BreakerState::Closed),
            "open" => Some(BreakerState::Open),
            "half_open" => Some(BreakerState::HalfOpen),
            _ => None,
        }
    }
}

/// The state as shown to operators and persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub connector: String,
    /// The operation this breaker guards, when the connector's breakers are kept per operation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation: Option<String>,
    pub state: BreakerState,
    /// Percent of failing calls in the window.
    pub failure_rate: f64,
    pub calls: u32,
    pub failures: u32,
    pub consecutive_failures: u32,
    pub opened_at: Option<DateTime<Utc>>,
    pub retry_at: Option<DateTime<Utc>>,
    /// Set while an operator holds the breaker in a state. Named `forced` on the wire and in
    /// stored snapshots (the name clients and stored rows already read).
    #[serde(rename = "forced")]
    pub held: Option<BreakerState>,
}

impl Snapshot {
    /// What names this breaker in the store and in Redis: `connector`, or `connector/operation`.
    pub fn key(&self) -> String {
        breaker_key(&self.connector, self.operation.as_deref())
    }
}

/// `connector`, or `connector/operation` for a per-operation breaker.
pub fn breaker_key(connector: &str, operation: Option<&str>) -> String {
    match operation {
        Some(op) => format!("{connector}/{op}"),
        None => connector.to_owned(),
    }
}

/// A persisted snapshot read back.
pub fn snapshot_from_json(v: serde_json::Value) -> Result<Snapshot, String> {
    serde_json::from_value(v).map_err(|e| format!("breaker snapshot: {e}"))
}
