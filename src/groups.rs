//! Failover groups ([`GroupSettings`]): connectors that answer the same question, asked in
//! priority order.
//!
//! A group job goes to the first member that can be asked now — its key and contact set, its
//! breaker not open, its quota not spent — and when that member fails, or could only be asked
//! after a wait (its breaker opened, its quota ran out), falls over to the next: the same job,
//! queued again for the next member's dataset, keeping which members were passed over and why
//! ([`Failover`]). The job fails only when no member is left, with every member's reason. With
//! no member left that can be asked now, a job that would wait waits where it is.
//!
//! A group read serves the best cached answer of any member: the first fresh one in priority
//! order, else the one fetched last (flagged stale, as every stale read is), and queues one group
//! job to refresh it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use apiary_connectors::Params;

use crate::app::{App, Question, RequestError};
use crate::config::GroupSettings;
use crate::resilience::BreakerState;
use crate::store::{Dataset, Failover, JobRow, Passed};

/// A question asked of a group: the group's parameters, checked, and each member's question.
pub struct GroupQuestion<'a> {
    pub group: &'a GroupSettings,
    /// The group's parameters, as given.
    pub params: Params,
    /// Each member in priority order, with its question, or why its connector refused the
    /// parameters the group maps to.
    pub members: Vec<Asked>,
}

/// One member's question, or why there is none.
pub struct Asked {
    pub connector: &'static str,
    pub question: Result<Question, String>,
}

impl Asked {
    /// `member`'s question for the group's `params`.
    fn of(member: &crate::config::Member, params: &Params) -> Asked {
        let question = Question::new(member.connector, member.params(params)).map_err(|e| e.to_string());
        Asked { connector: member.connector, question }
    }
}

impl<'a> GroupQuestion<'a> {
    /// `raw` asked of the group `name`: exactly the group's parameters, which at least one
    /// member must accept.
    pub fn new(app: &'a App, name: &str, raw: Params) -> Result<GroupQuestion<'a>, RequestError> {
        let group = app.config().group(name).ok_or_else(|| RequestError::UnknownGroup {
            name: name.to_owned(),
            known: app.config().groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let refuse = |message: String| RequestError::GroupParams { group: group.name.clone(), message };
        if let Some(extra) = raw.keys().find(|k| !group.params.contains(k)) {
            return Err(refuse(format!(
                "unknown parameter `{}`; the group's parameters: {}",
                apiary_connectors::text::snippet(extra),
                group.params.join(", ")
            )));
        }
        if let Some(missing) = group.params.iter().find(|p| !raw.contains_key(*p)) {
            return Err(refuse(format!(
                "missing parameter `{missing}`; the group's parameters: {}",
                group.params.join(", ")
            )));
        }
        let members: Vec<Asked> = group.members.iter().map(|m| Asked::of(m, &raw)).collect();
        if members.iter().all(|m| m.question.is_err()) {
            let reasons: Vec<String> = members
                .iter()
                .filter_map(|m| Some(format!("{}: {}", m.connector, m.question.as_ref().err()?)))
                .collect();
            return Err(refuse(format!("no member accepts these parameters ({})", reasons.join("; "))));
        }
        Ok(GroupQuestion { group, params: raw, members })
    }

    fn params_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.params.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
    }
}

/// Why a member cannot be asked.
enum Unusable {
    /// Not until the configuration changes.
    Never(String),
    /// Not now: its breaker is open, or its quota spent.
    Now(String),
}

/// Why `q`'s connector cannot be asked now, if it cannot.
async fn unusable(app: &App, q: &Question) -> Option<Unusable> {
    let c = q.connector;
    if c.requires_key() && app.config().connector(c.id()).is_none_or(|s| s.api_key.is_none()) {
        let var = format!("APIARY_CONNECTORS__{}__API_KEY", c.id().to_uppercase());
        return Some(Unusable::Never(format!("no API key ({var})")));
    }
    if c.requires_contact() && app.config().contact_email.is_none() {
        return Some(Unusable::Never("no contact e-mail (APIARY_CONTACT_EMAIL)".into()));
    }
    if app.breakers().dataset_state(c, &q.params).await == BreakerState::Open {
        return Some(Unusable::Now("breaker open".into()));
    }
    if app.fetcher().stack(c.id()).is_some_and(|s| s.quota_spent()) {
        return Some(Unusable::Now("rate limit reached".into()));
    }
    None
}

/// Of `members` in order, the one to ask and the ones passed over before it. The first that can
/// be asked now; failing that, with `may_wait`, the first that can be asked after a wait.
async fn choose(app: &App, members: &[Asked], may_wait: bool) -> (Option<usize>, Vec<Passed>) {
    let mut passed = Vec::new();
    // The first member that could be asked after a wait, and how many were passed before it.
    let mut later: Option<(usize, usize)> = None;
    for (i, m) in members.iter().enumerate() {
        let reason = match &m.question {
            Err(refused) => refused.clone(),
            Ok(q) => match unusable(app, q).await {
                None => return (Some(i), passed),
                Some(Unusable::Never(why)) => why,
                Some(Unusable::Now(why)) => {
                    later.get_or_insert((i, passed.len()));
                    why
                }
            },
        };
        passed.push(Passed { connector: m.connector.to_owned(), reason });
    }
    match later.filter(|_| may_wait) {
        Some((i, before)) => {
            passed.truncate(before);
            (Some(i), passed)
        }
        None => (None, passed),
    }
}

fn reasons(passed: &[Passed]) -> String {
    passed.iter().map(|p| format!("{}: {}", p.connector, p.reason)).collect::<Vec<_>>().join("; ")
}

/// Queue a group job: for the first member that can be asked now (or, when none can, the first
/// that can after a wait). A dataset of that member already waiting returns its pending job
/// (`false`), as any enqueue does.
pub async fn enqueue(
    app: &App,
    gq: &GroupQuestion<'_>,
    request_id: Option<&str>,
) -> Result<(JobRow, bool), RequestError> {
    let (chosen, passed) = choose(app, &gq.members, true).await;
    let Some(Ok(q)) = chosen.map(|i| &gq.members[i].question) else {
        return Err(RequestError::NoMember { group: gq.group.name.clone(), reasons: reasons(&passed) });
    };
    let failover = Failover { group: gq.group.name.clone(), params: gq.params_json(), passed };
    let (job, created) = app.enqueue_job(q, request_id, Some(&failover)).await?;
    if created {
        tracing::info!(job_id = %job.id, group = %gq.group.name, member = q.connector.id(), "group job queued");
    }
    Ok((job, created))
}

/// Where a group job goes after its member `current` failed for `reason`.
pub enum Next {
    /// To this member, with the members passed over so far.
    Member(Question, Failover),
    /// Nowhere: no member is left that can be asked (now, unless `may_wait`); every member
    /// passed over, with why.
    Exhausted(Failover),
}

/// The member after `current` that a job of `failover`'s group falls over to: the next one in
/// priority order that can be asked now, or with `may_wait` after a wait.
pub async fn next_member(app: &App, failover: &Failover, current: &str, reason: &str, may_wait: bool) -> Next {
    let mut after = failover.clone();
    after.passed.push(Passed { connector: current.to_owned(), reason: reason.to_owned() });
    let Some(group) = app.config().group(&failover.group) else {
        return Next::Exhausted(after);
    };
    let params = App::params(&failover.params);
    let rest: Vec<Asked> =
        group.members.iter().skip_while(|m| m.connector != current).skip(1).map(|m| Asked::of(m, &params)).collect();
    let (chosen, passed) = choose(app, &rest, may_wait).await;
    after.passed.extend(passed);
    match chosen.map(|i| rest.into_iter().nth(i).map(|a| a.question)) {
        Some(Some(Ok(q))) => Next::Member(q, after),
        _ => Next::Exhausted(after),
    }
}

/// Why a group job failed for good: every member, with its reason.
pub fn exhausted_message(failover: &Failover) -> String {
    format!("every member of group {} failed or was passed over: {}", failover.group, reasons(&failover.passed))
}

/// One member's part of a group read.
#[derive(Serialize)]
pub struct MemberState {
    pub connector: &'static str,
    /// The member's dataset for the question (`null` when its connector refused the parameters).
    pub dataset: Option<String>,
    pub breaker: BreakerState,
    pub cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
    /// Why the member's connector refused the group's parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A group read: every member's state, and the answer served, if any member has one cached.
pub struct GroupRead {
    pub members: Vec<MemberState>,
    pub served: Option<Served>,
}

/// The cached answer a group read serves.
pub struct Served {
    /// Which member's it is (an index into [`GroupRead::members`]).
    pub member: usize,
    pub dataset: Dataset,
    pub age: std::time::Duration,
    pub stale: bool,
    pub breaker: BreakerState,
    /// The group job a stale answer queued to refresh it.
    pub refresh_job: Option<String>,
}

/// The best cached answer to `gq`: the first member's in priority order that is fresh, else the
/// one fetched last, which is stale and queues a group job to refresh it (unless every member's
/// breaker is open). The one rule for `GET /v1/groups/…` and `apiary get --group`.
pub async fn read(app: &App, gq: &GroupQuestion<'_>) -> Result<GroupRead, RequestError> {
    let mut members = Vec::with_capacity(gq.members.len());
    let mut cached: Vec<(usize, Dataset, std::time::Duration, bool, BreakerState)> = Vec::new();
    for (i, m) in gq.members.iter().enumerate() {
        let q = match &m.question {
            Ok(q) => q,
            Err(e) => {
                members.push(MemberState {
                    connector: m.connector,
                    dataset: None,
                    breaker: app.breakers().state(m.connector).await,
                    cached: false,
                    fetched_at: None,
                    stale: None,
                    error: Some(e.clone()),
                });
                continue;
            }
        };
        let breaker = app.breakers().dataset_state(q.connector, &q.params).await;
        let d = app.dataset(q).await?;
        let mut state = MemberState {
            connector: m.connector,
            dataset: Some(q.key.clone()),
            breaker,
            cached: d.is_some(),
            fetched_at: None,
            stale: None,
            error: None,
        };
        if let Some(d) = d {
            let age = (Utc::now() - d.fetched_at).to_std().unwrap_or_default();
            let stale = app.is_stale(m.connector, age, breaker);
            (state.fetched_at, state.stale) = (Some(d.fetched_at), Some(stale));
            cached.push((i, d, age, stale, breaker));
        }
        members.push(state);
    }
    let best = match cached.iter().position(|(_, _, _, stale, _)| !stale) {
        Some(fresh) => Some(fresh),
        None => cached.iter().enumerate().max_by_key(|(_, c)| c.1.fetched_at).map(|(at, _)| at),
    };
    let Some((member, dataset, age, stale, breaker)) = best.map(|at| cached.swap_remove(at)) else {
        return Ok(GroupRead { members, served: None });
    };
    let mut refresh_job = None;
    if stale && members.iter().any(|m| m.breaker != BreakerState::Open) {
        match enqueue(app, gq, None).await {
            Ok((job, _)) => refresh_job = Some(job.id),
            Err(e) => tracing::warn!(group = %gq.group.name, error = %e, "could not queue a group refresh"),
        }
    }
    Ok(GroupRead { members, served: Some(Served { member, dataset, age, stale, breaker, refresh_job }) })
}

/// A group read's body: the served dataset as a dataset read shows it, with the group, the
/// member that served it and every member's state.
#[derive(Serialize)]
pub struct Body<'a> {
    group: &'a str,
    params: serde_json::Map<String, serde_json::Value>,
    served_by: &'static str,
    dataset: &'a str,
    connector: &'a str,
    records: &'a RawValue,
    record_count: i64,
    fetched_at: DateTime<Utc>,
    changed_at: DateTime<Utc>,
    age_seconds: u64,
    stale: bool,
    served_from: &'static str,
    breaker: BreakerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_job: Option<&'a str>,
    members: &'a [MemberState],
}

impl GroupRead {
    /// The body of this read, when it serves an answer.
    pub fn body<'a>(&'a self, gq: &'a GroupQuestion<'_>) -> Option<Body<'a>> {
        let s = self.served.as_ref()?;
        Some(Body {
            group: &gq.group.name,
            params: gq.params_json(),
            served_by: self.members[s.member].connector,
            dataset: &s.dataset.key,
            connector: &s.dataset.connector,
            records: &s.dataset.records.0,
            record_count: s.dataset.record_count,
            fetched_at: s.dataset.fetched_at,
            changed_at: s.dataset.changed_at,
            age_seconds: s.age.as_secs(),
            stale: s.stale,
            served_from: "cache",
            breaker: s.breaker,
            refresh_job: s.refresh_job.as_deref(),
            members: &self.members,
        })
    }

    /// Whether every member that could answer has its breaker open.
    pub fn all_open(&self) -> bool {
        self.members.iter().filter(|m| m.error.is_none()).all(|m| m.breaker == BreakerState::Open)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Template};

    fn config() -> Config {
        Config::load_with(&[], std::iter::empty()).unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> apiary_connectors::Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_shipped_groups_map_their_parameters_to_each_members() {
        let config = config();
        let bars = config.group("daily_bars").expect("daily_bars ships");
        let members: Vec<&str> = bars.members.iter().map(|m| m.connector).collect();
        assert_eq!(members, ["yahoo_finance", "polygon", "alpha_vantage"]);
        let asked = params(&[("symbol", "AAPL"), ("from", "2024-01-02"), ("to", "2024-01-31")]);
        let polygon = bars.members[1].params(&asked);
        assert_eq!(polygon.get("ticker").map(String::as_str), Some("AAPL"));
        assert_eq!(polygon.get("timespan").map(String::as_str), Some("day"));
        assert_eq!(polygon.get("from").map(String::as_str), Some("2024-01-02"));
        let papers = config.group("paper_by_doi").expect("paper_by_doi ships");
        let doi = params(&[("doi", "10.1038/nature14539")]);
        assert_eq!(papers.members[1].params(&doi).get("paper_id").map(String::as_str), Some("DOI:10.1038/nature14539"));
        assert_eq!(papers.members[2].params(&doi).get("term").map(String::as_str), Some("10.1038/nature14539[doi]"));
    }

    #[test]
    fn templates_name_only_the_groups_parameters() {
        let known = ["doi".to_owned()];
        let t = Template::parse("{{{doi}}}[doi]", &known).unwrap();
        let doi = params(&[("doi", "10.1/x")]);
        assert_eq!(t.fill(&doi), "{10.1/x}[doi]");
        assert!(Template::parse("{isbn}", &known).unwrap_err().contains("`{isbn}`"));
        assert!(Template::parse("doi}", &known).is_err());
        assert!(Template::parse("{doi", &known).unwrap_err().contains("no closing"));
    }

    #[test]
    fn a_broken_group_is_refused_at_start_with_its_key() {
        let bad = |toml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("groups.toml");
            std::fs::write(&file, toml).unwrap();
            Config::load_with(&[file], std::iter::empty()).unwrap_err().to_string()
        };
        let err = bad("[[groups]]\nname = \"g\"\nparams = [\"q\"]\nmembers = [\"nope\"]\n");
        assert!(err.contains("groups.g.members") && err.contains("`nope`"), "{err}");
        let err = bad(
            "[[groups]]\nname = \"g\"\nparams = [\"q\"]\nmembers = [\"arxiv\"]\n[groups.map.arxiv]\nsearch_query = \"{x}\"\n",
        );
        assert!(err.contains("groups.g.map.arxiv.search_query") && err.contains("`{x}`"), "{err}");
        let err = bad(
            "[[groups]]\nname = \"g\"\nparams = [\"q\"]\nmembers = [\"arxiv\"]\n[groups.map.arxiv]\nquery = \"{q}\"\n",
        );
        assert!(err.contains("arxiv has no parameter `query`"), "{err}");
        let err = bad(
            "[[groups]]\nname = \"g\"\nparams = [\"q\"]\nmembers = [\"polygon\"]\n[groups.map.polygon]\nticker = \"{q}\"\n",
        );
        assert!(err.contains("does not set `multiplier`"), "{err}");
        let err = bad("[[groups]]\nname = \"G!\"\nparams = []\nmembers = [\"arxiv\"]\n");
        assert!(err.contains("groups[0].name"), "{err}");
    }
}
