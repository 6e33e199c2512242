//! How a process ended, and so how its attempt goes on, decided from what the worker saw:
//! the runner's result (exit status, signal, a limit or stop kill), whether a stop was
//! asked for, whether the agent's driver ended the turn, and the agent's own report.
//! Pure, so every combination is tested here; `attempt.rs` only gathers the facts.

use shared::config::ExecutionLimits;
use shared::domain::{AttemptStatus, ProcessStatus};

use crate::runner::{KillReason, RunResult};

/// How one process went, for the attempt's loop over its processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessVerdict {
    /// On to the next process.
    Succeeded,
    /// The attempt fails with this reason.
    Failed(String),
    /// The attempt was stopped: it ends cancelled.
    Stopped,
    /// The worker gave the run up (lost lease, shutdown); nothing is recorded.
    Abandoned,
}

/// What the worker saw of a process that ran.
#[derive(Debug, Clone, Copy)]
pub struct Ran<'a> {
    pub result: &'a RunResult,
    pub limits: &'a ExecutionLimits,
    /// An agent ran (not a script).
    pub agent: bool,
    /// Someone asked the attempt to stop.
    pub stop_requested: bool,
    /// The agent's driver said the turn was over (an agent that does not exit by itself).
    pub driver_finished: bool,
    /// The agent reported a failed turn (it may still exit 0).
    pub turn_failure: Option<&'a str>,
}

/// What to record for a process, and how the attempt goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutcome {
    pub status: ProcessStatus,
    pub failure_reason: Option<String>,
    pub verdict: ProcessVerdict,
}

impl ProcessOutcome {
    /// A process that failed before or instead of running, with `reason`.
    pub fn failed(reason: String) -> ProcessOutcome {
        ProcessOutcome {
            status: ProcessStatus::Failed,
            failure_reason: Some(reason.clone()),
            verdict: ProcessVerdict::Failed(reason),
        }
    }

    /// A process whose program could not be started.
    pub fn not_started(error: &dyn std::fmt::Display) -> ProcessOutcome {
        ProcessOutcome::failed(format!("could not start the process: {error}"))
    }
}

/// Judges a process that ran. `None` when the worker aborted it (lost lease, shutdown):
/// then nothing is recorded and the lease reaper takes the attempt from here.
pub fn judge(ran: Ran<'_>) -> Option<ProcessOutcome> {
    let r = ran.result;
    let kill = r.kill_reason(ran.limits);
    if kill == Some(KillReason::Aborted) {
        return None;
    }
    // An agent whose driver ended the run (a server that does not exit) ended normally,
    // unless someone asked for a stop: the kill that ended it was ours, not a stop.
    let ended_by_driver = ran.driver_finished && !ran.stop_requested;
    let kill = kill.filter(|k| !(ended_by_driver && *k == KillReason::Stopped));
    // An agent that ended its turn on our interrupt was stopped too.
    let interrupted = kill.is_none() && ran.agent && ran.stop_requested;
    let kill = if interrupted {
        Some(KillReason::Stopped)
    } else {
        kill
    };
    let turn_failure = ran.turn_failure.map(str::to_owned);
    // An agent may exit 0 after a failed turn: its own word decides then.
    let failure_reason = if ended_by_driver {
        turn_failure.clone()
    } else if interrupted {
        Some(KillReason::Stopped.to_string())
    } else {
        r.failure_reason(ran.limits)
            .or_else(|| turn_failure.clone())
    };
    let exited_cleanly = r.exit_code() == Some(0) || ended_by_driver;
    let status = match kill {
        Some(_) => ProcessStatus::Killed,
        None if exited_cleanly && turn_failure.is_none() => ProcessStatus::Succeeded,
        None => ProcessStatus::Failed,
    };
    let verdict = match (kill, &failure_reason) {
        (Some(KillReason::Stopped), _) => ProcessVerdict::Stopped,
        (_, Some(reason)) => ProcessVerdict::Failed(reason.clone()),
        (_, None) => ProcessVerdict::Succeeded,
    };
    Some(ProcessOutcome {
        status,
        failure_reason,
        verdict,
    })
}

/// How the processes of an attempt, and what came after them, went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed(String),
    Cancelled,
}

impl Verdict {
    /// The attempt's recorded status and failure reason.
    pub fn end(self) -> (AttemptStatus, Option<String>) {
        match self {
            Verdict::Succeeded => (AttemptStatus::Succeeded, None),
            Verdict::Failed(reason) => (AttemptStatus::Failed, Some(reason)),
            Verdict::Cancelled => (AttemptStatus::Cancelled, None),
        }
    }

    /// After the processes, a step that went wrong (commit, push) fails an attempt that
    /// had succeeded; an earlier failure or a stop keeps its own word.
    pub fn unless_failed_after(self, reason: impl FnOnce() -> String) -> Verdict {
        match self {
            Verdict::Succeeded => Verdict::Failed(reason()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Termination::{self, Exited, Signaled};

    const LIMITS: ExecutionLimits = ExecutionLimits {
        cpu_seconds: 5,
        memory_mb: 64,
        open_files: 64,
        processes: 64,
        wall_clock_secs: 9,
    };

    /// One case: what the worker saw, and what it must record.
    struct Case {
        name: &'static str,
        termination: Termination,
        killed: Option<KillReason>,
        agent: bool,
        stop: bool,
        driver_finished: bool,
        turn_failure: Option<&'static str>,
        /// `None`: abandoned, nothing recorded.
        expect: Option<(ProcessStatus, Option<&'static str>, ProcessVerdict)>,
    }

    const fn case(name: &'static str, termination: Termination) -> Case {
        Case {
            name,
            termination,
            killed: None,
            agent: false,
            stop: false,
            driver_finished: false,
            turn_failure: None,
            expect: None,
        }
    }

    fn failed(reason: &str) -> ProcessVerdict {
        ProcessVerdict::Failed(reason.to_owned())
    }

    #[test]
    fn every_way_a_process_ends_is_recorded_with_its_reason() {
        use ProcessStatus::{Failed, Killed, Succeeded};
        let cases = [
            Case {
                expect: Some((Succeeded, None, ProcessVerdict::Succeeded)),
                ..case("a script exits 0", Exited(0))
            },
            Case {
                expect: Some((
                    Failed,
                    Some("exited with code 3"),
                    failed("exited with code 3"),
                )),
                ..case("a script exits 3", Exited(3))
            },
            Case {
                expect: Some((
                    Failed,
                    Some("terminated by signal 11 (SIGSEGV)"),
                    failed("terminated by signal 11 (SIGSEGV)"),
                )),
                ..case("a script dies of a signal", Signaled(11))
            },
            Case {
                killed: Some(KillReason::Memory(64)),
                expect: Some((
                    Killed,
                    Some("memory limit exceeded (64 MiB)"),
                    failed("memory limit exceeded (64 MiB)"),
                )),
                ..case("the watchdog kills it over memory", Signaled(9))
            },
            Case {
                killed: Some(KillReason::WallClock(9)),
                expect: Some((
                    Killed,
                    Some("wall-clock limit exceeded (9 s)"),
                    failed("wall-clock limit exceeded (9 s)"),
                )),
                ..case("it runs out of time", Signaled(9))
            },
            Case {
                expect: Some((
                    Killed,
                    Some("CPU time limit exceeded (5 s)"),
                    failed("CPU time limit exceeded (5 s)"),
                )),
                ..case("the kernel's CPU limit (SIGXCPU)", Signaled(libc::SIGXCPU))
            },
            Case {
                killed: Some(KillReason::Stopped),
                stop: true,
                expect: Some((Killed, Some("stopped by user"), ProcessVerdict::Stopped)),
                ..case("a script killed on a stop", Signaled(15))
            },
            Case {
                stop: true,
                expect: Some((Succeeded, None, ProcessVerdict::Succeeded)),
                ..case(
                    "a script that ends on its own while a stop waits",
                    Exited(0),
                )
            },
            Case {
                killed: Some(KillReason::Aborted),
                ..case("the worker aborts it", Signaled(9))
            },
            Case {
                killed: Some(KillReason::Aborted),
                agent: true,
                stop: true,
                ..case("an abort wins over a stop", Signaled(9))
            },
            Case {
                agent: true,
                expect: Some((Succeeded, None, ProcessVerdict::Succeeded)),
                ..case("an agent's turn succeeds", Exited(0))
            },
            Case {
                agent: true,
                turn_failure: Some("the model refused"),
                expect: Some((
                    Failed,
                    Some("the model refused"),
                    failed("the model refused"),
                )),
                ..case("an agent exits 0 after a failed turn", Exited(0))
            },
            Case {
                agent: true,
                turn_failure: Some("the model refused"),
                expect: Some((
                    Failed,
                    Some("exited with code 1"),
                    failed("exited with code 1"),
                )),
                ..case("an agent's exit code speaks before its report", Exited(1))
            },
            Case {
                agent: true,
                stop: true,
                expect: Some((Killed, Some("stopped by user"), ProcessVerdict::Stopped)),
                ..case("an agent ends its turn on our interrupt", Exited(0))
            },
            Case {
                agent: true,
                stop: true,
                killed: Some(KillReason::Stopped),
                expect: Some((Killed, Some("stopped by user"), ProcessVerdict::Stopped)),
                ..case("an agent killed after the interrupt grace", Signaled(9))
            },
            Case {
                agent: true,
                driver_finished: true,
                killed: Some(KillReason::Stopped),
                expect: Some((Succeeded, None, ProcessVerdict::Succeeded)),
                ..case("a server agent the driver ended", Signaled(15))
            },
            Case {
                agent: true,
                driver_finished: true,
                killed: Some(KillReason::Stopped),
                turn_failure: Some("rate limited"),
                expect: Some((Failed, Some("rate limited"), failed("rate limited"))),
                ..case(
                    "a server agent the driver ended after a failed turn",
                    Signaled(15),
                )
            },
            Case {
                agent: true,
                driver_finished: true,
                stop: true,
                killed: Some(KillReason::Stopped),
                expect: Some((Killed, Some("stopped by user"), ProcessVerdict::Stopped)),
                ..case("a server agent stopped by a person", Signaled(15))
            },
            Case {
                agent: true,
                driver_finished: true,
                killed: Some(KillReason::WallClock(9)),
                expect: Some((Killed, None, ProcessVerdict::Succeeded)),
                ..case(
                    "a server agent the driver ended, killed by the clock meanwhile: its turn stands",
                    Signaled(9),
                )
            },
        ];
        for c in cases {
            let result = RunResult {
                termination: c.termination,
                killed: c.killed,
                peak_rss_bytes: 0,
            };
            let got = judge(Ran {
                result: &result,
                limits: &LIMITS,
                agent: c.agent,
                stop_requested: c.stop,
                driver_finished: c.driver_finished,
                turn_failure: c.turn_failure,
            });
            let want = c.expect.map(|(status, reason, verdict)| ProcessOutcome {
                status,
                failure_reason: reason.map(str::to_owned),
                verdict,
            });
            assert_eq!(got, want, "{}", c.name);
        }
    }

    #[test]
    fn a_process_that_cannot_start_fails_the_attempt_with_the_cause() {
        let got = ProcessOutcome::not_started(&"No such file or directory");
        assert_eq!(got.status, ProcessStatus::Failed);
        assert_eq!(
            got.verdict,
            failed("could not start the process: No such file or directory")
        );
        assert_eq!(
            got.failure_reason.as_deref(),
            Some("could not start the process: No such file or directory")
        );
    }

    #[test]
    fn a_late_failure_fails_only_an_attempt_that_had_succeeded() {
        let late = || "could not push the branch: refused".to_owned();
        assert_eq!(
            Verdict::Succeeded.unless_failed_after(late),
            Verdict::Failed(late())
        );
        assert_eq!(
            Verdict::Failed("exited with code 1".into()).unless_failed_after(late),
            Verdict::Failed("exited with code 1".into())
        );
        assert_eq!(
            Verdict::Cancelled.unless_failed_after(late),
            Verdict::Cancelled
        );
        assert_eq!(
            Verdict::Failed("x".into()).end(),
            (AttemptStatus::Failed, Some("x".to_owned()))
        );
        assert_eq!(Verdict::Cancelled.end(), (AttemptStatus::Cancelled, None));
        assert_eq!(Verdict::Succeeded.end(), (AttemptStatus::Succeeded, None));
    }
}
