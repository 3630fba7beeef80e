//! The `capsim` command end to end: `run` writes every result file with the
//! scenario, seed, version and replay command; `check` prints queueing estimates
//! and warns about overload; `report` regenerates identical summaries; shards
//! merge to the same bytes as one run; and results depend only on the scenario
//! and the seeds (not on `--jobs`, not on running twice).
//!
//! Every test works in its own folder under the system temp dir and removes it.
//! Long bundled scenarios are copied into that folder with a shorter duration
//! (models still resolve through `./models`: tests run from the crate root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_capsim");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A temp folder removed on drop (also when the test fails).
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("capsim-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Tmp(d)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn capsim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the capsim binary runs")
}

/// Run and require success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = capsim(args);
    assert!(
        o.status.success(),
        "capsim {args:?} failed with {:?}:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 stdout")
}

/// Copy a bundled scenario into `dir` with textual edits; each `from` must occur exactly once.
fn edited(src: &str, dir: &Tmp, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(src).expect("bundled scenario");
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in {src} (did the scenario change?)"
        );
        text = text.replace(from, to);
    }
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

/// three-tier.ron at 8 s instead of 60 s, with its fault moved inside the run.
fn short_three_tier(dir: &Tmp) -> PathBuf {
    edited(
        "scenarios/three-tier.ron",
        dir,
        "three-tier-short.ron",
        &[
            ("duration_s: 60.0", "duration_s: 8.0"),
            ("warmup: Seconds(5.0)", "warmup: Seconds(1.0)"),
            ("at_s: 30.0, for_s: 20.0", "at_s: 4.0, for_s: 2.0"),
        ],
    )
}

/// mm1.ron at 10 s instead of 60 s.
fn short_mm1(dir: &Tmp) -> PathBuf {
    edited(
        "scenarios/mm1.ron",
        dir,
        "mm1-short.ron",
        &[("duration_s: 60.0", "duration_s: 10.0")],
    )
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Both folders hold the same files with the same bytes; names the differing files.
fn assert_same_tree(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    let ka: Vec<&String> = fa.keys().collect();
    let kb: Vec<&String> = fb.keys().collect();
    assert_eq!(
        ka,
        kb,
        "different file sets in {} and {}",
        a.display(),
        b.display()
    );
    let differ: Vec<&String> = fa
        .iter()
        .filter(|(k, v)| fb[*k] != **v)
        .map(|(k, _)| k)
        .collect();
    assert!(
        differ.is_empty(),
        "files differ between {} and {}: {differ:?}",
        a.display(),
        b.display()
    );
    assert!(fa.len() >= 5, "suspiciously few files: {ka:?}");
}

fn json(p: &Path) -> serde_json::Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()))
}

#[test]
fn run_mm1_prints_tables_and_writes_every_result_file() {
    let tmp = Tmp::new("run-mm1");
    let out = tmp.join("out");
    let stdout = ok(&["run", "scenarios/mm1.ron", "--out", s(&out)]);
    assert!(stdout.contains("thru/s"), "{stdout}");
    assert!(stdout.contains("predicted"), "{stdout}");
    // M/M/1 with λ = 800/s, μ = 1000/s: predicted time in system 1/(μ − λ) = 5 ms (a formula, exact).
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("server") && l.contains("5.0000")),
        "{stdout}"
    );
    assert!(
        stdout.contains("capsim run scenarios/mm1.ron --seed 1 --seeds 1"),
        "{stdout}"
    );

    for f in ["summary.json", "summary.csv", "timeseries.csv"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let run = out.join("runs/base/seed-1");
    for f in ["summary.json", "timeseries.csv", "nodes.csv", "result.ron"] {
        let p = run.join(f);
        assert!(p.is_file(), "missing {}", p.display());
        assert!(
            std::fs::metadata(&p).expect("stat").len() > 0,
            "{} is empty",
            p.display()
        );
    }

    let j = json(&out.join("summary.json"));
    assert_eq!(j["scenario"], "mm1");
    assert_eq!(j["seeds"], serde_json::json!([1]));
    assert_eq!(j["capsim_version"], VERSION);
    assert_eq!(
        j["replay"],
        "capsim run scenarios/mm1.ron --seed 1 --seeds 1"
    );
    let p99 = j["variants"][0]["aggregate"]["latency_ms_p99"]["mean"]
        .as_f64()
        .expect("p99 mean is a number");
    // M/M/1 sojourn is exponential with mean 5 ms, so p99 = 5·ln(100) ≈ 23 ms; 60 s of
    // samples cannot plausibly land outside 10–60 ms (a sanity bound, not a theory test).
    assert!((10.0..60.0).contains(&p99), "p99 {p99} ms");
    assert_eq!(
        j["variants"][0]["runs"][0]["replay"],
        "capsim run scenarios/mm1.ron --seed 1 --seeds 1"
    );

    let mut r = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header[..5],
        ["scenario", "capsim_version", "seeds", "variant", "point"],
        "header {header:?}"
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("valid csv row")).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|row| &row[0] == "mm1" && &row[3] == "base"));
    assert!(
        rows.iter().any(|row| &row[5] == "latency_ms_p99"),
        "no latency_ms_p99 row"
    );

    for f in [
        out.join("timeseries.csv"),
        run.join("timeseries.csv"),
        run.join("nodes.csv"),
    ] {
        let mut r = csv::Reader::from_path(&f).expect("csv");
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("valid csv row")).collect();
        assert!(!rows.is_empty(), "{} has no rows", f.display());
    }
}

#[test]
fn json_outputs_record_scenario_seed_version_and_replay() {
    let tmp = Tmp::new("json-record");
    let scen = short_mm1(&tmp);
    let out = tmp.join("out");
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "7",
        "--seeds",
        "1",
        "--out",
        s(&out),
    ]);
    let replay = format!("capsim run {} --seed 7 --seeds 1", s(&scen));
    for f in [
        out.join("summary.json"),
        out.join("runs/base/seed-7/summary.json"),
    ] {
        let j = json(&f);
        assert_eq!(j["scenario"], "mm1", "{}", f.display());
        assert_eq!(j["seeds"], serde_json::json!([7]), "{}", f.display());
        assert_eq!(j["capsim_version"], VERSION, "{}", f.display());
        assert_eq!(j["replay"], replay.as_str(), "{}", f.display());
        assert_eq!(j["variants"][0]["runs"][0]["seed"], 7, "{}", f.display());
    }
}

#[test]
fn csv_and_ron_outputs_record_scenario_seed_and_version() {
    let tmp = Tmp::new("csv-record");
    let scen = short_mm1(&tmp);
    let out = tmp.join("out");
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "7",
        "--seeds",
        "1",
        "--out",
        s(&out),
    ]);
    let mut missing = Vec::new();
    for f in [
        "summary.csv",
        "timeseries.csv",
        "runs/base/seed-7/timeseries.csv",
        "runs/base/seed-7/nodes.csv",
    ] {
        let mut r = csv::Reader::from_path(out.join(f)).expect("csv");
        let h: Vec<String> = r
            .headers()
            .expect("header")
            .iter()
            .map(str::to_string)
            .collect();
        for col in ["scenario", "seed", "capsim_version"] {
            // A summary over seeds may list them in a `seeds` column instead.
            if !h
                .iter()
                .any(|c| c == col || (col == "seed" && c == "seeds"))
            {
                missing.push(format!("{f}: no `{col}` column"));
            }
        }
    }
    let ron = std::fs::read_to_string(out.join("runs/base/seed-7/result.ron")).expect("result.ron");
    for (what, needle) in [
        ("scenario", "\"mm1\""),
        ("seed", "seed:7"),
        ("version", VERSION),
    ] {
        if !ron.contains(needle) {
            missing.push(format!("result.ron: no {what}"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn check_mm1_prints_utilisation_and_queueing_estimate() {
    let stdout = ok(&["check", "scenarios/mm1.ron"]);
    assert!(stdout.contains("ρ = 0.800"), "{stdout}");
    assert!(stdout.contains("M/M/c/K"), "{stdout}");
    // M/M/1 at ρ = 0.8 with 1 ms service: W = 1/(μ − λ) = 5 ms (the capacity 100000 makes K irrelevant).
    assert!(stdout.contains("time in node 5.000 ms"), "{stdout}");
    assert!(
        !stdout.contains("WARNING"),
        "a stable queue must not warn: {stdout}"
    );
}

#[test]
fn check_warns_when_a_server_is_overloaded() {
    let tmp = Tmp::new("overload");
    // λ = 1200/s against μ = 1000/s: ρ = 1.2.
    let scen = edited(
        "scenarios/mm1.ron",
        &tmp,
        "overloaded.ron",
        &[("rate_per_s: 800.0", "rate_per_s: 1200.0")],
    );
    let stdout = ok(&["check", s(&scen)]);
    assert!(stdout.contains("ρ = 1.200"), "{stdout}");
    assert!(stdout.contains("WARNING"), "{stdout}");
}

#[test]
fn report_regenerates_byte_identical_summaries() {
    let tmp = Tmp::new("report");
    let scen = short_mm1(&tmp);
    let out = tmp.join("out");
    ok(&["run", s(&scen), "--seeds", "2", "--out", s(&out)]);
    let json_before = std::fs::read(out.join("summary.json")).expect("summary.json");
    let csv_before = std::fs::read(out.join("summary.csv")).expect("summary.csv");
    // Remove them, so `report` has to write them again from the saved runs.
    std::fs::remove_file(out.join("summary.json")).expect("rm");
    std::fs::remove_file(out.join("summary.csv")).expect("rm");
    ok(&["report", s(&out)]);
    assert!(
        std::fs::read(out.join("summary.json")).expect("regenerated summary.json") == json_before
    );
    assert!(std::fs::read(out.join("summary.csv")).expect("regenerated summary.csv") == csv_before);
}

#[test]
fn run_help_lists_the_options() {
    let stdout = ok(&["run", "--help"]);
    for opt in ["--seed ", "--seeds", "--jobs", "--out", "--shard"] {
        assert!(stdout.contains(opt), "`{opt}` missing from:\n{stdout}");
    }
}

#[test]
fn merged_shards_equal_a_single_run_byte_for_byte() {
    let tmp = Tmp::new("shards");
    let scen = short_three_tier(&tmp);
    let (a, b, m, single) = (tmp.join("A"), tmp.join("B"), tmp.join("M"), tmp.join("S"));
    ok(&[
        "run",
        s(&scen),
        "--seeds",
        "4",
        "--shard",
        "0/2",
        "--out",
        s(&a),
    ]);
    ok(&[
        "run",
        s(&scen),
        "--seeds",
        "4",
        "--shard",
        "1/2",
        "--out",
        s(&b),
    ]);
    ok(&["merge", s(&a), s(&b), "--out", s(&m)]);
    ok(&["run", s(&scen), "--seeds", "4", "--out", s(&single)]);
    for f in ["summary.json", "summary.csv", "timeseries.csv"] {
        let merged = std::fs::read(m.join(f)).expect("merged file");
        let one = std::fs::read(single.join(f)).expect("single-run file");
        assert!(
            merged == one,
            "{f} differs between the merged shards and a single run"
        );
    }
    // A shard alone is not the whole plan: merging it must be refused.
    let o = capsim(&["merge", s(&a), "--out", s(&tmp.join("M2"))]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!tmp.join("M2").exists());
}

#[test]
fn same_scenario_and_seed_give_byte_identical_outputs() {
    let tmp = Tmp::new("twice");
    let scen = short_three_tier(&tmp);
    let (x, y) = (tmp.join("X"), tmp.join("Y"));
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "3",
        "--seeds",
        "2",
        "--out",
        s(&x),
    ]);
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "3",
        "--seeds",
        "2",
        "--out",
        s(&y),
    ]);
    assert_same_tree(&x, &y);
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let tmp = Tmp::new("jobs");
    let scen = short_mm1(&tmp);
    let (j1, j2) = (tmp.join("J1"), tmp.join("J2"));
    ok(&[
        "run",
        s(&scen),
        "--seeds",
        "8",
        "--jobs",
        "1",
        "--out",
        s(&j1),
    ]);
    ok(&[
        "run",
        s(&scen),
        "--seeds",
        "8",
        "--jobs",
        "2",
        "--out",
        s(&j2),
    ]);
    assert_same_tree(&j1, &j2);
}

#[test]
fn different_seeds_give_different_results() {
    let tmp = Tmp::new("seeds");
    let scen = short_mm1(&tmp);
    let (a, b) = (tmp.join("A"), tmp.join("B"));
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "1",
        "--seeds",
        "1",
        "--out",
        s(&a),
    ]);
    ok(&[
        "run",
        s(&scen),
        "--seed",
        "2",
        "--seeds",
        "1",
        "--out",
        s(&b),
    ]);
    assert!(
        std::fs::read(a.join("summary.json")).expect("A")
            != std::fs::read(b.join("summary.json")).expect("B")
    );
    // Not only the recorded seed: the measured figures differ too.
    let (ja, jb) = (json(&a.join("summary.json")), json(&b.join("summary.json")));
    let agg = |j: &serde_json::Value| j["variants"][0]["aggregate"].clone();
    assert_ne!(agg(&ja), agg(&jb), "two seeds gave identical metrics");
}

#[test]
fn variant_filter_reports_only_the_chosen_variant() {
    let tmp = Tmp::new("variant-filter");
    let scen = edited(
        "scenarios/mm1.ron",
        &tmp,
        "two-variants.ron",
        &[
            ("duration_s: 60.0", "duration_s: 6.0"),
            ("warmup: Seconds(5.0)", "warmup: Seconds(1.0)"),
            (
                "links: [(from: \"users\", to: \"server\", latency: Constant(ms: 0.0))],",
                "links: [(from: \"users\", to: \"server\", latency: Constant(ms: 0.0))],\n    \
                 variants: [(name: \"one\"), (name: \"two\", set: {\"nodes[server].workers\": 2})],",
            ),
        ],
    );
    let out = tmp.join("out");
    let stdout = ok(&["run", s(&scen), "--variant", "two", "--out", s(&out)]);
    let j = json(&out.join("summary.json"));
    let names: Vec<&str> = j["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["two"], "summary.json lists {names:?}");
    assert!(!stdout.lines().any(|l| l.starts_with("one")), "{stdout}");
}

/// Stores, balancers and caches (health checks, replication timers, write-back
/// flushes) keep results independent of the thread count, byte for byte.
#[test]
fn every_component_kind_is_deterministic_across_thread_counts() {
    let tmp = Tmp::new("kinds");
    let cap = edited(
        "scenarios/cap-partition.ron",
        &tmp,
        "cap.ron",
        &[
            ("duration_s: 60.0", "duration_s: 25.0"),
            ("(at_s: 20.0, for_s: 20.0,", "(at_s: 10.0, for_s: 8.0,"),
        ],
    );
    let lb = edited("scenarios/lb-algorithms.ron", &tmp, "lb.ron", &[]);
    let cache = edited("scenarios/cache-policies.ron", &tmp, "cache.ron", &[]);
    // Balancer pairs, DNS, smart clients, synced sticky tables; CDN pushes.
    let failover = edited("scenarios/lb-failover.ron", &tmp, "failover.ron", &[]);
    let cdn = edited("scenarios/cdn.ron", &tmp, "cdn.ron", &[]);
    for (name, scen) in [
        ("cap", &cap),
        ("lb", &lb),
        ("cache", &cache),
        ("failover", &failover),
        ("cdn", &cdn),
    ] {
        let (j1, j2) = (
            tmp.join(&format!("{name}-J1")),
            tmp.join(&format!("{name}-J2")),
        );
        for (jobs, out) in [("1", &j1), ("2", &j2)] {
            ok(&[
                "run",
                s(scen),
                "--seeds",
                "2",
                "--jobs",
                jobs,
                "--out",
                s(out),
            ]);
        }
        assert_same_tree(&j1, &j2);
    }
}
