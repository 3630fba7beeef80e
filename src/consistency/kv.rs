//! Linearizability of key-value histories (Porcupine's kv model).
//!
//! This module owns the key-value history types ([`KvOp`], [`KvHistory`]),
//! reading them from EDN op maps such as Porcupine's kv test logs
//! (`{:process 0, :type :invoke, :f :get, :key "6", :value nil}`), and the
//! check, which runs the [`linearizability`](super::linearizability) search
//! engine with a string model instead of the compare-and-set register. It
//! does not print and does not decide exit codes.
//!
//! # Model
//! Each key holds a string, initially `""`. `get` returns it, `put v`
//! replaces it, `append v` concatenates `v` to it. Keys are independent, so
//! each key's sub-history is checked on its own (linearizability is local).
//! States are interned strings (one `u32` id per distinct string), so the
//! memo of the search stays as cheap as for the register.
//!
//! # Outcomes
//! `:ok` took effect once between invocation and completion; `:fail` did not
//! take effect (dropped); `:info`, and an invocation that never completes,
//! may take effect at any time after its invocation, or never: an
//! indeterminate `get` carries no information and is dropped, an
//! indeterminate `put`/`append` may or may not have happened. (Porcupine's own
//! test parser closes unfinished operations with an empty result at the end
//! of the log instead, which forces an unfinished put/append to happen and an
//! unfinished get to return `""`; the rule here is the sound, weaker one. The
//! six Porcupine kv logs have no unfinished operations, so the verdicts agree.)
//! An `:ok :get` whose value is `nil` reads `""` (a missing key).

use super::edn::{self, Edn};
use super::history::Outcome;
use super::jepsen::{HistoryFileError, HistoryFormat, LineProblem};
use super::linearizability::{
    CheckOptions, CoreVerdict, KvStrings, Prepared, UnknownReason, WKind, WOp, WindowInitial,
    check_prepared,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A key-value operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum KvKind {
    /// Read the key's string.
    Get,
    /// Replace it.
    Put,
    /// Concatenate to it.
    Append,
}

/// One client operation on a string key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvOp {
    /// Unique within a history (invocation order).
    pub id: u64,
    /// Client process.
    pub process: u64,
    /// Get, put or append.
    pub kind: KvKind,
    /// The key.
    pub key: String,
    /// Put/append: the argument. Get with `Ok`: the value returned (else empty).
    pub value: String,
    /// Invocation time (event ordinal for files).
    pub invoke_ns: u64,
    /// Completion time; for `Info`, when the client gave up.
    pub complete_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl KvOp {
    fn new(id: u64, process: u64, kind: KvKind, key: &str, value: &str, t: (u64, u64)) -> KvOp {
        KvOp {
            id,
            process,
            kind,
            key: key.to_string(),
            value: value.to_string(),
            invoke_ns: t.0,
            complete_ns: t.1,
            outcome: Outcome::Ok,
        }
    }

    /// An acknowledged get that returned `value`.
    pub fn get(id: u64, process: u64, key: &str, value: &str, invoke: u64, complete: u64) -> KvOp {
        KvOp::new(id, process, KvKind::Get, key, value, (invoke, complete))
    }

    /// An acknowledged put.
    pub fn put(id: u64, process: u64, key: &str, value: &str, invoke: u64, complete: u64) -> KvOp {
        KvOp::new(id, process, KvKind::Put, key, value, (invoke, complete))
    }

    /// An acknowledged append.
    pub fn append(
        id: u64,
        process: u64,
        key: &str,
        value: &str,
        invoke: u64,
        complete: u64,
    ) -> KvOp {
        KvOp::new(id, process, KvKind::Append, key, value, (invoke, complete))
    }

    /// The same op with another outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> KvOp {
        self.outcome = outcome;
        self
    }
}

/// Shortens long strings for display: `"abc…xyz"` (char-safe).
fn quote(s: &str) -> String {
    const KEEP: usize = 16;
    let n = s.chars().count();
    if n <= 2 * KEEP + 3 {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(KEEP).collect();
    let tail: String = s.chars().skip(n - KEEP).collect();
    format!("{:?}", format!("{head}...{tail}"))
}

/// Short description, e.g. `get -> "x 0 1 y"`, `append "x 0 2 y"`.
pub fn describe_kv_op(op: &KvOp) -> String {
    match op.kind {
        KvKind::Get if op.outcome == Outcome::Ok => format!("get -> {}", quote(&op.value)),
        KvKind::Get => "get".to_string(),
        KvKind::Put => format!("put {}", quote(&op.value)),
        KvKind::Append => format!("append {}", quote(&op.value)),
    }
}

/// A key-value history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KvHistory {
    /// The operations, ids in invocation order.
    pub ops: Vec<KvOp>,
}

/// A proven witness for one key (see the register checker's windows: same
/// construction, same soundness argument).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvWindow {
    /// The key.
    pub key: String,
    /// `Nil`: from the initial `""`; `Any`: from every initial string.
    pub initial: WindowInitial,
    /// Window start (`None` = beginning of the history).
    pub start_ns: Option<u64>,
    /// Window end.
    pub cut_ns: u64,
    /// The ops in invocation order, with whether each is treated as
    /// indeterminate inside the window.
    pub ops: Vec<(KvOp, bool)>,
}

impl fmt::Display for KvWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = self
            .start_ns
            .map_or_else(|| "start".to_string(), |s| s.to_string());
        let from = match self.initial {
            WindowInitial::Nil => "starting from the initial empty string",
            WindowInitial::Any => "whatever the value was when the window began",
        };
        let (what, have) = if self.ops.len() == 1 {
            ("this operation".to_string(), "has")
        } else {
            (format!("these {} operations", self.ops.len()), "have")
        };
        writeln!(
            f,
            "key {:?}: {what} (window [{start}, {}]) {have} no linearization, {from}:",
            self.key, self.cut_ns
        )?;
        writeln!(
            f,
            "  {:>8}  {:<44} {:<7} {:>10} {:>10}  note",
            "process", "op", "outcome", "invoke", "complete"
        )?;
        for (op, indeterminate) in &self.ops {
            let outcome = match op.outcome {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Info => "info",
            };
            let complete = if op.outcome == Outcome::Info {
                format!("({})", op.complete_ns)
            } else {
                op.complete_ns.to_string()
            };
            let note = if op.outcome == Outcome::Info {
                "indeterminate: may take effect any time after invoke, or never"
            } else if *indeterminate {
                "outside the window bounds: treated as may-or-may-not"
            } else {
                ""
            };
            let row = format!(
                "  {:>8}  {:<44} {:<7} {:>10} {:>10}  {note}",
                op.process,
                describe_kv_op(op),
                outcome,
                op.invoke_ns,
                complete
            );
            writeln!(f, "{}", row.trim_end())?;
        }
        Ok(())
    }
}

/// Verdict for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum KvKeyVerdict {
    /// A linearization exists.
    Linearizable,
    /// None exists; the window proves it.
    NotLinearizable(KvWindow),
    /// The budget ran out.
    Unknown(UnknownReason),
}

/// Per-key result and search statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvKeyReport {
    /// The key.
    pub key: String,
    /// Ops on the key (all outcomes).
    pub ops: usize,
    /// Ops that took part in the search.
    pub searched_ops: usize,
    /// The verdict.
    pub verdict: KvKeyVerdict,
    /// Steps of the main search.
    pub steps: u64,
    /// Steps of the window minimisation.
    pub window_steps: u64,
    /// Configurations memoised by the main search.
    pub memo_entries: u64,
}

/// Overall verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum KvVerdict {
    /// Every key is linearizable.
    Linearizable,
    /// The first key (in key order) proven non-linearizable.
    NotLinearizable {
        /// The key.
        key: String,
        /// Its witness.
        window: KvWindow,
    },
    /// None proven non-linearizable, but this key ran out of budget.
    Unknown {
        /// The key.
        key: String,
        /// Why.
        reason: UnknownReason,
    },
}

impl fmt::Display for KvVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvVerdict::Linearizable => writeln!(f, "verdict: linearizable"),
            KvVerdict::NotLinearizable { key, window } => {
                writeln!(f, "verdict: NOT linearizable (key {key:?})")?;
                write!(f, "{window}")
            }
            KvVerdict::Unknown { key, reason } => {
                writeln!(f, "verdict: unknown (key {key:?}: {reason})")
            }
        }
    }
}

/// Result of checking a kv history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvCheckResult {
    /// Overall verdict.
    pub verdict: KvVerdict,
    /// Per-key results, ascending by key (string order).
    pub keys: Vec<KvKeyReport>,
    /// Total search steps (main and window searches).
    pub steps: u64,
    /// Keys not checked because an earlier key failed
    /// (`CheckOptions::stop_at_first_violation`).
    pub unchecked_keys: usize,
}

/// Checks a kv history key by key (in parallel if `opts.parallel`; results
/// are identical either way). `opts.failed_cas` does not apply.
pub fn check_kv(history: &KvHistory, opts: &CheckOptions) -> KvCheckResult {
    let mut by_key: BTreeMap<&str, Vec<&KvOp>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let groups: Vec<(&str, Vec<&KvOp>)> = by_key.into_iter().collect();
    let (keys, unchecked_keys) = crate::consistency::linearizability::check_groups(
        &groups,
        opts.parallel,
        opts.stop_at_first_violation,
        |(k, ops)| check_kv_key(k, ops, opts),
        |r: &KvKeyReport| matches!(r.verdict, KvKeyVerdict::NotLinearizable(_)),
    );
    let steps = keys.iter().map(|k| k.steps + k.window_steps).sum();
    let verdict = keys
        .iter()
        .find_map(|k| match &k.verdict {
            KvKeyVerdict::NotLinearizable(w) => Some(KvVerdict::NotLinearizable {
                key: k.key.clone(),
                window: w.clone(),
            }),
            _ => None,
        })
        .or_else(|| {
            keys.iter().find_map(|k| match k.verdict {
                KvKeyVerdict::Unknown(reason) => Some(KvVerdict::Unknown {
                    key: k.key.clone(),
                    reason,
                }),
                _ => None,
            })
        })
        .unwrap_or(KvVerdict::Linearizable);
    KvCheckResult {
        verdict,
        keys,
        steps,
        unchecked_keys,
    }
}

/// Checks one key's ops (any order; sorted here).
fn check_kv_key(key: &str, ops: &[&KvOp], opts: &CheckOptions) -> KvKeyReport {
    let mut sorted: Vec<&KvOp> = ops.to_vec();
    sorted.sort_by_key(|o| (o.invoke_ns, o.id));
    let mut strings = KvStrings::new();
    let mut full = Vec::with_capacity(sorted.len());
    for (i, op) in sorted.iter().enumerate() {
        let ret = op.complete_ns.max(op.invoke_ns);
        let kind = match (op.kind, op.outcome) {
            (_, Outcome::Fail) | (KvKind::Get, Outcome::Info) => continue,
            (KvKind::Get, Outcome::Ok) => WKind::Read,
            (KvKind::Put, _) => WKind::Write,
            (KvKind::Append, _) => WKind::Append,
        };
        full.push(WOp {
            src: i as u32,
            kind,
            a: strings.intern(&op.value),
            b: 0,
            call: op.invoke_ns,
            ret: (op.outcome == Outcome::Ok).then_some(ret),
        });
    }
    let prep = Prepared {
        full,
        nvalues: strings.len(),
        has_failed_cas: false,
        kv: Some(std::cell::RefCell::new(strings)),
    };
    let core = check_prepared(&prep, opts);
    let verdict = match core.verdict {
        CoreVerdict::Linearizable => KvKeyVerdict::Linearizable,
        CoreVerdict::Unknown(r) => KvKeyVerdict::Unknown(r),
        CoreVerdict::NotLinearizable(start, cut, wops) => {
            let mut ops: Vec<(KvOp, bool)> = wops
                .iter()
                .map(|w| (sorted[w.src as usize].clone(), w.ret.is_none()))
                .collect();
            ops.sort_by_key(|(o, _)| (o.invoke_ns, o.id));
            KvKeyVerdict::NotLinearizable(KvWindow {
                key: key.to_string(),
                initial: if start.is_some() {
                    WindowInitial::Any
                } else {
                    WindowInitial::Nil
                },
                start_ns: start,
                cut_ns: cut,
                ops,
            })
        }
    };
    KvKeyReport {
        key: key.to_string(),
        ops: sorted.len(),
        searched_ops: core.searched_ops,
        verdict,
        steps: core.steps,
        window_steps: core.window_steps,
        memo_entries: core.memo_entries,
    }
}

// ---------------------------------------------------------------------------
// Reading EDN kv histories

fn problem(line: usize, message: impl Into<String>, hint: impl Into<String>) -> LineProblem {
    LineProblem {
        line,
        message: message.into(),
        hint: hint.into(),
    }
}

const KV_F_HINT: &str = "the kv model reads :get, :put and :append operations (use --model cas-register for :read/:write/:cas)";
const KV_VALUE_HINT: &str =
    "a :put/:append invocation carries the string argument, e.g. :value \"x 0 1 y\"";

/// Reads the top-level EDN forms (one map per line, or a history wrapped in a
/// vector or list) with their line numbers; stops at the first syntax error.
fn edn_forms(text: &str) -> (Vec<(Edn, usize)>, Option<LineProblem>) {
    let mut reader = edn::Reader::new(text);
    let mut forms = Vec::new();
    let wrapped = matches!(reader.peek_significant(), Some('[' | '('));
    let mut close = None;
    if wrapped {
        close = Some(if reader.consume() == Some('[') {
            ']'
        } else {
            ')'
        });
    }
    loop {
        match (reader.peek_significant(), close) {
            (None, Some(c)) => {
                let p = problem(
                    reader.line(),
                    format!("unclosed history: missing `{c}`"),
                    "the file looks truncated",
                );
                return (forms, Some(p));
            }
            (None, None) => return (forms, None),
            (Some(c), Some(cl)) if c == cl => {
                reader.consume();
                close = None;
                continue;
            }
            _ => {}
        }
        let line = reader.line();
        match reader.read() {
            Ok(Some(form)) => forms.push((form, line)),
            Ok(None) => return (forms, None),
            Err(e) => {
                let p = problem(
                    e.line,
                    format!("EDN syntax error: {}", e.message),
                    "the rest of the file was not read",
                );
                return (forms, Some(p));
            }
        }
    }
}

fn keyword(e: Option<&Edn>) -> Option<&str> {
    match e {
        Some(Edn::Keyword(k)) => Some(k.as_str()),
        _ => None,
    }
}

/// True if the text is an EDN history whose first client operation is a
/// `:get`, `:put` or `:append` (what `--model auto` uses).
pub fn is_kv_history(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with(';'));
    if !first.is_some_and(|l| l.starts_with(['{', '[', '(', '#'])) {
        return false;
    }
    let (forms, _) = edn_forms(text);
    forms
        .iter()
        .filter(|(f, _)| matches!(f.get("process"), Some(Edn::Int(_))))
        .find_map(|(f, _)| keyword(f.get("f")))
        .is_some_and(|f| matches!(f, "get" | "put" | "append"))
}

struct RawKv {
    line: usize,
    process: u64,
    ty: &'static str,
    kind: KvKind,
    key: String,
    value: Option<String>,
}

/// Interprets one op map; `Ok(None)` for events to skip (named processes).
fn kv_event(map: &Edn, line: usize) -> Result<Option<RawKv>, LineProblem> {
    if !map.is_map() {
        return Err(problem(
            line,
            format!("expected an op map, found {map}"),
            "each event must be a map like {:process 0, :type :invoke, :f :get, :key \"6\", :value nil}",
        ));
    }
    let process = match map.get("process") {
        Some(Edn::Int(p)) if *p >= 0 => *p as u64,
        Some(Edn::Keyword(_)) => return Ok(None),
        Some(other) => {
            return Err(problem(
                line,
                format!("unsupported :process {other}"),
                "expected a non-negative integer (named processes such as :nemesis are skipped)",
            ));
        }
        None => {
            return Err(problem(
                line,
                "op map without :process",
                "every op needs :process, :type, :f, :key and :value",
            ));
        }
    };
    let ty = match keyword(map.get("type")) {
        Some("invoke") => "invoke",
        Some("ok") => "ok",
        Some("fail") => "fail",
        Some("info") => "info",
        other => {
            return Err(problem(
                line,
                format!(
                    "unknown event type {}",
                    other.map_or("(none)".to_string(), |t| format!("`:{t}`"))
                ),
                "expected :invoke, :ok, :fail or :info",
            ));
        }
    };
    let kind = match keyword(map.get("f")) {
        Some("get") => KvKind::Get,
        Some("put") => KvKind::Put,
        Some("append") => KvKind::Append,
        other => {
            return Err(problem(
                line,
                format!(
                    "unsupported operation {}",
                    other.map_or("(no keyword :f)".to_string(), |f| format!("`:{f}`"))
                ),
                KV_F_HINT,
            ));
        }
    };
    let key = match map.get("key") {
        Some(Edn::Str(s)) => s.clone(),
        Some(Edn::Int(i)) => i.to_string(),
        Some(other) => {
            return Err(problem(
                line,
                format!("unsupported :key {other}"),
                "a :key is a string or an integer, e.g. :key \"6\"",
            ));
        }
        None => {
            return Err(problem(
                line,
                "op map without :key",
                "kv operations name their key, e.g. :key \"6\"",
            ));
        }
    };
    let value = match map.get("value") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s)) => Some(s.clone()),
        Some(other) => {
            return Err(problem(
                line,
                format!("unsupported :value {other}"),
                "kv values are strings (or nil for a :get invocation)",
            ));
        }
    };
    Ok(Some(RawKv {
        line,
        process,
        ty,
        kind,
        key,
        value,
    }))
}

/// A parsed kv history file.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedKvHistory {
    /// The operations.
    pub history: KvHistory,
    /// Always EDN.
    pub format: HistoryFormat,
}

/// Parses an EDN kv history (Porcupine's kv log format): invocations and
/// completions are paired by process, in file order (times are event
/// ordinals). Every problem is reported with its line.
pub fn parse_kv(text: &str) -> Result<ParsedKvHistory, HistoryFileError> {
    if let Some((i, _)) = text
        .lines()
        .map(str::trim_start)
        .enumerate()
        .find(|(_, l)| !l.is_empty() && !l.starts_with(';'))
        .filter(|(_, l)| !l.starts_with(['{', '[', '(', '#']))
    {
        return Err(HistoryFileError::Invalid {
            problems: vec![problem(
                i + 1,
                "not an EDN history: the kv model reads EDN op maps such as {:process 0, :type :invoke, :f :get, :key \"6\", :value nil}",
                KV_F_HINT,
            )],
        });
    }
    let (forms, syntax) = edn_forms(text);
    let mut problems: Vec<LineProblem> = syntax.into_iter().collect();
    let mut ops: Vec<KvOp> = Vec::new();
    let mut pending: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    let mut time = 0u64;
    for (form, line) in &forms {
        time += 1;
        let ev = match kv_event(form, *line) {
            Ok(Some(ev)) => ev,
            Ok(None) => continue,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let fname = match ev.kind {
            KvKind::Get => ":get",
            KvKind::Put => ":put",
            KvKind::Append => ":append",
        };
        if ev.ty == "invoke" {
            if let Some((_, l0)) = pending.get(&ev.process) {
                problems.push(problem(
                    ev.line,
                    format!(
                        "process {} invokes again while its operation from line {l0} has no completion",
                        ev.process
                    ),
                    "a process runs one operation at a time",
                ));
            }
            let value = match (ev.kind, ev.value) {
                (KvKind::Get, _) => String::new(),
                (_, Some(v)) => v,
                (_, None) => {
                    problems.push(problem(
                        ev.line,
                        format!("{fname} invocation without a string :value"),
                        KV_VALUE_HINT,
                    ));
                    String::new()
                }
            };
            let id = ops.len() as u64;
            let mut op = KvOp::new(id, ev.process, ev.kind, &ev.key, &value, (time, time));
            op.outcome = Outcome::Info;
            ops.push(op);
            pending.insert(ev.process, (ops.len() - 1, ev.line));
            continue;
        }
        let Some((idx, l0)) = pending.remove(&ev.process) else {
            problems.push(problem(
                ev.line,
                format!(
                    ":{} {fname} completion for process {} without a preceding :invoke",
                    ev.ty, ev.process
                ),
                "each completion must follow an :invoke from the same process",
            ));
            continue;
        };
        let op = &mut ops[idx];
        if op.kind != ev.kind || op.key != ev.key {
            problems.push(problem(
                ev.line,
                format!(
                    ":{} {fname} on key {:?} completes a different operation than the invocation at line {l0}",
                    ev.ty, ev.key
                ),
                "completion and invocation must have the same :f and :key",
            ));
            continue;
        }
        op.complete_ns = time;
        op.outcome = match ev.ty {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Fail,
            _ => Outcome::Info,
        };
        if op.kind == KvKind::Get && op.outcome == Outcome::Ok {
            // nil: the key is missing, i.e. the initial empty string.
            op.value = ev.value.unwrap_or_default();
        }
    }
    // Invocations never completed are indeterminate.
    for (idx, _) in pending.values() {
        ops[*idx].complete_ns = time + 1;
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(HistoryFileError::Invalid { problems });
    }
    if ops.is_empty() {
        return Err(HistoryFileError::NoOperations);
    }
    Ok(ParsedKvHistory {
        history: KvHistory { ops },
        format: HistoryFormat::Edn,
    })
}

/// Summary of checking a kv history file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvCheckReport {
    /// Operations read.
    pub ops: usize,
    /// Distinct processes.
    pub processes: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Indeterminate (`:info` or never completed) operations.
    pub info_ops: usize,
    /// Failed operations.
    pub fail_ops: usize,
    /// Search steps (including window searches).
    pub steps: u64,
    /// The verdict.
    pub verdict: KvVerdict,
    /// Keys not checked after the first violation (see
    /// `CheckOptions::stop_at_first_violation`).
    pub unchecked_keys: usize,
}

impl fmt::Display for KvCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} operations from {} processes ({} indeterminate, {} failed), key-value model (get/put/append on strings), {} keys, each checked on its own",
            HistoryFormat::Edn,
            self.ops,
            self.processes,
            self.info_ops,
            self.fail_ops,
            self.keys
        )?;
        write!(f, "{}", self.verdict)?;
        crate::consistency::jepsen::report_tail(f, self.unchecked_keys, self.steps)
    }
}

/// Parses and checks a kv history text.
pub fn check_kv_text(text: &str, opts: &CheckOptions) -> Result<KvCheckReport, HistoryFileError> {
    let parsed = parse_kv(text)?;
    let h = &parsed.history;
    let mut processes: Vec<u64> = h.ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let mut keys: Vec<&str> = h.ops.iter().map(|o| o.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let res = check_kv(h, opts);
    Ok(KvCheckReport {
        ops: h.ops.len(),
        processes: processes.len(),
        keys: keys.len(),
        info_ops: h.ops.iter().filter(|o| o.outcome == Outcome::Info).count(),
        fail_ops: h.ops.iter().filter(|o| o.outcome == Outcome::Fail).count(),
        steps: res.steps,
        verdict: res.verdict,
        unchecked_keys: res.unchecked_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/histories/porcupine-kv")
            .join(name)
    }

    fn verdict(ops: Vec<KvOp>) -> KvVerdict {
        check_kv(&KvHistory { ops }, &CheckOptions::default()).verdict
    }

    fn is_lin(ops: Vec<KvOp>) -> bool {
        match verdict(ops) {
            KvVerdict::Linearizable => true,
            KvVerdict::NotLinearizable { .. } => false,
            KvVerdict::Unknown { .. } => panic!("unknown on a tiny history"),
        }
    }

    #[test]
    fn sequential_appends_and_puts_build_the_expected_string() {
        assert!(is_lin(vec![
            KvOp::get(0, 0, "k", "", 0, 1),
            KvOp::append(1, 0, "k", "a", 2, 3),
            KvOp::append(2, 0, "k", "b", 4, 5),
            KvOp::get(3, 0, "k", "ab", 6, 7),
            KvOp::put(4, 0, "k", "z", 8, 9),
            KvOp::append(5, 0, "k", "c", 10, 11),
            KvOp::get(6, 0, "k", "zc", 12, 13),
        ]));
        // Appends in the wrong order are caught.
        assert!(!is_lin(vec![
            KvOp::append(1, 0, "k", "a", 2, 3),
            KvOp::append(2, 0, "k", "b", 4, 5),
            KvOp::get(3, 0, "k", "ba", 6, 7),
        ]));
    }

    #[test]
    fn stale_get_after_a_completed_append_is_not_linearizable() {
        let ops = vec![
            KvOp::append(0, 0, "k", "a", 0, 10),
            KvOp::append(1, 0, "k", "b", 20, 30),
            KvOp::get(2, 1, "k", "a", 40, 50),
        ];
        let KvVerdict::NotLinearizable { key, window } = verdict(ops) else {
            panic!("expected a violation")
        };
        assert_eq!(key, "k");
        // The witness holds the stale get and the append it missed.
        assert!(window.ops.iter().any(|(o, _)| o.id == 2));
        assert!(window.ops.iter().any(|(o, _)| o.id == 1));
        let text = window.to_string();
        assert!(text.contains("get -> \"a\""), "{text}");
    }

    #[test]
    fn concurrent_appends_may_land_in_either_order() {
        for seen in ["ab", "ba"] {
            assert!(is_lin(vec![
                KvOp::append(0, 0, "k", "a", 0, 10),
                KvOp::append(1, 1, "k", "b", 5, 15),
                KvOp::get(2, 2, "k", seen, 20, 30),
            ]));
        }
        // But not both orders seen one after the other.
        assert!(!is_lin(vec![
            KvOp::append(0, 0, "k", "a", 0, 10),
            KvOp::append(1, 1, "k", "b", 5, 15),
            KvOp::get(2, 2, "k", "ab", 20, 30),
            KvOp::get(3, 2, "k", "ba", 40, 50),
        ]));
        // Nor a string neither order produces.
        assert!(!is_lin(vec![
            KvOp::append(0, 0, "k", "a", 0, 10),
            KvOp::append(1, 1, "k", "b", 5, 15),
            KvOp::get(2, 2, "k", "a", 20, 30),
        ]));
    }

    #[test]
    fn indeterminate_appends_may_or_may_not_happen_and_failures_never_do() {
        let timed_out = KvOp::append(0, 0, "k", "a", 0, 10).with_outcome(Outcome::Info);
        // Never observed: fine.
        assert!(is_lin(vec![
            timed_out.clone(),
            KvOp::get(1, 1, "k", "", 20, 30),
        ]));
        // Observed long after the client gave up: fine.
        assert!(is_lin(vec![
            timed_out.clone(),
            KvOp::get(1, 1, "k", "", 20, 30),
            KvOp::get(2, 1, "k", "a", 40, 50),
        ]));
        // A failed append never happened.
        let failed = KvOp::append(0, 0, "k", "a", 0, 10).with_outcome(Outcome::Fail);
        assert!(!is_lin(vec![failed, KvOp::get(1, 1, "k", "a", 20, 30)]));
        // An indeterminate get says nothing.
        assert!(is_lin(vec![
            KvOp::put(0, 0, "k", "x", 0, 10),
            KvOp::get(1, 1, "k", "nonsense", 20, 30).with_outcome(Outcome::Info),
        ]));
    }

    #[test]
    fn keys_are_independent_and_reported_in_key_order() {
        let res = check_kv(
            &KvHistory {
                ops: vec![
                    KvOp::append(0, 0, "b", "1", 0, 1),
                    KvOp::get(1, 0, "b", "", 2, 3),
                    KvOp::append(2, 0, "a", "1", 4, 5),
                    KvOp::get(3, 0, "a", "1", 6, 7),
                    // Same string on another key does not leak.
                    KvOp::get(4, 0, "c", "", 8, 9),
                ],
            },
            &CheckOptions::default(),
        );
        let keys: Vec<&str> = res.keys.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert!(matches!(res.verdict, KvVerdict::NotLinearizable { ref key, .. } if key == "b"));
    }

    #[test]
    fn porcupine_log_lines_parse_and_unfinished_ops_are_indeterminate() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"6\", :value nil}\n\
                    {:process 1, :type :invoke, :f :append, :key \"6\", :value \"x 1 0 y\"}\n\
                    {:process 0, :type :ok, :f :get, :key \"6\", :value \"\"}\n\
                    {:process 0, :type :invoke, :f :put, :key \"7\", :value \"x 0 1 y\"}\n";
        assert!(is_kv_history(text));
        let h = parse_kv(text).unwrap().history;
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].kind, KvKind::Get);
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].value, "");
        assert_eq!(h.ops[1].outcome, Outcome::Info);
        assert_eq!(h.ops[1].value, "x 1 0 y");
        assert_eq!(h.ops[2].key, "7");
        assert!(!is_kv_history(
            "{:process 0, :type :invoke, :f :read, :value nil}\n"
        ));
        assert!(!is_kv_history(
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
        ));
    }

    #[test]
    fn malformed_kv_lines_are_reported_with_line_numbers() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"6\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"6\", :value 3}\n\
                    {:process 1, :type :invoke, :f :put, :key \"6\", :value nil}\n\
                    {:process 2, :type :invoke, :f :cas, :key \"6\", :value nil}\n\
                    {:process 3, :type :ok, :f :get, :key \"6\", :value \"\"}\n";
        let Err(HistoryFileError::Invalid { problems }) = parse_kv(text) else {
            panic!("expected problems")
        };
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5], "{problems:?}");
        assert!(matches!(
            parse_kv("{:process 0, :type :invoke"),
            Err(HistoryFileError::Invalid { .. })
        ));
        assert!(matches!(parse_kv(""), Err(HistoryFileError::NoOperations)));
    }

    /// Brute force from the definition: try every order; an op may go next
    /// only if no pending `Ok` op completed before its invocation; `Info`
    /// put/append may be left out; failed ops and non-`Ok` gets are dropped.
    fn brute_force(ops: &[KvOp]) -> bool {
        let ops: Vec<&KvOp> = ops
            .iter()
            .filter(|o| o.outcome != Outcome::Fail)
            .filter(|o| !(o.kind == KvKind::Get && o.outcome != Outcome::Ok))
            .collect();
        fn rec(ops: &[&KvOp], used: &mut Vec<bool>, state: &str) -> bool {
            let n = ops.len();
            if (0..n).all(|i| used[i] || ops[i].outcome == Outcome::Info) {
                return true;
            }
            for i in 0..n {
                if used[i] {
                    continue;
                }
                let x = ops[i];
                let blocked = (0..n).any(|j| {
                    !used[j] && ops[j].outcome == Outcome::Ok && ops[j].complete_ns < x.invoke_ns
                });
                if blocked {
                    continue;
                }
                let next = match x.kind {
                    KvKind::Get => (state == x.value).then(|| state.to_string()),
                    KvKind::Put => Some(x.value.clone()),
                    KvKind::Append => Some(format!("{state}{}", x.value)),
                };
                if let Some(s) = next {
                    used[i] = true;
                    if rec(ops, used, &s) {
                        return true;
                    }
                    used[i] = false;
                }
            }
            false
        }
        let mut used = vec![false; ops.len()];
        rec(&ops, &mut used, "")
    }

    fn small_kv_op(i: usize, spec: (u8, u8, u64, u64, u8)) -> KvOp {
        const VALUES: [&str; 5] = ["", "a", "b", "ab", "ba"];
        let (kind, v, start, dur, outcome) = spec;
        let v = VALUES[v as usize % VALUES.len()];
        let (id, t) = (i as u64, start + dur);
        let op = match kind {
            0 => KvOp::get(id, id, "k", v, start, t),
            1 => KvOp::put(id, id, "k", &v[..v.len().min(1)], start, t),
            _ => KvOp::append(id, id, "k", &v[..v.len().min(1)], start, t),
        };
        op.with_outcome(match outcome {
            0 => Outcome::Info,
            1 => Outcome::Fail,
            _ => Outcome::Ok,
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 400,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// The search with the kv model (interned strings, appends, window
        /// minimisation) agrees with brute force on small single-key
        /// histories over a tiny value domain (so collisions are common).
        #[test]
        fn kv_search_agrees_with_brute_force(
            specs in proptest::collection::vec((0u8..3, 0u8..5, 0u64..12, 0u64..6, 0u8..8), 1..8)
        ) {
            let ops: Vec<KvOp> = specs
                .into_iter()
                .enumerate()
                .map(|(i, s)| small_kv_op(i, s))
                .collect();
            let expected = brute_force(&ops);
            match verdict(ops.clone()) {
                KvVerdict::Linearizable => proptest::prop_assert!(expected, "{ops:?}"),
                KvVerdict::NotLinearizable { window, .. } => {
                    proptest::prop_assert!(!expected, "{ops:?}");
                    // A window from the start is itself a brute-force witness.
                    if window.initial == WindowInitial::Nil {
                        let w: Vec<KvOp> = window
                            .ops
                            .iter()
                            .map(|(o, ind)| {
                                if *ind { o.clone().with_outcome(Outcome::Info) } else { o.clone() }
                            })
                            .collect();
                        proptest::prop_assert!(!brute_force(&w), "{window}");
                    }
                }
                KvVerdict::Unknown { .. } => proptest::prop_assert!(false, "unknown"),
            }
        }
    }

    /// Guards the property above against being vacuous: 2,000 histories
    /// drawn like its strategy must give both verdicts often (binomial
    /// standard error of the fraction at most 1.1%; the 10%..90% bounds only
    /// fail if the mix collapses). The measured fraction is printed.
    #[test]
    fn kv_property_inputs_mix_both_verdicts() {
        use rand::Rng;
        let mut rng = crate::detrand::stream(11, "kv-mix");
        let samples = 2_000;
        let mut lin = 0;
        for _ in 0..samples {
            let n = rng.random_range(1..8);
            let ops: Vec<KvOp> = (0..n)
                .map(|i| {
                    let spec = (
                        rng.random_range(0..3),
                        rng.random_range(0..5),
                        rng.random_range(0..12),
                        rng.random_range(0..6),
                        rng.random_range(0..8),
                    );
                    small_kv_op(i, spec)
                })
                .collect();
            if brute_force(&ops) {
                lin += 1;
            }
        }
        let fraction = f64::from(lin) / f64::from(samples);
        println!("linearizable fraction: {fraction:.3}");
        assert!((0.1..0.9).contains(&fraction), "{fraction}");
    }

    /// Porcupine's kv test logs (bundled; provenance in the histories README)
    /// get Porcupine's expected verdicts.
    #[test]
    fn porcupine_kv_logs_have_their_expected_verdicts() {
        for (name, ok) in [
            ("c01-ok.txt", true),
            ("c01-bad.txt", false),
            ("c10-ok.txt", true),
            ("c10-bad.txt", false),
        ] {
            let text = std::fs::read_to_string(data(name)).unwrap();
            assert!(is_kv_history(&text), "{name}");
            let report = check_kv_text(&text, &CheckOptions::default()).unwrap();
            assert_eq!(report.info_ops, 0, "{name}");
            match report.verdict {
                KvVerdict::Linearizable => assert!(ok, "{name}: linearizable"),
                KvVerdict::NotLinearizable { ref window, .. } => {
                    assert!(!ok, "{name}: not linearizable:\n{window}")
                }
                KvVerdict::Unknown { .. } => panic!("{name}: unknown"),
            }
        }
    }

    /// The larger Porcupine logs, if present locally (not bundled: ~280 kB
    /// each). Run with `PORCUPINE_KV_DIR=dir cargo test --release --lib
    /// porcupine_c50 -- --ignored --nocapture`. Default budget, stopping at
    /// the first violation as the CLI does (c50-bad: key "1" fails; key "0"
    /// before it runs into its memo budget; measured 6.6 s, 2.2 GB peak).
    #[test]
    #[ignore]
    fn porcupine_c50_logs() {
        let Ok(dir) = std::env::var("PORCUPINE_KV_DIR") else {
            return;
        };
        for (name, ok) in [("c50-ok.txt", true), ("c50-bad.txt", false)] {
            let text = std::fs::read_to_string(PathBuf::from(&dir).join(name)).unwrap();
            let t0 = std::time::Instant::now();
            let opts = CheckOptions {
                stop_at_first_violation: true,
                ..CheckOptions::default()
            };
            let report = check_kv_text(&text, &opts).unwrap();
            println!(
                "{name}: {} ops, {} keys, {} steps, {:.3} s",
                report.ops,
                report.keys,
                report.steps,
                t0.elapsed().as_secs_f64()
            );
            assert_eq!(matches!(report.verdict, KvVerdict::Linearizable), ok);
        }
    }
}
