//! The `capsim` command: parse arguments, call into the library, map failures to
//! exit codes (0 ok, 2 bad input, 1 anything else). The only place that exits.

use capsim::cli::{self, CliError, RunOpts};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "capsim", version, about = "A deterministic discrete-event simulator of distributed systems.", long_about = None,
    after_help = "Examples:\n  capsim run scenarios/mm1.ron\n  capsim run scenarios/cap-partition.ron --seeds 8 --jobs 2\n  capsim check scenarios/three-tier.ron\n  capsim report output/cap-partition\n  capsim run scenarios/lb-algorithms.ron --shard 0/4 --out shard0 && capsim merge shard0 shard1 shard2 shard3 --out output/lb-algorithms\n  capsim history check etcd.log")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario (all variants × sweep points × seeds) and write results, charts and a report.
    #[command(
        after_help = "Examples:\n  capsim run scenarios/mm1.ron\n  capsim run scenarios/mm1.ron --seed 7 --seeds 8 --jobs 2 --out /tmp/mm1\n  capsim run scenarios/cap-partition.ron --variant cp-raft --seed 3 --seeds 1"
    )]
    Run {
        /// Scenario file (RON).
        file: PathBuf,
        /// Master seed of the first run (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Seeds per variant: seed, seed+1, … (default: the scenario's `seeds`).
        #[arg(long)]
        seeds: Option<u32>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Result folder (default: output/<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only this variant (repeatable); a sweep point is `name/pK`.
        #[arg(long)]
        variant: Vec<String>,
        /// Run only shard I of N (0-based) and write raw results for `capsim merge`.
        #[arg(long, value_parser = cli::parse_shard)]
        shard: Option<(usize, usize)>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Also write Jepsen-format histories of store operations (runs/<variant>/seed-N/history/<store>/key-K.log).
        #[arg(long)]
        export_history: bool,
    },
    /// Validate a scenario and print back-of-the-envelope queueing estimates.
    Check { file: PathBuf },
    /// Regenerate summary, charts and report from a result folder.
    Report { dir: PathBuf },
    /// Combine shard folders into one result (same summary as a single run).
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Result folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Operation histories (Jepsen format).
    History {
        #[command(subcommand)]
        cmd: HistoryCmd,
    },
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Check a Jepsen-format history for linearizability, key by key: compare-and-set
    /// registers (:read/:write/:cas) or string keys (:get/:put/:append, Porcupine's kv model).
    /// Exit code: 0 linearizable, 1 not linearizable, 3 unknown (budget exhausted), 2 bad input.
    #[command(
        after_help = "Examples:\n  capsim history check tests/data/histories/etcd-stale-read-after-cas.log\n  capsim history check tests/data/histories/porcupine-kv/c01-bad.txt --model kv"
    )]
    Check {
        file: PathBuf,
        /// Search budget in steps (default 200 million); past it the verdict is `unknown`.
        #[arg(long)]
        max_steps: Option<u64>,
        /// Sequential model: `auto` picks `kv` when the operations are :get/:put/:append.
        #[arg(long, value_enum, default_value_t = cli::HistoryModel::Auto)]
        model: cli::HistoryModel,
        /// Check every key even after one is proven non-linearizable (by default the
        /// check stops at the first violation, in key order: the verdict is the same).
        #[arg(long)]
        all_keys: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::History {
            cmd:
                HistoryCmd::Check {
                    file,
                    max_steps,
                    model,
                    all_keys,
                },
        } => {
            let (text, code) = cli::history_check(&file, max_steps, model, all_keys);
            if code == 2 {
                eprintln!("{text}");
            } else {
                print!("{text}");
            }
            return ExitCode::from(code);
        }
        Cmd::Run {
            file,
            seed,
            seeds,
            jobs,
            out,
            variant,
            shard,
            quiet,
            export_history,
        } => {
            if jobs == Some(0) {
                Err(CliError::Input("error: --jobs must be at least 1".into()))
            } else if seeds == Some(0) {
                Err(CliError::Input("error: --seeds must be at least 1".into()))
            } else {
                let opts = RunOpts {
                    seed,
                    seeds,
                    jobs,
                    out,
                    variants: variant,
                    shard,
                    quiet,
                    progress: std::io::stderr().is_terminal() && !quiet,
                    export_history,
                };
                cli::run(&file, &opts)
            }
        }
        Cmd::Check { file } => cli::check(&file),
        Cmd::Report { dir } => cli::report(&dir),
        Cmd::Merge { dirs, out } => cli::merge(&dirs, &out),
    };
    match res {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(CliError::Input(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
