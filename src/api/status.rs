//! `GET /status`: the service at a glance, for a person — breakers with their states and retry
//! times, quotas used, jobs by status and the latest ones, the datasets fetched longest ago. Plain
//! HTML written here, no script; it reloads itself every 10 s.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use html_escape::encode_text as text;

use super::error::ApiError;
use crate::app::App;
use crate::resilience::{BreakerState, Snapshot};

/// Rows of each list.
const ROWS: i64 = 20;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;min-width:40em}th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #ddd}\
th{background:#f4f4f4}.closed{color:#16794a}.half_open{color:#9a6700}.open{color:#c62828;font-weight:600}\
.failed{color:#c62828}.succeeded{color:#16794a}.stale{color:#9a6700}.muted{color:#777}";

pub async fn page(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let now = Utc::now();
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>apiary status</title><style>{STYLE}</style></head><body><h1>apiary</h1>\
         <p class=\"muted\">cache on {}, queue on {}{} — {}</p>",
        app.store().kind(),
        app.queue().backend(),
        if app.fleet().is_some() { ", fleet mode (limits and breakers shared through Redis)" } else { "" },
        now.format("%Y-%m-%d %H:%M:%S UTC"),
    );

    html.push_str("<h2>Breakers</h2><table><tr><th>breaker</th><th>state</th><th>failed / calls</th><th>retry at</th><th>held</th><th>last probe</th></tr>");
    for s in app.breakers().all().await {
        let probe = app.fetcher().stack(&s.connector).and_then(|stack| stack.last_probe());
        breaker_row(&mut html, &s, probe, now);
    }
    for s in app.store().breaker_snapshots() {
        breaker_row(&mut html, &s, None, now);
    }
    html.push_str("</table>");

    html.push_str(
        "<h2>Quotas (this process)</h2><table><tr><th>connector</th><th>quota</th><th>used</th><th>next free</th></tr>",
    );
    for stack in app.fetcher().stacks() {
        let Some(settings) = app.config().connector(stack.id) else { continue };
        let free = stack.limiter.until_free();
        // A quota too large to log in full is kept at its rate over a shorter window: the
        // window's own size is shown beside what of it is used.
        for (quota, (used, size)) in settings.rate_limit.iter().zip(stack.limiter.usage()) {
            let next = if free.is_zero() { "now".to_owned() } else { format!("in {:.1} s", free.as_secs_f64()) };
            let _ =
                write!(html, "<tr><td>{}</td><td>{quota}</td><td>{used} of {size}</td><td>{next}</td></tr>", stack.id);
        }
    }
    html.push_str("</table>");

    let counts = app.store().job_counts().await?;
    html.push_str("<h2>Jobs</h2><p>");
    if counts.is_empty() {
        html.push_str("none yet");
    }
    for (i, (status, n)) in counts.iter().enumerate() {
        let _ = write!(
            html,
            "{}<span class=\"{}\">{} {n}</span>",
            if i > 0 { ", " } else { "" },
            text(status),
            text(status)
        );
    }
    html.push_str("</p><table><tr><th>job</th><th>connector</th><th>dataset</th><th>status</th><th>attempts</th><th>updated</th><th>error</th></tr>");
    for job in app.store().recent_jobs(ROWS).await? {
        let error = job.error.as_deref().map(apiary_connectors::text::snippet).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td title=\"{id}\">{short}</td><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&job.connector),
            text(&job.key),
            job.attempts,
            ago(job.updated_at, now),
            text(&error),
            id = html_escape::encode_double_quoted_attribute(&job.id),
            short = text(job.id.get(..8).unwrap_or(&job.id)),
            status = text(&job.status),
        );
    }
    html.push_str("</table>");

    let total = app.store().dataset_count().await?;
    let _ = write!(
        html,
        "<h2>Datasets</h2><p>{total} cached; fetched longest ago first:</p>\
         <table><tr><th>dataset</th><th>records</th><th>fetched</th><th>stale</th></tr>"
    );
    for d in app.store().oldest_datasets(ROWS).await? {
        let age = (now - d.fetched_at).to_std().unwrap_or_default();
        let state = app.breakers().state(&d.connector).await;
        let stale = app.is_stale(&d.connector, age, state);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            text(&d.key),
            d.record_count,
            ago(d.fetched_at, now),
            if stale { "stale" } else { "" },
            if stale { "stale" } else { "fresh" },
        );
    }
    html.push_str("</table></body></html>");
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html).into_response())
}

fn breaker_row(html: &mut String, s: &Snapshot, probe: Option<(DateTime<Utc>, bool)>, now: DateTime<Utc>) {
    let retry = match (s.state, s.retry_at) {
        _ if s.held.is_some() => "when released".to_owned(),
        (BreakerState::Closed, _) | (_, None) => String::new(),
        (_, Some(at)) if at <= now => "now".to_owned(),
        (_, Some(at)) => format!("{} (in {} s)", at.format("%H:%M:%S"), (at - now).num_seconds()),
    };
    let probe = match probe {
        Some((at, ok)) => format!("{} {}", ago(at, now), if ok { "answered" } else { "failed" }),
        None => String::new(),
    };
    let _ = write!(
        html,
        "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{} / {}</td><td>{retry}</td><td>{}</td><td>{probe}</td></tr>",
        text(&s.key()),
        s.failures,
        s.calls,
        s.held.map_or("", BreakerState::as_str),
        state = s.state.as_str(),
    );
}

/// `3 s ago`, `5 min ago`, `2 h ago`, `4 d ago`.
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        let now = chrono::Utc::now();
        let before = |secs| now - chrono::Duration::seconds(secs);
        assert_eq!(ago(before(3), now), "3 s ago");
        assert_eq!(ago(before(300), now), "5 min ago");
        assert_eq!(ago(before(7300), now), "2 h ago");
        assert_eq!(ago(before(4 * 86_400 + 5), now), "4 d ago");
        assert_eq!(ago(now + chrono::Duration::seconds(5), now), "0 s ago");
    }
}
