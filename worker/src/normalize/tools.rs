//! What a tool call does, recognized from the tool's name and arguments.
//!
//! Agents name the same few tools differently (`Bash`, `run_shell_command`, `Execute`,
//! `shell`; `Edit`, `replace`, `edit_file`; ...) and spell their arguments differently
//! (`file_path`, `filePath`, `absolute_path`, `path`). One classifier covers them all,
//! so each protocol's normalizer only maps what is truly its own.

use serde_json::Value;
use shared::logs::{FileChange, Question, TodoItem, TodoStatus, ToolAction, ToolStatus, ToolUse};

use super::json::{
    MAX_OUTPUT, MAX_RESULT, as_text, clip, command_of, first_str, one_line, str_of, text_of,
};

const PATH_KEYS: &[&str] = &[
    "file_path",
    "filePath",
    "absolute_path",
    "path",
    "target_file",
    "targetFile",
    "notebook_path",
    "directory_path",
    "dir_path",
    "directory",
    "folder",
    "file",
    "filename",
];
const OLD_KEYS: &[&str] = &["old_string", "oldString", "old_str", "oldText", "old_text"];
const NEW_KEYS: &[&str] = &["new_string", "newString", "new_str", "newText", "new_text"];
const CONTENT_KEYS: &[&str] = &[
    "content",
    "file_text",
    "fileText",
    "contents",
    "text",
    "new_source",
];
const QUERY_KEYS: &[&str] = &[
    "pattern",
    "query",
    "glob",
    "globPattern",
    "filePattern",
    "file_pattern",
    "regex",
    "search",
    "searchTerm",
    "q",
];

/// A tool name folded for matching: lower case, letters and digits only
/// (`run_shell_command` and `RunShellCommand` both give `runshellcommand`).
fn fold(name: &str) -> String {
    // MCP tools are `mcp__server__tool`: match on the tool part.
    let base = name.rsplit("__").next().unwrap_or(name);
    base.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The path a tool works on.
pub(crate) fn path_of(input: &Value) -> Option<String> {
    if let Some(p) = first_str(input, PATH_KEYS) {
        return Some(p.to_owned());
    }
    // `paths: [...]` (read_many_files), `locations: [{path}]`.
    for key in ["paths", "file_paths", "locations"] {
        if let Some(items) = input.get(key).and_then(Value::as_array) {
            let paths: Vec<&str> = items
                .iter()
                .filter_map(|i| i.as_str().or_else(|| str_of(i, "path")))
                .collect();
            if !paths.is_empty() {
                return Some(paths.join(", "));
            }
        }
    }
    None
}

fn query_of(input: &Value) -> Option<String> {
    if let Some(q) = first_str(input, QUERY_KEYS) {
        return Some(q.to_owned());
    }
    for key in ["patterns", "queries", "globs"] {
        if let Some(items) = input.get(key).and_then(Value::as_array) {
            let qs: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            if !qs.is_empty() {
                return Some(qs.join(", "));
            }
        }
    }
    None
}

fn replace_all(input: &Value) -> bool {
    ["replace_all", "replaceAll"]
        .iter()
        .any(|k| input.get(k).and_then(Value::as_bool) == Some(true))
        || input
            .get("expected_replacements")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 1)
}

/// A string replacement from `{old_*, new_*}` arguments.
fn replacement(input: &Value) -> Option<FileChange> {
    let old = first_str(input, OLD_KEYS).or_else(|| {
        // An empty old string is a real (insert) edit.
        OLD_KEYS.iter().find_map(|k| str_of(input, k))
    })?;
    let new = NEW_KEYS.iter().find_map(|k| str_of(input, k))?;
    Some(FileChange::Replace {
        old_text: clip(old, MAX_RESULT),
        new_text: clip(new, MAX_RESULT),
        replace_all: replace_all(input),
    })
}

/// Maps an agent's todo status spelling onto ours.
pub(crate) fn todo_status(s: &str) -> TodoStatus {
    let folded: String = s
        .to_ascii_lowercase()
        .trim_start_matches("todo_status_")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match folded.as_str() {
        "inprogress" | "active" | "running" | "started" | "doing" => TodoStatus::InProgress,
        "completed" | "complete" | "done" | "finished" | "success" => TodoStatus::Completed,
        "cancelled" | "canceled" | "skipped" | "abandoned" => TodoStatus::Cancelled,
        _ => TodoStatus::Pending,
    }
}

/// Todo items from a list of `{content|description|text|step|title, status|completed}`.
pub(crate) fn todo_items(list: &Value) -> Vec<TodoItem> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let content = match item {
                Value::String(s) => s.clone(),
                _ => first_str(
                    item,
                    &["content", "description", "text", "step", "title", "task"],
                )?
                .to_owned(),
            };
            let status = match (str_of(item, "status"), item.get("completed")) {
                (Some(s), _) => todo_status(s),
                (None, Some(Value::Bool(true))) => TodoStatus::Completed,
                _ => TodoStatus::Pending,
            };
            Some(TodoItem { content, status })
        })
        .collect()
}

/// `N items, k done` for a todo list.
pub(crate) fn todo_summary(items: &[TodoItem]) -> String {
    let done = items
        .iter()
        .filter(|i| i.status == TodoStatus::Completed)
        .count();
    let current = items.iter().find(|i| i.status == TodoStatus::InProgress);
    match current {
        Some(c) => format!("{done}/{} done; now: {}", items.len(), one_line(&c.content)),
        None => format!("{done}/{} done", items.len()),
    }
}

fn questions_of(input: &Value) -> Vec<Question> {
    let from_item = |q: &Value| -> Option<Question> {
        let question = match q {
            Value::String(s) => s.clone(),
            _ => first_str(q, &["question", "text", "prompt", "header"])?.to_owned(),
        };
        let options = q
            .get("options")
            .and_then(Value::as_array)
            .map(|opts| {
                opts.iter()
                    .filter_map(|o| {
                        o.as_str()
                            .map(str::to_owned)
                            .or_else(|| first_str(o, &["label", "name", "text"]).map(str::to_owned))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Question { question, options })
    };
    if let Some(list) = input.get("questions").and_then(Value::as_array) {
        return list.iter().filter_map(from_item).collect();
    }
    from_item(input).into_iter().collect()
}

/// An action and its one-line summary.
pub(crate) struct Action {
    pub action: ToolAction,
    pub summary: String,
}

impl Action {
    pub(crate) fn new(action: ToolAction) -> Action {
        let summary = summarize(&action);
        Action { action, summary }
    }
}

/// The one-line summary of an action.
pub(crate) fn summarize(action: &ToolAction) -> String {
    match action {
        ToolAction::FileRead { path } => one_line(path),
        ToolAction::FileEdit { path, .. } => one_line(path),
        ToolAction::CommandRun { command, .. } => one_line(command),
        ToolAction::Search { query, path } => match path {
            Some(p) if !p.is_empty() => one_line(&format!("{query} in {p}")),
            _ => one_line(query),
        },
        ToolAction::WebFetch { url } => one_line(url),
        ToolAction::WebSearch { query } => one_line(query),
        ToolAction::TodoUpdate { items } => todo_summary(items),
        ToolAction::PlanPresentation { plan } => one_line(plan),
        ToolAction::SubAgent { description, .. } => one_line(description),
        ToolAction::Question { questions } => questions
            .first()
            .map(|q| one_line(&q.question))
            .unwrap_or_default(),
        ToolAction::Other { .. } => String::new(),
    }
}

/// What a call of tool `name` with `input` does. Never empty; a patch touching several
/// files gives one action per file.
pub(crate) fn classify(name: &str, input: &Value) -> Vec<Action> {
    let folded = fold(name);
    let path = || path_of(input).unwrap_or_default();
    let action = match folded.as_str() {
        "bash" | "shell" | "execute" | "exec" | "runshellcommand" | "command" | "terminal"
        | "localshell" | "runterminalcmd" | "runcommand" | "execcommand" | "shellcommand" => {
            let command = ["command", "cmd", "commandLine", "script"]
                .iter()
                .find_map(|k| input.get(k).and_then(command_of))
                .unwrap_or_default();
            ToolAction::CommandRun {
                command,
                exit_code: None,
                output: None,
            }
        }
        "read" | "readfile" | "view" | "cat" | "readmanyfiles" | "notebookread" | "ls"
        | "listdirectory" | "list" | "listdir" | "listfiles" | "readfolder" => {
            ToolAction::FileRead { path: path() }
        }
        "write" | "writefile" | "create" | "createfile" | "newfile" => {
            let content = first_str(input, CONTENT_KEYS).unwrap_or("");
            ToolAction::FileEdit {
                path: path(),
                changes: vec![FileChange::Write {
                    content: clip(content, MAX_RESULT),
                }],
            }
        }
        "edit"
        | "editfile"
        | "replace"
        | "strreplace"
        | "smartedit"
        | "searchreplace"
        | "strreplacebasededittool"
        | "notebookedit" => {
            let changes = match replacement(input) {
                Some(change) => vec![change],
                None => match first_str(input, CONTENT_KEYS) {
                    Some(content) => vec![FileChange::Write {
                        content: clip(content, MAX_RESULT),
                    }],
                    None => vec![FileChange::Update],
                },
            };
            ToolAction::FileEdit {
                path: path(),
                changes,
            }
        }
        "multiedit" => {
            // Claude Code names the list `edits`, Droid `changes`.
            let changes: Vec<FileChange> = ["edits", "changes"]
                .iter()
                .find_map(|k| input.get(k).and_then(Value::as_array))
                .map(|edits| edits.iter().filter_map(replacement).collect())
                .unwrap_or_default();
            ToolAction::FileEdit {
                path: path(),
                changes: if changes.is_empty() {
                    vec![FileChange::Update]
                } else {
                    changes
                },
            }
        }
        "applypatch" | "patch" => {
            let patch = first_str(
                input,
                &["input", "patch", "patchText", "patch_text", "diff"],
            )
            .unwrap_or("");
            let files = parse_apply_patch(patch);
            if !files.is_empty() {
                return files
                    .into_iter()
                    .map(|(path, changes)| Action::new(ToolAction::FileEdit { path, changes }))
                    .collect();
            }
            ToolAction::FileEdit {
                path: path(),
                changes: vec![FileChange::Diff {
                    unified_diff: clip(patch, MAX_RESULT),
                }],
            }
        }
        "delete" | "deletefile" | "remove" | "rm" => ToolAction::FileEdit {
            path: path(),
            changes: vec![FileChange::Delete],
        },
        "glob"
        | "find"
        | "filesearch"
        | "findfiles"
        | "grep"
        | "searchfilecontent"
        | "rg"
        | "ripgrep"
        | "codebasesearch"
        | "semsearch"
        | "search"
        | "codesearch"
        | "codebasesearchagent" => ToolAction::Search {
            query: query_of(input).unwrap_or_default(),
            path: path_of(input),
        },
        "webfetch" | "fetchurl" | "fetch" | "readwebpage" | "urlfetch" => ToolAction::WebFetch {
            url: first_str(input, &["url", "uri", "prompt"])
                .unwrap_or("")
                .to_owned(),
        },
        "websearch" | "googlewebsearch" | "searchweb" => ToolAction::WebSearch {
            query: query_of(input).unwrap_or_default(),
        },
        "todowrite" | "writetodos" | "updatetodos" | "todo" | "todos" | "updateplan" => {
            let list = ["todos", "items", "plan", "entries"]
                .iter()
                .find_map(|k| input.get(k))
                .unwrap_or(&Value::Null);
            ToolAction::TodoUpdate {
                items: todo_items(list),
            }
        }
        "task" | "agent" | "subagent" | "spawnagent" | "delegate" => ToolAction::SubAgent {
            description: first_str(input, &["description", "title", "task", "prompt"])
                .map(one_line)
                .unwrap_or_default(),
            prompt: first_str(input, &["prompt", "message", "task"]).map(|p| clip(p, MAX_RESULT)),
            agent_type: first_str(input, &["subagent_type", "agent_type", "agent"])
                .map(str::to_owned),
        },
        "exitplanmode" | "exitspecmode" | "presentplan" => ToolAction::PlanPresentation {
            plan: first_str(input, &["plan", "spec", "text"])
                .map(|p| clip(p, MAX_RESULT))
                .unwrap_or_default(),
        },
        "askuserquestion" | "askuser" | "askquestion" | "question" | "askfollowupquestion" => {
            ToolAction::Question {
                questions: questions_of(input),
            }
        }
        _ => ToolAction::Other {
            arguments: (!input.is_null()).then(|| input.clone()),
        },
    };
    vec![Action::new(action)]
}

/// The files of a patch in the `*** Begin Patch` format Codex and Droid use, each with
/// its change: the hunk text for an update, the content for an added file.
pub(crate) fn parse_apply_patch(patch: &str) -> Vec<(String, Vec<FileChange>)> {
    let mut files: Vec<(String, Vec<FileChange>)> = Vec::new();
    // (kind, path, body lines, move target)
    let mut current: Option<(&str, String, Vec<&str>, Option<String>)> = None;
    fn close(
        files: &mut Vec<(String, Vec<FileChange>)>,
        cur: Option<(&str, String, Vec<&str>, Option<String>)>,
    ) {
        let Some((kind, path, body, moved)) = cur else {
            return;
        };
        let mut changes = match kind {
            "add" => vec![FileChange::Write {
                content: clip(
                    &body
                        .iter()
                        .map(|l| l.strip_prefix('+').unwrap_or(l))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    MAX_RESULT,
                ),
            }],
            "delete" => vec![FileChange::Delete],
            _ if body.is_empty() => vec![],
            _ => vec![FileChange::Diff {
                unified_diff: clip(&body.join("\n"), MAX_RESULT),
            }],
        };
        if let Some(new_path) = moved {
            changes.push(FileChange::Rename { new_path });
        }
        if changes.is_empty() {
            changes.push(FileChange::Update);
        }
        files.push((path, changes));
    }
    for line in patch.lines() {
        let header = [
            ("*** Add File: ", "add"),
            ("*** Update File: ", "update"),
            ("*** Delete File: ", "delete"),
        ]
        .iter()
        .find_map(|(prefix, kind)| line.strip_prefix(prefix).map(|p| (*kind, p)));
        if let Some((kind, path)) = header {
            close(&mut files, current.take());
            current = Some((kind, path.trim().to_owned(), Vec::new(), None));
        } else if let Some(target) = line.strip_prefix("*** Move to: ") {
            if let Some(cur) = current.as_mut() {
                cur.3 = Some(target.trim().to_owned());
            }
        } else if line.starts_with("*** Begin Patch") || line.starts_with("*** End Patch") {
            close(&mut files, current.take());
        } else if let Some(cur) = current.as_mut() {
            cur.2.push(line);
        }
    }
    close(&mut files, current.take());
    files
}

/// A new tool use for a call.
pub(crate) fn tool_use(
    id: Option<&str>,
    name: &str,
    action: Action,
    status: ToolStatus,
    parent: Option<&str>,
) -> ToolUse {
    let summary = if action.summary.is_empty() {
        name.to_owned()
    } else {
        action.summary
    };
    ToolUse {
        tool_call_id: id.map(str::to_owned),
        tool_name: name.to_owned(),
        action: action.action,
        status,
        summary,
        parent_tool_call_id: parent.map(str::to_owned),
        result: None,
    }
}

/// Records what a tool answered: a command's output in its action, anything else in
/// `result`. Blank answers are not recorded.
pub(crate) fn set_result(tool: &mut ToolUse, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    match &mut tool.action {
        ToolAction::CommandRun { output, .. } => *output = Some(clip(text, MAX_OUTPUT)),
        _ => tool.result = Some(clip(text, MAX_RESULT)),
    }
}

/// Appends streamed command output to a command's action.
pub(crate) fn append_output(tool: &mut ToolUse, delta: &str) {
    if let ToolAction::CommandRun { output, .. } = &mut tool.action {
        let mut text = output.take().unwrap_or_default();
        if text.len() < MAX_OUTPUT {
            text.push_str(delta);
            text = clip(&text, MAX_OUTPUT);
        }
        *output = Some(text);
    }
}

/// Sets a command's exit code (no-op for other actions).
pub(crate) fn set_exit_code(tool: &mut ToolUse, code: i64) {
    if let ToolAction::CommandRun { exit_code, .. } = &mut tool.action {
        *exit_code = Some(code);
    }
}

/// The exit code an agent wrote into a command's output, if it did in one of the two
/// forms agents use: a leading `Exit code 1` line (Claude Code) or a trailing
/// `[Process exited with code 0]` line (Droid). Text elsewhere is never read as a code.
pub(crate) fn exit_code_in(text: &str) -> Option<i64> {
    let leading = text
        .trim_start()
        .strip_prefix("Exit code ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    leading.or_else(|| {
        text.trim_end()
            .lines()
            .last()?
            .trim()
            .strip_prefix("[Process exited with code ")?
            .strip_suffix(']')?
            .trim()
            .parse()
            .ok()
    })
}

/// `text` without the trailing `[Process exited with code N]` line Droid appends to a
/// command's output (the code goes to the command's `exit_code`), nor the blank lines
/// before it.
pub(crate) fn strip_exit_line(text: &str) -> &str {
    let trimmed = text.trim_end();
    let (rest, last) = match trimmed.rsplit_once('\n') {
        Some((rest, last)) => (rest, last),
        None => ("", trimmed),
    };
    let last = last.trim();
    if last.starts_with("[Process exited with code ") && last.ends_with(']') {
        rest.trim_end()
    } else {
        text
    }
}

/// The shells whose `-c` wrapper is dropped from a command (see [`unwrap_shell`]).
const SHELLS: &[&str] = &["bash", "zsh", "sh", "dash", "ksh"];

/// Whether `word` is a shell's name or path (`bash`, `/bin/zsh`).
fn is_shell(word: &str) -> bool {
    SHELLS.contains(&word.rsplit('/').next().unwrap_or(word))
}

/// Whether `flags` (the words between a shell and its script) end the options with
/// `-c`: `-c`, `-lc`, `-l -c`, `--login -c`.
fn runs_script(flags: &[&str]) -> bool {
    let short = |f: &&str| {
        f.len() > 1
            && f.starts_with('-')
            && !f.starts_with("--")
            && f[1..].bytes().all(|b| b.is_ascii_alphabetic())
    };
    let long = |f: &&str| matches!(*f, "--login" | "--noprofile" | "--norc");
    !flags.is_empty()
        && flags.iter().all(|f| short(f) || long(f))
        && flags.iter().any(|f| short(f) && f.contains('c'))
}

/// The script of a shell wrapper, `bash -lc 'ls -la'` (also `/bin/zsh -lc`,
/// `/bin/bash -c`, `sh -c`) → `ls -la`: the one argument after `-c`, unquoted as the
/// shell would (single quotes, `'\''` escapes, double quotes, backslashes). Anything
/// else (no wrapper, more arguments after the script) gives `None`.
pub(crate) fn unwrap_shell(command: &str) -> Option<String> {
    let command = command.trim();
    let (shell, mut rest) = command.split_once(char::is_whitespace)?;
    if !is_shell(shell) {
        return None;
    }
    let mut flags = Vec::new();
    loop {
        rest = rest.trim_start();
        if !rest.starts_with('-') {
            break;
        }
        let (flag, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(flag);
        rest = after;
    }
    if !runs_script(&flags) {
        return None;
    }
    let (script, after) = shell_word(rest)?;
    (after.trim().is_empty() && !script.trim().is_empty()).then_some(script)
}

/// The first shell word of `text` with its quoting removed, and the text after it.
fn shell_word(text: &str) -> Option<(String, &str)> {
    let mut word = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => return Some((word, &text[i..])),
            '\'' => {
                chars.next();
                loop {
                    match chars.next()? {
                        (_, '\'') => break,
                        (_, c) => word.push(c),
                    }
                }
            }
            '"' => {
                chars.next();
                loop {
                    match chars.next()? {
                        (_, '"') => break,
                        (_, '\\') => match chars.next()? {
                            (_, c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            (_, '\n') => {}
                            (_, c) => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        (_, c) => word.push(c),
                    }
                }
            }
            '\\' => {
                chars.next();
                match chars.next() {
                    Some((_, '\n')) | None => {}
                    Some((_, c)) => word.push(c),
                }
            }
            c => {
                chars.next();
                word.push(c);
            }
        }
    }
    Some((word, ""))
}

/// A command given as a string or an argv list, without a shell's `-c` wrapper around
/// it (Codex runs everything as `bash -lc '…'` or `/bin/zsh -lc '…'`).
pub(crate) fn shell_command(v: &Value) -> Option<String> {
    if let Some(argv) = v.as_array() {
        let words: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
        if let [shell, flags @ .., script] = words.as_slice()
            && words.len() == argv.len()
            && is_shell(shell)
            && runs_script(flags)
            && !script.trim().is_empty()
        {
            return Some((*script).to_owned());
        }
    }
    let command = command_of(v)?;
    Some(unwrap_shell(&command).unwrap_or(command))
}

/// A diff given as a list of lines (Droid's `diffLines`), as unified-diff hunks with
/// three lines of context. A line is a string (`+added`, `-removed`, ` context`, or an
/// `@@` header), an object with a kind (`type`/`kind`/`op`: added, removed, context…)
/// and its text (`content`/`text`/`line`/`value`), or a `{value, added, removed}` part
/// of a line diff, which may span several lines. Line numbers an object carries
/// (`oldLineNumber`, `newLineNumber`) are kept; otherwise lines count from 1. `None`
/// when nothing in the list adds or removes a line.
pub(crate) fn diff_of_lines(lines: &Value) -> Option<String> {
    let items = lines.as_array()?;
    // (origin, text, old number, new number); origin '@' is a header kept as it is.
    let mut parsed: Vec<(char, String, Option<u64>, Option<u64>)> = Vec::new();
    for item in items {
        match item {
            Value::String(s) => {
                let (origin, text) = match s.chars().next() {
                    Some(c @ ('+' | '-' | ' ')) => (c, s[1..].to_owned()),
                    _ if s.starts_with("@@") => ('@', s.clone()),
                    _ => (' ', s.clone()),
                };
                parsed.push((origin, text, None, None));
            }
            Value::Object(_) => {
                let kind = first_str(item, &["type", "kind", "op", "operation", "change"])
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let flag = |k: &str| item.get(k).and_then(Value::as_bool) == Some(true);
                let origin = if flag("added")
                    || kind == "+"
                    || ["add", "insert", "new"].iter().any(|p| kind.contains(p))
                {
                    '+'
                } else if flag("removed")
                    || kind == "-"
                    || ["remov", "delet", "old"].iter().any(|p| kind.contains(p))
                {
                    '-'
                } else if kind.contains("hunk") || kind.contains("header") {
                    '@'
                } else {
                    ' '
                };
                let text = ["content", "text", "line", "value"]
                    .iter()
                    .find_map(|k| str_of(item, k))
                    .unwrap_or("");
                let number = |keys: &[&str]| {
                    keys.iter()
                        .find_map(|k| item.get(*k).and_then(super::json::count))
                };
                let old = number(&["oldLineNumber", "oldLine", "old_line", "oldNumber"]);
                let new = number(&["newLineNumber", "newLine", "new_line", "newNumber"]);
                if origin == '@' {
                    parsed.push(('@', text.to_owned(), None, None));
                    continue;
                }
                // A part of a line diff holds whole lines, each ending in a newline.
                let text = text.strip_suffix('\n').unwrap_or(text);
                for (i, line) in text.split('\n').enumerate() {
                    let step = i as u64;
                    parsed.push((
                        origin,
                        line.strip_suffix('\r').unwrap_or(line).to_owned(),
                        old.map(|n| n + step),
                        new.map(|n| n + step),
                    ));
                }
            }
            _ => {}
        }
    }
    if !parsed.iter().any(|(o, ..)| *o == '+' || *o == '-') {
        return None;
    }
    // Headers given: the lines are hunks already.
    if parsed.iter().any(|(o, ..)| *o == '@') {
        let text: Vec<String> = parsed
            .into_iter()
            .map(|(o, t, ..)| if o == '@' { t } else { format!("{o}{t}") })
            .collect();
        return Some(clip(&text.join("\n"), MAX_RESULT));
    }
    // Each line's number in the old and the new file.
    let (mut old_no, mut new_no) = (1u64, 1u64);
    let mut numbered = Vec::with_capacity(parsed.len());
    for (origin, text, old, new) in parsed {
        if let Some(n) = old {
            old_no = n;
        }
        if let Some(n) = new {
            new_no = n;
        }
        numbered.push((origin, text, old_no, new_no));
        match origin {
            '+' => new_no += 1,
            '-' => old_no += 1,
            _ => {
                old_no += 1;
                new_no += 1;
            }
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = numbered
        .iter()
        .enumerate()
        .filter(|(_, (o, ..))| *o != ' ')
        .map(|(i, _)| i)
        .collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for i in changed {
        let (start, end) = (
            i.saturating_sub(CONTEXT),
            (i + CONTEXT + 1).min(numbered.len()),
        );
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => ranges.push((start, end)),
        }
    }
    let mut out = Vec::new();
    for (start, end) in ranges {
        let hunk = &numbered[start..end];
        let old_count = hunk.iter().filter(|(o, ..)| *o != '+').count() as u64;
        let new_count = hunk.iter().filter(|(o, ..)| *o != '-').count() as u64;
        let (_, _, old_start, new_start) = hunk[0];
        // An empty side starts at the line before, as in `diff -u`.
        let old_start = if old_count == 0 {
            old_start.saturating_sub(1)
        } else {
            old_start
        };
        let new_start = if new_count == 0 {
            new_start.saturating_sub(1)
        } else {
            new_start
        };
        out.push(format!(
            "@@ -{old_start},{old_count} +{new_start},{new_count} @@"
        ));
        out.extend(hunk.iter().map(|(o, t, ..)| format!("{o}{t}")));
    }
    Some(clip(&out.join("\n"), MAX_RESULT))
}

/// Whether a failed tool's message says it was refused rather than that it failed.
pub(crate) fn says_denied(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "doesn't want to proceed",
        "does not want to proceed",
        "user rejected",
        "rejected by the user",
        "rejected permission",
        "denied by the user",
        "permission to use",
        "has been denied",
        "haven't granted",
        "not granted",
        "tool execution cancelled",
        "tool execution canceled",
        "was blocked by",
        "declined",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Whether a failed tool's message says it ran out of time.
pub(crate) fn says_timed_out(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("command timed out")
        || lower.contains("timed out after")
        || lower.starts_with("timeout")
}

/// The status a failed call's message implies.
pub(crate) fn failure_status(text: &str) -> ToolStatus {
    if says_timed_out(text) {
        ToolStatus::TimedOut
    } else if says_denied(text) {
        ToolStatus::Denied
    } else {
        ToolStatus::Failed
    }
}

/// The text of a tool's answer in whatever shape it came (see [`text_of`]), or the
/// value as JSON.
pub(crate) fn answer_text(v: &Value) -> String {
    text_of(v).unwrap_or_else(|| {
        if v.is_null() {
            String::new()
        } else {
            as_text(v)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shell_tools_of_every_agent_are_command_runs() {
        for (name, input) in [
            ("Bash", json!({"command": "ls"})),
            ("run_shell_command", json!({"command": "ls"})),
            ("Execute", json!({"command": "ls"})),
            ("shell", json!({"command": ["ls"]})),
            ("Bash", json!({"cmd": "ls"})),
        ] {
            let a = classify(name, &input);
            assert!(
                matches!(&a[0].action, ToolAction::CommandRun { command, .. } if command == "ls"),
                "{name}"
            );
            assert_eq!(a[0].summary, "ls");
        }
    }

    #[test]
    fn edits_carry_their_replacement() {
        let a = classify(
            "replace",
            &json!({"file_path": "/a", "old_string": "x", "new_string": "y"}),
        );
        assert_eq!(
            a[0].action,
            ToolAction::FileEdit {
                path: "/a".into(),
                changes: vec![FileChange::Replace {
                    old_text: "x".into(),
                    new_text: "y".into(),
                    replace_all: false
                }]
            }
        );
    }

    #[test]
    fn a_multi_file_patch_gives_one_edit_per_file() {
        let patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** Update File: b.py\n@@\n-x\n+y\n*** Delete File: c\n*** End Patch";
        let a = classify("apply_patch", &json!({ "input": patch }));
        assert_eq!(a.len(), 3);
        assert_eq!(
            a[0].action,
            ToolAction::FileEdit {
                path: "a.txt".into(),
                changes: vec![FileChange::Write {
                    content: "hello".into()
                }]
            }
        );
        assert!(
            matches!(&a[1].action, ToolAction::FileEdit { path, changes } if path == "b.py" && matches!(&changes[0], FileChange::Diff { unified_diff } if unified_diff.contains("+y")))
        );
        assert!(
            matches!(&a[2].action, ToolAction::FileEdit { changes, .. } if changes == &vec![FileChange::Delete])
        );
    }

    #[test]
    fn todo_statuses_of_every_spelling_map() {
        assert_eq!(todo_status("in_progress"), TodoStatus::InProgress);
        assert_eq!(todo_status("inProgress"), TodoStatus::InProgress);
        assert_eq!(todo_status("TODO_STATUS_COMPLETED"), TodoStatus::Completed);
        assert_eq!(todo_status("cancelled"), TodoStatus::Cancelled);
        assert_eq!(todo_status("whatever"), TodoStatus::Pending);
    }

    #[test]
    fn exit_codes_are_read_from_agents_wording() {
        assert_eq!(exit_code_in("...\n[Process exited with code 0]"), Some(0));
        assert_eq!(exit_code_in("Exit code 127\nnot found"), Some(127));
        assert_eq!(exit_code_in("no code here"), None);
        assert_eq!(exit_code_in("grep: exit code 3 in the docs"), None);
    }

    #[test]
    fn shell_wrappers_are_dropped_and_their_script_unquoted() {
        assert_eq!(unwrap_shell("bash -lc ls").as_deref(), Some("ls"));
        assert_eq!(
            unwrap_shell("/bin/zsh -lc 'ls -la | head'").as_deref(),
            Some("ls -la | head")
        );
        assert_eq!(
            unwrap_shell(r#"/bin/bash -c 'echo '\''hi there'\'' "$HOME"'"#).as_deref(),
            Some(r#"echo 'hi there' "$HOME""#)
        );
        assert_eq!(
            unwrap_shell(r#"sh -c "grep \"a b\" x""#).as_deref(),
            Some(r#"grep "a b" x"#)
        );
        assert_eq!(
            unwrap_shell("bash -l -c 'make test'").as_deref(),
            Some("make test")
        );
        // Not a wrapper: kept.
        assert_eq!(unwrap_shell("bash script.sh"), None);
        assert_eq!(unwrap_shell("bash -c 'echo $0' name"), None);
        assert_eq!(unwrap_shell("bash -lc 'unterminated"), None);
        assert_eq!(unwrap_shell("python -c 'print(1)'"), None);
        assert_eq!(
            shell_command(&json!(["bash", "-lc", "cargo test -p x"])).as_deref(),
            Some("cargo test -p x")
        );
        assert_eq!(
            shell_command(&json!(["git", "status"])).as_deref(),
            Some("git status")
        );
    }

    #[test]
    fn droid_exit_lines_are_stripped_from_output() {
        assert_eq!(
            strip_exit_line("a\nb\n\n[Process exited with code 0]"),
            "a\nb"
        );
        assert_eq!(strip_exit_line("\n\n[Process exited with code 1]"), "");
        assert_eq!(strip_exit_line("no code\n"), "no code\n");
    }

    #[test]
    fn line_lists_become_hunks_with_context() {
        // A line diff's parts (`{value, added, removed}`), covering the whole file.
        let parts = json!([
            {"count": 5, "value": "1\n2\n3\n4\n5\n"},
            {"count": 1, "removed": true, "value": "six\n"},
            {"count": 1, "added": true, "value": "6\n"},
            {"count": 5, "value": "7\n8\n9\n10\n11\n"}
        ]);
        assert_eq!(
            diff_of_lines(&parts).as_deref(),
            Some("@@ -3,7 +3,7 @@\n 3\n 4\n 5\n-six\n+6\n 7\n 8\n 9")
        );
        // Typed lines with their numbers.
        let typed = json!([
            {"type": "context", "content": "fn a() {", "oldLineNumber": 40, "newLineNumber": 40},
            {"type": "removed", "content": "    1", "oldLineNumber": 41},
            {"type": "added", "content": "    2", "newLineNumber": 41},
            {"type": "unchanged", "content": "}"}
        ]);
        assert_eq!(
            diff_of_lines(&typed).as_deref(),
            Some("@@ -40,3 +40,3 @@\n fn a() {\n-    1\n+    2\n }")
        );
        assert_eq!(
            diff_of_lines(&json!([{"type": "context", "content": "x"}])),
            None
        );
        assert_eq!(diff_of_lines(&json!("not a list")), None);
    }

    #[test]
    fn unknown_tools_keep_their_arguments() {
        let a = classify("mcp__linear__create_issue", &json!({"title": "x"}));
        assert_eq!(
            a[0].action,
            ToolAction::Other {
                arguments: Some(json!({"title": "x"}))
            }
        );
    }
}
