//! Runs of a loaded scenario: variants × sweep points × seeds, in parallel with
//! rayon (each run single-threaded), results kept in input order so outputs are
//! byte-identical for any number of threads. Also shard selection.

use crate::metrics::stats::{Agg, aggregate};
use crate::scenario::{Loaded, Variant};
use crate::sim::{self, RunResult};
use rayon::prelude::*;

/// One run to do.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Index into `Loaded::variants`.
    pub variant: usize,
    pub seed: u64,
    /// Position in the full, unsharded run list.
    pub index: usize,
}

/// Which runs to do.
pub fn plan(loaded: &Loaded, base_seed: u64, seeds: u32, only: &[String]) -> Vec<RunSpec> {
    let mut v = Vec::new();
    for (vi, var) in loaded.variants.iter().enumerate() {
        if !only.is_empty()
            && !only
                .iter()
                .any(|o| *o == var.name || *o == variant_dir(var))
        {
            continue;
        }
        for s in 0..u64::from(seeds) {
            let index = v.len();
            v.push(RunSpec {
                variant: vi,
                seed: base_seed.wrapping_add(s),
                index,
            });
        }
    }
    v
}

/// Keep runs `i` of every `n` (round-robin, so shards get similar work).
pub fn shard(runs: Vec<RunSpec>, i: usize, n: usize) -> Vec<RunSpec> {
    runs.into_iter().filter(|r| r.index % n == i).collect()
}

/// Folder name of a variant (and grid point).
pub fn variant_dir(v: &Variant) -> String {
    if v.point_values.is_empty() {
        v.name.clone()
    } else {
        format!("{}/p{}", v.name, v.point)
    }
}

/// Execute runs on `jobs` threads; `progress` is called after each run (from any thread).
pub fn execute(
    loaded: &Loaded,
    runs: &[RunSpec],
    jobs: usize,
    export_history: bool,
    progress: &(dyn Fn() + Sync),
) -> Vec<RunResult> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .expect("thread pool");
    pool.install(|| {
        runs.par_iter()
            .map(|r| {
                let res =
                    sim::run_with(&loaded.variants[r.variant].scenario, r.seed, export_history);
                progress();
                res
            })
            .collect()
    })
}

/// Aggregate over seeds: for each variant (in order), each metric (in first-seen order).
pub fn aggregate_runs(n_variants: usize, runs: &[(usize, &RunResult)]) -> Vec<Vec<(String, Agg)>> {
    let mut out = Vec::with_capacity(n_variants);
    for vi in 0..n_variants {
        let mine: Vec<&RunResult> = runs
            .iter()
            .filter(|(v, _)| *v == vi)
            .map(|(_, r)| *r)
            .collect();
        let mut names: Vec<String> = Vec::new();
        for r in &mine {
            for (n, _) in &r.metrics {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        let aggs = names
            .into_iter()
            .map(|n| {
                let vals: Vec<f64> = mine
                    .iter()
                    .map(|r| r.metric(&n).unwrap_or(f64::NAN))
                    .collect();
                let a = aggregate(&vals);
                (n, a)
            })
            .collect();
        out.push(aggs);
    }
    out
}
