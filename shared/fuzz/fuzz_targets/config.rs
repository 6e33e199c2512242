//! Settings as an operator writes them: a TOML document, then (after a line `#env`, a
//! TOML comment) `NAME=value` lines standing for the environment (`SWITCHYARD__` is
//! added to names without it). The seeds are settings files.
//!
//! Checked, beyond not panicking:
//! - any input loads, or is refused with an `invalid configuration: …` message that
//!   says something;
//! - loaded settings survive the handover to workers unchanged: the scheduler sends them
//!   as JSON (`SWITCHYARD_CONFIG_FD`), and the JSON loads back to the same settings;
//! - the mode check answers for every process.
#![no_main]

use shared::config::{Process, Settings, SettingsFormat};
use std::collections::BTreeMap;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;
    let (document, env_lines) = text.split_once("\n#env\n").unwrap_or((text, ""));
    let env: BTreeMap<String, String> = env_lines
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, value)| {
            let name = if name.starts_with("SWITCHYARD__") || name.starts_with("OTEL_") {
                name.to_owned()
            } else {
                format!("SWITCHYARD__{name}")
            };
            (name, value.to_owned())
        })
        .collect();

    let settings = match Settings::load_from_text(document, SettingsFormat::Toml, env) {
        Ok(settings) => settings,
        Err(e) => {
            let message = e.to_string();
            let why = message
                .strip_prefix("invalid configuration: ")
                .unwrap_or_else(|| panic!("an error that does not say so: {message:?}"));
            assert!(!why.trim().is_empty(), "an error that says nothing");
            return;
        }
    };

    let handed_over = serde_json::to_string(&settings).expect("settings serialize");
    let reloaded = Settings::load_from_text(&handed_over, SettingsFormat::Json, BTreeMap::new())
        .unwrap_or_else(|e| panic!("the handed-over settings do not load: {e}\n{handed_over}"));
    assert_eq!(
        serde_json::to_value(&reloaded).expect("serialize"),
        serde_json::to_value(&settings).expect("serialize"),
        "the handover changed the settings"
    );

    for process in [Process::Api, Process::Worker, Process::Scheduler] {
        let _ = settings.check_mode(process);
    }
});
