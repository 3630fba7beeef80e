//! The system-design exercises bundled as scenarios (tiny URL, Twitter timeline),
//! shortened, must show the trade-offs they are there to teach; and every bundled
//! scenario must pass `check`.

use capsim::scenario::{load_file, load_str};
use capsim::sim::{self, RunResult};
use std::path::Path;

/// Runs `variant` of the scenario text (each sweep point is its own variant) for
/// one seed.
fn run_variants(file: &str, text: &str) -> Vec<(String, RunResult)> {
    let loaded = load_str(Path::new(file), text).expect("valid");
    loaded
        .variants
        .iter()
        .map(|v| (v.name.clone(), sim::run(&v.scenario, 1)))
        .collect()
}

fn m(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn every_bundled_scenario_passes_check() {
    let mut names: Vec<_> = std::fs::read_dir("scenarios")
        .expect("scenarios/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "bundled scenarios: {names:?}");
    for p in names {
        if let Err(e) = load_file(&p) {
            panic!("{}: {e:?}", p.display());
        }
    }
}

/// Tiny URL, 15 s instead of 40: the database sees only the misses, so a bigger
/// cache must raise the hit ratio and lower the database's utilisation at every
/// step; the smallest cache (100 entries) leaves the database saturated
/// (utilisation > 0.95, most redirects failing) and the largest keeps p99 under
/// 50 ms with every request answered.
#[test]
fn tiny_url_cache_size_walks_the_database_from_saturation_to_idle() {
    let text = std::fs::read_to_string("scenarios/tiny-url.ron")
        .expect("bundled")
        .replace("duration_s: 40.0", "duration_s: 15.0");
    let rs = run_variants("scenarios/tiny-url.ron", &text);
    assert_eq!(rs.len(), 4, "four cache sizes");
    let hit: Vec<f64> = rs
        .iter()
        .map(|(_, r)| m(r, "cache.cache.hit_ratio"))
        .collect();
    let db: Vec<f64> = rs
        .iter()
        .map(|(_, r)| m(r, "node.links-db.utilization"))
        .collect();
    for k in 1..4 {
        assert!(hit[k] > hit[k - 1], "hit ratio by size: {hit:?}");
        assert!(db[k] < db[k - 1], "database utilisation by size: {db:?}");
    }
    assert!(db[0] > 0.95, "100 entries: database utilisation {}", db[0]);
    assert!(m(&rs[0].1, "availability") < 0.5);
    assert!(m(&rs[3].1, "availability") == 1.0);
    assert!(m(&rs[3].1, "latency_ms_p99") < 50.0);
}

/// Twitter timeline, full length (40 s, one seed): fan-out on write makes
/// timeline reads cheaper (p99 less than half of scatter-gather's, which waits
/// for the slowest of 8 shards) and takes the 8× read load off the shards, but
/// the celebrity storm overflows its fan-out queue and posts are refused, which
/// never happens with fan-out on read.
#[test]
fn twitter_fan_out_on_write_trades_read_latency_for_a_post_backlog() {
    let text = std::fs::read_to_string("scenarios/twitter-timeline.ron").expect("bundled");
    let rs = run_variants("scenarios/twitter-timeline.ron", &text);
    let get = |name: &str| &rs.iter().find(|(n, _)| n == name).expect(name).1;
    let (read, write) = (get("fan-out-on-read"), get("fan-out-on-write"));
    let p99 = "class.timeline.latency_ms_p99";
    assert!(
        m(write, p99) < 0.5 * m(read, p99),
        "timeline p99: on write {} vs on read {}",
        m(write, p99),
        m(read, p99)
    );
    let shard = "node.shard-1.utilization";
    assert!(m(write, shard) < 0.2 * m(read, shard));
    assert_eq!(m(read, "errors"), 0.0);
    assert!(m(write, "errors") > 100.0, "posts refused by back pressure");
    let fanout = write
        .nodes
        .iter()
        .find(|n| n.name == "fanout")
        .expect("fanout");
    assert!(
        fanout.queue_len_max >= 1900,
        "fan-out backlog {}",
        fanout.queue_len_max
    );
}
