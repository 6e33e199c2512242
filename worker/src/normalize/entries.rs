//! The entry list every normalizer keeps, and the patches it records as it changes.
//!
//! Entries are found again by key (a tool call id, an item id, a streamed message's
//! id) so a later event replaces them in place. Streamed text (assistant or thinking
//! deltas) grows one entry instead of adding thousands.

use chrono::{DateTime, Utc};
use shared::logs::{
    EntryContent, FileChange, LogEntry, OutputStream, ToolAction, ToolStatus, ToolUse,
};
use std::collections::HashMap;

use super::EntryPatch;
use super::json::{MAX_LINE, MAX_OUTPUT, MAX_RESULT, MAX_TEXT, clip, compact};

/// Longest path, query, URL or label kept.
const MAX_SHORT: usize = 4096;
/// Longest id or name kept.
const MAX_NAME: usize = 256;
/// Most items kept in a list (file changes, todo items, questions, options).
const MAX_ITEMS: usize = 200;

/// A kind of streamed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Assistant,
    Thinking,
    User,
}

impl Stream {
    fn content(self, text: String) -> EntryContent {
        match self {
            Stream::Assistant => EntryContent::AssistantMessage { text },
            Stream::Thinking => EntryContent::Thinking { text },
            Stream::User => EntryContent::UserMessage { text },
        }
    }

    fn text(self, content: &EntryContent) -> Option<&str> {
        match (self, content) {
            (Stream::Assistant, EntryContent::AssistantMessage { text })
            | (Stream::Thinking, EntryContent::Thinking { text })
            | (Stream::User, EntryContent::UserMessage { text }) => Some(text),
            _ => None,
        }
    }
}

/// The unkeyed stream the next delta extends, if nothing came in between.
struct Open {
    stream: Stream,
    index: usize,
}

/// A normalizer's entry list and the patches not yet handed out.
pub(crate) struct EntryLog {
    entries: Vec<LogEntry>,
    keyed: HashMap<String, Vec<usize>>,
    open: Option<Open>,
    out: Vec<EntryPatch>,
    /// The list's length when `out` was last taken.
    taken_len: usize,
    /// When the line being normalized was read: the time of entries whose event
    /// carries none of its own.
    read_at: Option<DateTime<Utc>>,
}

impl EntryLog {
    pub(crate) fn new() -> EntryLog {
        EntryLog {
            entries: Vec::new(),
            keyed: HashMap::new(),
            open: None,
            out: Vec::new(),
            taken_len: 0,
            read_at: None,
        }
    }

    /// Sets when the lines that follow were read (see [`super::Normalizer::read_at`]).
    pub(crate) fn set_read_time(&mut self, at: DateTime<Utc>) {
        self.read_at = Some(at);
    }

    /// The patches recorded since the last call, superseded replaces folded away.
    pub(crate) fn take(&mut self) -> Vec<EntryPatch> {
        let patches = super::coalesce(std::mem::take(&mut self.out), self.taken_len);
        self.taken_len = self.entries.len();
        patches
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&LogEntry> {
        self.entries.get(index)
    }

    /// Appends an entry (at the event's time, else when its line was read, else now)
    /// and returns its index. Any open stream is closed: later deltas start a new entry.
    pub(crate) fn push(&mut self, content: EntryContent, at: Option<DateTime<Utc>>) -> usize {
        self.open = None;
        let content = bounded(content);
        let entry = LogEntry {
            timestamp: at.or(self.read_at).unwrap_or_else(Utc::now),
            content,
        };
        self.entries.push(entry.clone());
        self.out.push(EntryPatch::Append(entry));
        self.entries.len() - 1
    }

    /// Replaces entry `index`'s content, keeping its timestamp. Nothing is recorded
    /// when the content is unchanged or the index is out of range.
    pub(crate) fn replace(&mut self, index: usize, content: EntryContent) {
        let mut content = bounded(content);
        let Some(existing) = self.entries.get_mut(index) else {
            return;
        };
        // A refusal is final: a later "failed" or "running" report of the same call (some
        // agents report a refused call as failed) does not undo it.
        if let (EntryContent::ToolUse(old), EntryContent::ToolUse(new)) =
            (&existing.content, &mut content)
            && old.status == ToolStatus::Denied
            && matches!(
                new.status,
                ToolStatus::Created | ToolStatus::Failed | ToolStatus::PendingApproval
            )
        {
            new.status = ToolStatus::Denied;
        }
        if existing.content == content {
            return;
        }
        existing.content = content;
        let entry = existing.clone();
        self.out.push(EntryPatch::Replace { index, entry });
    }

    /// Remembers entry `index` under `key` (a key may name several entries).
    pub(crate) fn bind(&mut self, key: &str, index: usize) {
        let slot = self.keyed.entry(key.to_owned()).or_default();
        if !slot.contains(&index) {
            slot.push(index);
        }
    }

    /// The entries known under `key`, oldest first.
    pub(crate) fn indices(&self, key: &str) -> Vec<usize> {
        self.keyed.get(key).cloned().unwrap_or_default()
    }

    /// Replaces the (first) entry under `key`, or appends one and binds it.
    pub(crate) fn upsert(
        &mut self,
        key: &str,
        content: EntryContent,
        at: Option<DateTime<Utc>>,
    ) -> usize {
        match self.keyed.get(key).and_then(|v| v.first().copied()) {
            Some(index) => {
                self.replace(index, content);
                index
            }
            None => {
                let index = self.push(content, at);
                self.bind(key, index);
                index
            }
        }
    }

    /// Sets the entries under `key` to `contents`, in order: existing ones are replaced,
    /// extra contents appended and bound (entries beyond `contents` stay as they are).
    pub(crate) fn upsert_all(
        &mut self,
        key: &str,
        contents: Vec<EntryContent>,
        at: Option<DateTime<Utc>>,
    ) {
        let existing = self.indices(key);
        for (i, content) in contents.into_iter().enumerate() {
            match existing.get(i) {
                Some(&index) => self.replace(index, content),
                None => {
                    let index = self.push(content, at);
                    self.bind(key, index);
                }
            }
        }
    }

    /// Adds `delta` to a streamed text. With a key, the entry under that key grows
    /// wherever it is; without one, the entry of the same kind that was last streamed
    /// grows as long as nothing else was appended since.
    pub(crate) fn stream(
        &mut self,
        stream: Stream,
        key: Option<&str>,
        delta: &str,
        at: Option<DateTime<Utc>>,
    ) {
        if delta.is_empty() {
            return;
        }
        let target = match key {
            // The entry of this kind under the key (a key may also name a tool use).
            Some(k) => self.keyed.get(k).and_then(|v| {
                v.iter().copied().find(|&i| {
                    self.entries
                        .get(i)
                        .is_some_and(|e| stream.text(&e.content).is_some())
                })
            }),
            None => self
                .open
                .as_ref()
                .filter(|o| o.stream == stream)
                .map(|o| o.index),
        };
        let grown = target.and_then(|index| {
            let text = stream.text(&self.entries.get(index)?.content)?;
            Some((index, format!("{text}{delta}")))
        });
        match grown {
            Some((index, text)) => self.replace(index, stream.content(clip(&text, MAX_TEXT))),
            None => {
                let index = self.push(stream.content(clip(delta, MAX_TEXT)), at);
                match key {
                    Some(k) => self.bind(k, index),
                    None => self.open = Some(Open { stream, index }),
                }
            }
        }
    }

    /// Sets the whole text of the open stream of this kind (an agent re-sent the full
    /// message), or starts one.
    pub(crate) fn stream_set(&mut self, stream: Stream, text: &str, at: Option<DateTime<Utc>>) {
        match self.open.as_ref().filter(|o| o.stream == stream) {
            Some(open) => {
                let index = open.index;
                self.replace(index, stream.content(clip(text, MAX_TEXT)));
            }
            None => {
                let index = self.push(stream.content(clip(text, MAX_TEXT)), at);
                self.open = Some(Open { stream, index });
            }
        }
    }

    /// The text of the open stream of this kind, if one is open.
    pub(crate) fn open_text(&self, stream: Stream) -> Option<&str> {
        let open = self.open.as_ref().filter(|o| o.stream == stream)?;
        stream.text(&self.entries.get(open.index)?.content)
    }

    /// Ends the open stream: the next delta starts a new entry.
    pub(crate) fn close_stream(&mut self) {
        self.open = None;
    }

    /// A whole message (not streamed).
    pub(crate) fn message(&mut self, stream: Stream, text: &str, at: Option<DateTime<Utc>>) {
        if text.trim().is_empty() {
            return;
        }
        self.push(stream.content(clip(text, MAX_TEXT)), at);
    }

    /// A raw stdout line that is not an event.
    pub(crate) fn output(&mut self, line: &str) {
        self.push(
            EntryContent::Output {
                stream: OutputStream::Stdout,
                text: clip(line, MAX_LINE),
            },
            None,
        );
    }

    pub(crate) fn error(&mut self, text: &str, at: Option<DateTime<Utc>>) {
        self.push(
            EntryContent::Error {
                text: clip(text, MAX_TEXT),
            },
            at,
        );
    }

    pub(crate) fn system(&mut self, text: &str, at: Option<DateTime<Utc>>) {
        self.push(
            EntryContent::SystemMessage {
                text: clip(text, MAX_TEXT),
            },
            at,
        );
    }

    /// A stderr line: an `error` entry, unless it is a notice (see [`is_notice`]): a
    /// warning of the JavaScript runtime or package manager the agent runs on, or the
    /// tool's own informational notice, which is stderr output. Blank lines are dropped.
    pub(crate) fn stderr(&mut self, line: &str) {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return;
        }
        if is_notice(line) {
            self.push(
                EntryContent::Output {
                    stream: OutputStream::Stderr,
                    text: clip(line, MAX_LINE),
                },
                None,
            );
        } else {
            self.error(line, None);
        }
    }

    /// Applies `f` to every tool use under `key`, recording a replace for each that
    /// changed. Returns whether any tool use was found.
    pub(crate) fn update_tools(&mut self, key: &str, mut f: impl FnMut(&mut ToolUse)) -> bool {
        let mut found = false;
        for index in self.indices(key) {
            let Some(EntryContent::ToolUse(tool)) = self.entries.get(index).map(|e| &e.content)
            else {
                continue;
            };
            found = true;
            let mut tool = tool.clone();
            f(&mut tool);
            self.replace(index, EntryContent::ToolUse(tool));
        }
        found
    }

    /// Appends tool uses (one per action of a call) and binds them under `key`.
    pub(crate) fn push_tools(&mut self, key: &str, tools: Vec<ToolUse>, at: Option<DateTime<Utc>>) {
        for tool in tools {
            let index = self.push(EntryContent::ToolUse(tool), at);
            self.bind(key, index);
        }
    }

    /// The status of the first tool use under `key`.
    pub(crate) fn tool_status(&self, key: &str) -> Option<ToolStatus> {
        self.indices(key)
            .into_iter()
            .find_map(|i| match &self.entries.get(i)?.content {
                EntryContent::ToolUse(t) => Some(t.status),
                _ => None,
            })
    }

    /// Records a team member's decision on a tool call waiting for approval: the call
    /// runs (`created`) or is refused (`denied`). Every waiting tool use with that call
    /// id changes; the agent's own later report of the outcome still applies.
    pub(crate) fn resolve_approval(&mut self, tool_call_id: &str, approved: bool) {
        let waiting: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.content {
                EntryContent::ToolUse(t)
                    if t.status == ToolStatus::PendingApproval
                        && t.tool_call_id.as_deref() == Some(tool_call_id) =>
                {
                    Some(i)
                }
                _ => None,
            })
            .collect();
        for index in waiting {
            if let Some(EntryContent::ToolUse(t)) = self.entries.get(index).map(|e| &e.content) {
                let mut t = t.clone();
                t.status = if approved {
                    ToolStatus::Created
                } else {
                    ToolStatus::Denied
                };
                self.replace(index, EntryContent::ToolUse(t));
            }
        }
    }

    /// The index of the last entry, if any.
    pub(crate) fn last_index(&self) -> Option<usize> {
        self.entries.len().checked_sub(1)
    }
}

/// Whether a stderr line is a notice (shown as output) rather than an error: agents
/// print on stderr, on every start, lines about their runtime or their own setup that
/// say nothing went wrong with the run, and a card for each would bury real failures.
/// A notice is one of three kinds (see [`is_runtime_notice`], [`is_labelled_notice`],
/// [`is_announced_choice`]): the runtime's own warnings, a line that labels itself a
/// warning, note or info, and a line that announces a mode or fallback the tool chose.
/// A line that labels itself an error (`Error: …`, `fatal: …`) is never a notice.
pub(crate) fn is_notice(line: &str) -> bool {
    let plain = strip_ansi(line);
    let text = plain.trim();
    is_runtime_notice(text)
        || (!leading_label(text).is_some_and(is_error_label)
            && (is_labelled_notice(text) || is_announced_choice(text)))
}

/// Whether a line (ANSI stripped) is npm's or Node's own notice rather than the agent's:
/// `npm warn …` / `npm WARN …` / `npm notice …` (engine mismatches, deprecations,
/// updates), `(node:1234) Warning: …` / `(node:1234) [DEP0040] DeprecationWarning: …`
/// and the `(Use \`node --trace-warnings …\`)` hint after them, and bare
/// `ExperimentalWarning:` / `DeprecationWarning:` lines.
fn is_runtime_notice(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if ["npm warn", "npm notice"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    if let Some(rest) = text.strip_prefix("(node:")
        && let Some((pid, _)) = rest.split_once(')')
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
    {
        return true;
    }
    text.starts_with("(Use `node --trace-")
        || text.starts_with("ExperimentalWarning:")
        || text.starts_with("DeprecationWarning:")
}

/// The words a line can start with to say it is informational: `Warning: …`,
/// `⚠  Warning: …` (Qwen Code), `[WARN] …`, `note: …`, `INFO …`.
const NOTICE_LABELS: [&str; 10] = [
    "warning",
    "warnings",
    "warn",
    "notice",
    "note",
    "info",
    "hint",
    "tip",
    "deprecated",
    "deprecation",
];

/// The words a line can start with to say it is an error.
const ERROR_LABELS: [&str; 6] = ["error", "errors", "err", "fatal", "panic", "exception"];

/// The first word of a line and what follows it, past any decoration before it
/// (whitespace, symbols such as `⚠` or `ℹ`, brackets) and a leading timestamp
/// (`2025-06-01T10:00:00Z WARN …`, as tracing logs print).
fn leading_label(text: &str) -> Option<(&str, &str)> {
    let mut rest = text.trim_start_matches(|c: char| !c.is_alphanumeric());
    if rest.starts_with(|c: char| c.is_ascii_digit())
        && let Some((stamp, after)) = rest.split_once(char::is_whitespace)
        && stamp.contains(['-', ':'])
    {
        rest = after.trim_start_matches(|c: char| !c.is_alphanumeric());
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    (end > 0).then(|| rest.split_at(end))
}

fn is_error_label((word, _): (&str, &str)) -> bool {
    ERROR_LABELS.iter().any(|l| word.eq_ignore_ascii_case(l))
}

/// Whether a line labels itself informational: a notice word followed by `:`, `]`,
/// `)` or `!` (`Warning: …`, `[WARN] …`), or written in capitals as log levels are
/// (`WARN codex_core: …`). A sentence that merely starts with such a word (`Note the
/// failing test`) is not labelled.
fn is_labelled_notice(text: &str) -> bool {
    let Some((word, after)) = leading_label(text) else {
        return false;
    };
    if !NOTICE_LABELS.iter().any(|l| word.eq_ignore_ascii_case(l)) {
        return false;
    }
    after.starts_with([':', ']', ')', '!'])
        || (word.bytes().all(|b| b.is_ascii_uppercase())
            && (after.is_empty() || after.starts_with(char::is_whitespace)))
}

/// Phrases by which a tool announces a choice it made for itself: a mode it runs in
/// (Gemini CLI's `YOLO mode is enabled. All tool calls will be automatically
/// approved.`), a fallback it took (`Ripgrep is not available. Falling back to
/// GrepTool.`), a default it used, or a deprecation it warns of (`… is deprecated and
/// will be removed …`). The tool goes on in each case, so none is the run's error.
const CHOICE_PHRASES: [&str; 9] = [
    " mode is enabled",
    " mode is on",
    " mode is active",
    "falling back to ",
    "fall back to ",
    "defaulting to ",
    "using default ",
    " is deprecated",
    " will be removed in a future",
];

/// Whether a line announces a mode, fallback, default or deprecation (see
/// [`CHOICE_PHRASES`]) and names no error anywhere: `API Error: 404 the model is
/// deprecated` is the run failing, not a notice.
fn is_announced_choice(text: &str) -> bool {
    let lower = text.to_lowercase();
    let padded = format!(" {lower}");
    CHOICE_PHRASES.iter().any(|p| padded.contains(p))
        && !lower
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| ERROR_LABELS.contains(&word))
}

/// `text` without ANSI escape sequences (npm colours its `warn`).
fn strip_ansi(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: ESC [ parameters… final byte in @..~; anything else: drop ESC and the next.
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The content with every text cut to its bound, so no agent output, however large or
/// odd, makes an entry too big to publish and store.
fn bounded(content: EntryContent) -> EntryContent {
    match content {
        EntryContent::UserMessage { text } => EntryContent::UserMessage {
            text: clip(&text, MAX_TEXT),
        },
        EntryContent::AssistantMessage { text } => EntryContent::AssistantMessage {
            text: clip(&text, MAX_TEXT),
        },
        EntryContent::Thinking { text } => EntryContent::Thinking {
            text: clip(&text, MAX_TEXT),
        },
        EntryContent::SystemMessage { text } => EntryContent::SystemMessage {
            text: clip(&text, MAX_TEXT),
        },
        EntryContent::Error { text } => EntryContent::Error {
            text: clip(&text, MAX_TEXT),
        },
        EntryContent::Output { stream, text } => EntryContent::Output {
            stream,
            text: clip(&text, MAX_LINE),
        },
        EntryContent::ToolUse(tool) => EntryContent::ToolUse(bounded_tool(tool)),
        other @ EntryContent::TokenUsage { .. } => other,
    }
}

fn short(s: String) -> String {
    clip(&s, MAX_SHORT)
}

fn bounded_tool(t: ToolUse) -> ToolUse {
    ToolUse {
        tool_call_id: t.tool_call_id.map(|s| clip(&s, MAX_NAME)),
        tool_name: clip(&t.tool_name, MAX_NAME),
        action: bounded_action(t.action),
        status: t.status,
        summary: clip(&t.summary, MAX_SHORT),
        parent_tool_call_id: t.parent_tool_call_id.map(|s| clip(&s, MAX_NAME)),
        result: t.result.map(|s| clip(&s, MAX_RESULT)),
    }
}

fn bounded_action(action: ToolAction) -> ToolAction {
    match action {
        ToolAction::FileRead { path } => ToolAction::FileRead { path: short(path) },
        ToolAction::FileEdit { path, changes } => ToolAction::FileEdit {
            path: short(path),
            changes: changes
                .into_iter()
                .take(MAX_ITEMS)
                .map(|c| match c {
                    FileChange::Write { content } => FileChange::Write {
                        content: clip(&content, MAX_RESULT),
                    },
                    FileChange::Replace {
                        old_text,
                        new_text,
                        replace_all,
                    } => FileChange::Replace {
                        old_text: clip(&old_text, MAX_RESULT),
                        new_text: clip(&new_text, MAX_RESULT),
                        replace_all,
                    },
                    FileChange::Diff { unified_diff } => FileChange::Diff {
                        unified_diff: clip(&unified_diff, MAX_RESULT),
                    },
                    FileChange::Rename { new_path } => FileChange::Rename {
                        new_path: short(new_path),
                    },
                    other => other,
                })
                .collect(),
        },
        ToolAction::CommandRun {
            command,
            exit_code,
            output,
        } => ToolAction::CommandRun {
            command: clip(&command, MAX_OUTPUT),
            exit_code,
            output: output.map(|o| clip(&o, MAX_OUTPUT)),
        },
        ToolAction::Search { query, path } => ToolAction::Search {
            query: short(query),
            path: path.map(short),
        },
        ToolAction::WebFetch { url } => ToolAction::WebFetch { url: short(url) },
        ToolAction::WebSearch { query } => ToolAction::WebSearch {
            query: short(query),
        },
        ToolAction::TodoUpdate { items } => ToolAction::TodoUpdate {
            items: items
                .into_iter()
                .take(MAX_ITEMS)
                .map(|mut i| {
                    i.content = short(i.content);
                    i
                })
                .collect(),
        },
        ToolAction::PlanPresentation { plan } => ToolAction::PlanPresentation {
            plan: clip(&plan, MAX_RESULT),
        },
        ToolAction::SubAgent {
            description,
            prompt,
            agent_type,
        } => ToolAction::SubAgent {
            description: short(description),
            prompt: prompt.map(|p| clip(&p, MAX_RESULT)),
            agent_type: agent_type.map(|a| clip(&a, MAX_NAME)),
        },
        ToolAction::Question { questions } => ToolAction::Question {
            questions: questions
                .into_iter()
                .take(MAX_ITEMS)
                .map(|mut q| {
                    q.question = short(q.question);
                    q.options = q.options.into_iter().take(MAX_ITEMS).map(short).collect();
                    q
                })
                .collect(),
        },
        ToolAction::Other { arguments } => ToolAction::Other {
            arguments: arguments.map(|a| {
                let text = compact(&a);
                if text.len() > MAX_RESULT {
                    serde_json::Value::String(clip(&text, MAX_RESULT))
                } else {
                    a
                }
            }),
        },
    }
}
