//! Property test: the real [`Breaker`] against a plain reference model of the semantics in the
//! module docs, driven by random settings and random sequences of calls, held permits and clock
//! advances under paused tokio time. After every step the two must agree on whether a call was
//! allowed (and how long a refusal says to wait), on the state, and on the window counts.
//!
//! The model is written from the documentation, not from the implementation: time is a plain
//! millisecond counter, the window a list, the states an enum carrying their own data. Two
//! readings the documentation leaves open are pinned here as the breaker decides them:
//! - the failure rate is judged when a failure is recorded (a success never opens the breaker);
//! - a call's news counts only in the state (and state generation) its permit was issued in —
//!   a result arriving after the breaker moved on is dropped.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

/// A slot for a permit the test holds across other steps (probes in flight).
struct Held {
    real: Permit,
    model: ModelPermit,
}

#[derive(Debug, Clone)]
enum Op {
    /// Acquire, let `elapsed_ms` pass, record `outcome` with that elapsed time.
    Call { outcome: Outcome, elapsed_ms: u64 },
    /// Acquire and hold the permit.
    Acquire,
    /// Record a held permit (index modulo the number held).
    Finish { idx: usize, outcome: Outcome, elapsed_ms: u64 },
    /// Give a held permit back unused.
    Release { idx: usize },
    /// Let time pass with no traffic.
    Advance { ms: u64 },
}

// ---- the reference model -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum ModelState {
    Closed,
    /// Refusing calls until this time (ms).
    Open {
        until: u64,
    },
    HalfOpen {
        in_flight: u32,
        successes: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    probe: bool,
    /// Which stay in a state this permit belongs to; bumped on every state entry.
    epoch: u64,
}

#[derive(Debug)]
struct Model {
    s: BreakerSettings,
    /// Model clock, in milliseconds since the start.
    now: u64,
    state: ModelState,
    epoch: u64,
    consecutive: u32,
    /// Counted outcomes of the closed state: (when in ms, failed).
    window: Vec<(u64, bool)>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Model {
    fn new(s: BreakerSettings) -> Model {
        Model { s, now: 0, state: ModelState::Closed, epoch: 0, consecutive: 0, window: Vec::new() }
    }

    fn enter(&mut self, to: ModelState) {
        self.epoch += 1;
        if to == ModelState::Closed {
            self.window.clear();
            self.consecutive = 0;
        }
        self.state = to;
    }

    fn open(&mut self) {
        let until = self.now + ms(self.s.recovery_timeout);
        self.enter(ModelState::Open { until });
    }

    /// The state as an observer sees it: open past its recovery time is half-open already.
    fn observed(&self) -> BreakerState {
        match self.state {
            ModelState::Closed => BreakerState::Closed,
            ModelState::Open { until } if self.now < until => BreakerState::Open,
            ModelState::Open { .. } | ModelState::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn acquire(&mut self) -> Result<ModelPermit, Duration> {
        if let ModelState::Open { until } = self.state {
            if self.now < until {
                return Err(Duration::from_millis(until - self.now));
            }
            self.enter(ModelState::HalfOpen { in_flight: 0, successes: 0 });
        }
        match &mut self.state {
            ModelState::Closed => Ok(ModelPermit { probe: false, epoch: self.epoch }),
            ModelState::HalfOpen { in_flight, .. } if *in_flight < self.s.half_open_max_calls => {
                *in_flight += 1;
                Ok(ModelPermit { probe: true, epoch: self.epoch })
            }
            ModelState::HalfOpen { .. } => Err(self.s.timeout.min(Duration::from_secs(5))),
            ModelState::Open { .. } => unreachable!("left above"),
        }
    }

    fn release(&mut self, p: ModelPermit) {
        if let ModelState::HalfOpen { in_flight, .. } = &mut self.state
            && p.probe
            && p.epoch == self.epoch
        {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn record(&mut self, p: ModelPermit, outcome: Outcome, elapsed: Duration) {
        let failed = match outcome {
            Outcome::Ignored => return self.release(p),
            Outcome::Failure => true,
            Outcome::Success => elapsed > self.s.slow_call_threshold,
        };
        if p.epoch != self.epoch {
            return;
        }
        match (&mut self.state, p.probe) {
            (ModelState::HalfOpen { in_flight, successes }, true) => {
                *in_flight -= 1;
                if failed {
                    self.open();
                } else {
                    *successes += 1;
                    if *successes >= self.s.success_threshold {
                        self.enter(ModelState::Closed);
                    }
                }
            }
            (ModelState::Closed, false) => {
                self.window.push((self.now, failed));
                self.trim();
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                let (calls, failures) = self.counts();
                let rate_tripped = calls >= self.s.minimum_calls
                    && failures as u64 * 100 >= self.s.failure_rate_threshold as u64 * calls as u64;
                if failed && (self.consecutive >= self.s.failure_threshold || rate_tripped) {
                    self.open();
                }
            }
            _ => {}
        }
    }

    /// Drop what has left the window: beyond the last N calls, or older than the period.
    fn trim(&mut self) {
        match self.s.window {
            Window::Count(n) => {
                let excess = self.window.len().saturating_sub(n as usize);
                self.window.drain(..excess);
            }
            Window::Time(d) => {
                let now = self.now;
                self.window.retain(|(t, _)| now - t <= ms(d));
            }
        }
    }

    fn counts(&self) -> (u32, u32) {
        (self.window.len() as u32, self.window.iter().filter(|(_, f)| *f).count() as u32)
    }
}

// ---- generators ----------------------------------------------------------------------------

fn settings() -> impl Strategy<Value = BreakerSettings> {
    let window = prop_oneof![
        (1u32..=8).prop_map(Window::Count),
        (1u64..=20).prop_map(|s| Window::Time(Duration::from_secs(s))),
    ];
    (
        (1u32..=5, prop_oneof![Just(1.0), Just(25.0), Just(50.0), Just(60.0), Just(100.0)], 1u32..=6, window),
        (1u64..=3, 1u64..=6, 1u64..=10, 1u32..=3, 1u32..=3),
    )
        .prop_map(|((ft, rate, min_calls, window), (slow, timeout, recovery, succ, max_probes))| BreakerSettings {
            failure_threshold: ft,
            failure_rate_threshold: rate,
            minimum_calls: min_calls,
            window,
            slow_call_threshold: Duration::from_secs(slow),
            timeout: Duration::from_secs(timeout),
            recovery_timeout: Duration::from_secs(recovery),
            success_threshold: succ,
            half_open_max_calls: max_probes,
            per_operation: false,
        })
}

/// Settings that reach half-open often and let several probes be out at once: the breaker
/// opens on the first failure and recovers within seconds.
fn probe_heavy_settings() -> impl Strategy<Value = BreakerSettings> {
    (settings(), 1u64..=3, 2u32..=3).prop_map(|(s, recovery, max_probes)| BreakerSettings {
        failure_threshold: 1,
        recovery_timeout: Duration::from_secs(recovery),
        half_open_max_calls: max_probes,
        per_operation: false,
        ..s
    })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![3 => Just(Outcome::Success), 3 => Just(Outcome::Failure), 1 => Just(Outcome::Ignored)]
}

/// Elapsed times clustered around the slow-call thresholds (whole seconds), equal included.
fn elapsed_ms() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..=50, (1u64..=4).prop_map(|s| s * 1000), (1u64..=4).prop_map(|s| s * 1000 + 1), 0u64..=4500]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (outcome(), elapsed_ms()).prop_map(|(outcome, elapsed_ms)| Op::Call { outcome, elapsed_ms }),
        3 => Just(Op::Acquire),
        2 => (any::<usize>(), outcome(), elapsed_ms()).prop_map(|(idx, outcome, elapsed_ms)| Op::Finish { idx, outcome, elapsed_ms }),
        1 => any::<usize>().prop_map(|idx| Op::Release { idx }),
        3 => prop_oneof![0u64..=2000, 1000u64..=12_000].prop_map(|ms| Op::Advance { ms }),
    ]
}

// ---- the driver ----------------------------------------------------------------------------

/// Run `ops` against both and fail at the first step where they disagree.
fn check(settings: BreakerSettings, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    rt.block_on(async move {
        let real = Breaker::new("model", settings.clone());
        let mut model = Model::new(settings);
        let mut held: Vec<Held> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            macro_rules! ctx {
                () => {
                    format!("step {step} {op:?}; model {model:?}")
                };
            }
            match *op {
                Op::Call { outcome, elapsed_ms } => {
                    let (r, m) = (real.try_acquire(), model.acquire());
                    prop_assert_eq!(r.as_ref().err(), m.as_ref().err(), "acquire: {}", ctx!());
                    if let (Ok(r), Ok(m)) = (r, m) {
                        let elapsed = Duration::from_millis(elapsed_ms);
                        tokio::time::advance(elapsed).await;
                        model.now += elapsed_ms;
                        real.record(r, outcome, elapsed);
                        model.record(m, outcome, elapsed);
                    }
                }
                Op::Acquire => {
                    let (r, m) = (real.try_acquire(), model.acquire());
                    prop_assert_eq!(r.as_ref().err(), m.as_ref().err(), "acquire: {}", ctx!());
                    if let (Ok(r), Ok(m)) = (r, m) {
                        held.push(Held { real: r, model: m });
                    }
                }
                Op::Finish { idx, outcome, elapsed_ms } if !held.is_empty() => {
                    let h = held.swap_remove(idx % held.len());
                    let elapsed = Duration::from_millis(elapsed_ms);
                    real.record(h.real, outcome, elapsed);
                    model.record(h.model, outcome, elapsed);
                }
                Op::Release { idx } if !held.is_empty() => {
                    let h = held.swap_remove(idx % held.len());
                    real.release(h.real);
                    model.release(h.model);
                }
                Op::Finish { .. } | Op::Release { .. } => {}
                Op::Advance { ms } => {
                    tokio::time::advance(Duration::from_millis(ms)).await;
                    model.now += ms;
                }
            }
            prop_assert_eq!(real.state(), model.observed(), "state: {}", ctx!());
            let snap = real.snapshot();
            model.trim();
            let (calls, failures) = model.counts();
            prop_assert_eq!((snap.calls, snap.failures), (calls, failures), "window: {}", ctx!());
            prop_assert_eq!(snap.consecutive_failures, model.consecutive, "consecutive failures: {}", ctx!());
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Fixed, so that a run is reproducible; failures print the minimal sequence.
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a91_a2b7),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_agrees_with_the_reference_model(settings in settings(), ops in prop::collection::vec(op(), 1..120)) {
        check(settings, ops)?;
    }

    #[test]
    fn probes_agree_with_the_reference_model(settings in probe_heavy_settings(), ops in prop::collection::vec(op(), 1..120)) {
        check(settings, ops)?;
    }
}

/// The model itself, on a sequence worked out by hand: open on consecutive failures, wait,
/// probe, close.
#[test]
fn model_walks_the_documented_cycle() {
    let mut m = Model::new(BreakerSettings {
        failure_threshold: 2,
        failure_rate_threshold: 100.0,
        minimum_calls: 10,
        window: Window::Count(10),
        slow_call_threshold: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        recovery_timeout: Duration::from_secs(10),
        success_threshold: 1,
        half_open_max_calls: 1,
        per_operation: false,
    });
    for _ in 0..2 {
        let p = m.acquire().unwrap();
        m.record(p, Outcome::Failure, Duration::ZERO);
    }
    assert_eq!(m.observed(), BreakerState::Open);
    assert_eq!(m.acquire().unwrap_err(), Duration::from_secs(10));
    m.now += 10_000;
    assert_eq!(m.observed(), BreakerState::HalfOpen);
    let probe = m.acquire().unwrap();
    assert!(m.acquire().is_err(), "one probe at a time");
    m.record(probe, Outcome::Success, Duration::from_secs(2));
    assert_eq!(m.observed(), BreakerState::Open, "a slow probe is a failed probe");
    m.now += 10_000;
    let probe = m.acquire().unwrap();
    m.record(probe, Outcome::Success, Duration::ZERO);
    assert_eq!(m.observed(), BreakerState::Closed);
}

/// A probe from an earlier half-open stay, given back late, must not free a slot in the current
/// one (random sequences rarely line this up).
#[test]
fn a_stale_probe_frees_no_slot() {
    let settings = BreakerSettings {
        failure_threshold: 1,
        failure_rate_threshold: 100.0,
        minimum_calls: 10,
        window: Window::Count(10),
        slow_call_threshold: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        recovery_timeout: Duration::from_secs(1),
        success_threshold: 2,
        half_open_max_calls: 2,
        per_operation: false,
    };
    let fail = Op::Call { outcome: Outcome::Failure, elapsed_ms: 0 };
    let ops = vec![
        fail.clone(),
        Op::Advance { ms: 1000 },
        Op::Acquire,
        fail,
        Op::Advance { ms: 1000 },
        Op::Acquire,
        Op::Acquire,
        Op::Release { idx: 0 },
        Op::Call { outcome: Outcome::Success, elapsed_ms: 0 },
        Op::Finish { idx: 0, outcome: Outcome::Ignored, elapsed_ms: 0 },
        Op::Call { outcome: Outcome::Success, elapsed_ms: 0 },
    ];
    check(settings, ops).unwrap();
}
