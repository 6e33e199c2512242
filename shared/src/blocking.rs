//! Blocking work (git2, file walks, `/proc` scans, the migration harness) off the async
//! threads: one helper, so every such call keeps the caller's span and reports a panic the
//! same way.

use std::fmt;

/// The blocking work panicked (or the runtime shut down before it ran).
#[derive(Debug)]
pub struct Panicked(tokio::task::JoinError);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocking work did not finish: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

/// Runs `work` on tokio's blocking pool inside the current span, so what it logs and the
/// spans it opens stay in the caller's trace.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Panicked> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_in_the_callers_span_and_a_panic_is_an_error() {
        let span = tracing::info_span!("caller");
        let inner = {
            let _entered = span.enter();
            run(|| tracing::Span::current().id()).await.unwrap()
        };
        assert_eq!(inner, span.id());
        let err = run(|| panic!("boom")).await.unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
