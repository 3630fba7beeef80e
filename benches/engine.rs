//! Engine benchmark: an M/M/4 server at ρ = 0.8 fed by a Poisson client through
//! the real scenario machinery (client → network link → server → back), run for
//! 1 M and 10 M customers. Prints events/s, simulated requests/s and peak memory
//! (VmHWM), so flat memory in run length is visible. `cargo bench --bench engine`.

use capsim::scenario::load_str;
use capsim::sim;
use std::path::Path;
use std::time::Instant;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn scenario(customers: f64) -> String {
    let rate = 3200.0; // λ; μ = 1000/s per worker, c = 4: ρ = 0.8
    let duration = customers / rate;
    format!(
        r#"Scenario(
    name: "bench-mm4",
    duration_s: {duration},
    bucket_s: {bucket},
    max_events: 1000000000,
    nodes: [
        Client(name: "c", target: "s", workload: Poisson(rate_per_s: {rate})),
        Server(name: "s", workers: 4, queue_capacity: 100000, service: Exponential(mean_ms: 1.0)),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 0.1))],
)"#,
        bucket = duration / 100.0
    )
}

fn main() {
    let customers: Vec<f64> = match std::env::args().skip(1).find_map(|a| a.parse::<f64>().ok()) {
        Some(n) => vec![n],
        None => vec![1e6, 1e7],
    };
    println!("capsim engine benchmark: M/M/4, ρ = 0.8, client → link → server, single thread");
    // M/M/4 sojourn at λ = 3.2/ms, μ = 1/ms, plus the 0.1 ms link each way.
    let theory_ms = capsim::theory::mmc(4, 3200.0, 1000.0).map_or(f64::NAN, |p| p.sojourn_s * 1e3);
    for n in customers {
        let loaded = load_str(Path::new("bench.ron"), &scenario(n)).expect("valid bench scenario");
        let t0 = Instant::now();
        let r = sim::run(&loaded.base, 1);
        let secs = t0.elapsed().as_secs_f64();
        let done = r.metric("requests_ok").unwrap_or(0.0);
        println!(
            "customers {:>10.0}: {:>6.2} s wall, {:>6.2} M events/s, {:>5.2} M requests/s, {} events, peak RSS {:.1} MB, util {:.3}, W {:.3} ms (M/M/4 theory {:.3} ms + 0.2 ms wire)",
            done,
            secs,
            r.events as f64 / secs / 1e6,
            done / secs / 1e6,
            r.events,
            peak_rss_kb() as f64 / 1024.0,
            r.metric("node.s.utilization").unwrap_or(f64::NAN),
            r.metric("latency_ms_mean").unwrap_or(f64::NAN),
            theory_ms,
        );
    }
}
