"""The table of scripts/bench: medians of the ROW lines its runs wrote, each metric beside
its reference and target. Prints it and writes it into a markdown file, between the
markers `<!-- bench:begin -->` and `<!-- bench:end -->` when the file has them (the
rest of the file is left as it is), else as the whole file.

usage: bench_table.py RESULTS OUT COMMAND RUNS LOAD_BEFORE LOAD_AFTER
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys

results, out, command, runs, load_before, load_after = sys.argv[1:7]

values, references = {}, {}
for line in open(results):
    parts = line.split()
    if len(parts) < 3 or parts[0] != "ROW":
        continue
    values.setdefault(parts[1], []).append(float(parts[2]))
    if len(parts) > 3:
        references.setdefault(parts[1], []).append(float(parts[3]))


def med(table, key):
    return statistics.median(table[key]) if key in table else None


# (benchmark, metric, key, unit, reference name, target text, met(value, ratio))
ROWS = [
    ("B1", "log throughput at one SSE client", "b1", "entries/s", "redis-benchmark PUBLISH/s",
     "≥ 1.0 × ref and ≥ 100k/s", lambda v, r: r >= 1.0 and v >= 100_000),
    ("B2", "live latency p50, 100 clients", "b2_p50", "ms", None, "(shown)", None),
    ("B2", "live latency p99, 100 clients", "b2_p99", "ms", None, "≤ 25 ms", lambda v, r: v <= 25),
    ("B2", "entries lost", "b2_lost", "", None, "0", lambda v, r: v == 0),
    ("B2", "entries duplicated", "b2_dup", "", None, "0", lambda v, r: v == 0),
    ("B3", "POST attempt → first entry at SSE, p50", "b3", "ms", "git worktree add, ms",
     "≤ 1.5 × ref", lambda v, r: r <= 1.5),
    ("B4", "worker's worktree creation (20k files)", "b4", "ms", "git worktree add, ms",
     "≤ 1.0 × ref", lambda v, r: r <= 1.0),
    ("B5", "worker's diff of 1,000 files", "b5", "ms", "git diff, ms", "≤ 1.0 × ref",
     lambda v, r: r <= 1.0),
    ("B6", "GET one task", "b6_one", "req/s", "pgbench -S tps", "≥ 0.5 × ref",
     lambda v, r: r >= 0.5),
    ("B6", "GET one task's shape: a tenant transaction, pgbench", "b6_shape", "tps",
     "pgbench -S tps", "(shown)", None),
    ("B6", "GET one task p99", "b6_one_p99", "ms", None, "≤ 25 ms", lambda v, r: v <= 25),
    ("B6", "GET a page of 100 tasks", "b6_page", "req/s", "its two reads, pgbench tps", "(shown)",
     None),
    ("B6", "GET a page of 100 tasks p99", "b6_page_p99", "ms", None, "≤ 25 ms",
     lambda v, r: v <= 25),
    ("B6", "a page's floor: its two reads p99, pgbench", "b6_page_floor_p99", "ms", None,
     "(shown)", None),
    ("B6", "POST a task", "b6_post", "req/s", "numbered insert, pgbench tps", "(shown)", None),
    ("B6", "POST a task p99", "b6_post_p99", "ms", None, "≤ 25 ms", lambda v, r: v <= 25),
    ("B6", "POST's floor: numbered insert p99, pgbench", "b6_floor_p99", "ms", None, "(shown)",
     None),
    ("B7", "org streams held open", "b7_open", "", None, "10,000", lambda v, r: v >= 10_000),
    ("B7", "api RSS per SSE connection", "b7_rss", "KiB", None, "≤ 16 KiB", lambda v, r: v <= 16),
    ("B7", "one event to all, p99", "b7_p99", "ms", None, "≤ 250 ms", lambda v, r: v <= 250),
    ("B7", "clients that missed the event", "b7_missed", "", None, "0", lambda v, r: v == 0),
    ("B8", "attempts scheduled", "b8_rate", "/s", None, "≥ 1,000/s", lambda v, r: v >= 1000),
    ("B8", "Jain's index of queue waits vs fair share", "b8_jain", "", None, "≥ 0.95",
     lambda v, r: v >= 0.95),
    ("B9", "api idle RSS", "b9_api", "MiB", None, "≤ 40 MiB", lambda v, r: v <= 40),
    ("B9", "worker idle RSS", "b9_worker", "MiB", None, "≤ 30 MiB", lambda v, r: v <= 30),
    ("B9", "scheduler idle RSS", "b9_scheduler", "MiB", None, "≤ 30 MiB", lambda v, r: v <= 30),
]


def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


header = ["#", "metric", "measured", "reference", "ratio", "target", "met"]
table = []
for bench, metric, key, unit, ref_name, target, met in ROWS:
    v = med(values, key)
    r = med(references, key)
    if v is None:
        continue
    ratio = v / r if r else None
    verdict = "–" if met is None else ("yes" if met(v, ratio if ratio is not None else v) else "**no**")
    measured = f"{fmt(v)} {unit}".strip()
    reference = f"{fmt(r)} ({ref_name})" if r is not None else "–"
    table.append([bench, metric, measured, reference, fmt(ratio) if ratio is not None else "–",
                  target, verdict])

widths = [max(len(str(row[i])) for row in [header] + table) for i in range(len(header))]
for row in [header] + table:
    print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_kib = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
md = [
    f"Command: `{command.strip()}` — median of {runs} run(s) per figure; each reference",
    "is measured in the same run as its metric.",
    f"Machine: {os.cpu_count()} × {cpu}, {mem_kib / 1048576:.0f} GiB, Linux {platform.release()};",
    f"load average {load_before} before, {load_after} after. Commit "
    f"`{sh('git', 'rev-parse', '--short', 'HEAD')}`, {now}.",
    "",
    "| " + " | ".join(header) + " |",
    "|" + "|".join("---" for _ in header) + "|",
]
md += ["| " + " | ".join(str(c) for c in row) + " |" for row in table]
block = "\n".join(md) + "\n"

begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
try:
    current = open(out).read()
except FileNotFoundError:
    current = ""
if begin in current and end in current:
    head, rest = current.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = f"{head}{begin}\n{block}{end}{tail}"
else:
    text = f"# Benchmarks\n\n{begin}\n{block}{end}\n"
open(out, "w").write(text)
