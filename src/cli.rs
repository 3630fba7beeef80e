//! Command-line commands (`run`, `check`, `report`, `merge`, `history check`,
//! `bench`). `main.rs` parses arguments and maps errors to exit codes; the work
//! is here so it can be tested in-process.

use crate::output::{self, RunRecord, ScenarioInfo, Staging};
use crate::scenario::{self, LoadError, Loaded};
use crate::sim;
use crate::sweep;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input (exit code 2).
    Input(String),
    /// Anything else (exit code 1).
    Failed(String),
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        CliError::Input(e.to_string())
    }
}

/// Options of `capsim run`.
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    pub seed: Option<u64>,
    pub seeds: Option<u32>,
    pub jobs: Option<usize>,
    pub out: Option<PathBuf>,
    pub variants: Vec<String>,
    pub shard: Option<(usize, usize)>,
    pub quiet: bool,
    pub progress: bool,
    /// Write Jepsen-format histories of store operations (one file per key).
    pub export_history: bool,
}

/// Parse `I/N` (0-based shard I of N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not I/N (e.g. 0/4)"))?;
    let i: usize = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not a shard number"))?;
    let n: usize = b
        .trim()
        .parse()
        .map_err(|_| format!("`{b}` is not a shard count"))?;
    if n == 0 || i >= n {
        return Err(format!(
            "shard {i}/{n}: need 0 ≤ I < N (shards are numbered from 0)"
        ));
    }
    Ok((i, n))
}

/// `capsim check FILE`: validate and print back-of-the-envelope estimates.
pub fn check(file: &Path) -> Result<String, CliError> {
    let loaded = scenario::load_file(file)?;
    let mut out = String::new();
    let b = &loaded.base;
    writeln!(
        out,
        "{}: ok — scenario `{}`, {} nodes, {} links, {} faults, {} variant run(s) × {} seed(s)",
        file.display(),
        b.name,
        b.nodes.len(),
        b.links.len(),
        b.faults.len(),
        loaded.variants.len(),
        b.seeds
    )
    .ok();
    for v in &loaded.variants {
        let sc = &v.scenario;
        let title = if loaded.variants.len() > 1 {
            format!("variant {}", sweep::variant_dir(v))
        } else {
            "estimates".into()
        };
        writeln!(out, "\n{title}:").ok();
        let preds = sim::predictions(sc);
        let why = sim::offered_load_explained(sc);
        for (i, node) in sc.nodes.iter().enumerate() {
            let (lam, pred) = &preds[i];
            if matches!(
                node.kind,
                scenario::validated::NodeKind::Client(_)
                    | scenario::validated::NodeKind::Replica { .. }
            ) {
                continue;
            }
            let lam_s = match (lam, why[i]) {
                (Some(l), _) => format!("{l:.1}/s"),
                (None, Err(reason)) => format!("unknown ({reason})"),
                (None, Ok(_)) => "unknown".into(),
            };
            write!(out, "  {:<14} offered {lam_s}", node.name).ok();
            if let Some(p) = pred {
                write!(out, ", ρ = {:.3}", p.rho).ok();
                if p.rho >= 1.0 {
                    write!(
                        out,
                        "  WARNING: ρ ≥ 1, the queue grows without bound (until it rejects)"
                    )
                    .ok();
                }
                if !p.wait_s.is_nan() {
                    write!(
                        out,
                        "; {}: mean wait {:.3} ms, time in node {:.3} ms, P(wait) {:.3}",
                        p.model,
                        p.wait_s * 1e3,
                        p.sojourn_s * 1e3,
                        p.p_wait
                    )
                    .ok();
                    if p.p_reject > 1e-9 {
                        write!(out, ", rejected {:.4}", p.p_reject).ok();
                    }
                    if !p.exact {
                        write!(out, " (approximation)").ok();
                    }
                }
            } else if lam.is_some() {
                let what = match &node.kind {
                    scenario::validated::NodeKind::LoadBalancer(lb)
                        if lb.pair.is_some_and(|p| p.vip != i) =>
                    {
                        " (standby: traffic only after a takeover)"
                    }
                    scenario::validated::NodeKind::LoadBalancer(_) => {
                        " (split over its backends by weight)"
                    }
                    scenario::validated::NodeKind::Cache(_) => " (misses go to its origin)",
                    _ => " (calls downstream: see the leaves)",
                };
                write!(out, "{what}").ok();
            }
            out.push('\n');
        }
    }
    Ok(out)
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Result folder of a scenario unless `--out` is given.
pub fn default_out(name: &str) -> PathBuf {
    Path::new("output").join(name)
}

/// `capsim run FILE`.
pub fn run(file: &Path, opts: &RunOpts) -> Result<String, CliError> {
    let loaded = scenario::load_file(file)?;
    for v in &opts.variants {
        if !loaded
            .variants
            .iter()
            .any(|x| x.name == *v || sweep::variant_dir(x) == *v)
        {
            let names: Vec<String> = loaded.variants.iter().map(sweep::variant_dir).collect();
            return Err(CliError::Input(format!(
                "error: no variant `{v}` in {}; variants are: {}",
                file.display(),
                names.join(", ")
            )));
        }
    }
    let base_seed = opts.seed.unwrap_or(loaded.base.seed);
    let nseeds = opts.seeds.unwrap_or(loaded.base.seeds).max(1);
    let all = sweep::plan(&loaded, base_seed, nseeds, &opts.variants);
    let total = all.len();
    let runs = match opts.shard {
        Some((i, n)) => sweep::shard(all, i, n),
        None => all,
    };
    let seeds: Vec<u64> = (0..u64::from(nseeds))
        .map(|s| base_seed.wrapping_add(s))
        .collect();
    let mut info = ScenarioInfo::new(&loaded, &file.display().to_string(), &seeds, total);
    let mut runs = runs;
    if !opts.variants.is_empty() {
        // A subset: keep only the chosen variants, so the report is about them.
        let mut keep: Vec<usize> = runs.iter().map(|r| r.variant).collect();
        keep.sort_unstable();
        keep.dedup();
        info.variants = keep.iter().map(|&k| info.variants[k].clone()).collect();
        for r in &mut runs {
            r.variant = keep.iter().position(|&k| k == r.variant).unwrap_or(0);
        }
    }
    let jobs = opts.jobs.unwrap_or_else(default_jobs);
    // Runs refer to `loaded.variants` while executing; remap afterwards.
    let exec_runs: Vec<sweep::RunSpec> = runs
        .iter()
        .map(|r| sweep::RunSpec {
            variant: loaded
                .variants
                .iter()
                .position(|v| sweep::variant_dir(v) == info.variants[r.variant].dir)
                .unwrap_or(0),
            ..r.clone()
        })
        .collect();
    let results = execute_with_progress(
        &loaded,
        &exec_runs,
        jobs,
        opts.progress,
        opts.export_history,
    );
    let version = env!("CARGO_PKG_VERSION").to_string();
    let records: Vec<RunRecord> = runs
        .iter()
        .zip(results)
        .map(|(r, res)| RunRecord {
            scenario: loaded.base.name.clone(),
            capsim_version: version.clone(),
            variant: r.variant,
            index: r.index,
            result: res,
        })
        .collect();
    let dest = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out(&loaded.base.name));
    let complete = opts.shard.is_none();
    write_all(&dest, &info, &records, complete)?;
    let mut out = String::new();
    if !opts.quiet {
        out.push_str(&output::stdout_table(&info, &records));
        if info.variants.len() == 1
            && let Some(r) = records.first()
        {
            out.push('\n');
            out.push_str(&output::node_table(&r.result));
            let l = r.result.metric("littles_l_measured").unwrap_or(f64::NAN);
            let lw = r.result.metric("littles_l_lambda_w").unwrap_or(f64::NAN);
            writeln!(
                out,
                "\nLittle's law (seed {}): L = {l:.4} requests in system, λW = {lw:.4}",
                r.result.seed
            )
            .ok();
        }
        for r in &records {
            if r.result.end == crate::engine::RunEnd::EventLimit {
                writeln!(
                    out,
                    "warning: {} seed {}: {}",
                    info.variants[r.variant].dir, r.result.seed, r.result.end_message
                )
                .ok();
            }
        }
        let events: u64 = records.iter().map(|r| r.result.events).sum();
        writeln!(
            out,
            "\n{} run(s), {events} events. Results in {}",
            records.len(),
            dest.display()
        )
        .ok();
        if let Some(r) = records.first() {
            writeln!(
                out,
                "replay one run: {}",
                info.replay(r.variant, r.result.seed)
            )
            .ok();
        }
    }
    Ok(out)
}

fn execute_with_progress(
    loaded: &Loaded,
    runs: &[sweep::RunSpec],
    jobs: usize,
    progress: bool,
    export: bool,
) -> Vec<sim::RunResult> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = if progress && runs.len() > 1 {
        let b =
            ProgressBar::with_draw_target(Some(runs.len() as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let b2 = bar.clone();
    let res = sweep::execute(loaded, runs, jobs, export, &move || b2.inc(1));
    bar.finish_and_clear();
    res
}

/// Write results (and, for complete sets, charts and the report) atomically.
pub fn write_all(
    dest: &Path,
    info: &ScenarioInfo,
    records: &[RunRecord],
    complete: bool,
) -> Result<(), CliError> {
    let st = Staging::new(dest)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dest.display())))?;
    let r = output::stage_results(&st, info, records, complete).and_then(|_| {
        if complete {
            crate::charts_out::stage_charts(&st, info, records)
        } else {
            Ok(())
        }
    });
    match r {
        Ok(()) => {
            st.commit().map_err(|e| {
                CliError::Failed(format!("cannot move results into {}: {e}", dest.display()))
            })?;
            Ok(())
        }
        Err(e) => {
            st.abandon();
            Err(CliError::Failed(format!(
                "writing results to {} failed: {e}",
                dest.display()
            )))
        }
    }
}

/// `capsim report DIR`: regenerate summary, charts and report from saved runs.
pub fn report(dir: &Path) -> Result<String, CliError> {
    let (info, runs) = output::load_results(dir).map_err(CliError::Input)?;
    if runs.len() != info.total_runs {
        return Err(CliError::Input(format!(
            "error: {} holds {} of {} runs (a shard?); use `capsim merge` to combine shards",
            dir.display(),
            runs.len(),
            info.total_runs
        )));
    }
    write_all(dir, &info, &runs, true)?;
    Ok(format!(
        "{}\nregenerated summary, charts and report in {}\n",
        output::stdout_table(&info, &runs),
        dir.display()
    ))
}

/// `capsim merge DIR… --out OUT`: combine shard folders into one result.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<String, CliError> {
    let mut info: Option<ScenarioInfo> = None;
    let mut runs: Vec<RunRecord> = Vec::new();
    for d in dirs {
        let (i, r) = output::load_results(d).map_err(CliError::Input)?;
        if let Some(prev) = &info {
            if *prev != i {
                return Err(CliError::Input(format!(
                    "error: {} comes from a different scenario or plan than {}",
                    d.display(),
                    dirs[0].display()
                )));
            }
        } else {
            info = Some(i);
        }
        runs.extend(r);
    }
    let info = info.ok_or_else(|| CliError::Input("error: no folders to merge".into()))?;
    runs.sort_by_key(|r| r.index);
    runs.dedup_by_key(|r| r.index);
    if runs.len() != info.total_runs {
        let have: Vec<usize> = runs.iter().map(|r| r.index).collect();
        let missing: Vec<String> = (0..info.total_runs)
            .filter(|i| !have.contains(i))
            .take(10)
            .map(|i| i.to_string())
            .collect();
        return Err(CliError::Input(format!(
            "error: the shards hold {} of {} runs; missing run indices {}…",
            runs.len(),
            info.total_runs,
            missing.join(", ")
        )));
    }
    write_all(out, &info, &runs, true)?;
    Ok(format!(
        "{}\nmerged {} runs into {}\n",
        output::stdout_table(&info, &runs),
        runs.len(),
        out.display()
    ))
}

/// The sequential model `capsim history check` checks against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryModel {
    /// `kv` if the history's operations are `:get`/`:put`/`:append`, else `cas-register`.
    #[default]
    Auto,
    /// One compare-and-set register per key (`:read`, `:write`, `:cas`).
    CasRegister,
    /// One string per key (`:get`, `:put`, `:append`), as in Porcupine's kv model.
    Kv,
}

/// `capsim history check FILE`: check a Jepsen-format history (compare-and-set
/// registers or, with the kv model, string keys) for linearizability.
/// Exit codes: 0 linearizable, 1 not linearizable, 3 unknown (budget), 2 bad input.
pub fn history_check(
    file: &Path,
    max_steps: Option<u64>,
    model: HistoryModel,
    all_keys: bool,
) -> (String, u8) {
    use crate::consistency::jepsen::HistoryFileError;
    use crate::consistency::kv::{self, KvVerdict};
    use crate::consistency::linearizability::{Budget, CheckOptions, Verdict};
    let mut opts = CheckOptions {
        stop_at_first_violation: !all_keys,
        ..CheckOptions::default()
    };
    if let Some(s) = max_steps {
        opts.budget = Budget {
            max_steps: s,
            ..Budget::default()
        };
    }
    let text = match std::fs::read(file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(source) => {
            let e = HistoryFileError::Io {
                path: file.to_path_buf(),
                source,
            };
            return (format!("error: {}: {e}", file.display()), 2);
        }
    };
    let use_kv = match model {
        HistoryModel::Auto => kv::is_kv_history(&text),
        HistoryModel::CasRegister => false,
        HistoryModel::Kv => true,
    };
    if use_kv {
        return match kv::check_kv_text(&text, &opts) {
            Ok(r) => {
                let code = match r.verdict {
                    KvVerdict::Linearizable => 0,
                    KvVerdict::NotLinearizable { .. } => 1,
                    KvVerdict::Unknown { .. } => 3,
                };
                (format!("{}: {r}", file.display()), code)
            }
            Err(e) => (format!("error: {}: {e}", file.display()), 2),
        };
    }
    match crate::consistency::jepsen::check_text(&text, &opts) {
        Ok(r) => {
            let code = match r.verdict {
                Verdict::Linearizable => 0,
                Verdict::NotLinearizable { .. } => 1,
                Verdict::Unknown { .. } => 3,
            };
            (format!("{}: {r}", file.display()), code)
        }
        Err(e) => (format!("error: {}: {e}", file.display()), 2),
    }
}
