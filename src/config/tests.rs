use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_load_for_every_connector() {
    let c = Config::load_with(&[], env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://apiary.db");
    assert_eq!(c.queue.backend, QueueBackend::Sqlite);
    assert_eq!(c.connectors.len(), apiary_connectors::all().len());
    let arxiv = c.connector("arxiv").unwrap();
    assert_eq!(arxiv.rate_limit, vec![Quota { count: 1, period: Duration::from_secs(3) }]);
    assert_eq!(arxiv.breaker.failure_threshold, 4);
    assert_eq!(arxiv.breaker.recovery_timeout, Duration::from_secs(60));
    let av = c.connector("alpha_vantage").unwrap();
    assert_eq!(av.breaker.failure_threshold, 3);
    assert_eq!(av.breaker.timeout, Duration::from_secs(25));
    assert_eq!(c.connector("sec_edgar").unwrap().rate_limit[0].count, 10);
}

#[test]
fn environment_overrides_exactly_as_documented() {
    let c = Config::load_with(
        &[],
        env(&[
            ("APIARY_LISTEN", "0.0.0.0:9000"),
            ("APIARY_DATABASE_URL", "postgres://127.0.0.1/test"),
            ("APIARY_QUEUE__BACKEND", "redis"),
            ("APIARY_REDIS_URL", "redis://127.0.0.1:6379/"),
            ("APIARY_CONTACT_EMAIL", "ops@example.org"),
            ("APIARY_CONNECTORS__ARXIV__BASE_URL", "http://127.0.0.1:9999/"),
            ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "5/min,25/day"),
            ("APIARY_CONNECTORS__ARXIV__TTL", "15m"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "3"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__RATE_THRESHOLD", "55"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "4s"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__TIMEOUT", "250ms"),
            ("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "12345"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.queue.backend, QueueBackend::Redis);
    assert_eq!(c.contact_email.as_deref(), Some("ops@example.org"));
    let a = c.connector("arxiv").unwrap();
    assert_eq!(a.base_url, "http://127.0.0.1:9999");
    assert_eq!(a.rate_limit.len(), 2);
    assert_eq!(a.rate_limit[1], Quota { count: 25, period: Duration::from_secs(86400) });
    assert_eq!(a.ttl, Duration::from_secs(900));
    assert_eq!(a.breaker.failure_threshold, 3);
    assert_eq!(a.breaker.failure_rate_threshold, 55.0);
    assert_eq!(a.breaker.recovery_timeout, Duration::from_secs(4));
    assert_eq!(a.breaker.timeout, Duration::from_millis(250));
    // Group defaults still fill what the connector does not set.
    assert_eq!(a.breaker.success_threshold, 2);
    let key = c.connector("alpha_vantage").unwrap().api_key.as_ref().unwrap();
    assert_eq!(key.expose(), "12345", "a numeric key keeps its exact text");
    assert_eq!(format!("{key:?}"), "[redacted]");
    assert!(!format!("{c:?}").contains("12345"), "Debug of the config shows no key");
}

#[test]
fn bad_values_name_the_key_and_the_variable() {
    let err = Config::load_with(&[], env(&[("APIARY_CONNECTORS__ARXIV__TTL", "soon")])).unwrap_err().to_string();
    assert!(err.contains("connectors.arxiv.ttl") && err.contains("APIARY_CONNECTORS__ARXIV__TTL"), "{err}");
    let err = Config::load_with(&[], env(&[("APIARY_CONNECTORS__SEC_EDGAR__RATE_LIMIT", "ten per second")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("connectors.sec_edgar.rate_limit"), "{err}");
    let err = Config::load_with(&[], env(&[("APIARY_QUEUE__BACKEND", "kafka")])).unwrap_err().to_string();
    assert!(err.contains("queue.backend") && err.contains("kafka"), "{err}");
    let err = Config::load_with(&[], env(&[("APIARY_QUEUE__BACKEND", "redis")])).unwrap_err().to_string();
    assert!(err.contains("redis_url"), "{err}");
    let err = Config::load_with(&[], env(&[("APIARY_CONNECTORS__NOPE__TTL", "1h")])).unwrap_err().to_string();
    assert!(err.contains("connectors.nope"), "{err}");
    let err = Config::load_with(&[], env(&[("APIARY_LISTEN", "here")])).unwrap_err().to_string();
    assert!(err.contains("listen"), "{err}");
}

#[test]
fn files_layer_between_defaults_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("apiary.toml");
    std::fs::write(&file, "[connectors.census]\nttl = \"1d\"\nrate_limit = \"2/s\"\n").unwrap();
    let c = Config::load_with(std::slice::from_ref(&file), env(&[("APIARY_CONNECTORS__CENSUS__RATE_LIMIT", "3/s")]))
        .unwrap();
    let census = c.connector("census").unwrap();
    assert_eq!(census.ttl, Duration::from_secs(86400));
    assert_eq!(census.rate_limit[0].count, 3);
    std::fs::write(&file, "[connectors.census]\napi_key = \"oops\"\n").unwrap();
    let err = Config::load_with(&[file], env(&[])).unwrap_err().to_string();
    assert!(err.contains("environment") && !err.contains("oops"), "{err}");
    let err = Config::load_with(&[dir.path().join("missing.toml")], env(&[])).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn durations_and_quotas_parse() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
    assert!(parse_duration("4 parsecs").is_err());
    assert_eq!(format_duration(Duration::from_secs(3)), "3s");
    assert_eq!(format_duration(Duration::from_secs(86400)), "1d");
    let q = parse_rate_limit("1/3s").unwrap();
    assert_eq!(q, vec![Quota { count: 1, period: Duration::from_secs(3) }]);
    assert!(parse_rate_limit("0/s").is_err());
    assert!(parse_rate_limit("").is_err());
    let shown: Vec<String> =
        parse_rate_limit("5/min,25/day,10/s,1/3s").unwrap().iter().map(|q| q.to_string()).collect();
    assert_eq!(shown, ["5/min", "25/day", "10/s", "1/3s"]);
}

#[test]
fn api_tokens_come_from_the_environment_with_their_scope() {
    let c = Config::load_with(
        &[],
        env(&[("APIARY_API_TOKENS", "admin:0123456789abcdef0123, read:1111111111111111\nread:2222222222222222")]),
    )
    .unwrap();
    let scopes: Vec<_> = c.api.tokens.iter().map(|t| t.scope).collect();
    assert_eq!(scopes, [Scope::Admin, Scope::Read, Scope::Read]);
    assert_eq!(c.api.tokens[0].token.expose(), "0123456789abcdef0123");
    assert!(!format!("{c:?}").contains("0123456789abcdef0123"), "a token shows in Debug");
    assert!(Config::load_with(&[], env(&[])).unwrap().api.tokens.is_empty());
}

#[test]
fn bad_api_tokens_are_refused_without_showing_them() {
    for (value, expected) in [
        ("write:0123456789abcdef", "scope must be `read` or `admin`"),
        ("admin:short", "at least 16"),
        ("0123456789abcdef", "is not `read:TOKEN`"),
        (" , ", "holds no token"),
    ] {
        let e = Config::load_with(&[], env(&[("APIARY_API_TOKENS", value)])).unwrap_err().to_string();
        assert!(e.contains(expected), "{value:?}: {e}");
        assert!(!e.contains("0123456789abcdef") && !e.contains("short"), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("apiary.toml");
    std::fs::write(&file, "[api]\ntokens = \"admin:0123456789abcdef\"\n").unwrap();
    let e = Config::load_with(&[file], env(&[])).unwrap_err().to_string();
    assert!(e.contains("may not be set in a file") && !e.contains("0123456789abcdef"), "{e}");
}
