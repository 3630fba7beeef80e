//! End-to-end `capsim history check`: the built binary on the bundled
//! histories, checking exit codes (0 linearizable, 1 not, 2 bad input) and the
//! model selection (`--model auto|cas-register|kv`).

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_capsim");

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/histories")
        .join(name)
}

fn check(file: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["history", "check"])
        .arg(data(file))
        .args(extra)
        .output()
        .expect("run capsim")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Porcupine's kv logs get Porcupine's expected verdicts, with the model
/// picked automatically and when forced.
#[test]
fn porcupine_kv_logs_exit_with_their_expected_verdicts() {
    for (file, expected) in [
        ("porcupine-kv/c01-ok.txt", 0),
        ("porcupine-kv/c01-bad.txt", 1),
        ("porcupine-kv/c10-ok.txt", 0),
        ("porcupine-kv/c10-bad.txt", 1),
    ] {
        for extra in [&[][..], &["--model", "kv"][..], &["--model", "auto"][..]] {
            let o = check(file, extra);
            assert_eq!(code(&o), expected, "{file} {extra:?}: {}", stdout(&o));
            let out = stdout(&o);
            assert!(out.contains("key-value model"), "{out}");
            let verdict = if expected == 0 {
                "verdict: linearizable"
            } else {
                "verdict: NOT linearizable"
            };
            assert!(out.contains(verdict), "{file}: {out}");
        }
    }
}

/// The register histories keep their verdicts and exit codes under `auto`
/// and `cas-register`.
#[test]
fn register_histories_keep_their_exit_codes() {
    for (file, expected) in [
        ("etcd-stale-read-after-cas.log", 1),
        ("etcd-timeout-took-effect.log", 0),
        ("knossos-style-stale-read.edn", 1),
    ] {
        for extra in [&[][..], &["--model", "cas-register"][..]] {
            let o = check(file, extra);
            assert_eq!(code(&o), expected, "{file} {extra:?}: {}", stdout(&o));
            assert!(stdout(&o).contains("register"), "{}", stdout(&o));
        }
    }
}

/// The wrong model is bad input (exit 2) with a hint, not a verdict.
#[test]
fn wrong_model_is_bad_input_with_a_hint() {
    let o = check("porcupine-kv/c01-ok.txt", &["--model", "cas-register"]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--model kv"), "{err}");

    let o = check("etcd-timeout-took-effect.log", &["--model", "kv"]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":get, :put and :append"), "{err}");

    let o = check("porcupine-kv/c01-ok.txt", &["--model", "bogus"]);
    assert_eq!(code(&o), 2);
}

/// By default the check stops at the first key proven non-linearizable (in
/// key order) and says how many keys it left; `--all-keys` checks them all.
/// The verdict is the same, and the output does not depend on the thread count
/// (c10-bad: key "0" fails, 9 keys after it; 575 steps against 16,705).
#[test]
fn the_check_stops_at_the_first_violation_unless_all_keys_is_asked() {
    let file = "porcupine-kv/c10-bad.txt";
    let first = check(file, &[]);
    let all = check(file, &["--all-keys"]);
    assert_eq!(code(&first), 1);
    assert_eq!(code(&all), 1);
    let (a, b) = (stdout(&first), stdout(&all));
    assert!(a.contains("verdict: NOT linearizable (key \"0\")"), "{a}");
    assert!(b.contains("verdict: NOT linearizable (key \"0\")"), "{b}");
    assert!(a.contains("9 later keys not checked"), "{a}");
    assert!(!b.contains("not checked"), "{b}");
    let steps = |s: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix("search steps: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no steps in {s}"))
    };
    assert!(steps(&a) < steps(&b), "{a}\n{b}");
    // Same bytes on one thread as on the default pool.
    let one = Command::new(BIN)
        .args(["history", "check"])
        .arg(data(file))
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("run capsim");
    assert_eq!(stdout(&one), a);
}
