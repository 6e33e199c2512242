//! The background loops of one process, started from one place: each has a name, runs
//! in a span of its own (`loop.name`), watches one shutdown token, and is waited for on
//! shutdown within a grace period, so a loop that does not stop is named in the log
//! instead of holding the process (or vanishing unnoticed).

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A process's running loops and the token that stops them.
pub struct Loops {
    stop: CancellationToken,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Loops {
    /// A registry whose loops stop when `stop` is cancelled (a signal, a lost leadership)
    /// or when [`Loops::shutdown`] is called.
    pub fn new(stop: CancellationToken) -> Loops {
        Loops {
            stop,
            running: Vec::new(),
        }
    }

    /// The token every loop must watch.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Starts `run` as the loop `name`, in its span. A loop that fails is logged with
    /// its error; one that ends before shutdown (nothing to do here) is logged too.
    pub fn spawn<F>(&mut self, name: &'static str, run: F)
    where
        F: Future + Send + 'static,
        F::Output: LoopEnd,
    {
        let span = tracing::info_span!("loop", loop.name = name);
        let stop = self.stop.clone();
        let handle = tokio::spawn(
            async move {
                tracing::debug!("loop started");
                match run.await.failure() {
                    Some(e) => tracing::error!(error = %e, "loop failed"),
                    None if stop.is_cancelled() => tracing::debug!("loop stopped"),
                    None => tracing::info!("loop ended before shutdown"),
                }
            }
            .instrument(span),
        );
        self.running.push((name, handle));
    }

    /// The names of the loops started, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.running.iter().map(|(name, _)| *name).collect()
    }

    /// Waits until the stop token is cancelled, then stops every loop as
    /// [`Loops::shutdown`] does.
    pub async fn run_until_stopped(self, grace: Duration) -> Vec<&'static str> {
        self.stop.cancelled().await;
        self.shutdown(grace).await
    }

    /// Cancels the stop token and waits for every loop, all within `grace`. Loops still
    /// running then are aborted, logged by name and returned.
    pub async fn shutdown(self, grace: Duration) -> Vec<&'static str> {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        let mut stuck = Vec::new();
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_panic() => {
                    tracing::error!(loop.name = name, "loop panicked");
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(
                        loop.name = name,
                        grace_ms = grace.as_millis() as u64,
                        "loop did not stop within the grace period; aborting it"
                    );
                    handle.abort();
                    stuck.push(name);
                }
            }
        }
        stuck
    }
}

/// What a loop's future ends with: nothing, or a result whose error is logged.
pub trait LoopEnd {
    /// The error to log, if the loop failed.
    fn failure(self) -> Option<String>;
}

impl LoopEnd for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> LoopEnd for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A loop that ticks until stopped, counting its clean stops.
    async fn ticker(stop: CancellationToken, stopped: Arc<AtomicUsize>) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
        stopped.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[tokio::test]
    async fn every_loop_stops_on_shutdown() {
        let mut loops = Loops::new(CancellationToken::new());
        let stopped = Arc::new(AtomicUsize::new(0));
        for name in ["dispatch", "reaper", "reconcile"] {
            loops.spawn(name, ticker(loops.stop_token(), stopped.clone()));
        }
        assert_eq!(loops.names(), ["dispatch", "reaper", "reconcile"]);
        let stuck = loops.shutdown(Duration::from_secs(5)).await;
        assert!(stuck.is_empty(), "{stuck:?}");
        assert_eq!(stopped.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_loop_that_ignores_shutdown_is_named_and_aborted() {
        let mut loops = Loops::new(CancellationToken::new());
        let stopped = Arc::new(AtomicUsize::new(0));
        loops.spawn("polite", ticker(loops.stop_token(), stopped.clone()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(dropped.clone());
        loops.spawn("stuck", async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        loops.spawn("failed early", async {
            Err::<(), _>(anyhow::anyhow!("no connection"))
        });
        let stuck = loops.shutdown(Duration::from_millis(200)).await;
        assert_eq!(stuck, ["stuck"]);
        assert_eq!(stopped.load(Ordering::SeqCst), 1, "the polite loop stopped");
        // Aborted: its future is dropped.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cancelling_the_token_from_outside_stops_them_too() {
        let token = CancellationToken::new();
        let mut loops = Loops::new(token.clone());
        let stopped = Arc::new(AtomicUsize::new(0));
        loops.spawn("a", ticker(loops.stop_token(), stopped.clone()));
        loops.spawn("b", ticker(loops.stop_token(), stopped.clone()));
        let waiting = tokio::spawn(loops.run_until_stopped(Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        token.cancel();
        let stuck = waiting.await.expect("joined");
        assert!(stuck.is_empty());
        assert_eq!(stopped.load(Ordering::SeqCst), 2);
    }

    struct DropCount(Arc<AtomicUsize>);

    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
