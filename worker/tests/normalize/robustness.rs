//! Bad input never panics a normalizer and never makes it emit a patch outside its
//! list: random garbage, every fixture line cut short at several points, shuffled
//! transcripts, transcripts fed to the wrong protocol, and a seeded property loop that
//! rewrites fields of real events with values of the wrong type.

use serde_json::{Value, json};
use shared::logs::{EntryContent, LogEntry};
use worker::normalize::{Protocol, for_protocol};

use crate::helpers::*;

/// A small deterministic generator (SplitMix64): the same seed gives the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Every fixture's lines, with its protocol.
fn all_fixtures() -> Vec<(Protocol, Vec<String>)> {
    fixture_files()
        .into_iter()
        .filter(|f| !f.ends_with(".md"))
        .map(|f| (protocol_of(&f), fixture_lines(&f)))
        .collect()
}

/// The longest text any entry carries (entries stay bounded whatever the input).
fn longest_text(entries: &[LogEntry]) -> usize {
    entries
        .iter()
        .map(|e| serde_json::to_string(&e.content).map_or(0, |s| s.len()))
        .max()
        .unwrap_or(0)
}

#[test]
fn random_garbage_never_panics_any_normalizer() {
    let mut rng = Rng(0x5EED_0001);
    let samples: Vec<String> = (0..300)
        .map(|_| {
            let len = rng.below(200);
            (0..len)
                .map(|_| match rng.below(6) {
                    0 => '{',
                    1 => '"',
                    2 => '}',
                    3 => char::from_u32(rng.below(0x2FFF) as u32).unwrap_or('?'),
                    _ => char::from(b' ' + rng.below(95) as u8),
                })
                .collect()
        })
        .chain([
            "{".repeat(10_000),
            "[".repeat(10_000),
            format!("{}{}", "{\"a\":".repeat(500), "}".repeat(500)),
            "null".into(),
            "[1,2,3]".into(),
            "\"just a string\"".into(),
            "{\"type\":null}".into(),
            "{\"type\":42,\"method\":[],\"id\":{}}".into(),
            "{\"type\":\"assistant\",\"message\":\"not an object\"}".into(),
            "{\"type\":\"tool_call\",\"tool_call\":[]}".into(),
            "{\"method\":\"session/update\",\"params\":null}".into(),
            "{\"type\":\"message.part.updated\",\"properties\":{\"part\":7}}".into(),
            "\u{feff}{\"type\":\"system\"}".into(),
            "\0\0\0".into(),
        ])
        .collect();
    for protocol in Protocol::ALL {
        let run = run_lines(protocol, &samples);
        assert!(!run.entries.is_empty(), "{protocol}");
    }
}

#[test]
fn huge_lines_are_kept_bounded() {
    let huge_text = "x".repeat(5 * 1024 * 1024);
    let huge_event =
        json!({"type": "assistant", "message": {"content": [{"type":"tool_use","id":"t",
        "name":"Bash","input":{"command": huge_text.clone()}}]}})
        .to_string();
    let huge_result =
        json!({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t",
        "content": huge_text.clone()}]}})
        .to_string();
    for protocol in Protocol::ALL {
        let run = run_lines(
            protocol,
            &[huge_text.clone(), huge_event.clone(), huge_result.clone()],
        );
        assert!(
            longest_text(&run.entries) < 2 * 1024 * 1024,
            "{protocol} kept an unbounded entry"
        );
    }
}

#[test]
fn every_fixture_line_cut_short_at_several_points_never_panics() {
    for (protocol, lines) in all_fixtures() {
        for fraction in [1, 3, 5, 7, 9] {
            let cut: Vec<String> = lines
                .iter()
                .map(|l| {
                    let mut end = l.len() * fraction / 10;
                    while !l.is_char_boundary(end) {
                        end -= 1;
                    }
                    l[..end].to_owned()
                })
                .collect();
            let run = run_lines(protocol, &cut);
            // Whatever was cut off shows as raw output, not silence.
            assert!(
                cut.iter().all(|l| l.trim().is_empty())
                    || run
                        .entries
                        .iter()
                        .any(|e| matches!(e.content, EntryContent::Output { .. })),
                "{protocol}: truncated lines vanished"
            );
        }
        // A line cut one byte short of its end, in the middle of a real transcript.
        for victim in 0..lines.len() {
            let mut damaged = lines.clone();
            let l = &damaged[victim];
            let mut end = l.len().saturating_sub(1);
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            damaged[victim] = l[..end].to_owned();
            run_lines(protocol, &damaged);
        }
    }
}

#[test]
fn shuffled_transcripts_never_panic_or_patch_out_of_range() {
    let mut rng = Rng(0x5EED_0002);
    for (protocol, lines) in all_fixtures() {
        for _ in 0..8 {
            let mut shuffled = lines.clone();
            rng.shuffle(&mut shuffled);
            run_lines(protocol, &shuffled);
        }
    }
}

#[test]
fn transcripts_fed_to_the_wrong_protocol_never_panic() {
    for (_, lines) in all_fixtures() {
        for protocol in Protocol::ALL {
            run_lines(protocol, &lines);
        }
    }
}

/// A value of some type, to put where a field was.
fn wild_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.next() as i64),
        2 => json!(-1),
        3 => json!(1.5e300),
        4 => json!(true),
        5 => json!(""),
        6 => json!("x".repeat(rng.below(70_000))),
        7 => json!([]),
        8 => json!({}),
        _ => json!([{"type": "text", "text": "nested"}, 3, null]),
    }
}

/// Rewrites one random field somewhere in `v` (or drops it).
fn mutate(v: &mut Value, rng: &mut Rng) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.below(keys.len())];
            match rng.below(4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(key.clone(), wild_value(rng));
                }
                _ => {
                    if let Some(child) = map.get_mut(key) {
                        mutate(child, rng);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if rng.below(3) == 0 {
                items.remove(i);
            } else {
                mutate(&mut items[i], rng);
            }
        }
        other => *other = wild_value(rng),
    }
}

#[test]
fn events_with_fields_missing_or_of_the_wrong_type_never_panic() {
    let mut rng = Rng(0x5EED_0003);
    let fixtures = all_fixtures();
    for round in 0..100 {
        for (protocol, lines) in &fixtures {
            let mutated: Vec<String> = lines
                .iter()
                .map(|l| match serde_json::from_str::<Value>(l) {
                    Ok(mut v) if rng.below(3) != 0 => {
                        for _ in 0..=rng.below(3) {
                            mutate(&mut v, &mut rng);
                        }
                        v.to_string()
                    }
                    _ => l.clone(),
                })
                .collect();
            let mut n = for_protocol(*protocol);
            let run = run_with(n.as_mut(), &mutated);
            assert!(
                longest_text(&run.entries) < 2 * 1024 * 1024,
                "round {round}: {protocol} kept an unbounded entry"
            );
        }
    }
}
