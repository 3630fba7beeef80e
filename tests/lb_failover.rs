//! The balancer as a point of failure, through the real scenario machinery:
//! an active–passive pair's takeover time against its exact bounds, requests
//! lost during the takeover against the arrival rate, no second owner after a
//! partition or a restart, DNS round robin's failure count after a balancer
//! crash against the TTL arithmetic, sticky sessions broken by a backend crash,
//! the offered-load prediction for the new routings, and the bundled
//! `lb-failover` scenario end to end. Each statistical test states its sample
//! size and the tolerance it derives from the variance.

use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn run(text: &str, seed: u64) -> RunResult {
    let loaded =
        load_str(Path::new("lbf.ron"), text).unwrap_or_else(|e| panic!("valid scenario: {e}"));
    sim::run(&loaded.base, seed)
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// A client at `rate`/s → pair `lb` (standby `lb-b`) → two fast backends; every
/// link 1 ms constant. Heartbeats every 100 ms, suspicion after 300 ms, takeover
/// delay 50 ms.
fn pair_scenario(rate: f64, faults: &str) -> String {
    format!(
        r#"Scenario(
    name: "pair",
    duration_s: 10.0,
    nodes: [
        Client(name: "c", target: "lb", workload: Poisson(rate_per_s: {rate}), timeout_ms: 200.0),
        LoadBalancer(name: "lb", backends: ["b0", "b1"], policy: RoundRobin, standby: "lb-b",
            heartbeat: (interval_ms: 100.0, timeout_ms: 300.0), takeover_delay_ms: 50.0),
        LoadBalancer(name: "lb-b", backends: ["b0", "b1"], policy: RoundRobin),
        Server(name: "b0", workers: 8, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 8, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [{faults}],
)"#
    )
}

#[test]
fn pair_takeover_time_lies_within_the_heartbeat_bounds() {
    // Derivation. The active sends a heartbeat every i = 100 ms from a random
    // phase; each takes d = 1 ms (one constant link). It crashes at c = 5 s, so
    // its last heartbeat left at s ∈ (c − i, c] and arrived at s + d. The standby
    // suspects it exactly at its deadline s + d + τ (τ = 300 ms) and owns the
    // address D = 50 ms later: takeover = s + d + τ + D − c ∈ [τ + d − i + D,
    // τ + d + D] = [251, 351] ms, uniform over the phase, mean 301 ms.
    // Sample: 40 seeds (40 phases). Checks: every value inside the bounds; the
    // mean within 4 standard errors of 301 ms (sd of a uniform over 100 ms is
    // 28.9 ms, standard error 4.6 ms → ±18 ms); the values reach both ends (each
    // 20 ms end region is missed by all 40 with probability 0.8^40 ≈ 1e-4).
    // Lost requests: every request sent to the address in [c − d, c − d + T)
    // reaches the dead active, a Poisson count with mean λT (λ = 200/s); summed
    // over seeds, the sum of λT_k with Poisson sd √(λΣT) (≈ 49), tolerance 4 sd.
    let (lo, hi) = (0.251, 0.351);
    let lambda = 200.0;
    let mut takeovers = Vec::new();
    let (mut lost, mut expected) = (0.0, 0.0);
    for seed in 1..=40 {
        let r = run(
            &pair_scenario(lambda, r#"(at_s: 5.0, action: Crash(node: "lb"))"#),
            seed,
        );
        assert_eq!(metric(&r, "vip.lb.takeovers"), 1.0, "seed {seed}");
        assert_eq!(metric(&r, "vip.lb.false_takeovers"), 0.0, "seed {seed}");
        let t = metric(&r, "vip.lb.takeover_s_mean");
        assert!(
            (lo - 1e-9..=hi + 1e-9).contains(&t),
            "seed {seed}: takeover {t} s outside [{lo}, {hi}]"
        );
        takeovers.push(t);
        lost += metric(&r, "vip.lb.lost_requests");
        expected += lambda * t;
    }
    let mean = takeovers.iter().sum::<f64>() / takeovers.len() as f64;
    assert!((mean - 0.301).abs() < 0.018, "mean takeover {mean} s");
    let min = takeovers.iter().copied().fold(f64::INFINITY, f64::min);
    let max = takeovers.iter().copied().fold(0.0, f64::max);
    assert!(
        min < lo + 0.02 && max > hi - 0.02,
        "takeovers span [{min}, {max}]"
    );
    let sd = expected.sqrt();
    println!(
        "takeover over 40 seeds: min {min:.4} mean {mean:.4} max {max:.4} s; lost {lost} vs λΣT {expected:.0}"
    );
    assert!(
        (lost - expected).abs() < 4.0 * sd,
        "lost {lost} vs λΣT = {expected:.0} (sd {sd:.0})"
    );
}

#[test]
fn pair_availability_is_one_minus_the_takeover_window() {
    // End-to-end availability over 10 s with one crash at 5 s: the requests lost
    // are those sent during the takeover (mean 301 ms, above) plus the few in
    // flight through the active at the crash (round trip ≈ 5 ms): expected
    // availability ≈ 1 − 0.306 / 10 = 0.9694. Sample: 10 seeds × 2 000 requests;
    // the count lost per seed has sd ≈ √61 + 200·0.029 (phase) ≈ 10, i.e. 0.005
    // in availability, 0.0016 over 10 seeds: tolerance 0.006.
    let mut avail = 0.0;
    for seed in 1..=10 {
        let r = run(
            &pair_scenario(200.0, r#"(at_s: 5.0, action: Crash(node: "lb"))"#),
            seed,
        );
        avail += metric(&r, "availability") / 10.0;
    }
    println!("pair availability over 10 seeds: {avail:.4}");
    assert!(
        (avail - 0.9694).abs() < 0.006,
        "availability {avail} vs 0.9694"
    );
}

#[test]
fn old_active_comes_back_as_standby_and_a_partition_leaves_one_owner() {
    // Restart: lb crashes at 3 s and restarts at 5 s, after lb-b took over
    // (at ≈ 3.3 s). lb must not take the address back: nothing is forwarded by
    // lb after the crash (≈ 3 s × 200/s = 600 requests in all), lb-b serves the
    // rest (≈ 7 s × 200/s), and there is exactly one takeover.
    let r = run(
        &pair_scenario(
            200.0,
            r#"(at_s: 3.0, for_s: 2.0, action: Crash(node: "lb"))"#,
        ),
        1,
    );
    assert_eq!(metric(&r, "vip.lb.takeovers"), 1.0);
    let by_lb = metric(&r, "lb.lb.backend.b0.requests") + metric(&r, "lb.lb.backend.b1.requests");
    let by_b =
        metric(&r, "lb.lb-b.backend.b0.requests") + metric(&r, "lb.lb-b.backend.b1.requests");
    assert!(
        (500.0..700.0).contains(&by_lb),
        "the old active forwarded {by_lb} (only before its crash)"
    );
    assert!(
        (1250.0..1550.0).contains(&by_b),
        "the standby forwarded {by_b}"
    );
    // Partition: heartbeats cannot cross for 2 s, both members stay up. lb-b
    // suspects lb and takes the address (a false takeover: no crash); lb sees at
    // its next heartbeat round that it no longer owns it and stands by, hears
    // nothing either and takes it back, and so on: the address moves every
    // cycle of τ + D plus up to one round i, i.e. every [350, 451] ms, so 2 s of
    // partition give between ⌊2/0.451⌋ = 4 and ⌈2/0.35⌉ = 6 moves. It never has
    // two owners (one slot per address), clients reach both members, so no
    // request is lost; after the heal the owner's heartbeats reach the other
    // and the moves stop (the count is the same with a 10 s run as with 7 s).
    let part = r#"(at_s: 3.0, for_s: 2.0, action: Partition(groups: [["lb"], ["lb-b"]]))"#;
    let r = run(&pair_scenario(200.0, part), 1);
    let moves = metric(&r, "vip.lb.false_takeovers");
    assert!((4.0..=6.0).contains(&moves), "{moves} false takeovers");
    assert_eq!(metric(&r, "vip.lb.takeovers"), 0.0);
    assert_eq!(metric(&r, "timeouts") + metric(&r, "errors"), 0.0);
    let short = run(
        &pair_scenario(200.0, part).replace("duration_s: 10.0", "duration_s: 7.0"),
        1,
    );
    assert_eq!(
        metric(&short, "vip.lb.false_takeovers"),
        moves,
        "no move after the heal"
    );
}

/// `n` clients at `rate`/s each resolve `dns` (record lb-a, lb-b; TTL `ttl_s`;
/// checks every 100 ms, timeout 50 ms, 3 failures) and alternate between the
/// two balancers; lb-b crashes at 10.05 s for good.
fn dns_scenario(n: usize, rate: f64, ttl_s: f64) -> String {
    let clients: String = (0..n)
        .map(|k| {
            format!(
                "Client(name: \"c{k}\", target: \"dns\", workload: Poisson(rate_per_s: {rate}), timeout_ms: 200.0),\n"
            )
        })
        .collect();
    format!(
        r#"Scenario(
    name: "dns",
    duration_s: 16.0,
    nodes: [
        {clients}
        Dns(name: "dns", addresses: ["lb-a", "lb-b"], ttl_s: {ttl_s},
            health: (interval_ms: 100.0, timeout_ms: 50.0, unhealthy_threshold: 3)),
        LoadBalancer(name: "lb-a", backends: ["b0", "b1"], policy: RoundRobin),
        LoadBalancer(name: "lb-b", backends: ["b0", "b1"], policy: RoundRobin),
        Server(name: "b0", workers: 16, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 16, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [(at_s: 10.05, action: Crash(node: "lb-b"))],
)"#
    )
}

#[test]
fn dns_round_robin_failures_after_a_crash_follow_the_ttl_arithmetic() {
    // Arithmetic. Each client alternates its requests between the cached
    // addresses, so half of what it generates goes to lb-b while its cache holds
    // lb-b. The DNS checks at multiples of 100 ms: the check at 10.0 s succeeds,
    // those at 10.1, 10.2, 10.3 s fail at +50 ms, so lb-b leaves the answer at
    // δ = 0.3 s after the crash (inside health.rs's bounds [0.249, 0.349) s).
    // A client's cache cycle: valid for T, then it waits for its next request
    // (Exp, mean 1/r) and a query round trip (2d = 2 ms) before a new answer: mean
    // cycle L = T + 1/r + 2d. By the renewal-reward theorem the cache current at
    // c + δ stays valid for E[R] = (T/L)·(T/2) = T²/(2L) more (0 if it is
    // waiting). Requests generated from c until then hit lb-b half the time:
    // expected failures per client (r/2)(δ + T²/(2L)). Clients' phases are
    // independent and uniform (first answer's TTL scaled by U(0,1]; by 10 s the
    // waits have mixed the remaining (T, L] part).
    // Numbers: n = 40 clients, r = 10/s, T = 2 s: L = 2.102 s, E[R] = 0.9515 s,
    // 250.3 failures per seed. Variance per client: R is 0 w.p. 1 − T/L, else
    // U(0,T): Var R = (T/L)(T²/3) − E[R]² = 0.363 s²; failures ≈ Poisson given R:
    // var = (r/2)E[δ+R] + (r/2)² Var R ≈ 15.3. Sample: 20 seeds × 40 clients =
    // 800 independent client histories: sd of the total ≈ √(800·15.3) ≈ 111 on
    // ≈ 5 006; tolerance 4 sd (≈ 9 %). Requests in flight to lb-b at the crash
    // (≈ 200/s × 4 ms ≈ 1 per seed) are inside the tolerance.
    let (n, r, ttl, d) = (40.0, 10.0, 2.0, 0.001);
    let delta = 0.3;
    let l = ttl + 1.0 / r + 2.0 * d;
    let er = ttl * ttl / (2.0 * l);
    let seeds = 20;
    let per_client = r / 2.0 * (delta + er);
    let expected = per_client * n * seeds as f64;
    let var_r = (ttl / l) * ttl * ttl / 3.0 - er * er;
    let var_client = per_client + (r / 2.0).powi(2) * var_r;
    let sd = (var_client * n * seeds as f64).sqrt();
    let mut failed = 0.0;
    for seed in 1..=seeds {
        let res = run(&dns_scenario(n as usize, r, ttl), seed);
        assert!(
            (metric(&res, "dns.dns.detect_s_mean") - delta).abs() < 1e-6,
            "detection at δ = 0.3 s"
        );
        assert_eq!(metric(&res, "errors"), 0.0);
        failed += metric(&res, "timeouts");
    }
    assert!(
        (failed - expected).abs() < 4.0 * sd,
        "failed {failed} vs expected {expected:.0} (sd {sd:.0})"
    );
    // A 2× longer TTL costs more in the same proportion: T = 4 s gives
    // L = 4.102 s, E[R] = 16/8.204 = 1.950 s, so (r/2)(0.3 + 1.950)·n = 450 per
    // seed, 1.8× the T = 2 s figure (a check that the TTL is what is measured;
    // 3 seeds, sd ≈ 4 % each, so the ratio is asserted within [1.5, 2.1]).
    let long: f64 = (1..=3)
        .map(|seed| metric(&run(&dns_scenario(40, r, 4.0), seed), "timeouts"))
        .sum::<f64>()
        / 3.0;
    let ratio = long / (failed / seeds as f64);
    println!(
        "TTL 2 s: {failed} failed over {seeds} seeds (expected {expected:.0}, sd {sd:.0}); TTL 4 s: {long} per seed, ratio {ratio:.2}"
    );
    assert!(
        (1.5..2.1).contains(&ratio),
        "TTL 4 s: {long} failures per seed, {ratio:.2}× the TTL 2 s figure"
    );
}

#[test]
fn sticky_sessions_break_once_per_session_of_the_dead_backend() {
    // One client with 200 sessions, Sticky over RoundRobin across 4 backends:
    // each new session is pinned to the next backend in turn, so 50 sessions are
    // pinned to each (all 200 are seen in the first 5 s at 200 req/s but for
    // ≈ 200·e⁻⁵ ≈ 1.3). b1 crashes at 5 s; once health checks eject it, each of
    // its sessions is re-pinned at its next request (each sends ≈ 5 more): 50
    // breaks, minus those of the ≈ 1.3 unseen sessions. Without the crash: 0.
    let text = |faults: &str| {
        format!(
            r#"Scenario(
    name: "sticky",
    duration_s: 10.0,
    nodes: [
        Client(name: "c", target: "lb", workload: Poisson(rate_per_s: 200.0), timeout_ms: 200.0, sessions: 200),
        LoadBalancer(name: "lb", backends: ["b0", "b1", "b2", "b3"], policy: Sticky(inner: RoundRobin),
            health: (interval_ms: 100.0, timeout_ms: 50.0)),
        Server(name: "b0", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b2", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b3", workers: 4, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [{faults}],
)"#
        )
    };
    for seed in 1..=3 {
        let r = run(&text(r#"(at_s: 5.0, action: Crash(node: "b1"))"#), seed);
        let breaks = metric(&r, "affinity_breaks");
        println!("seed {seed}: {breaks} sessions broken");
        assert!(
            (45.0..=50.0).contains(&breaks),
            "seed {seed}: {breaks} sessions broken"
        );
        let calm = run(&text(""), seed);
        assert_eq!(metric(&calm, "affinity_breaks"), 0.0);
    }
}

#[test]
fn offered_load_follows_pairs_smart_clients_and_dns_records() {
    let text = r#"Scenario(
    name: "load",
    duration_s: 1.0,
    nodes: [
        Client(name: "pair-c", target: "lb", workload: Poisson(rate_per_s: 100.0)),
        Client(name: "smart", workload: Poisson(rate_per_s: 60.0),
            balance: (backends: ["s0", "s1", "s2"], weights: [1, 1, 4], policy: WeightedRoundRobin)),
        Client(name: "dns-c", target: "dns", workload: Poisson(rate_per_s: 80.0)),
        LoadBalancer(name: "lb", backends: ["p0", "p1"], policy: RoundRobin, standby: "lb-b"),
        LoadBalancer(name: "lb-b", backends: ["p0", "p1"], policy: RoundRobin),
        Dns(name: "dns", addresses: ["d0", "d1"], ttl_s: 1.0),
        Server(name: "p0", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "p1", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "s0", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "s1", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "s2", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "d0", workers: 1, service: Exponential(mean_ms: 1.0)),
        Server(name: "d1", workers: 1, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
)"#;
    let loaded = load_str(Path::new("load.ron"), text).expect("valid");
    let sc = &loaded.base;
    let load = sim::offered_load_explained(sc);
    let at = |name: &str| {
        let i = sc.nodes.iter().position(|n| n.name == name).expect("node");
        load[i]
    };
    let close = |name: &str, want: f64| {
        let got = at(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
    };
    close("lb", 100.0);
    close("lb-b", 0.0);
    close("p0", 50.0);
    close("p1", 50.0);
    close("s0", 10.0);
    close("s1", 10.0);
    close("s2", 40.0);
    close("d0", 40.0);
    close("d1", 40.0);
    assert!(at("dns").is_err(), "a DNS node sees queries, not requests");
}

#[test]
fn lb_failover_scenario_ranks_the_set_ups() {
    // The bundled scenario, seed 1 of each variant: the lone balancer loses its
    // 10 s outage (availability ≈ 2/3 of the requests), DNS round robin loses
    // about (δ + T/2)·λ/2 ≈ 280 requests, the pair ≈ 60, smart clients none to
    // the balancer crash; the sticky pair breaks ≈ 50 sessions when app-2 dies.
    // (`sticky-pair` with and without session-table sync is checked below.)
    let loaded = capsim::scenario::load_file(Path::new("scenarios/lb-failover.ron"))
        .unwrap_or_else(|e| panic!("{e}"));
    let get = |name: &str| {
        let v = loaded
            .variants
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("variant {name}"));
        sim::run(&v.scenario, 1)
    };
    let single = get("single");
    let pair = get("pair");
    let smart = get("smart-client");
    let dns = get("dns-rr");
    let retry = get("dns-rr-retry");
    let sticky = get("sticky-pair");
    let a = |r: &RunResult| metric(r, "availability");
    assert!((0.6..0.7).contains(&a(&single)), "single {}", a(&single));
    assert!(a(&single) < a(&dns) && a(&dns) < a(&pair) && a(&pair) < a(&smart));
    assert!(a(&retry) > a(&dns));
    let t = metric(&pair, "vip.lb.takeover_s_mean");
    assert!((0.25..0.351).contains(&t), "takeover {t}");
    let lost = metric(&pair, "vip.lb.lost_requests");
    assert!((20.0..120.0).contains(&lost), "pair lost {lost}");
    let dns_failed = metric(&dns, "timeouts");
    assert!(
        (100.0..500.0).contains(&dns_failed),
        "dns-rr failed {dns_failed}"
    );
    let breaks = metric(&sticky, "affinity_breaks");
    assert!((35.0..=55.0).contains(&breaks), "sticky breaks {breaks}");
    // Without the table the takeover at 10 s moves ≈ 3/4 of the 200 sessions
    // on top of the breaks; with `sync_sessions` only the breaks move sessions.
    let moves = metric(&sticky, "session_moves");
    assert!(
        (breaks + 120.0..=breaks + 180.0).contains(&moves),
        "sticky moves {moves}, breaks {breaks}"
    );
    let synced = get("sticky-pair-synced");
    let moves_synced = metric(&synced, "session_moves");
    let breaks_synced = metric(&synced, "affinity_breaks");
    assert_eq!(
        moves_synced, breaks_synced,
        "synced pair moves only broken sessions"
    );
    assert!(
        (35.0..=55.0).contains(&breaks_synced),
        "synced breaks {breaks_synced}"
    );
    assert!(
        smart.balancers.len() >= 4,
        "smart clients record per-backend series"
    );
}

#[test]
fn balancers_csv_has_a_share_per_backend_and_bucket() {
    // The `pair` variant of the bundled scenario through the real binary: every
    // run folder gets `balancers.csv` with one row per (balancer, backend,
    // 1 s bucket): 2 balancers × 4 backends × 30 buckets; in each bucket where a
    // balancer sent anything its backends' shares add up to 1, and the standby
    // sends nothing before the crash at 10 s while the crashed active sends
    // nothing from 10 s on.
    let out = std::env::temp_dir().join(format!("capsim-lbf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "run",
            "scenarios/lb-failover.ron",
            "--seeds",
            "1",
            "--variant",
            "pair",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("capsim runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("runs/pair/seed-1/balancers.csv"))
        .expect("balancers.csv written");
    let _ = std::fs::remove_dir_all(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "scenario,capsim_version,seed,balancer,backend,t_s,requests,share,outstanding_mean,latency_ms_mean"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 4 * 30);
    let mut share: std::collections::BTreeMap<(&str, u32), f64> = Default::default();
    for r in &rows {
        let t: f64 = r[5].parse().expect("t_s");
        let n: u64 = r[6].parse().expect("requests");
        match (r[3], t < 10.0) {
            ("lb-b", true) | ("lb", false) => assert_eq!(n, 0, "{r:?}"),
            _ => {}
        }
        if n > 0 {
            *share.entry((r[3], t as u32)).or_default() += r[7].parse::<f64>().expect("share");
        }
    }
    assert!(share.len() > 20);
    for (k, s) in share {
        assert!((s - 1.0).abs() < 1e-3, "{k:?}: shares add to {s}");
    }
}

#[test]
fn smart_client_health_checks_detect_a_crash_at_the_derived_time() {
    // A smart client checks each backend every i = 100 ms from t = 0 (timeout
    // τ = 50 ms, k = 3 failures; 1 ms links, so a = 1 ms). b1 crashes at 5.05 s:
    // the check sent at 5.0 s arrives at 5.001 s and passes, those at 5.1, 5.2,
    // 5.3 s fail at +50 ms: ejected 0.3 s after the crash, inside health.rs's
    // bounds [(k−1)i + τ − a, k·i + τ − a) = [0.249, 0.349) s. Requests picked
    // for b1 in between time out; afterwards all go to b0 (no more failures).
    let text = r#"Scenario(
    name: "smart",
    duration_s: 10.0,
    nodes: [
        Client(name: "c", workload: Poisson(rate_per_s: 100.0), timeout_ms: 100.0,
            balance: (backends: ["b0", "b1"], policy: RoundRobin,
                health: (interval_ms: 100.0, timeout_ms: 50.0, unhealthy_threshold: 3))),
        Server(name: "b0", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 4, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [(at_s: 5.05, action: Crash(node: "b1"))],
)"#;
    for seed in 1..=3 {
        let r = run(text, seed);
        let d = metric(&r, "lb.c.detect_s_mean");
        assert!((d - 0.3).abs() < 1e-6, "seed {seed}: detected after {d} s");
        assert_eq!(metric(&r, "lb.c.false_ejections"), 0.0);
        // ≈ 100/s × 0.3 s / 2 = 15 requests went to b1 before the ejection.
        let lost = metric(&r, "timeouts");
        assert!((3.0..=35.0).contains(&lost), "seed {seed}: {lost} timeouts");
    }
}

#[test]
fn a_synced_pair_keeps_sticky_sessions_across_takeovers() {
    // One client with 200 sessions (200 req/s) → sticky pair (round robin for a
    // session's first request) → 4 backends, every link 1 ms. `lb` crashes at
    // 3 s and restarts at 4 s (as the standby); `lb-b` crashes at 6 s, so `lb`
    // takes the address back at ≈ 6.3 s. No backend fails: every session move is
    // caused by a takeover.
    //
    // Without the table, the new owner pins each session afresh, round robin in
    // the order the sessions show up: a session lands on its old backend with
    // probability ≈ 1/4, so each takeover moves ≈ 3/4 × 200 = 150 sessions
    // (binomial sd ≈ 6), ≈ 300 for both. With `sync_sessions` each pin reaches
    // the standby 1 ms after it is made, and the restarted `lb` asks `lb-b` for
    // the whole table: no session moves at all.
    let text = |sync: bool| {
        format!(
            r#"Scenario(
    name: "sticky-sync",
    duration_s: 10.0,
    warmup: Seconds(1.0),
    nodes: [
        Client(name: "c", target: "lb", workload: Poisson(rate_per_s: 200.0), timeout_ms: 200.0, sessions: 200),
        LoadBalancer(name: "lb", backends: ["b0", "b1", "b2", "b3"], policy: Sticky(inner: RoundRobin),
            standby: "lb-b", heartbeat: (interval_ms: 100.0, timeout_ms: 300.0), sync_sessions: {sync}),
        LoadBalancer(name: "lb-b", backends: ["b0", "b1", "b2", "b3"], policy: Sticky(inner: RoundRobin)),
        Server(name: "b0", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b2", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b3", workers: 4, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [
        (at_s: 3.0, for_s: 1.0, action: Crash(node: "lb")),
        (at_s: 6.0, action: Crash(node: "lb-b")),
    ],
)"#
        )
    };
    for seed in 1..=3 {
        let plain = run(&text(false), seed);
        let synced = run(&text(true), seed);
        let moves = metric(&plain, "session_moves");
        let moves_synced = metric(&synced, "session_moves");
        println!("seed {seed}: {moves} session moves without sync, {moves_synced} with");
        assert_eq!(metric(&plain, "vip.lb.takeovers"), 2.0);
        assert_eq!(metric(&synced, "vip.lb.takeovers"), 2.0);
        assert!(
            (250.0..=350.0).contains(&moves),
            "seed {seed}: {moves} moves without sync (expected ≈ 300)"
        );
        assert_eq!(moves_synced, 0.0, "seed {seed}: sessions moved with sync");
        // Re-pins are counted per balancer only when a backend fails: none here.
        assert_eq!(metric(&plain, "affinity_breaks"), 0.0);
    }
}

#[test]
fn a_smart_client_s_sticky_sessions_move_only_when_their_backend_dies() {
    // One smart client with 200 sessions (400 req/s) balancing over 4 backends with
    // Sticky(inner: RoundRobin): each session is pinned at its first request, round
    // robin, so the n-th session seen goes to backend n mod 4: 50 sessions on each
    // once all 200 have been seen. b1 crashes at 3 s for good; health checks eject
    // it ~0.3 s later and its sessions are re-pinned: exactly the sessions pinned to
    // b1 move, once each. A session has no request in the first 3 s with probability
    // e^(−2/s × 3 s) ≈ 0.25% (≈ 0.5 of 200 expected); it is pinned later and does
    // not move. So 45–50 moves (measured 50 in seeds 1–3). Without the crash: none.
    // The client's moves are counted like a sticky balancer's (`session_moves`).
    let text = |crash: bool| {
        let faults = if crash {
            r#"(at_s: 3.0, action: Crash(node: "b1"))"#
        } else {
            ""
        };
        format!(
            r#"Scenario(
    name: "smart-sticky",
    duration_s: 8.0,
    warmup: Seconds(1.0),
    nodes: [
        Client(name: "c", workload: Poisson(rate_per_s: 400.0), timeout_ms: 100.0, sessions: 200,
            balance: (backends: ["b0", "b1", "b2", "b3"], policy: Sticky(inner: RoundRobin),
                health: (interval_ms: 100.0, timeout_ms: 50.0, unhealthy_threshold: 3))),
        Server(name: "b0", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b1", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b2", workers: 4, service: Exponential(mean_ms: 1.0)),
        Server(name: "b3", workers: 4, service: Exponential(mean_ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [{faults}],
)"#
        )
    };
    for seed in 1..=3 {
        let calm = metric(&run(&text(false), seed), "session_moves");
        let moves = metric(&run(&text(true), seed), "session_moves");
        println!("seed {seed}: {moves} session moves with b1 crashed, {calm} without");
        assert_eq!(calm, 0.0, "seed {seed}: sessions moved without a failure");
        assert!(
            (45.0..=50.0).contains(&moves),
            "seed {seed}: {moves} moves (expected ≈ 50, the sessions pinned to b1)"
        );
    }
}
