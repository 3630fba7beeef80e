//! Result files: per-run results, the aggregated summary (JSON + CSV), time
//! series, and the stdout tables. Everything is written into a temporary folder
//! next to the destination and renamed into place, so a failed or interrupted
//! run never leaves half-written results. Reads results; never runs a simulation.

use crate::metrics::stats::Agg;
use crate::scenario::Loaded;
use crate::scenario::spec::ChartsSpec;
use crate::scenario::validated::FaultWindow;
use crate::sim::RunResult;
use crate::sweep::{aggregate_runs, variant_dir};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// What the report needs to know about the scenario, saved beside the runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub question: String,
    /// The scenario file as given on the command line.
    pub file: String,
    pub capsim_version: String,
    pub variants: Vec<VariantInfo>,
    pub sweep_params: Vec<String>,
    pub windows: Vec<FaultWindowInfo>,
    pub charts: ChartsInfo,
    pub duration_s: f64,
    pub bucket_s: f64,
    /// Total number of runs in the full (unsharded) plan.
    pub total_runs: usize,
    pub seeds: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VariantInfo {
    pub name: String,
    pub description: String,
    pub dir: String,
    pub point: usize,
    pub point_values: Vec<(String, String)>,
    /// This variant's fault windows when a variant changes the faults (`None`:
    /// the same as the scenario's `windows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<FaultWindowInfo>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultWindowInfo {
    pub start_s: f64,
    pub end_s: f64,
    pub label: String,
    pub kind: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChartsInfo {
    pub include: Vec<String>,
    pub bars: Vec<String>,
    pub scatter: Vec<(String, String)>,
    pub sweep_metrics: Vec<String>,
    /// Variants drawn in the over-time charts (empty: the first 8).
    #[serde(default)]
    pub timelines: Vec<String>,
}

impl From<&ChartsSpec> for ChartsInfo {
    fn from(c: &ChartsSpec) -> Self {
        ChartsInfo {
            include: c.include.clone(),
            bars: c.bars.clone(),
            scatter: c.scatter.clone(),
            sweep_metrics: c.sweep_metrics.clone(),
            timelines: c.timelines.clone(),
        }
    }
}

impl From<&FaultWindow> for FaultWindowInfo {
    fn from(w: &FaultWindow) -> Self {
        FaultWindowInfo {
            start_s: w.start_s,
            end_s: w.end_s,
            label: w.label.clone(),
            kind: w.kind.clone(),
        }
    }
}

impl ScenarioInfo {
    pub fn new(loaded: &Loaded, file_arg: &str, seeds: &[u64], total_runs: usize) -> Self {
        let b = &loaded.base;
        ScenarioInfo {
            name: b.name.clone(),
            description: b.description.clone(),
            question: b.question.clone(),
            file: file_arg.to_string(),
            capsim_version: env!("CARGO_PKG_VERSION").to_string(),
            variants: loaded
                .variants
                .iter()
                .map(|v| {
                    let own: Vec<FaultWindowInfo> = v
                        .scenario
                        .windows
                        .iter()
                        .map(FaultWindowInfo::from)
                        .collect();
                    let base: Vec<FaultWindowInfo> =
                        b.windows.iter().map(FaultWindowInfo::from).collect();
                    VariantInfo {
                        name: v.name.clone(),
                        description: v.description.clone(),
                        dir: variant_dir(v),
                        point: v.point,
                        point_values: v.point_values.clone(),
                        windows: (own != base).then_some(own),
                    }
                })
                .collect(),
            sweep_params: loaded.sweep_params.clone(),
            windows: b.windows.iter().map(FaultWindowInfo::from).collect(),
            charts: ChartsInfo::from(&b.charts),
            duration_s: b.duration.as_secs_f64(),
            bucket_s: b.bucket.as_secs_f64(),
            total_runs,
            seeds: seeds.to_vec(),
        }
    }

    /// The command that replays one run.
    pub fn replay(&self, variant: usize, seed: u64) -> String {
        let v = &self.variants[variant];
        let mut c = format!(
            "capsim run {} --seed {seed} --seeds 1",
            shell_quote(&self.file)
        );
        if self.variants.len() > 1 || v.name != "base" {
            write!(c, " --variant {}", shell_quote(&v.dir)).ok();
        }
        c
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_alphanumeric() || "-_./=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One finished run with its place in the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub capsim_version: String,
    pub variant: usize,
    pub index: usize,
    pub result: RunResult,
}

fn json_num(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn metrics_obj(m: &[(String, f64)]) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for (k, v) in m {
        o.insert(k.clone(), json_num(*v));
    }
    serde_json::Value::Object(o)
}

fn agg_obj(a: &[(String, Agg)]) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for (k, g) in a {
        let mut e = serde_json::Map::new();
        e.insert("n".into(), serde_json::Value::from(g.n));
        for (n, v) in [
            ("mean", g.mean),
            ("std", g.std),
            ("ci95", g.ci95),
            ("min", g.min),
            ("max", g.max),
        ] {
            e.insert(n.into(), json_num(v));
        }
        o.insert(k.clone(), serde_json::Value::Object(e));
    }
    serde_json::Value::Object(o)
}

/// The summary document (deterministic: depends only on `info` and the runs, in plan order).
pub fn summary_json(info: &ScenarioInfo, runs: &[RunRecord]) -> String {
    let pairs: Vec<(usize, &RunResult)> = runs.iter().map(|r| (r.variant, &r.result)).collect();
    let aggs = aggregate_runs(info.variants.len(), &pairs);
    let mut variants = Vec::new();
    for (vi, v) in info.variants.iter().enumerate() {
        let mut runs_json = Vec::new();
        for r in runs.iter().filter(|r| r.variant == vi) {
            let res = &r.result;
            runs_json.push(serde_json::json!({
                "seed": res.seed,
                "replay": info.replay(vi, res.seed),
                "end": res.end,
                "end_message": res.end_message,
                "events": res.events,
                "simulated_s": json_num(res.simulated_s),
                "measured_s": json_num(res.measured_s),
                "metrics": metrics_obj(&res.metrics),
                "network": res.network,
            }));
        }
        variants.push(serde_json::json!({
            "name": v.name,
            "description": v.description,
            "point": v.point,
            "point_values": v.point_values.iter().map(|(k, val)| serde_json::json!({"param": k, "value": val})).collect::<Vec<_>>(),
            "aggregate": agg_obj(&aggs[vi]),
            "runs": runs_json,
        }));
    }
    let doc = serde_json::json!({
        "scenario": info.name,
        "description": info.description,
        "question": info.question,
        "file": info.file,
        "capsim_version": info.capsim_version,
        "seeds": info.seeds,
        "replay": format!("capsim run {} --seed {} --seeds {}", shell_quote(&info.file), info.seeds.first().copied().unwrap_or(1), info.seeds.len()),
        "fault_windows": info.windows,
        "variants": variants,
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("serialisable");
    s.push('\n');
    s
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
    }
}

/// Long-format CSV: one row per (variant, point, metric).
pub fn summary_csv(info: &ScenarioInfo, runs: &[RunRecord]) -> String {
    let pairs: Vec<(usize, &RunResult)> = runs.iter().map(|r| (r.variant, &r.result)).collect();
    let aggs = aggregate_runs(info.variants.len(), &pairs);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "scenario".to_string(),
        "capsim_version".into(),
        "seeds".into(),
        "variant".into(),
        "point".into(),
    ];
    let seeds = match (info.seeds.first(), info.seeds.last()) {
        (Some(a), Some(b)) if a != b => format!("{a}-{b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    };
    header.extend(info.sweep_params.iter().cloned());
    header.extend(["metric", "n", "mean", "std", "ci95", "min", "max"].map(String::from));
    w.write_record(&header).ok();
    for (vi, v) in info.variants.iter().enumerate() {
        for (m, a) in &aggs[vi] {
            let mut row = vec![
                info.name.clone(),
                info.capsim_version.clone(),
                seeds.clone(),
                v.name.clone(),
                v.point.to_string(),
            ];
            row.extend(v.point_values.iter().map(|(_, val)| val.clone()));
            row.push(m.clone());
            row.push(a.n.to_string());
            row.extend([a.mean, a.std, a.ci95, a.min, a.max].map(fmt_num));
            w.write_record(&row).ok();
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Time series of every run, long format.
pub fn timeseries_csv(info: &ScenarioInfo, runs: &[RunRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "capsim_version",
        "variant",
        "point",
        "seed",
        "t_s",
        "ok",
        "errors",
        "rejected",
        "timeouts",
        "throughput_per_s",
        "latency_ms_p50",
        "latency_ms_p99",
        "latency_ms_p999",
        "stale_reads",
        "divergent_keys",
        "cache_hit_ratio",
        "cache_origin_per_s",
        "cache_stale_read_rate",
    ])
    .ok();
    for r in runs {
        let v = &info.variants[r.variant];
        for row in &r.result.timeseries {
            w.write_record([
                info.name.clone(),
                info.capsim_version.clone(),
                v.name.clone(),
                v.point.to_string(),
                r.result.seed.to_string(),
                fmt_num(row.t_s),
                row.ok.to_string(),
                row.errors.to_string(),
                row.rejected.to_string(),
                row.timeouts.to_string(),
                fmt_num(row.throughput_per_s),
                fmt_num(row.latency_ms_p50),
                fmt_num(row.latency_ms_p99),
                fmt_num(row.latency_ms_p999),
                row.stale_reads.to_string(),
                fmt_num(row.divergent_keys),
                fmt_num(row.cache_hit_ratio),
                fmt_num(row.cache_origin_per_s),
                fmt_num(row.cache_stale_read_rate),
            ])
            .ok();
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Per-node time series of one run.
pub fn nodes_csv(info: &ScenarioInfo, r: &RunResult, bucket_s: f64) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "capsim_version",
        "seed",
        "node",
        "t_s",
        "utilization",
        "queue_len_mean",
    ])
    .ok();
    for n in &r.nodes {
        for (b, (u, q)) in n.series.iter().enumerate() {
            w.write_record([
                info.name.clone(),
                info.capsim_version.clone(),
                r.seed.to_string(),
                n.name.clone(),
                fmt_num(b as f64 * bucket_s),
                fmt_num(*u),
                fmt_num(*q),
            ])
            .ok();
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Per-cache-node time series of one run: hits, misses, hit ratio and requests
/// sent to the origin per bucket (empty string when the run has no caches).
pub fn cache_nodes_csv(info: &ScenarioInfo, r: &RunResult, bucket_s: f64) -> String {
    if r.caches.is_empty() {
        return String::new();
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "capsim_version",
        "seed",
        "cache",
        "t_s",
        "hits",
        "misses",
        "hit_ratio",
        "origin_requests",
        "stale_reads",
    ])
    .ok();
    for c in &r.caches {
        for b in 0..c.hits.len() {
            w.write_record([
                info.name.clone(),
                info.capsim_version.clone(),
                r.seed.to_string(),
                c.name.clone(),
                fmt_num(b as f64 * bucket_s),
                c.hits[b].to_string(),
                c.misses.get(b).copied().unwrap_or(0).to_string(),
                fmt_num(c.hit_ratio(b)),
                c.origin_requests.get(b).copied().unwrap_or(0).to_string(),
                c.stale_reads.get(b).copied().unwrap_or(0).to_string(),
            ])
            .ok();
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Per balancer (and smart client), per backend, per bucket: requests sent, share
/// of the balancer's requests, mean outstanding at send time and mean latency
/// (empty string when the run has no balancers).
pub fn balancers_csv(info: &ScenarioInfo, r: &RunResult, bucket_s: f64) -> String {
    if r.balancers.is_empty() {
        return String::new();
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "capsim_version",
        "seed",
        "balancer",
        "backend",
        "t_s",
        "requests",
        "share",
        "outstanding_mean",
        "latency_ms_mean",
    ])
    .ok();
    for l in &r.balancers {
        for (b, name) in l.backends.iter().enumerate() {
            for t in 0..l.requests.get(b).map_or(0, Vec::len) {
                w.write_record([
                    info.name.clone(),
                    info.capsim_version.clone(),
                    r.seed.to_string(),
                    l.name.clone(),
                    name.clone(),
                    fmt_num(t as f64 * bucket_s),
                    l.requests[b][t].to_string(),
                    fmt_num(l.share(b, t)),
                    fmt_num(l.outstanding_mean[b][t]),
                    fmt_num(l.latency_ms_mean[b][t]),
                ])
                .ok();
            }
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Leadership of one run's replicated stores: a `leader` row per span (a node
/// leads from becoming leader until it steps down, crashes or the run ends) and
/// a `split_brain` row per period with two or more leaders accepting writes
/// (`node` lists them, joined by `+`). Empty string when no store has leaders.
pub fn leaders_csv(info: &ScenarioInfo, r: &RunResult) -> String {
    if r.leaders.is_empty() && r.split_brain.is_empty() {
        return String::new();
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "capsim_version",
        "seed",
        "store",
        "kind",
        "node",
        "term",
        "from_s",
        "to_s",
    ])
    .ok();
    let s = |ns: u64| fmt_num(ns as f64 / 1e9);
    for l in &r.leaders {
        w.write_record([
            info.name.clone(),
            info.capsim_version.clone(),
            r.seed.to_string(),
            l.store.clone(),
            "leader".into(),
            l.node.clone(),
            l.term.to_string(),
            s(l.from_ns),
            s(l.to_ns),
        ])
        .ok();
    }
    for b in &r.split_brain {
        w.write_record([
            info.name.clone(),
            info.capsim_version.clone(),
            r.seed.to_string(),
            b.store.clone(),
            "split_brain".into(),
            b.leaders.join("+"),
            String::new(),
            s(b.from_ns),
            s(b.to_ns),
        ])
        .ok();
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Write a file atomically: temp file in the same folder, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Files of a complete result folder, built in a staging folder.
pub struct Staging {
    pub dir: PathBuf,
    dest: PathBuf,
}

impl Staging {
    pub fn new(dest: &Path) -> io::Result<Staging> {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = dest.file_name().and_then(|s| s.to_str()).unwrap_or("out");
        let dir = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
        })
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let p = self.dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, bytes)
    }

    /// Replace the destination with the staged folder.
    pub fn commit(self) -> io::Result<PathBuf> {
        if self.dest.exists() {
            let old = self.dir.with_extension("old");
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&self.dest, &old)?;
            std::fs::rename(&self.dir, &self.dest)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&self.dir, &self.dest)?;
        }
        Ok(self.dest.clone())
    }

    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serialise a run for `capsim report` / `capsim merge` (RON keeps NaN exactly).
pub fn run_record_text(r: &RunRecord) -> String {
    ron::ser::to_string(r).unwrap_or_default()
}

/// Write every result file for `runs` (in plan order) into the staging folder.
pub fn stage_results(
    st: &Staging,
    info: &ScenarioInfo,
    runs: &[RunRecord],
    complete: bool,
) -> io::Result<()> {
    st.write(
        "scenario-info.ron",
        ron::ser::to_string_pretty(info, ron::ser::PrettyConfig::default())
            .unwrap_or_default()
            .as_bytes(),
    )?;
    for r in runs {
        let v = &info.variants[r.variant];
        let base = format!("runs/{}/seed-{}", v.dir, r.result.seed);
        st.write(&format!("{base}/result.ron"), run_record_text(r).as_bytes())?;
        let one = std::slice::from_ref(r);
        st.write(
            &format!("{base}/summary.json"),
            summary_json(info, one).as_bytes(),
        )?;
        st.write(
            &format!("{base}/timeseries.csv"),
            timeseries_csv(info, one).as_bytes(),
        )?;
        st.write(
            &format!("{base}/nodes.csv"),
            nodes_csv(info, &r.result, info.bucket_s).as_bytes(),
        )?;
        if !r.result.caches.is_empty() {
            st.write(
                &format!("{base}/cache_nodes.csv"),
                cache_nodes_csv(info, &r.result, info.bucket_s).as_bytes(),
            )?;
        }
        if !r.result.leaders.is_empty() {
            st.write(
                &format!("{base}/leaders.csv"),
                leaders_csv(info, &r.result).as_bytes(),
            )?;
        }
        if !r.result.balancers.is_empty() {
            st.write(
                &format!("{base}/balancers.csv"),
                balancers_csv(info, &r.result, info.bucket_s).as_bytes(),
            )?;
        }
        for (name, text) in &r.result.exported {
            st.write(&format!("{base}/history/{name}"), text.as_bytes())?;
        }
    }
    if complete {
        st.write("summary.json", summary_json(info, runs).as_bytes())?;
        st.write("summary.csv", summary_csv(info, runs).as_bytes())?;
        st.write("timeseries.csv", timeseries_csv(info, runs).as_bytes())?;
    }
    Ok(())
}

/// Read a result folder written by [`stage_results`] (a run or a shard).
pub fn load_results(dir: &Path) -> Result<(ScenarioInfo, Vec<RunRecord>), String> {
    let info_path = dir.join("scenario-info.ron");
    let text = std::fs::read_to_string(&info_path).map_err(|e| {
        format!(
            "{}: {e} (is this a capsim output folder?)",
            info_path.display()
        )
    })?;
    let info: ScenarioInfo =
        ron::from_str(&text).map_err(|e| format!("{}: {e}", info_path.display()))?;
    let mut runs = Vec::new();
    let mut stack = vec![dir.join("runs")];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|s| s.to_str()) == Some("result.ron") {
                files.push(p);
            }
        }
    }
    files.sort();
    for p in files {
        let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let r: RunRecord = ron::from_str(&t).map_err(|e| format!("{}: {e}", p.display()))?;
        runs.push(r);
    }
    runs.sort_by_key(|r| r.index);
    Ok((info, runs))
}

/// The comparison table printed on stdout.
pub fn stdout_table(info: &ScenarioInfo, runs: &[RunRecord]) -> String {
    let pairs: Vec<(usize, &RunResult)> = runs.iter().map(|r| (r.variant, &r.result)).collect();
    let aggs = aggregate_runs(info.variants.len(), &pairs);
    let cols = [
        ("throughput_per_s", "thru/s"),
        ("availability", "avail"),
        ("latency_ms_p50", "p50 ms"),
        ("latency_ms_p99", "p99 ms"),
        ("latency_ms_p999", "p99.9 ms"),
        ("errors", "errors"),
        ("rejected", "rejected"),
        ("timeouts", "timeouts"),
    ];
    let mut out = String::new();
    let nseeds = info.seeds.len();
    writeln!(
        out,
        "scenario {}  ({} variant{}, {} seed{} each{})",
        info.name,
        info.variants.len(),
        if info.variants.len() == 1 { "" } else { "s" },
        nseeds,
        if nseeds == 1 { "" } else { "s" },
        if nseeds > 1 { "; mean ± 95% CI" } else { "" }
    )
    .ok();
    let name_w = info
        .variants
        .iter()
        .map(|v| label(v).len())
        .max()
        .unwrap_or(7)
        .max(7);
    write!(out, "{:<name_w$}", "variant").ok();
    for (_, h) in cols {
        write!(out, " {h:>18}").ok();
    }
    out.push('\n');
    for (vi, v) in info.variants.iter().enumerate() {
        write!(out, "{:<name_w$}", label(v)).ok();
        for (m, _) in cols {
            let cell = aggs[vi]
                .iter()
                .find(|(n, _)| n == m)
                .map(|(_, a)| fmt_cell(a, nseeds > 1))
                .unwrap_or_default();
            write!(out, " {cell:>18}").ok();
        }
        out.push('\n');
    }
    out
}

fn label(v: &VariantInfo) -> String {
    if v.point_values.is_empty() {
        v.name.clone()
    } else {
        let p: Vec<String> = v
            .point_values
            .iter()
            .map(|(k, val)| format!("{}={val}", k.rsplit('.').next().unwrap_or(k)))
            .collect();
        format!("{} [{}]", v.name, p.join(","))
    }
}

fn fmt_cell(a: &Agg, ci: bool) -> String {
    if a.mean.is_nan() {
        return "-".into();
    }
    let prec = if a.mean.abs() >= 100.0 {
        1
    } else if a.mean.abs() >= 1.0 {
        3
    } else {
        4
    };
    if ci && a.n > 1 {
        format!("{:.*} ±{:.*}", prec, a.mean, prec, a.ci95)
    } else {
        format!("{:.*}", prec, a.mean)
    }
}

/// Per-node table: simulated figures beside the queueing-theory prediction.
pub fn node_table(r: &RunResult) -> String {
    let mut out = String::new();
    if r.nodes.is_empty() {
        return out;
    }
    writeln!(
        out,
        "{:<14} {:>8} {:>10} {:>9} {:>11} {:>12} {:>12} {:>10} {:>10}  model",
        "node",
        "workers",
        "offered/s",
        "util",
        "queue len",
        "sojourn ms",
        "predicted",
        "rejected",
        "lost"
    )
    .ok();
    for n in &r.nodes {
        let pred = n.prediction.as_ref();
        writeln!(
            out,
            "{:<14} {:>8} {:>10} {:>9.4} {:>11.4} {:>12.4} {:>12} {:>10} {:>10}  {}",
            n.name,
            n.workers,
            n.offered_per_s
                .map(|l| format!("{l:.1}"))
                .unwrap_or_else(|| "-".into()),
            n.utilization,
            n.queue_len_mean,
            n.sojourn_ms_mean,
            pred.filter(|p| !p.sojourn_s.is_nan())
                .map(|p| format!("{:.4}", p.sojourn_s * 1e3))
                .unwrap_or_else(|| "-".into()),
            n.rejected,
            n.lost_crash,
            pred.map(|p| format!(
                "{}{} ρ={:.3}",
                p.model,
                if p.exact { "" } else { " ~" },
                p.rho
            ))
            .unwrap_or_default(),
        )
        .ok();
    }
    out
}
