//! The fake agents standing in for the real CLIs: programs in `tests/fake_agents/` that
//! speak each tool's protocol without a model (see each file's header for its prompt
//! language). The worker starts them through `worker.agent_commands`, exactly as it
//! starts the real tools, with the real tools' arguments.

use std::collections::HashMap;
use std::path::Path;

/// `worker.agent_commands` pointing every agent that has a fake at it.
pub(crate) fn agent_commands() -> HashMap<String, Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_agents");
    let python = |file: &str, extra: &[&str]| -> Vec<String> {
        let mut argv = vec!["python3".to_owned(), dir.join(file).display().to_string()];
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    };
    HashMap::from([
        ("claude-code".to_owned(), python("claude_code.py", &[])),
        ("codex".to_owned(), python("codex_app_server.py", &[])),
        ("cursor".to_owned(), python("oneshot.py", &["cursor"])),
        ("droid".to_owned(), python("oneshot.py", &["droid"])),
        ("amp".to_owned(), python("oneshot.py", &["amp"])),
        ("gemini".to_owned(), python("acp_agent.py", &["gemini"])),
        (
            "qwen-code".to_owned(),
            python("acp_agent.py", &["qwen-code"]),
        ),
        ("copilot".to_owned(), python("acp_agent.py", &["copilot"])),
        ("opencode".to_owned(), python("opencode_server.py", &[])),
    ])
}
