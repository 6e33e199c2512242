//! One attempt, end to end: claim, worktree, every queued process in order, the diff, the
//! commit, and the recorded outcome with its org events.

use anyhow::Context;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use shared::db::models::{ExecutionProcess, TaskAttempt};
use shared::domain::{AttemptStatus, RunReason};
use shared::queue::Delivery;
use shared::telemetry;
use shared::wire;
use shared::wire::OrgEvent;
use shared::{blocking, bus};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Worker;
use crate::claim::{Heartbeat, Lease};
use crate::diff::{DiffLimits, DiffTracker};
use crate::executors::driver::AgentDriver;
use crate::executors::{self, Agent, ProfileOptions};
use crate::git::{self, GitAuth, GitError, WorktreeSpec};
use crate::github::{self, GithubTarget};
use crate::logship::{self, ShipTarget};
use crate::normalize;
use crate::patience::Patience;
use crate::pump::ApprovalBroker;
use crate::records::{self, AttemptContext, Guarded, ProcessEnd};
use crate::runner::{self, RunRequest};
use crate::sandbox;
use crate::sessions;
use crate::verdict::{self, ProcessOutcome, ProcessVerdict, Ran, Verdict};
use futures::FutureExt;
use shared::attempts::AttemptEnd;
use shared::db::DbError;

/// The only executor this worker runs so far: `bash -c <prompt>`.
pub const SCRIPT_EXECUTOR: &str = "script";

/// What became of a delivered attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// It was not scheduled any more (taken by another worker, stopped, or a duplicate).
    NotClaimed,
    /// It ran to an end that is now recorded.
    Finished(AttemptStatus),
    /// The worker gave it up (lost lease, shutdown, error) without recording an end; the
    /// lease reaper takes it from here.
    Abandoned,
}

/// Claims the delivered attempt, acknowledges its queue entry, and runs it until its end
/// or until `shutdown` (the worker's stop, after its drain grace).
pub async fn execute(
    worker: &Worker,
    delivery: &Delivery,
    shutdown: &CancellationToken,
) -> anyhow::Result<AttemptOutcome> {
    let entry = &delivery.entry;
    let span = tracing::info_span!(
        "attempt",
        attempt.id = %entry.attempt_id,
        org.id = %entry.org_id,
        worker.id = %worker.id,
    );
    if let Some(tp) = &entry.traceparent {
        telemetry::adopt_traceparent(&span, tp);
    }
    async move {
        let lease = Lease {
            attempt_id: entry.attempt_id,
            worker_id: worker.id.clone(),
            duration: Duration::from_millis(worker.settings.worker.lease_ms),
        };
        let claimed = async {
            let mut conn = worker.db.system().await?;
            let row = shared::attempts::claim(
                &mut conn,
                lease.attempt_id,
                &lease.worker_id,
                lease.duration,
            )
            .await?;
            Ok::<_, anyhow::Error>(row)
        }
        .await;
        // The entry has done its job once the claim is decided: from here the lease guards
        // the run. (Left pending, a long run's entry would be taken back by the scheduler
        // as abandoned.) If the claim failed, the attempt is still scheduled and the
        // scheduler enqueues it again.
        worker.ack(delivery).await;
        let Some(attempt) = claimed? else {
            tracing::info!("attempt not claimable; skipping");
            return Ok(AttemptOutcome::NotClaimed);
        };
        tracing::info!(branch = %attempt.branch, "attempt claimed");
        let mut redis = worker.redis.clone();
        bus::emit(
            &mut redis,
            &worker.keys,
            attempt.org_id,
            OrgEvent::AttemptUpdated(wire::Attempt::from(attempt.clone())),
        )
        .await;

        // A lost lease and a shutdown (once the drain grace is over) both abort the run
        // without recording anything.
        let abort = shutdown.child_token();
        let heartbeat = Heartbeat::spawn(
            worker.db.clone(),
            lease.clone(),
            Duration::from_millis(worker.settings.worker.heartbeat_ms),
            abort.clone(),
        );
        let stop = heartbeat.stop_token();
        if attempt.stop_requested {
            stop.cancel();
        }
        let run = AttemptRun {
            worker,
            redis,
            lease: lease.clone(),
            attempt,
            stop,
            abort,
            sandbox: None,
        };
        let outcome = run.drive().await;
        heartbeat.finish().await;
        if shutdown.is_cancelled() && !matches!(outcome, Ok(AttemptOutcome::Finished(_))) {
            // Aborted by a shutdown, not by a lost lease: hand the attempt back now rather
            // than let the lease run out, so the reaper retries it at its next pass.
            hand_back(worker, &lease).await;
        }
        let outcome = outcome?;
        tracing::info!(outcome = ?outcome, "attempt done");
        Ok(outcome)
    }
    .instrument(span)
    .await
}

/// Ends this worker's lease on an attempt it gave up (only while it still holds it).
async fn hand_back(worker: &Worker, lease: &Lease) {
    let released = async {
        let mut conn = worker.db.system().await?;
        Ok::<_, anyhow::Error>(lease.release(&mut conn).await?)
    }
    .await;
    match released {
        Ok(true) => tracing::info!("attempt handed back for a retry"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "attempt not handed back; its lease runs out instead"),
    }
}

/// Runs one database step of an [`AttemptRun`] (`$step`, a query future on the
/// connection `$c`), trying it again on a fresh connection while the database is
/// unreachable or drops the connection mid-step (a restart, a failover); see
/// [`AttemptRun::outage`]. Every step is a read or a lease-guarded write, so a second try
/// does no harm. (A macro: a function generic over an async closure cannot prove the
/// future `Send`.)
macro_rules! db_step {
    ($run:expr, |$c:ident| $step:expr) => {{
        let mut patience = Patience::endless();
        loop {
            let tried: Result<_, DbError> = async {
                let mut conn = $run.worker.db.system().await?;
                let $c = &mut conn;
                $step.await.map_err(DbError::from)
            }
            .await;
            match tried {
                Err(e) if e.is_unreachable() => $run.outage(e, &mut patience).await?,
                other => break other?,
            }
        }
    }};
}

struct AttemptRun<'a> {
    worker: &'a Worker,
    redis: ConnectionManager,
    lease: Lease,
    attempt: TaskAttempt,
    stop: CancellationToken,
    abort: CancellationToken,
    /// Who and where the attempt's processes run, once the worktree is ready.
    sandbox: Option<AttemptSandbox>,
}

/// The attempt's sandbox on this worker: its uid (held while the attempt runs here), its
/// home, and what its processes see.
struct AttemptSandbox {
    identity: sandbox::Identity,
    home: std::path::PathBuf,
    worktree: std::path::PathBuf,
    cache: std::path::PathBuf,
    passwd: std::path::PathBuf,
    group: std::path::PathBuf,
}

impl AttemptSandbox {
    /// Takes a uid, gives it the worktree and a home, and writes its account files.
    async fn enter(
        worker: &Worker,
        attempt_id: uuid::Uuid,
        view: &git::WorktreeView,
    ) -> anyhow::Result<AttemptSandbox> {
        let settings = worker.settings.worker.sandbox.clone();
        let data_dir = worker.data_dir.clone();
        let view = view.clone();
        blocking::run(move || -> anyhow::Result<AttemptSandbox> {
            let identity =
                sandbox::Identity::acquire(&settings, &data_dir).context("taking a sandbox uid")?;
            let home = sessions::home_dir(&data_dir, attempt_id);
            sandbox::passage_dir(home.parent().unwrap_or(&data_dir))?;
            std::fs::create_dir_all(&home).context("create the attempt's home")?;
            sandbox::chown_tree(&view.worktree, identity.uid)
                .context("give the worktree to the sandbox")?;
            sandbox::chown_tree(&home, identity.uid).context("give the home to the sandbox")?;
            // Only the attempt's own uid may enter them.
            for dir in [&view.worktree, &home] {
                std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            }
            let (passwd, group) = sandbox::account_files(&data_dir, identity.uid, &home)?;
            Ok(AttemptSandbox {
                identity,
                home,
                worktree: view.worktree,
                cache: view.cache,
                passwd,
                group,
            })
        })
        .await?
    }

    /// The sandbox one process of the attempt runs in.
    fn run(&self, worker: &Worker) -> runner::SandboxRun {
        let settings = worker.settings.worker.sandbox.clone();
        runner::SandboxRun {
            launch: sandbox::Launch {
                uid: self.identity.uid,
                namespaces: settings.namespaces,
                data_dir: worker.data_dir.clone(),
                binds: [
                    (self.worktree.clone(), true),
                    (self.home.clone(), true),
                    (self.cache.clone(), false),
                ]
                .into_iter()
                .chain(agent_program_dirs(&worker.settings.worker.agent_commands))
                .collect(),
                passwd: self.passwd.clone(),
                group: self.group.clone(),
                cwd: self.worktree.clone(),
            },
            settings,
            bridge: Default::default(),
        }
    }

    /// What every process of the attempt finds in its environment about where it is.
    fn env(&self, namespaces: bool) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOME".to_owned(), self.home.display().to_string()),
            ("USER".to_owned(), "sandbox".to_owned()),
            ("LOGNAME".to_owned(), "sandbox".to_owned()),
            // The worker's own TMPDIR may be a folder the sandbox does not have.
            ("TMPDIR".to_owned(), "/tmp".to_owned()),
        ];
        if namespaces {
            env.extend(sandbox::net::proxy_env());
        }
        env
    }
}

/// The folders of the absolute paths in the configured agent commands (a local install,
/// the tests' fake agents), read only: what the operator chose to run must be there.
fn agent_program_dirs(
    commands: &std::collections::HashMap<String, Vec<String>>,
) -> Vec<(std::path::PathBuf, bool)> {
    let mut dirs: Vec<(std::path::PathBuf, bool)> = commands
        .values()
        .flatten()
        .map(std::path::Path::new)
        .filter(|p| p.is_absolute() && p.exists())
        .filter_map(|p| p.parent().map(|d| (d.to_path_buf(), false)))
        .filter(|(d, _)| d.as_os_str().len() > 1)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Replaces or adds each of `set` in `env` (the later value of a name wins).
fn override_env(env: &mut Vec<(String, String)>, set: Vec<(String, String)>) {
    for (k, v) in set {
        env.retain(|(name, _)| *name != k);
        env.push((k, v));
    }
}

impl AttemptRun<'_> {
    /// Called when a database step found the database unreachable: waits before the
    /// next try, or gives the error back once the run is aborted (a lost lease, the
    /// worker's stop), so an outage is waited out for as long as the lease holds.
    async fn outage(&self, e: DbError, patience: &mut Patience) -> anyhow::Result<()> {
        tracing::warn!(error = %e, "database unreachable; waiting for it");
        tokio::select! {
            _ = patience.pause() => Ok(()),
            _ = self.abort.cancelled() => Err(e.into()),
        }
    }

    async fn drive(mut self) -> anyhow::Result<AttemptOutcome> {
        let ctx = {
            let task_id = self.attempt.task_id;
            db_step!(self, |c| records::load_context(c, task_id))
        };

        if self.stop.is_cancelled() {
            // Stopped between scheduling and claim: nothing to prepare or run.
            return self.finish(&ctx, Verdict::Cancelled, None, None).await;
        }
        let spec = WorktreeSpec {
            data_dir: self.worker.data_dir.clone(),
            repository_id: ctx.repository.id,
            url: ctx.repository.url.clone(),
            attempt_id: self.attempt.id,
            branch: self.attempt.branch.clone(),
            base_branch: self.attempt.base_branch.clone(),
            base_commit: self.attempt.base_commit.clone(),
            auth: None,
        };
        let prepare_spec = spec.clone();
        let prepared = self
            .with_git_auth(&ctx, move |auth| {
                git::prepare_worktree(&WorktreeSpec {
                    auth,
                    ..prepare_spec.clone()
                })
            })
            .await?;
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "worktree not prepared");
                return self
                    .finish(&ctx, Verdict::Failed(worktree_failure(&e)), None, None)
                    .await;
            }
        };
        if self.abort.is_cancelled() {
            return Ok(AttemptOutcome::Abandoned);
        }
        if self.attempt.base_commit.as_deref() != Some(prepared.base_commit.as_str()) {
            let (base, lease) = (&prepared.base_commit, &self.lease);
            match db_step!(self, |c| records::set_base_commit(c, lease, base)) {
                Guarded::Written(row) => self.attempt = row,
                Guarded::LeaseLost => return Ok(AttemptOutcome::Abandoned),
            }
        }

        if self.worker.settings.worker.sandbox.enabled {
            if !sandbox::can_switch_uid() {
                let reason = "the worker cannot sandbox attempts: it is not root (set worker.sandbox.enabled = false only on a development machine)".to_owned();
                return self.finish(&ctx, Verdict::Failed(reason), None, None).await;
            }
            self.sandbox =
                Some(AttemptSandbox::enter(self.worker, self.attempt.id, &prepared.view).await?);
        }
        let tracker = DiffTracker::resume(
            self.worker.store.clone(),
            self.redis.clone(),
            self.worker.keys.clone(),
            self.attempt.org_id,
            self.attempt.id,
            prepared.view.clone(),
            prepared.base_commit.clone(),
        )
        .await
        .within(DiffLimits::from_settings(&self.worker.settings.worker))
        .read_as(self.sandbox.as_ref().map(|s| s.identity.uid));
        let tracker = Arc::new(Mutex::new(tracker));

        let mut verdict = Verdict::Succeeded;
        loop {
            if self.abort.is_cancelled() {
                return Ok(AttemptOutcome::Abandoned);
            }
            if self.stop.is_cancelled() {
                verdict = Verdict::Cancelled;
                break;
            }
            let next = {
                let id = self.attempt.id;
                db_step!(self, |c| records::next_queued_process(c, id))
            };
            let Some(process) = next else { break };
            match self.run_process(process, &prepared.path, &tracker).await? {
                ProcessVerdict::Succeeded => {}
                ProcessVerdict::Failed(reason) => {
                    verdict = Verdict::Failed(reason);
                    break;
                }
                ProcessVerdict::Stopped => {
                    verdict = Verdict::Cancelled;
                    break;
                }
                ProcessVerdict::Abandoned => return Ok(AttemptOutcome::Abandoned),
            }
        }

        let mut tracker = tracker.lock().await;
        // The final diff is what the attempt made: worth waiting for the store a while.
        let mut patience = Patience::lasting(Duration::from_secs(
            self.worker.settings.worker.store_patience_secs,
        ));
        loop {
            match tracker.refresh().await {
                // The attempt row gets the summary with the attempt's end, just below.
                Ok(Some(version)) => tracker.announce(version).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "final diff not stored");
                    if patience.pause().await {
                        continue;
                    }
                }
            }
            break;
        }
        let message = commit_message(&ctx, &self.attempt);
        let view = prepared.view.clone();
        let head = match blocking::run(move || git::commit_all(&view, &message)).await? {
            Ok(head) => Some(head),
            Err(e) => {
                tracing::warn!(error = %e, "changes not committed");
                verdict =
                    verdict.unless_failed_after(|| format!("could not commit the changes: {e}"));
                None
            }
        };
        // The branch goes to GitHub when there is something on it: a failed or stopped
        // run's work is kept there too.
        let changed = head
            .as_deref()
            .is_some_and(|h| h != prepared.base_commit.as_str());
        let mut push = changed && GithubTarget::of(&ctx.repository).is_some();
        // None of the org's secret values may leave with the branch (secretscan.rs): a
        // finding, or a scan that cannot run, keeps the branch in the cache only.
        if push && let Some(head) = head.clone() {
            let secrets = {
                let (settings, org) = (&self.worker.settings, self.attempt.org_id);
                db_step!(self, |c| async {
                    Ok::<_, DbError>(shared::secrets::decrypt_org_secrets(c, settings, org).await)
                })
            };
            let (cache, base) = (prepared.view.cache.clone(), prepared.base_commit.clone());
            let refusal = match secrets {
                Err(e) => Some(format!("the org's secrets could not be read to scan: {e}")),
                Ok(secrets) => {
                    let scan =
                        move || crate::secretscan::find_secret(&cache, &base, &head, &secrets);
                    match blocking::run(scan).await? {
                        Ok(None) => None,
                        Ok(Some(finding)) => Some(finding.to_string()),
                        Err(e) => Some(e.to_string()),
                    }
                }
            };
            if let Some(refusal) = refusal {
                tracing::warn!(reason = %refusal, "branch not pushed");
                push = false;
                if verdict != Verdict::Cancelled {
                    verdict = Verdict::Failed(format!("refused to push: {refusal}"));
                }
            }
        }
        if push {
            let push_spec = spec.clone();
            let pushed = self
                .with_git_auth(&ctx, move |auth| {
                    git::push_branch(&WorktreeSpec {
                        auth,
                        ..push_spec.clone()
                    })
                })
                .await?;
            match pushed {
                Ok(()) => tracing::info!(branch = %spec.branch, "branch pushed"),
                Err(e) => {
                    tracing::warn!(error = %e, "branch not pushed");
                    verdict =
                        verdict.unless_failed_after(|| format!("could not push the branch: {e}"));
                }
            }
        }
        self.finish(&ctx, verdict, head, Some(&tracker)).await
    }

    /// Runs a blocking git operation that may reach GitHub, with an installation token of
    /// the repository when it is on GitHub; a token GitHub refuses (expired, revoked) is
    /// replaced by a new one and the operation tried once more.
    async fn with_git_auth<T: Send + 'static>(
        &self,
        ctx: &AttemptContext,
        op: impl Fn(Option<GitAuth>) -> Result<T, GitError> + Send + Clone + 'static,
    ) -> anyhow::Result<Result<T, GitError>> {
        let target = GithubTarget::of(&ctx.repository);
        let url = ctx.repository.url.as_str();
        let mut renew = false;
        loop {
            let auth =
                match github::git_auth(self.worker.github.as_deref(), target, url, renew).await {
                    Ok(auth) => auth,
                    Err(e) => return Ok(Err(e)),
                };
            let had_auth = auth.is_some();
            let run = op.clone();
            match blocking::run(move || run(auth)).await? {
                Err(GitError::CredentialsRefused { .. }) if had_auth && !renew => {
                    tracing::info!("GitHub refused the installation token; minting a new one");
                    renew = true;
                }
                other => return Ok(other),
            }
        }
    }

    /// Runs one process: marks it running, runs it while shipping its output and keeping
    /// the diff current, then records its end as [`verdict::judge`] reads it.
    async fn run_process(
        &mut self,
        process: ExecutionProcess,
        worktree: &std::path::Path,
        tracker: &Arc<Mutex<DiffTracker>>,
    ) -> anyhow::Result<ProcessVerdict> {
        let span = tracing::info_span!("process", process.id = %process.id, run_reason = %process.run_reason);
        async move {
            let process = {
                let lease = &self.lease;
                match db_step!(self, |c| records::mark_process_running(
                    c, lease, process.id
                )) {
                    Guarded::LeaseLost => return Ok(ProcessVerdict::Abandoned),
                    // Killed or finished by someone else meanwhile: nothing to run.
                    Guarded::Written(None) => return Ok(ProcessVerdict::Succeeded),
                    Guarded::Written(Some(p)) => p,
                }
            };
            self.emit_process(&process).await;

            // Setup scripts always run with bash; otherwise the attempt's executor runs.
            let agent = (process.run_reason != RunReason::SetupScript)
                .then(|| Agent::from_name(&self.attempt.executor))
                .flatten();
            if let Some(reason) = self.refusal(&process, agent) {
                let outcome = ProcessOutcome::failed(reason);
                return self
                    .record_outcome(&process, outcome, None, Default::default())
                    .await;
            }

            let ran = self
                .run_and_ship(&process, agent, worktree, tracker)
                .await?;
            let outcome = match &ran.result {
                Err(e) => ProcessOutcome::not_started(e),
                Ok(result) => {
                    let judged = verdict::judge(Ran {
                        result,
                        limits: &self.worker.settings.worker.limits,
                        agent: agent.is_some(),
                        stop_requested: self.stop.is_cancelled(),
                        driver_finished: ran.driver_finished,
                        turn_failure: ran.report.as_ref().and_then(|r| r.turn_failure.as_deref()),
                    });
                    let Some(outcome) = judged else {
                        tracing::warn!("process aborted; leaving the attempt to the lease reaper");
                        return Ok(ProcessVerdict::Abandoned);
                    };
                    tracing::info!(
                        status = %outcome.status, exit_code = ?result.exit_code(),
                        reason = ?outcome.failure_reason, peak_rss_bytes = result.peak_rss_bytes,
                        entries = ran.shipped.total, "process ended"
                    );
                    outcome
                }
            };
            self.record_outcome(&process, outcome, Some(&ran), ran.usage())
                .await
        }
        .instrument(span)
        .await
    }

    /// Why this worker will not run the process with `agent` (or as a script), if it will not.
    fn refusal(&self, process: &ExecutionProcess, agent: Option<&Agent>) -> Option<String> {
        let executor = &self.attempt.executor;
        match agent {
            None if process.run_reason != RunReason::SetupScript && executor != SCRIPT_EXECUTOR => {
                Some(format!(
                    "executor '{executor}' is not supported by this worker"
                ))
            }
            Some(a) if !a.wire.is_supported() => Some(format!(
                "executor '{executor}' needs the {:?} driver, which this worker does not have yet",
                a.wire
            )),
            Some(a) => executors::start_refusal(
                a,
                executor,
                self.attempt.executor_profile.as_ref(),
                self.sandbox.is_some(),
            ),
            None => None,
        }
    }

    /// Records a process's outcome (with what its run shipped, when it ran) and hands
    /// back its verdict, or `Abandoned` when the lease was lost meanwhile.
    async fn record_outcome(
        &mut self,
        process: &ExecutionProcess,
        outcome: ProcessOutcome,
        ran: Option<&ProcessRun>,
        usage: wire::Usage,
    ) -> anyhow::Result<ProcessVerdict> {
        let end = ProcessEnd {
            status: outcome.status,
            exit_code: ran.and_then(|r| r.result.as_ref().ok()?.exit_code()),
            failure_reason: outcome.failure_reason,
            entry_count: ran.map_or(0, |r| r.shipped.total as i64),
            log_truncated: ran.is_some_and(|r| r.shipped.truncated),
            agent_session_id: ran
                .and_then(|r| r.report.as_ref())
                .and_then(|r| r.session_id.clone()),
            usage,
        };
        // A process that never ran has an empty, complete log.
        let log_total = match ran {
            Some(r) => r.shipped.durable.then_some(r.shipped.total),
            None => Some(0),
        };
        if self.record_process_end(process, end, log_total).await? {
            return Ok(ProcessVerdict::Abandoned);
        }
        Ok(outcome.verdict)
    }

    /// Runs the process to its end while its output is shipped and the diff kept
    /// current; saves an agent's session files and raw output afterwards.
    async fn run_and_ship(
        &mut self,
        process: &ExecutionProcess,
        agent: Option<&Agent>,
        worktree: &std::path::Path,
        tracker: &Arc<Mutex<DiffTracker>>,
    ) -> anyhow::Result<ProcessRun> {
        let settings = &self.worker.settings.worker;
        let (changes, shipper) = logship::spawn(ShipTarget {
            redis: self.redis.clone(),
            store: self.worker.store.clone(),
            keys: self.worker.keys.clone(),
            org_id: process.org_id,
            process_id: process.id,
            max_entries: settings.segment_max_entries.max(1),
            flush: Duration::from_millis(settings.segment_flush_ms),
            max_bytes: settings.max_log_bytes_per_process,
            max_unstored_bytes: settings.max_unstored_log_bytes,
            patience: Duration::from_secs(settings.store_patience_secs),
        });
        let diff_done = CancellationToken::new();
        let diff_loop = tokio::spawn(
            keep_diff_current(
                tracker.clone(),
                self.worker.clone(),
                self.lease.clone(),
                Duration::from_millis(settings.diff_interval_ms.max(50)),
                diff_done.clone(),
            )
            .in_current_span(),
        );
        let mut env = crate::orphans::markers(&self.worker.id, &self.worker.data_dir).to_vec();
        env.extend([
            ("SWITCHYARD_ATTEMPT_ID", self.attempt.id.to_string()),
            ("SWITCHYARD_PROCESS_ID", process.id.to_string()),
            ("SWITCHYARD_BRANCH", self.attempt.branch.clone()),
        ]);
        let (lines, raw_lines) = mpsc::channel(logship::CHANNEL_CAPACITY);
        let sandboxed = self.sandbox.as_ref().map(|s| s.run(self.worker));
        let mut request = RunRequest {
            script: process.prompt.clone(),
            cwd: worktree.to_path_buf(),
            env: runner::executor_env(&env),
            limits: settings.limits.clone(),
            stdin: None,
            sandbox: None,
        };
        let run_done = CancellationToken::new();
        let (pump, side, runner_stop) = match agent {
            None => (
                tokio::spawn(crate::pump::verbatim(raw_lines, changes).map(|()| None)),
                None,
                self.stop.clone(),
            ),
            Some(agent) => {
                let launch = self
                    .prepare_agent(agent, process, &env, worktree, lines.clone())
                    .await?;
                self.start_agent_pump(
                    agent,
                    process,
                    launch,
                    &mut request,
                    sandboxed.as_ref(),
                    raw_lines,
                    changes,
                    &run_done,
                )?
            }
        };
        if let Some(s) = &self.sandbox {
            let namespaces = self.worker.settings.worker.sandbox.namespaces;
            override_env(&mut request.env, s.env(namespaces));
        }
        request.sandbox = sandboxed;
        tracing::info!("process started");
        let result = runner::run(request, lines, runner_stop, self.abort.clone()).await;
        run_done.cancel();
        // Nothing of the attempt runs now: a diff the process left stuck on a FIFO is
        // woken before it is waited for, and nothing is left to stop the next one.
        let (tree, reader) = (
            worktree.to_path_buf(),
            self.sandbox.as_ref().map(|s| s.identity.uid),
        );
        match blocking::run(move || crate::special_files::release(&tree, reader)).await? {
            Ok(removed) if !removed.is_empty() => {
                tracing::warn!(?removed, "removed FIFOs and the like git would block on");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "special files not released"),
        }
        let report = pump.await.ok().flatten();
        if let (Some(agent), Some(side)) = (agent, &side) {
            let prefix = sessions::prefix(process.org_id, self.attempt.id);
            if let Err(e) =
                sessions::save(&self.worker.store, &side.home, agent.session_dir, &prefix).await
            {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "agent session files not saved; a follow-up elsewhere starts fresh"
                );
            }
            self.keep_raw_output(process, &side.raw_file).await;
        }
        if let Some(r) = &report {
            tracing::info!(
                session_id = ?r.session_id, input_tokens = r.tokens.input_tokens,
                output_tokens = r.tokens.output_tokens, "agent turn ended"
            );
        }
        diff_done.cancel();
        let _ = diff_loop.await;
        let shipped = shipper.await.context("log shipper")?;
        Ok(ProcessRun {
            result,
            report,
            shipped,
            driver_finished: side.is_some_and(|s| s.finished.is_cancelled()),
        })
    }

    /// Starts the pump that normalizes an agent's output and answers its protocol; sets
    /// the request's command, environment and stdin. Returns the pump, what to keep of
    /// the run afterwards, and the token that stops the runner.
    #[expect(clippy::too_many_arguments)]
    fn start_agent_pump(
        &self,
        agent: &Agent,
        process: &ExecutionProcess,
        launch: AgentLaunch,
        request: &mut RunRequest,
        sandboxed: Option<&runner::SandboxRun>,
        raw_lines: mpsc::Receiver<runner::OutputLine>,
        changes: mpsc::Sender<crate::logship::EntryChange>,
        run_done: &CancellationToken,
    ) -> anyhow::Result<(
        tokio::task::JoinHandle<Option<crate::pump::AgentReport>>,
        Option<AgentSide>,
        CancellationToken,
    )> {
        request.script = launch.script;
        request.env = launch.env;
        request.stdin = launch.stdin;
        if let (Some(driver), Some(sandboxed)) = (&launch.driver, sandboxed) {
            driver.attach_sandbox(sandboxed.bridge.clone());
        }
        let mut runner_stop = self.stop.clone();
        if let Some(driver) = &launch.driver {
            // Stop asks the agent to interrupt its turn first; the group is killed only
            // if it has not ended a few seconds later.
            runner_stop = graceful_stop(self.stop.clone(), driver.clone(), run_done.clone());
        }
        // An agent that does not exit by itself is stopped once its driver says the turn
        // is over.
        let runner_stop = either(runner_stop, launch.finished.clone(), run_done.clone());
        let settings = &self.worker.settings.worker;
        let broker = ApprovalBroker {
            redis: self.redis.clone(),
            redis_url: self.worker.settings.redis.url.clone(),
            keys: self.worker.keys.clone(),
            org_id: process.org_id,
            attempt_id: self.attempt.id,
            process_id: process.id,
            timeout: Duration::from_secs(settings.approval_timeout_secs),
            policy: launch.options.permission_policy,
        };
        let normalizer = normalize::for_protocol(agent.protocol);
        let raw_dir = self.worker.data_dir.join("raw");
        sandbox::private_dir(&raw_dir).context("create the raw output dir")?;
        let raw_file = raw_dir.join(format!("{}.jsonl", process.id));
        let pump = tokio::spawn(
            crate::pump::agent(
                raw_lines,
                normalizer,
                launch.driver,
                broker,
                launch.redactor,
                Some(raw_file.clone()),
                changes,
            )
            .map(Some),
        );
        let side = AgentSide {
            home: launch.home,
            finished: launch.finished,
            raw_file,
        };
        Ok((pump, Some(side), runner_stop))
    }

    /// Uploads an agent process's raw output beside its normalized log, then drops the
    /// local copy.
    async fn keep_raw_output(&self, process: &ExecutionProcess, path: &std::path::Path) {
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                let key = shared::logs::segments::raw_key(process.org_id, process.id);
                if let Err(e) = self
                    .worker
                    .store
                    .put(&key, bytes, "application/x-ndjson")
                    .await
                {
                    tracing::warn!(error = %e, "raw output not stored");
                }
            }
            Err(e) => tracing::warn!(error = %e, "raw output not read back"),
        }
        let _ = tokio::fs::remove_file(path).await;
    }

    /// Gets an agent ready to start: its home (with the session files of earlier turns),
    /// the session to resume, its command line, environment, stdin and driver.
    async fn prepare_agent(
        &self,
        agent: &Agent,
        process: &ExecutionProcess,
        base_env: &[(&str, String)],
        worktree: &std::path::Path,
        inject: mpsc::Sender<runner::OutputLine>,
    ) -> anyhow::Result<AgentLaunch> {
        let home = sessions::home_dir(&self.worker.data_dir, self.attempt.id);
        tokio::fs::create_dir_all(&home)
            .await
            .context("create the agent home")?;
        let prefix = sessions::prefix(process.org_id, self.attempt.id);
        match sessions::restore(&self.worker.store, &home, &prefix).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "agent session files restored"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "agent session files not restored"),
        }
        if let Some(s) = &self.sandbox {
            let (home, uid) = (home.clone(), s.identity.uid);
            blocking::run(move || sandbox::chown_tree(&home, uid))
                .await?
                .context("give the restored session files to the sandbox")?;
        }
        let resume = {
            let id = self.attempt.id;
            db_step!(self, |c| records::last_agent_session(c, id))
        };
        // The profile the attempt was started with (a snapshot, so later edits do not
        // change a run or its follow-ups).
        let profile = shared::executors::ResolvedProfile::for_attempt(
            &self.attempt.executor,
            self.attempt.executor_profile.as_ref(),
        )
        .context("the attempt's executor profile")?;
        let options = profile.options.clone();
        let secrets = {
            let (settings, org) = (&self.worker.settings, process.org_id);
            db_step!(self, |c| async {
                Ok::<_, DbError>(shared::secrets::decrypt_org_secrets(c, settings, org).await)
            })
            .context("decrypting the org's agent secrets")?
        };
        let redactor = shared::secrets::Redactor::from_secrets(&secrets)
            .context("indexing the org's secrets for redaction")?;
        let history = {
            let id = self.attempt.id;
            db_step!(self, |c| records::earlier_prompts(c, id, process.id))
        };
        // Agents taking the prompt as an argument get the earlier turns in it when there
        // is no session to resume.
        let argument_prompt = match resume {
            Some(_) => process.prompt.clone(),
            None => executors::with_history(&process.prompt, &history),
        };
        let settings = &self.worker.settings.worker;
        let argv = [
            agent.launcher(&settings.agent_commands),
            agent.args(&options, &argument_prompt, resume.as_deref()),
        ]
        .concat();
        let mut extra: Vec<(&str, String)> = base_env.to_vec();
        extra.push(("HOME", home.display().to_string()));
        // The profile's variables, then the org's secrets: a secret wins over a profile
        // variable of the same name, since admins manage secrets and anyone can edit profiles.
        // Profiles and secrets stored before the rule existed may still name a variable
        // that changes how programs load or run: such a variable is left out here too.
        let allowed = |name: &str| match shared::executors::forbidden_env_var(name) {
            Some(why) => {
                tracing::warn!(
                    variable = name,
                    why,
                    "variable left out of the agent's environment"
                );
                false
            }
            None => true,
        };
        extra.extend(
            options
                .env
                .iter()
                .filter(|(k, _)| allowed(k))
                .map(|(k, v)| (k.as_str(), v.clone())),
        );
        // A run started from GitHub under the restricted policy gets only the agent's
        // own credential; every secret is still redacted from what it prints.
        extra.extend(
            secrets
                .iter()
                .filter(|(k, _)| profile.allows_secret(k) && allowed(k))
                .map(|(k, v)| (k.as_str(), v.expose_secret().to_owned())),
        );
        extra.extend(agent.fixed_env(settings.agent_cache_dir.as_deref()));
        let mut env = runner::executor_env(&extra);
        // The agent's home is the attempt's, not the worker's.
        let last_home = env.iter().rposition(|(k, _)| k == "HOME");
        let mut i = 0;
        env.retain(|(k, _)| {
            let keep = k != "HOME" || Some(i) == last_home;
            i += 1;
            keep
        });
        let finished = CancellationToken::new();
        let started = executors::start_driver(
            agent,
            &executors::DriverContext {
                prompt: &process.prompt,
                options: &options,
                resume: resume.as_deref(),
                cwd: worktree,
                history: &history,
                inject,
                finished: finished.clone(),
            },
        );
        let (stdin, driver) = match started {
            Some(started) => (Some(started.stdin), Some(started.driver)),
            None => (None, None),
        };
        tracing::info!(agent = agent.name(), resume = ?resume, "starting agent");
        Ok(AgentLaunch {
            script: executors::exec_script(&argv),
            env,
            stdin,
            driver,
            home,
            options,
            redactor: Some(std::sync::Arc::new(redactor)),
            finished,
        })
    }

    /// Writes a process's end, announces it, and closes its log stream when the log is
    /// durable (`log_total`). Returns true when the lease was lost instead.
    async fn record_process_end(
        &mut self,
        process: &ExecutionProcess,
        end: ProcessEnd,
        log_total: Option<u64>,
    ) -> anyhow::Result<bool> {
        let row = {
            let lease = &self.lease;
            match db_step!(self, |c| records::finish_process(
                c,
                lease,
                process.id,
                end.clone()
            )) {
                Guarded::LeaseLost => return Ok(true),
                Guarded::Written(row) => row,
            }
        };
        self.emit_process(&row).await;
        if let Some(total) = log_total
            && let Err(e) =
                bus::publish_log_end(&mut self.redis, &self.worker.keys, process.id, total).await
        {
            tracing::warn!(error = %e, "log end not announced");
        }
        Ok(false)
    }

    /// Records the attempt's end: remaining processes killed, attempt status, head commit,
    /// diff, task moved to review; then the org events.
    async fn finish(
        mut self,
        ctx: &AttemptContext,
        verdict: Verdict,
        head_commit: Option<String>,
        tracker: Option<&DiffTracker>,
    ) -> anyhow::Result<AttemptOutcome> {
        if verdict != Verdict::Succeeded {
            let reason = match verdict {
                Verdict::Cancelled => "attempt stopped before this process ran",
                _ => "attempt failed before this process ran",
            };
            let lease = &self.lease;
            match db_step!(self, |c| records::kill_queued_processes(c, lease, reason)) {
                Guarded::LeaseLost => return Ok(AttemptOutcome::Abandoned),
                Guarded::Written(rows) => {
                    for row in &rows {
                        self.emit_process(row).await;
                    }
                }
            }
        }
        let (status, failure_reason) = verdict.end();
        let current = tracker.and_then(|t| t.summary().map(|summary| (t.key(), summary)));
        let (diff_object_key, diff_summary) = match current {
            Some((key, summary)) => (Some(key), serde_json::to_value(summary).ok()),
            None => (
                self.attempt.diff_object_key.clone(),
                self.attempt.diff_summary.clone(),
            ),
        };
        let end = AttemptEnd {
            status,
            failure_reason,
            head_commit: head_commit.or_else(|| self.attempt.head_commit.clone()),
            diff_summary,
            diff_object_key,
        };
        let lease = &self.lease;
        let finished = db_step!(self, |c| records::finish_attempt(
            c,
            lease,
            ctx.task.id,
            end.clone()
        ));
        let (attempt, task) = match finished {
            Guarded::LeaseLost => return Ok(AttemptOutcome::Abandoned),
            Guarded::Written(rows) => rows,
        };
        // The attempt's slot is free for the next one of its org.
        bus::wake_dispatcher(&mut self.redis, &self.worker.keys).await;
        let task_key = format!("{}-{}", ctx.project.key_prefix, ctx.task.number);
        github::report_result(self.worker, &attempt, &task_key, &ctx.repository).await;
        let org = attempt.org_id;
        bus::emit(
            &mut self.redis,
            &self.worker.keys,
            org,
            OrgEvent::AttemptUpdated(wire::Attempt::from(attempt.clone())),
        )
        .await;
        if let Some(task) = task {
            let task = wire::Task::from_row(task, &ctx.project.key_prefix);
            bus::emit(
                &mut self.redis,
                &self.worker.keys,
                org,
                OrgEvent::TaskUpdated(task),
            )
            .await;
        }
        Ok(AttemptOutcome::Finished(attempt.status))
    }

    async fn emit_process(&mut self, row: &ExecutionProcess) {
        bus::emit(
            &mut self.redis,
            &self.worker.keys,
            row.org_id,
            OrgEvent::ProcessUpdated(wire::Process::from(row.clone())),
        )
        .await;
    }
}

/// Recomputes the diff every `every` until `done`, storing each changed version and
/// recording it on the attempt row.
async fn keep_diff_current(
    tracker: Arc<Mutex<DiffTracker>>,
    worker: Worker,
    lease: Lease,
    every: Duration,
    done: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut t = tracker.lock().await;
        match t.refresh().await {
            Ok(Some(version)) => {
                tracing::debug!(version, "diff stored");
                let (key, summary) = (t.key(), t.summary());
                // Row first, announcement second: a viewer told of a version finds the
                // attempt row pointing at it.
                if let Some(summary) = summary.and_then(|s| serde_json::to_value(s).ok()) {
                    let written = async {
                        let mut conn = worker.db.system().await?;
                        Ok::<_, anyhow::Error>(
                            records::set_diff(&mut conn, &lease, summary, &key).await?,
                        )
                    }
                    .await;
                    if let Err(e) = written {
                        tracing::warn!(error = format!("{e:#}"), "diff summary not recorded");
                    }
                }
                t.announce(version).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "diff not computed"),
        }
    }
}

/// The attempt's failure reason when its worktree could not be prepared.
fn worktree_failure(e: &GitError) -> String {
    format!("could not prepare the worktree: {e}")
}

fn commit_message(ctx: &AttemptContext, attempt: &TaskAttempt) -> String {
    format!(
        "{}-{}: {}\n\nSwitchyard attempt {} on branch {}\n",
        ctx.project.key_prefix, ctx.task.number, ctx.task.title, attempt.id, attempt.branch
    )
}

/// Everything an agent process needs that a script does not.
struct AgentLaunch {
    script: String,
    env: Vec<(String, String)>,
    stdin: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    driver: Option<std::sync::Arc<dyn AgentDriver>>,
    home: std::path::PathBuf,
    options: ProfileOptions,
    /// Redacts the org's secret values from everything the agent prints.
    redactor: Option<std::sync::Arc<shared::secrets::Redactor>>,
    /// Cancelled by the driver when an agent that does not exit by itself is done.
    finished: CancellationToken,
}

/// What is kept of an agent's run once it ends: its home (session files), the token
/// its driver cancels when the turn is over, and its raw output.
struct AgentSide {
    home: std::path::PathBuf,
    finished: CancellationToken,
    raw_file: std::path::PathBuf,
}

/// What the worker saw of a process that ran, for [`verdict::judge`] and the record.
struct ProcessRun {
    result: std::io::Result<runner::RunResult>,
    report: Option<crate::pump::AgentReport>,
    shipped: logship::ShipSummary,
    /// The agent's driver ended the run (a server that does not exit by itself).
    driver_finished: bool,
}

impl ProcessRun {
    /// Tokens and cost the agent reported (zero for scripts).
    fn usage(&self) -> wire::Usage {
        self.report
            .as_ref()
            .map(|r| wire::Usage {
                input_tokens: i64::try_from(r.tokens.input_tokens).unwrap_or(i64::MAX),
                output_tokens: i64::try_from(r.tokens.output_tokens).unwrap_or(i64::MAX),
                cost_usd: r.tokens.cost_usd,
            })
            .unwrap_or_default()
    }
}

/// A token cancelled when either `a` or `b` is; it stops watching once `done` is.
fn either(
    a: CancellationToken,
    b: CancellationToken,
    done: CancellationToken,
) -> CancellationToken {
    let both = CancellationToken::new();
    let fire = both.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = a.cancelled() => fire.cancel(),
            _ = b.cancelled() => fire.cancel(),
            _ = done.cancelled() => {}
        }
    });
    both
}

/// How long an interrupted agent gets to end its turn before its group is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// A stop token for the runner that fires [`INTERRUPT_GRACE`] after `stop`, once the
/// agent was asked to interrupt; it never fires if the run ends first (`run_done`).
fn graceful_stop(
    stop: CancellationToken,
    driver: std::sync::Arc<dyn AgentDriver>,
    run_done: CancellationToken,
) -> CancellationToken {
    let hard = CancellationToken::new();
    let fire = hard.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = run_done.cancelled() => return,
        }
        driver.interrupt();
        tokio::select! {
            _ = tokio::time::sleep(INTERRUPT_GRACE) => fire.cancel(),
            _ = run_done.cancelled() => {}
        }
    });
    hard
}
