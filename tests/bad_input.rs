//! Bad input, end to end: every file in `tests/bad/` is a small scenario with a
//! known problem, stated on its first lines as `// expect: …` comments. The real
//! `capsim` binary must reject each one with exit code 2, name every problem with
//! its file, line and column, give a hint, never panic, print nothing on stdout,
//! and (for `run`) write nothing at all. Also: bad command lines, and a proptest
//! that random mutations of a valid scenario never make the loader panic.
//!
//! Expectation syntax (one or more lines at the very top of a file):
//! - `// expect: 7:22 workers` — a diagnostic at line 7, column 22 of this file
//!   whose message contains `workers` (case-insensitive);
//! - `// expect: 7 workers` — the same, any column;
//! - `// expect: models/x.ron 4:14 workers` — in a model file, path relative to
//!   the scenario's folder;
//! - `// expect: - UTF-8` — a diagnostic without a position.
//!
//! A file with several `expect` lines must get all of them reported in one go.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_capsim");

/// Where a diagnostic is expected.
#[derive(Debug)]
enum Pos {
    None,
    Line(usize),
    LineCol(usize, usize),
}

#[derive(Debug)]
struct Expect {
    /// The file the diagnostic names, as the binary prints it.
    file: String,
    pos: Pos,
    /// Lower-cased text the message must contain (may be empty).
    word: String,
    /// The expectation as written, for failure messages.
    raw: String,
}

/// A diagnostic as printed on stderr.
#[derive(Debug)]
struct Diag {
    file: String,
    line: Option<(usize, usize)>,
    message: String,
}

fn parse_pos(s: &str) -> Option<Pos> {
    if s == "-" {
        return Some(Pos::None);
    }
    match s.split_once(':') {
        Some((l, c)) => Some(Pos::LineCol(l.parse().ok()?, c.parse().ok()?)),
        None => Some(Pos::Line(s.parse().ok()?)),
    }
}

/// Read the `// expect:` lines at the top of a scenario file (bytes: some files are not UTF-8).
fn expectations(file: &str) -> Vec<Expect> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(spec) = line.strip_prefix("// expect:") else {
            break;
        };
        let spec = spec.trim();
        let (first, rest) = spec.split_once(' ').unwrap_or((spec, ""));
        let (target, pos, word) = if first.ends_with(".ron") {
            let (p, w) = rest.split_once(' ').unwrap_or((rest, ""));
            (dir.join(first).display().to_string(), p, w)
        } else {
            (file.to_string(), first, rest)
        };
        let pos = parse_pos(pos)
            .unwrap_or_else(|| panic!("{file}: cannot read the expectation `{line}`"));
        out.push(Expect {
            file: target,
            pos,
            word: word.trim().to_lowercase(),
            raw: line.to_string(),
        });
    }
    assert!(
        !out.is_empty(),
        "{file}: the first line must be a `// expect: LINE:COL word` comment"
    );
    out
}

/// Parse `error: FILE:LINE:COL: message` / `error: FILE: message` lines, given the
/// file names that may appear (paths can hold `:` in principle, so match by prefix).
fn diagnostics(stderr: &str, files: &[&str]) -> Vec<Diag> {
    let mut out = Vec::new();
    for l in stderr.lines() {
        let Some(rest) = l.strip_prefix("error: ") else {
            continue;
        };
        for f in files {
            let Some(after) = rest.strip_prefix(f).and_then(|r| r.strip_prefix(':')) else {
                continue;
            };
            let mut parts = after.splitn(3, ':');
            let (a, b, c) = (parts.next(), parts.next(), parts.next());
            let lc = match (
                a.and_then(|a| a.parse().ok()),
                b.and_then(|b| b.parse().ok()),
                c,
            ) {
                (Some(line), Some(col), Some(msg)) => Some(((line, col), msg.trim().to_string())),
                _ => None,
            };
            match lc {
                Some((pos, message)) => out.push(Diag {
                    file: f.to_string(),
                    line: Some(pos),
                    message,
                }),
                None => out.push(Diag {
                    file: f.to_string(),
                    line: None,
                    message: after.trim().to_string(),
                }),
            }
            break;
        }
    }
    out
}

fn matches(e: &Expect, d: &Diag) -> bool {
    let pos_ok = match (&e.pos, d.line) {
        (Pos::None, None) => true,
        (Pos::Line(l), Some((dl, _))) => *l == dl,
        (Pos::LineCol(l, c), Some((dl, dc))) => (*l, *c) == (dl, dc),
        _ => false,
    };
    pos_ok && e.file == d.file && d.message.to_lowercase().contains(&e.word)
}

fn capsim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the capsim binary runs")
}

/// A fresh, empty folder under the system temp dir (removed by the caller).
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-bad-input-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Everything `check` must do with a bad file; returns every failed requirement.
fn check_problems(file: &str, expects: &[Expect]) -> Vec<String> {
    let mut fails = Vec::new();
    let o = capsim(&["check", file]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() != Some(2) {
        fails.push(format!(
            "check: exit code {:?}, expected 2",
            o.status.code()
        ));
    }
    if !o.stdout.is_empty() {
        fails.push(format!(
            "check: stdout is not empty: {}",
            String::from_utf8_lossy(&o.stdout)
        ));
    }
    if stderr.contains("panicked") || stderr.contains("overflowed its stack") {
        fails.push("check: the binary crashed".into());
    }
    if !stderr
        .lines()
        .any(|l| l.trim_start().starts_with("= hint:"))
    {
        fails.push("check: no `= hint:` line".into());
    }
    if !stderr.contains("nothing was run or written") {
        fails.push("check: no closing `N problems found; nothing was run or written.` line".into());
    }
    let files: Vec<&str> = expects.iter().map(|e| e.file.as_str()).collect();
    let diags = diagnostics(&stderr, &files);
    for e in expects {
        if !diags.iter().any(|d| matches(e, d)) {
            fails.push(format!("check: `{}` was not reported", e.raw));
        }
    }
    if !fails.is_empty() {
        fails.push(format!("check stderr was:\n{stderr}"));
    }
    fails
}

/// `run` on a bad file: exit 2, and no result folder or staging leftovers.
fn run_problems(file: &str, tag: &str) -> Vec<String> {
    let mut fails = Vec::new();
    let tmp = temp_dir(tag);
    let out = tmp.join("x");
    let o = capsim(&["run", file, "--out", out.to_str().expect("utf-8 temp path")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() != Some(2) {
        fails.push(format!(
            "run: exit code {:?}, expected 2; stderr:\n{stderr}",
            o.status.code()
        ));
    }
    if stderr.contains("panicked") || stderr.contains("overflowed its stack") {
        fails.push("run: the binary crashed".into());
    }
    if !o.stdout.is_empty() {
        fails.push(format!(
            "run: stdout is not empty: {}",
            String::from_utf8_lossy(&o.stdout)
        ));
    }
    if out.exists() {
        fails.push(format!("run: {} was created", out.display()));
    }
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        fails.push(format!("run: left files behind in the temp dir: {left:?}"));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    fails
}

fn check_bad_file(file: &str) {
    let expects = expectations(file);
    let tag = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("x")
        .to_string();
    let mut fails = check_problems(file, &expects);
    fails.extend(run_problems(file, &tag));
    assert!(fails.is_empty(), "{file}:\n  {}", fails.join("\n  "));
}

macro_rules! bad_files {
    ($( $(#[$attr:meta])* $name:ident => $file:literal, )*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                check_bad_file(concat!("tests/bad/", $file));
            }
        )*
        /// Every file with a test above.
        const LISTED: &[&str] = &[$($file),*];
    };
}

bad_files! {
    // Malformed RON.
    missing_comma_is_reported_at_the_next_field => "missing-comma.ron",
    unclosed_paren_is_reported_at_the_end => "unclosed-paren.ron",
    unterminated_string_is_reported_where_it_breaks => "unterminated-string.ron",
    bad_escape_in_string_is_reported => "bad-escape.ron",
    trailing_characters_are_reported_where_they_are => "trailing-garbage.ron",
    comment_only_file_is_reported => "empty.ron",
    json_instead_of_ron_is_reported => "json-not-ron.ron",
    control_characters_are_reported => "control-chars.ron",
    non_utf8_file_is_reported_without_crashing => "binary-garbage.ron",
    deeply_nested_brackets_do_not_crash => "deep-nesting.ron",
    // Types and names.
    unknown_field_is_reported_at_the_typo => "unknown-field.ron",
    unknown_enum_variant_is_reported_at_the_typo => "unknown-variant.ron",
    missing_duration_is_reported => "missing-duration.ron",
    missing_client_target_is_reported => "missing-client-target.ron",
    string_where_a_number_belongs_is_reported_at_the_value => "string-for-number.ron",
    infinite_duration_is_rejected => "infinite-duration.ron",
    overflowing_number_is_rejected => "huge-number.ron",
    // References between nodes.
    unknown_client_target_is_reported => "unknown-client-target.ron",
    unknown_link_node_is_reported => "unknown-link-node.ron",
    unknown_call_target_is_reported => "unknown-call-target.ron",
    unknown_fault_node_is_reported => "unknown-fault-node.ron",
    fault_on_a_missing_link_is_reported => "fault-missing-link.ron",
    duplicate_node_names_are_reported_at_the_second => "duplicate-node.ron",
    client_targeting_a_client_is_reported => "client-targets-client.ron",
    enqueue_to_a_server_is_reported => "enqueue-not-queue.ron",
    unreachable_client_target_is_reported => "unreachable-target.ron",
    unreachable_call_target_is_reported => "unreachable-call.ron",
    path_through_another_client_is_not_a_route => "route-through-client.ron",
    // Values out of range.
    zero_rate_is_rejected => "zero-rate.ron",
    store_quorum_larger_than_n_is_rejected => "store-quorum-too-large.ron",
    pre_vote_on_a_non_raft_policy_is_rejected => "pre-vote-not-raft.ron",
    unknown_balancer_backend_is_reported => "lb-unknown-backend.ron",
    standby_that_is_not_a_balancer_is_rejected => "lb-standby-not-balancer.ron",
    balancer_that_is_its_own_standby_is_rejected => "lb-standby-itself.ron",
    pair_members_with_other_backends_are_rejected => "lb-standby-other-backends.ron",
    heartbeat_timeout_not_above_interval_is_rejected => "lb-heartbeat-timeout-too-short.ron",
    session_sync_without_pair_or_sticky_policy_is_rejected => "lb-sync-sessions-misplaced.ron",
    unknown_dns_address_is_reported => "dns-unknown-address.ron",
    smart_client_without_backends_is_rejected => "smart-client-no-backends.ron",
    unknown_cache_origin_is_reported => "cache-unknown-origin.ron",
    cache_push_to_a_server_or_twice_is_rejected => "cache-push-to-server.ron",
    cache_peer_health_without_peers_is_rejected => "cache-peer-health-without-peers.ron",
    negative_latency_is_rejected => "negative-latency.ron",
    zero_workers_are_rejected => "zero-workers.ron",
    loss_above_one_is_rejected => "loss-above-one.ron",
    uniform_max_below_min_is_rejected => "uniform-max-below-min.ron",
    empirical_table_must_end_at_one => "empirical-not-ending-at-one.ron",
    warmup_longer_than_the_run_is_rejected => "warmup-too-long.ron",
    fault_after_the_end_is_rejected => "fault-after-end.ron",
    random_crashes_need_a_positive_repair_time => "random-crashes-zero-mttr.ron",
    unknown_chart_kinds_and_timeline_variants_are_named => "chart-unknown-kind-and-timeline.ron",
    partition_with_one_group_is_rejected => "partition-one-group.ron",
    node_in_two_partition_groups_is_rejected => "partition-node-twice.ron",
    gather_first_k_above_targets_is_rejected => "gather-first-too-many.ron",
    retry_multiplier_below_one_is_rejected => "retry-multiplier-below-one.ron",
    // Models.
    missing_model_is_reported => "model-not-found.ron",
    link_model_used_for_a_server_is_reported => "model-wrong-kind.ron",
    bad_value_in_a_server_model_points_into_the_model => "model-invalid-value.ron",
    typo_in_a_server_model_points_into_the_model => "model-syntax-error.ron",
    bad_value_in_a_link_model_points_into_the_model => "model-link-invalid.ron",
    // Variants and sweeps.
    variant_path_that_does_not_exist_is_reported => "variant-bad-path.ron",
    variant_value_of_the_wrong_type_points_at_the_override => "variant-wrong-type.ron",
    invalid_variant_value_points_at_the_override => "variant-invalid-value.ron",
    sweep_without_values_is_reported => "sweep-no-values.ron",
    sweep_value_of_the_wrong_type_points_at_the_value => "sweep-value-wrong-type.ron",
    // Collect-all: several problems in one file, all reported at once.
    many_value_problems_are_all_reported => "many-problems.ron",
    many_structural_problems_are_all_reported => "many-problems-2.ron",
    base_and_variant_problems_are_all_reported => "base-and-variant-problems.ron",
}

#[test]
fn every_bad_file_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir("tests/bad")
        .expect("tests/bad exists")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".ron"))
        .collect();
    on_disk.sort();
    let missing: Vec<&String> = on_disk
        .iter()
        .filter(|f| !LISTED.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "files in tests/bad without a test in bad_input.rs: {missing:?}"
    );
    let gone: Vec<&&str> = LISTED
        .iter()
        .filter(|f| !on_disk.iter().any(|d| d == *f))
        .collect();
    assert!(
        gone.is_empty(),
        "tests name files that do not exist: {gone:?}"
    );
    assert!(LISTED.len() >= 25, "the corpus needs at least 25 files");
}

#[test]
fn expectation_parser_reads_positions_words_and_model_paths() {
    // Guards the harness itself: a wrong parse would make every test above vacuous.
    let e = expectations("tests/bad/many-problems.ron");
    assert_eq!(e.len(), 6);
    assert!(matches!(e[0].pos, Pos::LineCol(11, 79)));
    assert_eq!(e[0].word, "rate_per_s");
    let e = expectations("tests/bad/model-invalid-value.ron");
    assert_eq!(e[0].file, "tests/bad/models/zero-workers-server.ron");
    assert!(matches!(e[0].pos, Pos::LineCol(4, 14)));
    let d = diagnostics(
        "error: a.ron:3:4: bad: thing\nerror: a.ron: no place\n",
        &["a.ron"],
    );
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].line, Some((3, 4)));
    assert_eq!(d[0].message, "bad: thing");
    assert_eq!(d[1].line, None);
    let want = Expect {
        file: "a.ron".into(),
        pos: Pos::LineCol(3, 5),
        word: "bad".into(),
        raw: String::new(),
    };
    assert!(!matches(&want, &d[0]), "a column mismatch must not match");
}

#[test]
fn pre_vote_outside_raft_gets_a_hint_naming_raft() {
    let o = capsim(&["check", "tests/bad/pre-vote-not-raft.ron"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("= hint: `pre_vote` is an option of the Raft policy only"),
        "{stderr}"
    );
    // In Raft itself the field is accepted, so no hint about it is given.
    let ok = std::fs::read_to_string("tests/bad/pre-vote-not-raft.ron")
        .expect("read")
        .replace("Leader(mode: Sync, pre_vote: true)", "Raft(pre_vote: true)");
    let tmp = temp_dir("pre-vote-raft");
    let f = tmp.join("raft.ron");
    std::fs::write(&f, ok).expect("write");
    let o = capsim(&["check", f.to_str().expect("utf-8 temp path")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn zero_byte_file_is_reported_at_its_start() {
    let tmp = temp_dir("zero-byte");
    let f = tmp.join("empty.ron");
    std::fs::write(&f, b"").expect("write");
    let f = f.to_str().expect("utf-8 temp path").to_string();
    let o = capsim(&["check", &f]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("error: {f}:1:1: ")), "{stderr}");
    assert!(stderr.contains("= hint:"), "{stderr}");
    assert!(o.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn nonexistent_file_is_a_clear_input_error() {
    for cmd in ["check", "run"] {
        let o = capsim(&[cmd, "tests/bad/no-such-file.ron"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(
            stderr.contains("error: tests/bad/no-such-file.ron: cannot read the scenario file"),
            "{cmd}: {stderr}"
        );
        assert!(
            stderr.to_lowercase().contains("no such file"),
            "{cmd}: {stderr}"
        );
        assert!(o.stdout.is_empty(), "{cmd}");
    }
}

/// Bad command-line values: exit 2, a message naming the problem, and no output folder.
#[test]
fn bad_command_line_values_are_input_errors() {
    let tmp = temp_dir("cli-args");
    let out = tmp.join("x");
    let out_s = out.to_str().expect("utf-8 temp path");
    let cases: [(&[&str], &str); 6] = [
        (&["--shard", "3/2"], "shard 3/2"),
        (&["--shard", "0/0"], "shard 0/0"),
        (&["--shard", "one"], "not I/N"),
        (&["--jobs", "0"], "--jobs"),
        (&["--seeds", "0"], "--seeds"),
        (&["--variant", "nope"], "no variant `nope`"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", "scenarios/mm1.ron", "--out", out_s];
        args.extend_from_slice(extra);
        let o = capsim(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(want),
            "{extra:?}: expected `{want}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{extra:?}");
        assert!(!out.exists(), "{extra:?} created {}", out.display());
    }
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("temp dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

// ---------------------------------------------------------------------------
// Fuzzing the loader: random edits of valid scenario text must give Ok or Err,
// never a panic (a panic fails the test case and proptest shrinks it).

const MM1: &str = include_str!("../scenarios/mm1.ron");

/// A scenario that exercises variants, a sweep, models, faults and calls, so the
/// splicing and model code is fuzzed too.
const RICH: &str = r#"// Rich scenario for fuzzing: variants, a sweep, models, faults.
Scenario(
    name: "rich",
    duration_s: 10.0,
    warmup: Seconds(1.0),
    nodes: [
        Client(name: "users", target: "web", workload: Poisson(rate_per_s: 100.0),
               mix: [(name: "get", weight: 3.0), (name: "put", op: Write)],
               retry: (max_attempts: 2, base_ms: 5.0)),
        Server(name: "web", workers: 4, service: Exponential(mean_ms: 1.0),
               calls: [Parallel(targets: ["db", "cache"], wait_for: First(1)), Enqueue(queue: "q")]),
        Server(name: "db", model: "database"),
        Server(name: "cache", workers: 2, service: Empirical(percentiles: [(0.5, 1.0), (1.0, 4.0)])),
        Queue(name: "q", capacity: 10, consumers: 1, service: Uniform(min_ms: 1.0, max_ms: 2.0)),
    ],
    links: [(from: "users", to: "web", latency: Constant(ms: 1.0), loss: 0.01)],
    default_link: (model: "same-rack"),
    faults: [(at_s: 2.0, for_s: 1.0, action: Partition(groups: [["web"], ["db"]]))],
    variants: [
        (name: "big", set: {"nodes[web].workers": 8, "nodes[users].timeout_ms": 500.0}),
        (name: "slow", set: {"links[0].latency": Normal(mean_ms: 5.0, std_ms: 1.0)}),
    ],
    sweep: [(param: "nodes[users].workload.rate_per_s", values: [50.0, 100.0])],
)
"#;

/// Fragments inserted by the fuzzer: RON punctuation and awkward numbers.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ",",
    ":",
    "-1",
    "NaN",
    "inf",
    "-inf",
    "1e999",
    "0",
    "0.0",
    "\\",
    "//",
    "/*",
    "r#\"",
    "'",
    "Some(",
    "Seconds(",
    "ρ",
    "\u{0}",
    "\n",
    "name: \"x\",",
    "\"nodes[0].workers\": ",
    "First(9)",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// Delete bytes [at, at + len) (moved to char boundaries).
    Delete(prop::sample::Index, usize),
    /// Insert a token at a position.
    Token(prop::sample::Index, prop::sample::Index),
    /// Insert arbitrary characters at a position.
    Chars(prop::sample::Index, String),
    /// Duplicate a line.
    DupLine(prop::sample::Index),
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut t = text.to_string();
    match m {
        Mutation::Delete(at, len) => {
            let a = floor_boundary(&t, at.index(t.len() + 1));
            let b = floor_boundary(&t, a + len);
            t.replace_range(a..b, "");
        }
        Mutation::Token(at, which) => {
            let a = floor_boundary(&t, at.index(t.len() + 1));
            t.insert_str(a, TOKENS[which.index(TOKENS.len())]);
        }
        Mutation::Chars(at, s) => {
            let a = floor_boundary(&t, at.index(t.len() + 1));
            t.insert_str(a, s);
        }
        Mutation::DupLine(which) => {
            let lines: Vec<&str> = t.split_inclusive('\n').collect();
            let k = which.index(lines.len().max(1));
            let mut out = String::new();
            for (i, l) in lines.iter().enumerate() {
                out.push_str(l);
                if i == k {
                    out.push_str(l);
                }
            }
            t = out;
        }
    }
    t
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1usize..40).prop_map(|(a, l)| Mutation::Delete(a, l)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, w)| Mutation::Token(a, w)),
        (any::<prop::sample::Index>(), "[ -~]{1,6}").prop_map(|(a, s)| Mutation::Chars(a, s)),
        (any::<prop::sample::Index>(), "\\PC{1,3}").prop_map(|(a, s)| Mutation::Chars(a, s)),
        any::<prop::sample::Index>().prop_map(Mutation::DupLine),
    ]
}

/// 300 cases by default; `CAPSIM_FUZZ_CASES=100000` for a long hunt.
fn fuzz_cases() -> u32 {
    std::env::var("CAPSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// The loader returns Ok or Err for any edit of mm1.ron; it never panics.
    #[test]
    fn loader_never_panics_on_mutated_mm1(muts in prop::collection::vec(mutation(), 1..5)) {
        let mut text = MM1.to_string();
        for m in &muts {
            text = apply(&text, m);
        }
        let r = capsim::scenario::load_str(Path::new("fuzz.ron"), &text);
        if let Err(e) = r {
            // Every problem has a message; positions, when present, are inside the text.
            for d in &e.diagnostics {
                prop_assert!(!d.message.is_empty());
                if d.file == Path::new("fuzz.ron") {
                    prop_assert!(d.line <= text.lines().count() + 1, "line {} beyond the text", d.line);
                }
            }
        }
    }

    /// Same for a scenario with variants, a sweep, models and faults (splicing code).
    #[test]
    fn loader_never_panics_on_mutated_rich_scenario(muts in prop::collection::vec(mutation(), 1..4)) {
        let mut text = RICH.to_string();
        for m in &muts {
            text = apply(&text, m);
        }
        // `tests/fuzz.ron`: models resolve through ./models (the crate root is the cwd).
        let r = capsim::scenario::load_str(Path::new("tests/fuzz.ron"), &text);
        if let Err(e) = r {
            for d in &e.diagnostics {
                prop_assert!(!d.message.is_empty());
            }
        }
    }
}

#[test]
fn fuzz_base_texts_are_valid() {
    // Otherwise the fuzzers would only ever test the error path of an already broken text.
    assert!(capsim::scenario::load_str(Path::new("fuzz.ron"), MM1).is_ok());
    let r = capsim::scenario::load_str(Path::new("tests/fuzz.ron"), RICH);
    assert!(
        r.is_ok(),
        "{}",
        r.err().map(|e| e.to_string()).unwrap_or_default()
    );
}
