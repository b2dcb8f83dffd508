//! When a lane's worker looks for jobs again after finding none: every `queue.poll_interval`, and
//! at once when this process queues a job on the lane ([`Nudge`]). Without the nudge a job queued
//! by the process that runs its worker (`apiary run`) would wait out a poll interval; without the
//! interval, one queued by another process (an API-only `apiary serve`) would never be seen.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use futures::task::AtomicWaker;

/// Wakes a lane's worker; cheap to clone.
#[derive(Clone, Default)]
pub struct Nudge(Arc<AtomicWaker>);

impl Nudge {
    /// Make the lane's worker look for jobs now.
    pub fn nudge(&self) {
        self.0.wake();
    }

    /// The strategy a lane's worker polls with.
    pub fn strategy(&self, interval: Duration) -> NudgeOrInterval {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        NudgeOrInterval { nudge: self.0.clone(), tick }
    }
}

/// Wakes the worker on a [`Nudge`] or every interval, whichever comes first.
pub struct NudgeOrInterval {
    nudge: Arc<AtomicWaker>,
    tick: tokio::time::Interval,
}

impl PollStrategy for NudgeOrInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        self.nudge.register(cx.waker());
        match self.tick.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(())),
            Poll::Pending => Poll::Pending,
        }
    }
}
