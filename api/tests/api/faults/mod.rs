//! The fault suite: the real stack as separate processes (see [`cluster`]), broken on
//! purpose, checking that nothing accepted is lost (DESIGN.md §9) and how long recovery
//! takes. Each scenario prints a `fault-report:` line (scenario, what was checked,
//! result, recovery time) that `scripts/faults` collects into one table.
//!
//! The quick scenarios run in `scripts/test`; the long one (a 60 s S3 outage) is
//! `#[ignore]`d there and run by `scripts/faults`.

mod api_replicas;
mod cluster;
mod object_store;
mod postgres;
mod redis;
mod scheduler;
mod shutdown;
mod workers;

use std::time::Duration;

/// Prints the scenario's line for the fault table.
pub(crate) fn report(scenario: &str, checked: &str, result: &str, recovery: Option<Duration>) {
    let recovery = recovery.map_or("—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
    println!("fault-report: {scenario} | {checked} | {result} | {recovery}");
}

/// `pid` and every process descended from it (from /proc).
pub(crate) fn process_tree(pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| {
            let child = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The parent pid is the second field after the command's closing paren.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

/// A script that prints `lines` numbered lines, `pause` seconds apart.
pub(crate) fn printing(lines: u32, pause: &str) -> String {
    format!("for i in $(seq 1 {lines}); do echo \"line $i\"; sleep {pause}; done")
}
