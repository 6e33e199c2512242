//! The coding agents a worker can run (docs/EXECUTORS.md): for each one the command it spawns
//! with the flags for non-interactive, machine-readable output, the options a profile
//! sets, how a follow-up resumes the agent's own session, and the protocol it speaks.
//!
//! Real agents run through `npx` at a pinned package version (or their binary on PATH);
//! `worker.agent_commands` replaces the program for an executor (a local install, or the
//! fake agents the tests use) while the arguments stay those of the real tool.

pub mod acp;
pub mod claude;
pub mod codex;
pub mod driver;
pub mod opencode;

use std::collections::HashMap;

use crate::normalize::Protocol;

pub use shared::executors::{ExecutorKind, PermissionPolicy, ProfileOptions};

/// How the worker talks to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Claude Code's stream-json in and out, with control requests.
    ClaudeStreamJson,
    /// Codex's app-server JSON-RPC over stdio.
    CodexAppServer,
    /// The Agent Client Protocol (JSON-RPC over stdio).
    Acp,
    /// OpenCode's local HTTP server and its event stream.
    OpenCodeServer,
    /// One-shot stream-json on stdout, prompt in the arguments (Amp, Cursor, Droid).
    StreamJsonOut,
}

/// A pinned npm package and the binary it provides, or a binary expected on PATH. A
/// `bin` with a `/` is a file inside the package (one that declares no `bin` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Program {
    package: Option<&'static str>,
    bin: &'static str,
}

const fn npm(package: &'static str, bin: &'static str) -> Program {
    Program {
        package: Some(package),
        bin,
    }
}

/// What the worker knows of one coding agent. The agents themselves are named by
/// [`ExecutorKind`] (the `executor` of an attempt); [`AGENTS`] holds each one's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    pub kind: ExecutorKind,
    /// The program at its pinned version (scripts/lib/agents.sh installs these pins).
    program: Program,
    /// How the worker drives it.
    pub wire: Wire,
    /// How its output is read.
    pub protocol: Protocol,
    /// Where it keeps its own session files, relative to its home directory: saved after
    /// each turn and restored before a follow-up, so any worker can resume it.
    pub session_dir: &'static str,
}

/// Every agent a worker can run, in catalogue order: one row each.
pub const AGENTS: &[Agent] = &[
    Agent {
        kind: ExecutorKind::ClaudeCode,
        program: npm("@anthropic-ai/claude-code@2.1.330", "claude"),
        wire: Wire::ClaudeStreamJson,
        protocol: Protocol::ClaudeCode,
        session_dir: ".claude/projects",
    },
    Agent {
        kind: ExecutorKind::Codex,
        program: npm("@openai/codex@0.169.0", "codex"),
        wire: Wire::CodexAppServer,
        protocol: Protocol::Codex,
        session_dir: ".codex/sessions",
    },
    Agent {
        kind: ExecutorKind::Gemini,
        program: npm("@google/gemini-cli@0.61.0", "gemini"),
        wire: Wire::Acp,
        protocol: Protocol::Acp,
        session_dir: ".gemini/tmp",
    },
    Agent {
        kind: ExecutorKind::Amp,
        program: npm("@sourcegraph/amp@0.0.1790142911-g7618fb", "amp"),
        wire: Wire::StreamJsonOut,
        protocol: Protocol::Amp,
        session_dir: ".local/share/amp",
    },
    Agent {
        kind: ExecutorKind::Cursor,
        // Cursor ships its agent as a binary of its own, not on npm.
        program: Program {
            package: None,
            bin: "cursor-agent",
        },
        wire: Wire::StreamJsonOut,
        protocol: Protocol::CursorAgent,
        session_dir: ".cursor/chats",
    },
    Agent {
        kind: ExecutorKind::OpenCode,
        program: npm("opencode-ai@1.18.33", "opencode"),
        wire: Wire::OpenCodeServer,
        protocol: Protocol::OpenCode,
        session_dir: ".local/share/opencode",
    },
    Agent {
        kind: ExecutorKind::QwenCode,
        program: npm("@qwen-code/qwen-code@0.24.4", "qwen"),
        wire: Wire::Acp,
        protocol: Protocol::Acp,
        session_dir: ".qwen/tmp",
    },
    Agent {
        kind: ExecutorKind::Copilot,
        program: npm("@github/copilot@1.0.102", "copilot"),
        wire: Wire::Acp,
        protocol: Protocol::Acp,
        session_dir: ".copilot/session-state",
    },
    Agent {
        kind: ExecutorKind::Droid,
        // @factory/cli@0.225.1's linux-x64 binary package is missing from the registry and
        // there is no @factory/cli@0.225.2: the platform package's bin/droid is the whole
        // CLI, though the package declares no `bin` for it.
        program: npm("@factory/cli-linux-x64@0.225.2", "bin/droid"),
        wire: Wire::StreamJsonOut,
        protocol: Protocol::Droid,
        session_dir: ".factory/sessions",
    },
];

impl Agent {
    /// The agent that runs as `kind`; `None` for `script`.
    pub fn of(kind: ExecutorKind) -> Option<&'static Agent> {
        AGENTS.iter().find(|a| a.kind == kind)
    }

    /// The agent named by an attempt's `executor`, if it is one.
    pub fn from_name(name: &str) -> Option<&'static Agent> {
        name.parse().ok().and_then(Agent::of)
    }

    /// The stable name (the `executor` of an attempt).
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// Environment the worker gives the agent itself, set after the profile's variables
    /// and the org's secrets so that neither turns it off by accident. `agent_cache` is
    /// `worker.agent_cache_dir`.
    ///
    /// Gemini CLI ignores `--yolo` (and asks about every tool call) in a folder it does not
    /// trust, and a fresh worktree is one: the worktree is the attempt's own, so it is
    /// trusted. Copilot CLI unpacks its ~235 MB package under `$HOME/.cache` on first run,
    /// once per attempt home; pointed at a copy unpacked beforehand (scripts/lib/agents.sh)
    /// it only reads it, so the folder may be read-only and shared by every attempt's uid.
    /// An empty folder would make it fail to unpack, so it is used only once it holds one.
    pub fn fixed_env(&self, agent_cache: Option<&std::path::Path>) -> Vec<(&'static str, String)> {
        match self.kind {
            ExecutorKind::Gemini => vec![("GEMINI_CLI_TRUST_WORKSPACE", "true".to_owned())],
            ExecutorKind::Copilot => agent_cache
                .map(|dir| dir.join("copilot"))
                .filter(|dir| dir.join("pkg").is_dir())
                .map(|dir| vec![("COPILOT_PKG_CACHE_HOME", dir.display().to_string())])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Why the worker must not start the agent with these options, or `None`: Claude Code
    /// exits at once when `--dangerously-skip-permissions` (the auto policy) runs as root,
    /// unless told (`IS_SANDBOX=1`) that the machine is a sandbox. `sandboxed` says the
    /// agent runs as an unprivileged uid (`worker.sandbox`), `root` that the worker is root.
    pub fn refusal(&self, opts: &ProfileOptions, sandboxed: bool, root: bool) -> Option<String> {
        let skips_permissions = self.kind == ExecutorKind::ClaudeCode
            && self
                .args(opts, "", None)
                .iter()
                .any(|a| a == "--dangerously-skip-permissions");
        let declared_sandbox = opts.env.get("IS_SANDBOX").map(String::as_str) == Some("1");
        (skips_permissions && root && !sandboxed && !declared_sandbox).then(|| {
            "Claude Code refuses the auto policy as root: enable worker.sandbox or run the worker unprivileged".to_owned()
        })
    }

    /// The program part of the command line: the configured override, else npx or the binary.
    pub fn launcher(&self, overrides: &HashMap<String, Vec<String>>) -> Vec<String> {
        if let Some(custom) = overrides.get(self.name()).filter(|c| !c.is_empty()) {
            return custom.clone();
        }
        let program = self.program;
        match program.package {
            Some(package) if program.bin.contains('/') => {
                let script = exec_package_file(package_name(package), program.bin);
                ["npx", "-y", "-p", package, "sh", "-c", &script, self.name()]
                    .map(String::from)
                    .to_vec()
            }
            Some(package) => ["npx", "-y", "-p", package, program.bin]
                .map(String::from)
                .to_vec(),
            None => vec![program.bin.to_owned()],
        }
    }

    /// The arguments for a run; `resume` is the agent's session id from an earlier turn.
    /// Prompts travel on stdin for the protocols that have one, else as the last argument.
    pub fn args(&self, opts: &ProfileOptions, prompt: &str, resume: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        let model = opts.model.as_deref();
        match self.kind {
            ExecutorKind::ClaudeCode => {
                push(&[
                    "-p",
                    "--verbose",
                    "--output-format",
                    "stream-json",
                    "--input-format",
                    "stream-json",
                ]);
                match opts.permission_policy {
                    PermissionPolicy::Auto => push(&["--dangerously-skip-permissions"]),
                    PermissionPolicy::Supervised => push(&["--permission-prompt-tool", "stdio"]),
                    PermissionPolicy::Plan => push(&[
                        "--permission-mode",
                        "plan",
                        "--permission-prompt-tool",
                        "stdio",
                    ]),
                }
                if let Some(m) = model {
                    push(&["--model", m]);
                }
                if let Some(id) = resume {
                    push(&["--resume", id]);
                }
            }
            ExecutorKind::Codex => {
                // Model, effort, sandbox and approval policy travel in thread/start.
                push(&["app-server"]);
            }
            ExecutorKind::Gemini | ExecutorKind::QwenCode => {
                push(&["--experimental-acp"]);
                if let Some(m) = model {
                    push(&["--model", m]);
                }
                if opts.permission_policy == PermissionPolicy::Auto {
                    push(&["--yolo"]);
                }
            }
            ExecutorKind::Copilot => {
                push(&["--acp", "--stdio"]);
                if let Some(m) = model {
                    push(&["--model", m]);
                }
                if opts.permission_policy == PermissionPolicy::Auto {
                    push(&["--allow-all-tools"]);
                }
            }
            ExecutorKind::OpenCode => {
                // A local server on a port of its own; the run talks HTTP and SSE to it.
                push(&["serve", "--hostname", "127.0.0.1", "--port", "0"]);
            }
            ExecutorKind::Amp => {
                if let Some(id) = resume {
                    push(&["threads", "continue", id]);
                }
                push(&["--execute", prompt, "--stream-json"]);
                if opts.permission_policy == PermissionPolicy::Auto {
                    push(&["--dangerously-allow-all"]);
                }
            }
            ExecutorKind::Cursor => {
                push(&["-p", "--output-format", "stream-json"]);
                if let Some(m) = model {
                    push(&["--model", m]);
                }
                if opts.permission_policy == PermissionPolicy::Auto {
                    push(&["--force"]);
                }
                if let Some(id) = resume {
                    push(&["--resume", id]);
                }
                push(&[prompt]);
            }
            ExecutorKind::Droid => {
                push(&["exec", "--output-format", "stream-json"]);
                if opts.permission_policy == PermissionPolicy::Auto {
                    push(&["--auto", "high"]);
                }
                if let Some(m) = model {
                    push(&["--model", m]);
                }
                if let Some(effort) = opts.reasoning_effort.map(|e| e.as_str()) {
                    push(&["--reasoning-effort", effort]);
                }
                if let Some(id) = resume {
                    push(&["--session-id", id]);
                }
                push(&[prompt]);
            }
            // No row of AGENTS runs as `script`.
            ExecutorKind::Script => {}
        }
        a.extend(opts.extra_args.iter().cloned());
        a
    }
}

impl Wire {
    /// Whether this worker can drive the protocol (the one-shot kind needs no driver).
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Wire::ClaudeStreamJson
                | Wire::StreamJsonOut
                | Wire::Acp
                | Wire::CodexAppServer
                | Wire::OpenCodeServer
        )
    }
}

/// What a driver starts from.
pub struct DriverContext<'a> {
    pub prompt: &'a str,
    pub options: &'a ProfileOptions,
    /// The agent session a follow-up resumes.
    pub resume: Option<&'a str>,
    pub cwd: &'a std::path::Path,
    /// The attempt's earlier prompts, oldest first: an agent that cannot resume gets them
    /// replayed in its prompt (the documented fallback).
    pub history: &'a [String],
    /// Lines that do not come from stdout (an agent's HTTP event stream): they reach the
    /// normalizer like stdout lines.
    pub inject: tokio::sync::mpsc::Sender<crate::runner::OutputLine>,
    /// For agents that do not exit by themselves (a local server): the driver cancels it
    /// once the turn is over, the process is then stopped, and the run counts as ended
    /// normally (its failure, if any, comes from `AgentDriver::turn_failure`).
    pub finished: tokio_util::sync::CancellationToken,
}

/// Starts the driver of an agent whose protocol talks back, with the prompt and the
/// session to resume; `None` for agents that only print.
pub fn start_driver(agent: &Agent, cx: &DriverContext<'_>) -> Option<driver::Started> {
    let replayed = with_history(cx.prompt, cx.history);
    match agent.wire {
        // Without a session to resume, the earlier turns travel in the prompt.
        Wire::ClaudeStreamJson => Some(claude::ClaudeDriver::start(if cx.resume.is_some() {
            cx.prompt
        } else {
            &replayed
        })),
        Wire::Acp => Some(acp::AcpDriver::start_with_history(
            cx.prompt, &replayed, cx.resume, cx.cwd,
        )),
        Wire::CodexAppServer => Some(codex::CodexDriver::start_with_history(
            cx.prompt, &replayed, cx.options, cx.resume, cx.cwd,
        )),
        Wire::OpenCodeServer => Some(opencode::OpenCodeDriver::start(cx)),
        Wire::StreamJsonOut => None,
    }
}

/// Why an attempt's agent must not start on this worker (see [`Agent::refusal`]), checked
/// before anything starts so the process fails with a reason rather than the agent's exit.
/// A profile that does not resolve is left to the start, which reports it.
pub fn start_refusal(
    agent: &Agent,
    executor: &str,
    profile: Option<&serde_json::Value>,
    sandboxed: bool,
) -> Option<String> {
    let options = shared::executors::ResolvedProfile::for_attempt(executor, profile)
        .ok()?
        .options;
    // SAFETY: geteuid only reads this process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    agent.refusal(&options, sandboxed, root)
}

/// A prompt that carries the earlier turns, for agents that cannot resume a session.
pub fn with_history(prompt: &str, history: &[String]) -> String {
    if history.is_empty() {
        return prompt.to_owned();
    }
    let mut out = String::from(
        "This continues an earlier conversation. The earlier requests were, in order:\n",
    );
    for (i, earlier) in history.iter().enumerate() {
        out.push_str(&format!("\n--- request {} ---\n{earlier}\n", i + 1));
    }
    out.push_str("\n--- the new request ---\n");
    out.push_str(prompt);
    out
}

/// The executors this worker can run: `script`, and every agent whose protocol it can
/// drive and whose program it finds (on `PATH`, or at the configured path).
pub fn available(overrides: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut names = vec!["script".to_owned()];
    for agent in AGENTS {
        let launcher = agent.launcher(overrides);
        if agent.wire.is_supported() && launcher.first().is_some_and(|p| program_found(p)) {
            names.push(agent.name().to_owned());
        }
    }
    names
}

/// Whether `program` can be started: a path to a file, or a name found on `PATH`.
fn program_found(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A package spec's name: `@scope/name@1.2.3` → `@scope/name`.
fn package_name(spec: &str) -> &str {
    match spec.rfind('@') {
        Some(at) if at > 0 => &spec[..at],
        _ => spec,
    }
}

/// A `sh -c` script that execs `file` inside the npm package `package` with the script's
/// arguments. npx puts the `node_modules/.bin` of the folder it installed the package in
/// on `PATH` (and of the working folder's, where it may already be), but runs only a
/// declared `bin`: the package's folder is the one beside such a `.bin`.
fn exec_package_file(package: &str, file: &str) -> String {
    let target = shell_quote(&format!("{package}/{file}"));
    format!(
        r#"IFS=:; for d in $PATH; do case $d in */node_modules/.bin) f="${{d%/.bin}}"/{target}; if [ -x "$f" ]; then exec "$f" "$@"; fi;; esac; done; echo "npx installed {package} but found no {file} in it" >&2; exit 127"#
    )
}

/// Quotes one word for `bash -c`, so the runner's shell passes it through unchanged.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `bash -c` script that execs the command line (the runner starts every process
/// through bash, in its own process group, under the same limits).
pub fn exec_script(argv: &[String]) -> String {
    let words: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
    format!("exec {}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(kind: ExecutorKind) -> &'static Agent {
        Agent::of(kind).expect("an agent")
    }

    #[test]
    fn availability_lists_script_and_agents_whose_program_exists() {
        let overrides = HashMap::from([
            ("claude-code".to_owned(), vec!["/bin/sh".to_owned()]),
            ("droid".to_owned(), vec!["/no/such/program".to_owned()]),
            ("cursor".to_owned(), vec!["sh".to_owned()]),
        ]);
        let names = available(&overrides);
        assert_eq!(names[0], "script");
        assert!(names.contains(&"claude-code".to_owned()));
        assert!(names.contains(&"cursor".to_owned()), "found on PATH");
        assert!(
            !names.contains(&"droid".to_owned()),
            "a missing program is not available"
        );
    }

    #[test]
    fn history_is_replayed_before_the_new_request() {
        assert_eq!(with_history("fix it", &[]), "fix it");
        let replayed = with_history("now test it", &["write it".to_owned(), "fix it".to_owned()]);
        let first = replayed.find("write it").expect("first request");
        let second = replayed.find("fix it").expect("second request");
        let new = replayed.find("now test it").expect("new request");
        assert!(first < second && second < new, "{replayed}");
    }

    #[test]
    fn every_agent_executor_has_one_row_and_script_has_none() {
        for kind in ExecutorKind::ALL {
            let rows = AGENTS.iter().filter(|a| a.kind == *kind).count();
            let expected = usize::from(*kind != ExecutorKind::Script);
            assert_eq!(rows, expected, "{kind}");
        }
        for agent in AGENTS {
            assert_eq!(Agent::from_name(agent.name()), Some(agent));
        }
        assert_eq!(Agent::from_name("script"), None);
    }

    #[test]
    fn npm_agents_run_through_npx_at_a_pinned_version_unless_overridden() {
        let none = HashMap::new();
        let claude = agent(ExecutorKind::ClaudeCode).launcher(&none);
        assert_eq!(claude[..3], ["npx", "-y", "-p"]);
        assert!(
            claude[3].starts_with("@anthropic-ai/claude-code@2."),
            "{claude:?}"
        );
        assert_eq!(claude[4], "claude");
        assert_eq!(
            agent(ExecutorKind::Cursor).launcher(&none),
            vec!["cursor-agent"]
        );
        for agent in AGENTS {
            let launcher = agent.launcher(&none);
            if launcher[0] == "npx" {
                assert!(
                    launcher[3]
                        .rsplit_once('@')
                        .is_some_and(|(name, version)| !name.is_empty()
                            && version.starts_with(|c: char| c.is_ascii_digit())),
                    "{agent:?} is pinned: {launcher:?}"
                );
            }
        }
        let custom = HashMap::from([(
            "claude-code".to_owned(),
            vec!["python3".to_owned(), "fake.py".to_owned()],
        )]);
        assert_eq!(
            agent(ExecutorKind::ClaudeCode).launcher(&custom),
            vec!["python3", "fake.py"]
        );
    }

    #[test]
    fn droid_runs_the_binary_inside_its_platform_package() {
        let launcher = agent(ExecutorKind::Droid).launcher(&HashMap::new());
        assert_eq!(
            launcher[..6],
            [
                "npx",
                "-y",
                "-p",
                "@factory/cli-linux-x64@0.225.2",
                "sh",
                "-c"
            ]
        );
        assert_eq!(launcher[7], "droid", "the script's $0");
        assert_eq!(
            package_name("@factory/cli-linux-x64@0.225.2"),
            "@factory/cli-linux-x64"
        );
        assert_eq!(package_name("opencode-ai@1.18.33"), "opencode-ai");
        assert_eq!(package_name("opencode-ai"), "opencode-ai");

        // The script as npx runs it: PATH holds the install's node_modules/.bin (which a
        // package without `bin` entries leaves absent) among other folders.
        let root = std::env::temp_dir().join(format!("npx-{}", uuid::Uuid::now_v7()));
        let bin = root.join("node_modules/@factory/cli-linux-x64/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let droid = bin.join("droid");
        std::fs::write(
            &droid,
            "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n",
        )
        .expect("write");
        std::fs::set_permissions(&droid, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let path = format!(
            "/nowhere/node_modules/.bin:{}:/usr/bin:/bin",
            root.join("node_modules/.bin").display()
        );
        let mut argv = launcher[4..].to_vec();
        argv.extend(["exec", "it's $HOME", "a\nb"].map(String::from));
        let run = |path: &str| {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(exec_script(&argv))
                .env("PATH", path)
                .output()
                .expect("bash")
        };
        let out = run(&path);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[exec][it's $HOME][a\nb]"
        );
        let missing = run("/usr/bin:/bin");
        assert_eq!(missing.status.code(), Some(127));
        assert!(
            String::from_utf8_lossy(&missing.stderr).contains("found no bin/droid"),
            "{missing:?}"
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    #[test]
    fn claude_flags_follow_the_permission_policy_and_resume() {
        let supervised = ProfileOptions {
            model: Some("opus".into()),
            permission_policy: PermissionPolicy::Supervised,
            ..ProfileOptions::default()
        };
        let args = agent(ExecutorKind::ClaudeCode).args(&supervised, "ignored: stdin", Some("abc"));
        assert!(
            args.windows(2)
                .any(|w| w == ["--permission-prompt-tool", "stdio"])
        );
        assert!(args.windows(2).any(|w| w == ["--model", "opus"]));
        assert!(args.windows(2).any(|w| w == ["--resume", "abc"]));
        assert!(
            !args.iter().any(|a| a == "ignored: stdin"),
            "the prompt goes on stdin"
        );
        let auto = agent(ExecutorKind::ClaudeCode).args(&ProfileOptions::default(), "p", None);
        assert!(auto.contains(&"--dangerously-skip-permissions".to_owned()));
        let plan = agent(ExecutorKind::ClaudeCode).args(
            &ProfileOptions {
                permission_policy: PermissionPolicy::Plan,
                ..ProfileOptions::default()
            },
            "p",
            None,
        );
        assert!(plan.windows(2).any(|w| w == ["--permission-mode", "plan"]));
    }

    #[test]
    fn gemini_always_trusts_its_worktree_and_copilot_reads_a_prepared_cache() {
        assert_eq!(
            agent(ExecutorKind::Gemini).fixed_env(None),
            vec![("GEMINI_CLI_TRUST_WORKSPACE", "true".to_owned())]
        );
        for agent in [
            agent(ExecutorKind::ClaudeCode),
            agent(ExecutorKind::Codex),
            agent(ExecutorKind::QwenCode),
        ] {
            assert!(agent.fixed_env(None).is_empty(), "{agent:?}");
        }
        let cache = std::env::temp_dir().join(format!("agent-cache-{}", uuid::Uuid::now_v7()));
        assert!(
            agent(ExecutorKind::Copilot).fixed_env(None).is_empty(),
            "no cache configured"
        );
        assert!(
            agent(ExecutorKind::Copilot)
                .fixed_env(Some(&cache))
                .is_empty(),
            "an unprepared cache would make Copilot fail to unpack into it"
        );
        std::fs::create_dir_all(cache.join("copilot/pkg")).expect("mkdir");
        assert_eq!(
            agent(ExecutorKind::Copilot).fixed_env(Some(&cache)),
            vec![(
                "COPILOT_PKG_CACHE_HOME",
                cache.join("copilot").display().to_string()
            )]
        );
        std::fs::remove_dir_all(&cache).expect("cleanup");
    }

    #[test]
    fn claude_code_in_auto_as_root_without_a_sandbox_is_refused_before_it_starts() {
        let auto = ProfileOptions::default();
        assert_eq!(auto.permission_policy, PermissionPolicy::Auto);
        let refused = agent(ExecutorKind::ClaudeCode).refusal(&auto, false, true);
        assert_eq!(
            refused.as_deref(),
            Some(
                "Claude Code refuses the auto policy as root: enable worker.sandbox or run the worker unprivileged"
            )
        );
        assert_eq!(
            agent(ExecutorKind::ClaudeCode).refusal(&auto, true, true),
            None,
            "sandboxed"
        );
        assert_eq!(
            agent(ExecutorKind::ClaudeCode).refusal(&auto, false, false),
            None,
            "not root"
        );
        let supervised = ProfileOptions {
            permission_policy: PermissionPolicy::Supervised,
            ..ProfileOptions::default()
        };
        assert_eq!(
            agent(ExecutorKind::ClaudeCode).refusal(&supervised, false, true),
            None
        );
        // The flag passed by hand counts as much as the policy.
        let by_hand = ProfileOptions {
            extra_args: vec!["--dangerously-skip-permissions".into()],
            ..supervised.clone()
        };
        assert!(
            agent(ExecutorKind::ClaudeCode)
                .refusal(&by_hand, false, true)
                .is_some()
        );
        // Claude Code itself accepts root on a machine declared a sandbox.
        let declared = ProfileOptions {
            env: [("IS_SANDBOX".to_owned(), "1".to_owned())].into(),
            ..ProfileOptions::default()
        };
        assert_eq!(
            agent(ExecutorKind::ClaudeCode).refusal(&declared, false, true),
            None
        );
        for agent in [
            agent(ExecutorKind::Codex),
            agent(ExecutorKind::Gemini),
            agent(ExecutorKind::Amp),
        ] {
            assert_eq!(agent.refusal(&auto, false, true), None, "{agent:?}");
        }
        // The attempt's profile decides: the built-in claude-code profile is auto.
        // SAFETY: geteuid only reads this process's credentials.
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(
            start_refusal(agent(ExecutorKind::ClaudeCode), "claude-code", None, false).is_some(),
            root
        );
        assert_eq!(
            start_refusal(agent(ExecutorKind::ClaudeCode), "claude-code", None, true),
            None
        );
    }

    #[test]
    fn one_shot_agents_take_the_prompt_as_their_last_argument() {
        let opts = ProfileOptions {
            extra_args: vec!["--x".into()],
            ..ProfileOptions::default()
        };
        for agent in [agent(ExecutorKind::Cursor), agent(ExecutorKind::Droid)] {
            let args = agent.args(&opts, "fix the bug", Some("s1"));
            assert_eq!(args[args.len() - 2], "fix the bug", "{agent:?}");
            assert_eq!(args.last().map(String::as_str), Some("--x"));
        }
        let amp = agent(ExecutorKind::Amp).args(&opts, "p", Some("T-1"));
        assert_eq!(amp[..3], ["threads", "continue", "T-1"]);
    }

    #[test]
    fn exec_script_quotes_every_word_for_bash() {
        let argv: Vec<String> = ["npx", "it's", "a b", "$HOME", ""]
            .map(String::from)
            .to_vec();
        assert_eq!(exec_script(&argv), r#"exec npx 'it'\''s' 'a b' '$HOME' ''"#);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(exec_script(&[
                "printf".into(),
                "%s|".into(),
                "it's".into(),
                "a b".into(),
                "$HOME".into(),
            ]))
            .output()
            .expect("bash");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's|a b|$HOME|");
    }
}
