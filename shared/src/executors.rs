//! The executor catalogue as data: which coding agents exist, which options each one
//! understands, how a profile's options are checked, and the profiles Switchyard ships.
//!
//! A *profile* names an executor and a set of *variants*, each a complete
//! [`ProfileOptions`] (variants do not inherit from one another, so what a variant says is
//! exactly what runs). Every profile has a `default` variant; `name:variant` picks another.
//! Profiles resolve project override → org profile → built-in profile, and the result is
//! frozen on the attempt as a [`ResolvedProfile`], which is what the worker reads.
//!
//! Built-in profiles are named after their executor (`claude-code`, `codex`, ...), so
//! "run executor X" and "run profile X" mean the same thing; an org or project profile
//! with an executor's name must run that executor.
//!
//! Nothing here touches the database: the api validates with it, the worker reads it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// The variant used when a profile is named without one.
pub const DEFAULT_VARIANT: &str = "default";
/// Most variants one profile may have.
pub const MAX_VARIANTS: usize = 32;
/// Most extra arguments one variant may pass.
pub const MAX_EXTRA_ARGS: usize = 64;
/// Longest extra argument, in bytes.
pub const MAX_ARG_BYTES: usize = 4096;
/// Most environment variables one variant may set.
pub const MAX_ENV_VARS: usize = 64;
/// Longest environment value, in bytes.
pub const MAX_ENV_VALUE_BYTES: usize = 8192;
/// Longest model name, in characters.
pub const MAX_MODEL_CHARS: usize = 200;
/// Environment names the worker sets itself; a profile may not shadow them.
pub const RESERVED_ENV_PREFIX: &str = "SWITCHYARD_";

/// Every program Switchyard can run on an attempt: the coding agents and `script`.
/// The serialized names are stable: they are stored on attempts, projects and profiles.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum ExecutorKind {
    /// Runs the prompt as a shell script (setup, cleanup, dev server, or a run of its own).
    #[serde(rename = "script")]
    Script,
    /// Anthropic's Claude Code (stream-json over stdio).
    #[serde(rename = "claude-code")]
    ClaudeCode,
    /// OpenAI's Codex CLI (app-server JSON-RPC).
    #[serde(rename = "codex")]
    Codex,
    /// Google's Gemini CLI (Agent Client Protocol).
    #[serde(rename = "gemini")]
    Gemini,
    /// Sourcegraph's Amp (stream-json).
    #[serde(rename = "amp")]
    Amp,
    /// Cursor's agent CLI (stream-json).
    #[serde(rename = "cursor")]
    Cursor,
    /// OpenCode (local HTTP server and event stream).
    #[serde(rename = "opencode")]
    OpenCode,
    /// Qwen Code (Agent Client Protocol).
    #[serde(rename = "qwen-code")]
    QwenCode,
    /// GitHub Copilot CLI (Agent Client Protocol).
    #[serde(rename = "copilot")]
    Copilot,
    /// Factory's Droid (stream-json).
    #[serde(rename = "droid")]
    Droid,
}

/// Which options an executor understands; the validation of [`ProfileOptions`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Takes a model name.
    pub model: bool,
    /// Reasoning efforts it can be asked for (empty: it has no such setting).
    pub reasoning_efforts: &'static [ReasoningEffort],
    /// Permission policies it can run under; always includes `auto`.
    pub permission_policies: &'static [PermissionPolicy],
    /// Accepts extra command-line arguments.
    pub extra_args: bool,
}

const ALL_EFFORTS: &[ReasoningEffort] = &[
    ReasoningEffort::Low,
    ReasoningEffort::Medium,
    ReasoningEffort::High,
];
const AUTO_ONLY: &[PermissionPolicy] = &[PermissionPolicy::Auto];
const AUTO_SUPERVISED: &[PermissionPolicy] =
    &[PermissionPolicy::Auto, PermissionPolicy::Supervised];
const ALL_POLICIES: &[PermissionPolicy] = &[
    PermissionPolicy::Auto,
    PermissionPolicy::Supervised,
    PermissionPolicy::Plan,
];

impl ExecutorKind {
    /// Every executor, in catalogue order.
    pub const ALL: &'static [ExecutorKind] = &[
        ExecutorKind::Script,
        ExecutorKind::ClaudeCode,
        ExecutorKind::Codex,
        ExecutorKind::Gemini,
        ExecutorKind::Amp,
        ExecutorKind::Cursor,
        ExecutorKind::OpenCode,
        ExecutorKind::QwenCode,
        ExecutorKind::Copilot,
        ExecutorKind::Droid,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Script => "script",
            ExecutorKind::ClaudeCode => "claude-code",
            ExecutorKind::Codex => "codex",
            ExecutorKind::Gemini => "gemini",
            ExecutorKind::Amp => "amp",
            ExecutorKind::Cursor => "cursor",
            ExecutorKind::OpenCode => "opencode",
            ExecutorKind::QwenCode => "qwen-code",
            ExecutorKind::Copilot => "copilot",
            ExecutorKind::Droid => "droid",
        }
    }

    /// The name people know the agent by.
    pub fn display_name(self) -> &'static str {
        match self {
            ExecutorKind::Script => "Script",
            ExecutorKind::ClaudeCode => "Claude Code",
            ExecutorKind::Codex => "Codex",
            ExecutorKind::Gemini => "Gemini CLI",
            ExecutorKind::Amp => "Amp",
            ExecutorKind::Cursor => "Cursor Agent",
            ExecutorKind::OpenCode => "OpenCode",
            ExecutorKind::QwenCode => "Qwen Code",
            ExecutorKind::Copilot => "GitHub Copilot CLI",
            ExecutorKind::Droid => "Droid",
        }
    }

    /// What the executor understands. Plan mode is offered only where the agent has one
    /// of its own (Claude Code's plan permission mode, OpenCode's plan agent, Qwen Code's
    /// plan approval mode, Droid's spec mode); reasoning effort only where the agent takes
    /// a level (Codex's reasoning effort, Claude Code's thinking budget, Droid's
    /// `--reasoning-effort`); supervision only where the agent asks before using a tool.
    pub fn capabilities(self) -> Capabilities {
        let agent = |reasoning_efforts, permission_policies| Capabilities {
            model: true,
            reasoning_efforts,
            permission_policies,
            extra_args: true,
        };
        match self {
            ExecutorKind::Script => Capabilities {
                model: false,
                reasoning_efforts: &[],
                permission_policies: AUTO_ONLY,
                extra_args: false,
            },
            ExecutorKind::ClaudeCode => agent(ALL_EFFORTS, ALL_POLICIES),
            ExecutorKind::Codex => agent(ALL_EFFORTS, AUTO_SUPERVISED),
            ExecutorKind::Gemini => agent(&[], AUTO_SUPERVISED),
            ExecutorKind::Amp => Capabilities {
                model: false,
                reasoning_efforts: &[],
                permission_policies: AUTO_ONLY,
                extra_args: true,
            },
            ExecutorKind::Cursor => agent(&[], AUTO_ONLY),
            ExecutorKind::OpenCode => agent(&[], ALL_POLICIES),
            ExecutorKind::QwenCode => agent(&[], ALL_POLICIES),
            ExecutorKind::Copilot => agent(&[], AUTO_SUPERVISED),
            ExecutorKind::Droid => agent(ALL_EFFORTS, ALL_POLICIES),
        }
    }

    /// The environment variables (org secrets, by name) that hold the agent's own
    /// credential for its model API: all a restricted run gets of the org's secrets.
    /// `script` has none.
    pub fn credential_env(self) -> &'static [&'static str] {
        match self {
            ExecutorKind::Script => &[],
            ExecutorKind::ClaudeCode => &[
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_AUTH_TOKEN",
                "CLAUDE_CODE_OAUTH_TOKEN",
            ],
            ExecutorKind::Codex => &["OPENAI_API_KEY", "CODEX_API_KEY"],
            ExecutorKind::Gemini => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            ExecutorKind::Amp => &["AMP_API_KEY"],
            ExecutorKind::Cursor => &["CURSOR_API_KEY"],
            ExecutorKind::OpenCode => &[
                "ANTHROPIC_API_KEY",
                "OPENAI_API_KEY",
                "GEMINI_API_KEY",
                "OPENROUTER_API_KEY",
            ],
            ExecutorKind::QwenCode => &["OPENAI_API_KEY", "DASHSCOPE_API_KEY"],
            ExecutorKind::Copilot => &["COPILOT_PROVIDER_API_KEY", "COPILOT_GITHUB_TOKEN"],
            ExecutorKind::Droid => &["FACTORY_API_KEY"],
        }
    }

    /// The names of every executor, for messages.
    pub fn names() -> String {
        ExecutorKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no executor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown executor {0:?} (available: {names})", names = ExecutorKind::names())]
pub struct UnknownExecutor(pub String);

impl FromStr for ExecutorKind {
    type Err = UnknownExecutor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutorKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownExecutor(s.to_owned()))
    }
}

/// How hard the agent should think before answering, where the agent has such a knob.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
}

impl ReasoningEffort {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// What the agent may do without asking.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PermissionPolicy {
    /// Every tool call is allowed (the agent runs in its sandboxed worktree).
    #[default]
    Auto,
    /// Tool calls wait for a team member's approval in the dashboard.
    Supervised,
    /// The agent proposes a plan and waits for approval before editing anything.
    Plan,
}

impl PermissionPolicy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionPolicy::Auto => "auto",
            PermissionPolicy::Supervised => "supervised",
            PermissionPolicy::Plan => "plan",
        }
    }
}

/// The options of one variant of a profile: how the executor is started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileOptions {
    /// The model to ask for, in the agent's own naming (`opus`, `gpt-5-codex`, ...);
    /// absent means the agent's default.
    #[serde(default)]
    pub model: Option<String>,
    /// Only for agents with a reasoning setting (claude-code, codex, droid).
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// `auto` unless given.
    #[serde(default)]
    pub permission_policy: PermissionPolicy,
    /// Appended to the agent's command line.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Set in the agent's environment; names match `^[A-Z_][A-Z0-9_]*$`. Keys and tokens
    /// belong in org secrets, not here: profiles are readable by every org member.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The worker size to run on (a name the capacity backend knows); absent means the
    /// default size.
    #[serde(default)]
    pub resource_class: Option<String>,
}

/// Why a profile was refused: the field (a dotted path such as
/// `variants.plan.permission_policy`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProfileError {
    pub field: String,
    pub message: String,
    /// What kind of mistake it is, so the api can give it its own error code.
    pub kind: ProfileErrorKind,
}

/// The kinds of [`ProfileError`] a client handles differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileErrorKind {
    /// A malformed or unsupported value.
    Invalid,
    /// An environment variable no profile may set ([`forbidden_env_var`]).
    ForbiddenEnv,
}

impl ProfileError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> ProfileError {
        ProfileError {
            field: field.into(),
            message: message.into(),
            kind: ProfileErrorKind::Invalid,
        }
    }

    /// The same error with its field nested under `prefix`.
    fn under(self, prefix: &str) -> ProfileError {
        ProfileError {
            field: format!("{prefix}.{}", self.field),
            ..self
        }
    }
}

/// The executors whose capabilities satisfy `pred`, for "supported by" hints.
fn executors_where(pred: impl Fn(Capabilities) -> bool) -> String {
    ExecutorKind::ALL
        .iter()
        .filter(|k| pred(k.capabilities()))
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ProfileOptions {
    /// Checks these options against what `executor` understands. Errors name the field
    /// relative to the options (`model`, `env.FOO`, ...).
    pub fn validate(&self, executor: ExecutorKind) -> Result<(), ProfileError> {
        let caps = executor.capabilities();
        if let Some(model) = &self.model {
            if !caps.model {
                return Err(ProfileError::new(
                    "model",
                    format!("{executor} does not take a model"),
                ));
            }
            check_model(model)?;
        }
        if let Some(effort) = self.reasoning_effort
            && !caps.reasoning_efforts.contains(&effort)
        {
            let message = if caps.reasoning_efforts.is_empty() {
                format!(
                    "{executor} has no reasoning effort setting (supported by: {})",
                    executors_where(|c| !c.reasoning_efforts.is_empty())
                )
            } else {
                format!(
                    "{executor} does not offer reasoning effort {}",
                    effort.as_str()
                )
            };
            return Err(ProfileError::new("reasoning_effort", message));
        }
        if !caps.permission_policies.contains(&self.permission_policy) {
            let allowed: Vec<&str> = caps
                .permission_policies
                .iter()
                .map(|p| p.as_str())
                .collect();
            let policy = self.permission_policy;
            let others = executors_where(|c| c.permission_policies.contains(&policy));
            return Err(ProfileError::new(
                "permission_policy",
                format!(
                    "{executor} supports only {} ({} is available for: {others})",
                    allowed.join(", "),
                    policy.as_str()
                ),
            ));
        }
        if !self.extra_args.is_empty() && !caps.extra_args {
            return Err(ProfileError::new(
                "extra_args",
                format!("{executor} takes no extra arguments"),
            ));
        }
        if self.extra_args.len() > MAX_EXTRA_ARGS {
            return Err(ProfileError::new(
                "extra_args",
                format!("at most {MAX_EXTRA_ARGS} arguments"),
            ));
        }
        for (i, arg) in self.extra_args.iter().enumerate() {
            if arg.len() > MAX_ARG_BYTES {
                return Err(ProfileError::new(
                    format!("extra_args[{i}]"),
                    format!("longer than {MAX_ARG_BYTES} bytes"),
                ));
            }
            if arg.contains('\0') {
                return Err(ProfileError::new(
                    format!("extra_args[{i}]"),
                    "contains a NUL character",
                ));
            }
        }
        if self.env.len() > MAX_ENV_VARS {
            return Err(ProfileError::new(
                "env",
                format!("at most {MAX_ENV_VARS} variables"),
            ));
        }
        for (name, value) in &self.env {
            check_env_name(name).map_err(|message| ProfileError::new("env", message))?;
            if let Some(why) = forbidden_env_var(name) {
                return Err(ProfileError {
                    field: format!("env.{name}"),
                    message: format!("{name} cannot be set by a profile: {why}"),
                    kind: ProfileErrorKind::ForbiddenEnv,
                });
            }
            if value.len() > MAX_ENV_VALUE_BYTES {
                return Err(ProfileError::new(
                    format!("env.{name}"),
                    format!("longer than {MAX_ENV_VALUE_BYTES} bytes"),
                ));
            }
            if value.contains('\0') {
                return Err(ProfileError::new(
                    format!("env.{name}"),
                    "contains a NUL character",
                ));
            }
        }
        if let Some(class) = &self.resource_class
            && !is_slug(class, 63)
        {
            return Err(ProfileError::new(
                "resource_class",
                "must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters",
            ));
        }
        Ok(())
    }
}

/// A model name: printable, no whitespace, bounded.
fn check_model(model: &str) -> Result<(), ProfileError> {
    if model.is_empty() {
        return Err(ProfileError::new(
            "model",
            "must not be empty (leave it out for the agent's default)",
        ));
    }
    if model.chars().count() > MAX_MODEL_CHARS {
        return Err(ProfileError::new(
            "model",
            format!("at most {MAX_MODEL_CHARS} characters"),
        ));
    }
    if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProfileError::new(
            "model",
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// The shape of an environment variable name a profile may set: `^[A-Z_][A-Z0-9_]*$`,
/// at most 128 characters. Names of the right shape may still be forbidden
/// ([`forbidden_env_var`]).
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > 128 {
        return Err(format!(
            "{name:?} is not a valid variable name (upper-case letters, digits and '_', not starting with a digit, at most 128)"
        ));
    }
    Ok(())
}

/// Why tenant input (a profile's `env`, an org secret's name) may not set the
/// environment variable `name`, or `None` when it may. These variables change how
/// programs are loaded or run (the dynamic loader, shells, language runtimes, git),
/// which certificates are trusted and where traffic goes (the worker points the proxy
/// variables at its egress proxy), or are set by the worker for the sandbox. Names are
/// compared without regard to case, since several programs read both `http_proxy` and
/// `HTTP_PROXY` (and profile and secret names are upper-case anyway).
///
/// The api refuses such names when a profile or secret is written; the worker calls
/// this too, to drop them from profiles and secrets stored before the rule existed.
pub fn forbidden_env_var(name: &str) -> Option<&'static str> {
    const LOADER: &str = "it changes how the dynamic loader loads programs";
    const SHELL: &str = "it changes how shells start or run commands";
    const RUNTIME: &str = "it changes what a language runtime loads or runs at start";
    const SANDBOX: &str = "the worker sets it for the sandbox";
    const GIT: &str =
        "it changes how git runs (its configuration, hooks, ssh command or credentials)";
    const TLS: &str = "it changes which TLS certificates are trusted";
    const PROXY: &str = "the worker points it at its egress proxy";
    const LIBC: &str = "it changes what the C library loads or trusts (glibc ignores it for setuid programs for the same reason)";
    let upper = name.to_ascii_uppercase();
    let name = upper.as_str();
    let prefixes: [(&str, &str); 5] = [
        ("LD_", LOADER),
        ("DYLD_", LOADER),
        ("PYTHON", RUNTIME),
        ("GIT_", GIT),
        (
            RESERVED_ENV_PREFIX,
            "the worker sets SWITCHYARD_* variables itself",
        ),
    ];
    if let Some((_, why)) = prefixes.iter().find(|(p, _)| name.starts_with(p)) {
        return Some(why);
    }
    let why = match name {
        "BASH_ENV" | "ENV" | "BASHOPTS" | "SHELLOPTS" | "PS4" | "PROMPT_COMMAND" | "IFS" => SHELL,
        "NODE_OPTIONS" | "NODE_PATH" | "PERL5LIB" | "PERL5OPT" | "PERLLIB" | "RUBYOPT"
        | "RUBYLIB" | "JAVA_TOOL_OPTIONS" | "_JAVA_OPTIONS" | "JDK_JAVA_OPTIONS" => RUNTIME,
        "PATH" | "HOME" | "USER" | "LOGNAME" | "SHELL" | "TMPDIR" => SANDBOX,
        "SSL_CERT_FILE"
        | "SSL_CERT_DIR"
        | "NODE_EXTRA_CA_CERTS"
        | "CURL_CA_BUNDLE"
        | "REQUESTS_CA_BUNDLE" => TLS,
        "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY" => PROXY,
        "GCONV_PATH" | "GETCONF_DIR" | "GLIBC_TUNABLES" | "HOSTALIASES" | "LOCALDOMAIN"
        | "LOCPATH" | "MALLOC_TRACE" | "NIS_PATH" | "NLSPATH" | "RESOLV_HOST_CONF"
        | "RES_OPTIONS" | "TZDIR" => LIBC,
        _ => return None,
    };
    Some(why)
}

/// Lower-case letters, digits and '-', starting with a letter or digit, at most `max + 1`
/// characters.
fn is_slug(s: &str, max_rest: usize) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= max_rest + 1
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A profile name: `^[a-z0-9][a-z0-9-]{0,62}$` (the schema checks the same).
pub fn check_profile_name(name: &str) -> Result<(), ProfileError> {
    if is_slug(name, 62) {
        Ok(())
    } else {
        Err(ProfileError::new(
            "name",
            format!(
                "{name:?} is not a valid profile name (lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters)"
            ),
        ))
    }
}

/// A variant name: `^[a-z0-9][a-z0-9_-]{0,62}$`.
pub fn check_variant_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid variant name (lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters)"
        ))
    }
}

/// Parses a profile's variants from JSON (an object of variant name → options) and checks
/// them for `executor`; errors name the field as `variants.<variant>.<option>`, so a
/// client learns exactly what to fix (a wrong type included, not only a wrong value).
pub fn parse_variants(
    executor: ExecutorKind,
    raw: &serde_json::Value,
) -> Result<BTreeMap<String, ProfileOptions>, ProfileError> {
    let object = raw.as_object().ok_or_else(|| {
        ProfileError::new("variants", "must be an object of variant name → options")
    })?;
    let mut variants = BTreeMap::new();
    for (name, value) in object {
        let options: ProfileOptions = serde_json::from_value(value.clone())
            .map_err(|e| ProfileError::new(format!("variants.{name}"), e.to_string()))?;
        variants.insert(name.clone(), options);
    }
    check_variants(executor, &variants)?;
    Ok(variants)
}

/// Checks a whole variant set: names, count, the `default` variant, every option.
pub fn check_variants(
    executor: ExecutorKind,
    variants: &BTreeMap<String, ProfileOptions>,
) -> Result<(), ProfileError> {
    if variants.len() > MAX_VARIANTS {
        return Err(ProfileError::new(
            "variants",
            format!("at most {MAX_VARIANTS} variants"),
        ));
    }
    if !variants.contains_key(DEFAULT_VARIANT) {
        return Err(ProfileError::new(
            "variants",
            format!("must include a {DEFAULT_VARIANT:?} variant (used when none is named)"),
        ));
    }
    for (name, options) in variants {
        check_variant_name(name).map_err(|m| ProfileError::new("variants", m))?;
        options
            .validate(executor)
            .map_err(|e| e.under(&format!("variants.{name}")))?;
    }
    Ok(())
}

/// Checks that a profile named after an executor runs that executor, so `executor: X`
/// on an attempt and profile `X` can never disagree.
pub fn check_name_matches_executor(name: &str, executor: ExecutorKind) -> Result<(), ProfileError> {
    match name.parse::<ExecutorKind>() {
        Ok(named) if named != executor => Err(ProfileError::new(
            "executor",
            format!("a profile named {name:?} must run the {name} executor, not {executor}"),
        )),
        _ => Ok(()),
    }
}

/// A profile: an executor and its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub executor: ExecutorKind,
    pub variants: BTreeMap<String, ProfileOptions>,
}

/// The profiles Switchyard ships, one per executor and named after it, each with a
/// `default` variant and the variants most teams reach for first.
pub fn builtin_profiles() -> Vec<Profile> {
    ExecutorKind::ALL
        .iter()
        .map(|&kind| Profile {
            name: kind.as_str().to_owned(),
            executor: kind,
            variants: builtin_variants(kind),
        })
        .collect()
}

/// The built-in profile called `name`, if there is one.
pub fn builtin_profile(name: &str) -> Option<Profile> {
    let kind: ExecutorKind = name.parse().ok()?;
    Some(Profile {
        name: name.to_owned(),
        executor: kind,
        variants: builtin_variants(kind),
    })
}

fn builtin_variants(kind: ExecutorKind) -> BTreeMap<String, ProfileOptions> {
    let default = ProfileOptions::default();
    let with = |f: &dyn Fn(&mut ProfileOptions)| {
        let mut o = ProfileOptions::default();
        f(&mut o);
        o
    };
    let mut variants = vec![(DEFAULT_VARIANT, default)];
    match kind {
        ExecutorKind::ClaudeCode => {
            variants.push((
                "plan",
                with(&|o| o.permission_policy = PermissionPolicy::Plan),
            ));
            variants.push((
                "supervised",
                with(&|o| o.permission_policy = PermissionPolicy::Supervised),
            ));
            variants.push(("opus", with(&|o| o.model = Some("opus".into()))));
        }
        ExecutorKind::Codex => {
            variants.push((
                "high",
                with(&|o| o.reasoning_effort = Some(ReasoningEffort::High)),
            ));
            variants.push((
                "supervised",
                with(&|o| o.permission_policy = PermissionPolicy::Supervised),
            ));
        }
        ExecutorKind::Gemini => {
            variants.push((
                "flash",
                with(&|o| o.model = Some("gemini-2.5-flash".into())),
            ));
        }
        ExecutorKind::OpenCode | ExecutorKind::QwenCode => {
            variants.push((
                "plan",
                with(&|o| o.permission_policy = PermissionPolicy::Plan),
            ));
        }
        ExecutorKind::Droid => {
            variants.push((
                "plan",
                with(&|o| o.permission_policy = PermissionPolicy::Plan),
            ));
            variants.push((
                "high",
                with(&|o| o.reasoning_effort = Some(ReasoningEffort::High)),
            ));
        }
        ExecutorKind::Script | ExecutorKind::Amp | ExecutorKind::Cursor | ExecutorKind::Copilot => {
        }
    }
    variants
        .into_iter()
        .map(|(name, options)| (name.to_owned(), options))
        .collect()
}

/// `name` or `name:variant`, as a start-attempt request names a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRef {
    pub name: String,
    pub variant: String,
}

impl ProfileRef {
    /// Parses `name[:variant]`; the variant defaults to `default`.
    pub fn parse(text: &str) -> Result<ProfileRef, ProfileError> {
        let (name, variant) = match text.split_once(':') {
            Some((name, variant)) => (name, variant),
            None => (text, DEFAULT_VARIANT),
        };
        check_profile_name(name).map_err(|e| ProfileError::new("profile", e.message))?;
        check_variant_name(variant).map_err(|m| ProfileError::new("profile", m))?;
        Ok(ProfileRef {
            name: name.to_owned(),
            variant: variant.to_owned(),
        })
    }
}

impl fmt::Display for ProfileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.variant)
    }
}

/// Where a profile came from, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSource {
    /// A project's override.
    Project,
    /// The org's own profile (which may replace a built-in one of the same name).
    Org,
    /// Shipped with Switchyard.
    Builtin,
}

/// The profile an attempt runs with, frozen when it starts (stored as JSON in
/// `task_attempts.executor_profile`): later edits of the profile do not change a run
/// already started, or its follow-ups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedProfile {
    pub profile: String,
    pub variant: String,
    pub source: ProfileSource,
    pub executor: ExecutorKind,
    pub options: ProfileOptions,
    /// The only org secrets the run gets, by name; absent: every org secret. A run
    /// started from GitHub under the `restricted` policy gets only the agent's own
    /// credential ([`ExecutorKind::credential_env`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
}

/// An attempt's stored profile snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the attempt's executor: {0}")]
    Executor(#[from] UnknownExecutor),
    #[error("the attempt's profile snapshot is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

impl ResolvedProfile {
    /// The profile an attempt runs with: its snapshot when it has one, else (attempts
    /// started before profiles existed) the `default` variant of the built-in profile of
    /// its executor.
    pub fn for_attempt(
        executor: &str,
        snapshot: Option<&serde_json::Value>,
    ) -> Result<ResolvedProfile, SnapshotError> {
        match snapshot {
            Some(value) => Ok(serde_json::from_value(value.clone())?),
            None => {
                let kind: ExecutorKind = executor.parse()?;
                Ok(ResolvedProfile {
                    profile: kind.as_str().to_owned(),
                    variant: DEFAULT_VARIANT.to_owned(),
                    source: ProfileSource::Builtin,
                    executor: kind,
                    options: builtin_variants(kind)
                        .remove(DEFAULT_VARIANT)
                        .unwrap_or_default(),
                    secrets: None,
                })
            }
        }
    }

    /// Whether the run gets the org secret `name` in its environment.
    pub fn allows_secret(&self, name: &str) -> bool {
        self.secrets
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|a| a == name))
    }

    /// Narrows the profile for a run that text from outside the org steers (an issue
    /// and a trigger on GitHub): only the agent's own credential among the org's
    /// secrets, and supervised (tool calls wait for a person's approval) where the agent
    /// supports it and the profile did not already ask for plan mode.
    pub fn restrict(&mut self) {
        self.secrets = Some(
            self.executor
                .credential_env()
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        );
        let supervised = self
            .executor
            .capabilities()
            .permission_policies
            .contains(&PermissionPolicy::Supervised);
        if supervised && self.options.permission_policy == PermissionPolicy::Auto {
            self.options.permission_policy = PermissionPolicy::Supervised;
        }
    }

    /// The variant `reference.variant` of `profile`, or a message naming the variants
    /// there are.
    pub fn pick(
        profile: &Profile,
        source: ProfileSource,
        variant: &str,
    ) -> Result<ResolvedProfile, String> {
        match profile.variants.get(variant) {
            Some(options) => Ok(ResolvedProfile {
                profile: profile.name.clone(),
                variant: variant.to_owned(),
                source,
                executor: profile.executor,
                options: options.clone(),
                secrets: None,
            }),
            None => Err(format!(
                "profile {:?} has no variant {variant:?} (variants: {})",
                profile.name,
                profile
                    .variants
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restricted_run_keeps_only_the_agents_credential_and_is_supervised_where_possible() {
        let resolved = |executor: ExecutorKind, policy: PermissionPolicy| ResolvedProfile {
            profile: executor.as_str().to_owned(),
            variant: DEFAULT_VARIANT.to_owned(),
            source: ProfileSource::Builtin,
            executor,
            options: ProfileOptions {
                permission_policy: policy,
                ..Default::default()
            },
            secrets: None,
        };
        let mut claude = resolved(ExecutorKind::ClaudeCode, PermissionPolicy::Auto);
        assert!(claude.allows_secret("DEPLOY_KEY"));
        claude.restrict();
        assert!(claude.allows_secret("ANTHROPIC_API_KEY"));
        assert!(!claude.allows_secret("DEPLOY_KEY"));
        assert!(!claude.allows_secret("OPENAI_API_KEY"));
        assert_eq!(
            claude.options.permission_policy,
            PermissionPolicy::Supervised
        );
        // Plan mode already waits for approval; an agent without supervision stays auto.
        let mut plan = resolved(ExecutorKind::ClaudeCode, PermissionPolicy::Plan);
        plan.restrict();
        assert_eq!(plan.options.permission_policy, PermissionPolicy::Plan);
        let mut cursor = resolved(ExecutorKind::Cursor, PermissionPolicy::Auto);
        cursor.restrict();
        assert_eq!(cursor.options.permission_policy, PermissionPolicy::Auto);
        assert!(cursor.allows_secret("CURSOR_API_KEY"));
        // The restriction survives the snapshot stored on the attempt.
        let stored = serde_json::to_value(&claude).expect("json");
        let back = ResolvedProfile::for_attempt("claude-code", Some(&stored)).expect("read");
        assert!(!back.allows_secret("DEPLOY_KEY"));
        // Snapshots from before the field allow every secret.
        let mut old = stored.clone();
        old.as_object_mut().expect("object").remove("secrets");
        let old = ResolvedProfile::for_attempt("claude-code", Some(&old)).expect("read");
        assert!(old.allows_secret("DEPLOY_KEY"));
        let mut script = resolved(ExecutorKind::Script, PermissionPolicy::Auto);
        script.restrict();
        assert!(!script.allows_secret("ANYTHING"));
    }
    use serde_json::json;

    #[test]
    fn executor_names_round_trip_and_match_serde() {
        for &kind in ExecutorKind::ALL {
            assert_eq!(kind.as_str().parse::<ExecutorKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("serialize"),
                json!(kind.as_str())
            );
        }
        let names: Vec<&str> = ExecutorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "script",
                "claude-code",
                "codex",
                "gemini",
                "amp",
                "cursor",
                "opencode",
                "qwen-code",
                "copilot",
                "droid"
            ]
        );
        let err = "hal9000".parse::<ExecutorKind>().expect_err("unknown");
        assert!(err.to_string().contains("claude-code"), "{err}");
    }

    #[test]
    fn every_executor_ships_one_valid_profile_named_after_it_with_a_default_variant() {
        let profiles = builtin_profiles();
        assert_eq!(profiles.len(), ExecutorKind::ALL.len());
        for profile in &profiles {
            assert_eq!(profile.name, profile.executor.as_str());
            assert!(profile.variants.contains_key(DEFAULT_VARIANT));
            check_variants(profile.executor, &profile.variants)
                .unwrap_or_else(|e| panic!("built-in {} is invalid: {e}", profile.name));
            check_profile_name(&profile.name).expect("valid name");
            assert_eq!(builtin_profile(&profile.name).as_ref(), Some(profile));
        }
        let claude = builtin_profile("claude-code").expect("claude-code");
        let names: Vec<&str> = claude.variants.keys().map(String::as_str).collect();
        assert_eq!(names, ["default", "opus", "plan", "supervised"]);
        assert_eq!(
            claude.variants["plan"].permission_policy,
            PermissionPolicy::Plan
        );
        let codex = builtin_profile("codex").expect("codex");
        assert_eq!(
            codex.variants["high"].reasoning_effort,
            Some(ReasoningEffort::High)
        );
        assert!(builtin_profile("fast-claude").is_none());
    }

    #[test]
    fn plan_mode_is_refused_for_agents_without_one_naming_those_with_one() {
        let options = ProfileOptions {
            permission_policy: PermissionPolicy::Plan,
            ..Default::default()
        };
        assert!(options.validate(ExecutorKind::ClaudeCode).is_ok());
        let err = options
            .validate(ExecutorKind::Codex)
            .expect_err("codex has no plan");
        assert_eq!(err.field, "permission_policy");
        assert!(
            err.message.contains("codex supports only auto, supervised"),
            "{err}"
        );
        assert!(err.message.contains("claude-code"), "{err}");
    }

    #[test]
    fn reasoning_effort_is_refused_where_the_agent_has_no_such_setting() {
        let options = ProfileOptions {
            reasoning_effort: Some(ReasoningEffort::High),
            ..Default::default()
        };
        for kind in [
            ExecutorKind::Codex,
            ExecutorKind::ClaudeCode,
            ExecutorKind::Droid,
        ] {
            assert!(options.validate(kind).is_ok(), "{kind}");
        }
        let err = options.validate(ExecutorKind::Gemini).expect_err("gemini");
        assert_eq!(err.field, "reasoning_effort");
        assert!(err.message.contains("codex"), "{err}");
    }

    #[test]
    fn script_takes_no_model_or_arguments() {
        let model = ProfileOptions {
            model: Some("opus".into()),
            ..Default::default()
        };
        assert_eq!(
            model
                .validate(ExecutorKind::Script)
                .expect_err("model")
                .field,
            "model"
        );
        let args = ProfileOptions {
            extra_args: vec!["--verbose".into()],
            ..Default::default()
        };
        assert_eq!(
            args.validate(ExecutorKind::Script).expect_err("args").field,
            "extra_args"
        );
        assert!(args.validate(ExecutorKind::Amp).is_ok());
    }

    #[test]
    fn env_names_must_be_shell_style_and_not_reserved() {
        for good in ["FOO", "_X", "A_1", "DISABLE_TELEMETRY"] {
            assert!(check_env_name(good).is_ok(), "{good}");
            assert_eq!(forbidden_env_var(good), None, "{good}");
        }
        for bad in ["", "foo", "1A", "A-B", "A B", "É"] {
            assert!(check_env_name(bad).is_err(), "{bad}");
        }
        let options = ProfileOptions {
            env: [("lower".to_owned(), "x".to_owned())].into(),
            ..Default::default()
        };
        let err = options.validate(ExecutorKind::Codex).expect_err("bad env");
        assert_eq!(err.field, "env");
        let options = ProfileOptions {
            env: [("OK".to_owned(), "a\0b".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            options
                .validate(ExecutorKind::Codex)
                .expect_err("nul")
                .field,
            "env.OK"
        );
    }

    #[test]
    fn variables_that_change_how_programs_load_or_run_are_forbidden() {
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "ENV",
            "BASHOPTS",
            "SHELLOPTS",
            "PS4",
            "PROMPT_COMMAND",
            "IFS",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "PERL5LIB",
            "PERL5OPT",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "PATH",
            "HOME",
            "USER",
            "LOGNAME",
            "SHELL",
            "TMPDIR",
            "GIT_SSH_COMMAND",
            "GIT_CONFIG_GLOBAL",
            "GIT_ASKPASS",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "NODE_EXTRA_CA_CERTS",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "Https_Proxy",
            "SWITCHYARD_ATTEMPT_ID",
            "switchyard_token",
            "GCONV_PATH",
            "GLIBC_TUNABLES",
        ] {
            assert!(forbidden_env_var(name).is_some(), "{name}");
        }
        for allowed in [
            "DISABLE_TELEMETRY",
            "LDAP_URL",
            "PATHS",
            "MY_PATH",
            "HOMEBREW_NO_ANALYTICS",
            "GITHUB_TOKEN",
            "NODE_ENV",
            "ENVIRONMENT",
            "RUST_LOG",
            "HTTP_PROXY_URL",
            "ANTHROPIC_API_KEY",
        ] {
            assert_eq!(forbidden_env_var(allowed), None, "{allowed}");
        }
        let options = ProfileOptions {
            env: [("LD_PRELOAD".to_owned(), "/tmp/x.so".to_owned())].into(),
            ..Default::default()
        };
        let err = options
            .validate(ExecutorKind::Codex)
            .expect_err("forbidden");
        assert_eq!(err.kind, ProfileErrorKind::ForbiddenEnv);
        assert_eq!(err.field, "env.LD_PRELOAD");
        assert!(err.message.contains("LD_PRELOAD"), "{err}");
        let nested = check_variants(
            ExecutorKind::Codex,
            &[("default".to_owned(), options)].into(),
        )
        .expect_err("forbidden in a variant");
        assert_eq!(nested.kind, ProfileErrorKind::ForbiddenEnv);
        assert_eq!(nested.field, "variants.default.env.LD_PRELOAD");
    }

    #[test]
    fn models_and_resource_classes_are_checked() {
        let mut options = ProfileOptions {
            model: Some("gpt 5".into()),
            ..Default::default()
        };
        assert_eq!(
            options
                .validate(ExecutorKind::Codex)
                .expect_err("space")
                .field,
            "model"
        );
        options.model = Some("openai/gpt-5-codex".into());
        assert!(options.validate(ExecutorKind::OpenCode).is_ok());
        options.resource_class = Some("Large".into());
        assert_eq!(
            options
                .validate(ExecutorKind::OpenCode)
                .expect_err("class")
                .field,
            "resource_class"
        );
        options.resource_class = Some("large-2x".into());
        assert!(options.validate(ExecutorKind::OpenCode).is_ok());
    }

    #[test]
    fn parsed_variants_name_the_offending_field() {
        let err = parse_variants(
            ExecutorKind::Codex,
            &json!({"default": {}, "deep": {"reasoning_effort": "extreme"}}),
        )
        .expect_err("bad effort");
        assert_eq!(err.field, "variants.deep");
        assert!(err.message.contains("extreme"), "{err}");

        let err = parse_variants(
            ExecutorKind::Gemini,
            &json!({"default": {"permission_policy": "plan"}}),
        )
        .expect_err("plan");
        assert_eq!(err.field, "variants.default.permission_policy");

        let err =
            parse_variants(ExecutorKind::Gemini, &json!({"fast": {}})).expect_err("no default");
        assert_eq!(err.field, "variants");
        assert!(err.message.contains("default"), "{err}");

        let err = parse_variants(ExecutorKind::Gemini, &json!({"default": {"colour": 1}}))
            .expect_err("unknown option");
        assert!(err.message.contains("colour"), "{err}");

        let err = parse_variants(
            ExecutorKind::Gemini,
            &json!({"default": {}, "Bad Name": {}}),
        )
        .expect_err("variant name");
        assert_eq!(err.field, "variants");

        let parsed = parse_variants(
            ExecutorKind::ClaudeCode,
            &json!({"default": {"model": "sonnet", "env": {"DEBUG": "1"}}}),
        )
        .expect("valid");
        assert_eq!(parsed["default"].model.as_deref(), Some("sonnet"));
        assert_eq!(parsed["default"].permission_policy, PermissionPolicy::Auto);
    }

    #[test]
    fn a_profile_named_after_an_executor_must_run_it() {
        assert!(check_name_matches_executor("codex", ExecutorKind::Codex).is_ok());
        assert!(check_name_matches_executor("fast", ExecutorKind::Codex).is_ok());
        let err = check_name_matches_executor("codex", ExecutorKind::Gemini).expect_err("mismatch");
        assert_eq!(err.field, "executor");
    }

    #[test]
    fn profile_references_default_to_the_default_variant() {
        assert_eq!(
            ProfileRef::parse("claude-code").expect("plain"),
            ProfileRef {
                name: "claude-code".into(),
                variant: "default".into()
            }
        );
        assert_eq!(
            ProfileRef::parse("claude-code:plan")
                .expect("variant")
                .variant,
            "plan"
        );
        for bad in ["", "Claude", "a:", ":plan", "a:b:c", "a:B"] {
            assert!(ProfileRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attempts_without_a_snapshot_run_their_executors_builtin_default() {
        let resolved = ResolvedProfile::for_attempt("script", None).expect("script");
        assert_eq!(resolved.executor, ExecutorKind::Script);
        assert_eq!(resolved.source, ProfileSource::Builtin);
        assert_eq!(resolved.variant, "default");

        let snapshot = ResolvedProfile::pick(
            &builtin_profile("codex").expect("codex"),
            ProfileSource::Builtin,
            "high",
        )
        .expect("high");
        let json = serde_json::to_value(&snapshot).expect("serialize");
        assert_eq!(
            ResolvedProfile::for_attempt("codex", Some(&json)).expect("read back"),
            snapshot
        );
        assert!(ResolvedProfile::for_attempt("hal9000", None).is_err());
        let missing = ResolvedProfile::pick(
            &builtin_profile("codex").expect("codex"),
            ProfileSource::Builtin,
            "turbo",
        )
        .expect_err("no turbo");
        assert!(missing.contains("default, high, supervised"), "{missing}");
    }
}
