//! Loading: read a scenario file, parse it (serde + RON), expand variants and
//! sweep points by splicing overrides into the text, apply models, and validate
//! into a [`Scenario`]. All problems carry file, line and column.

use super::error::{Diagnostic, LoadError};
use super::ronspan::{self, RonDoc, RonNode, Span, Step, line_col, parse_path};
use super::spec::*;
use super::validated::*;
use crate::dist::{Dist, DistSpec};
use crate::engine::SimTime;
use ron::extensions::Extensions;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One (variant, sweep point) of a scenario: what a set of seeds is run on.
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub description: String,
    /// Index of the sweep grid point (0 when there is no sweep).
    pub point: usize,
    /// `param = value` pairs of the grid point.
    pub point_values: Vec<(String, String)>,
    pub scenario: Scenario,
}

/// A loaded scenario: the base and every (variant × grid point).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub file: PathBuf,
    pub text: String,
    pub base: Scenario,
    /// Variants in file order; `base` alone (named "base") when the file has none.
    pub variants: Vec<Variant>,
    /// Swept parameter labels, in grid order.
    pub sweep_params: Vec<String>,
}

fn ron_options() -> ron::Options {
    ron::Options::default()
        .with_default_extension(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// Where an offset in (possibly spliced) text really is.
#[derive(Clone, Debug, Default)]
pub struct SpliceMap {
    /// (new_start, new_end, orig_start, orig_end, value_orig_offset, prefix_len), in text order.
    edits: Vec<(usize, usize, usize, usize, usize, usize)>,
}

impl SpliceMap {
    pub fn map(&self, off: usize) -> usize {
        let mut delta: isize = 0;
        for &(ns, ne, os, oe, val, prefix) in &self.edits {
            if off < ns {
                break;
            }
            if off < ne {
                return val + (off - ns).saturating_sub(prefix);
            }
            delta += (ne - ns) as isize - (oe - os) as isize;
        }
        (off as isize - delta).max(0) as usize
    }
}

/// Text being validated, with the way back to the file the user wrote.
struct Src<'a> {
    file: &'a Path,
    /// The text as written (for line/col and snippets).
    orig: &'a str,
    /// The text that was parsed (orig with overrides spliced in).
    text: &'a str,
    map: &'a SpliceMap,
    doc: Option<RonDoc<'a>>,
}

impl Src<'_> {
    fn diag_at(&self, offset: usize, msg: String, hint: Option<String>) -> Diagnostic {
        Diagnostic::at_offset(self.file, self.orig, self.map.map(offset), msg, hint)
    }

    fn diag_path(&self, path: &str, msg: String, hint: Option<String>) -> Diagnostic {
        let off = match (&self.doc, parse_path(path)) {
            (Some(doc), Ok(steps)) => Some(doc.locate(&steps).start),
            _ => None,
        };
        match off {
            Some(o) => self.diag_at(o, msg, hint),
            None => Diagnostic::nowhere(self.file, msg, hint),
        }
    }

    /// Is the path present in the text (as opposed to defaulted or from a model)?
    fn has(&self, path: &str) -> bool {
        match (&self.doc, parse_path(path)) {
            (Some(doc), Ok(steps)) => doc.find(&steps).is_some(),
            _ => false,
        }
    }
}

fn parse_typed<T: DeserializeOwned>(src: &Src<'_>) -> Result<T, Diagnostic> {
    // Deep nesting: refuse before serde recurses into it.
    if nesting_depth(src.text) > 200 {
        return Err(src.diag_at(
            deepest_offset(src.text),
            "the file nests brackets more than 200 levels deep".into(),
            Some(
                "scenario files need only a few levels; look for a run of unclosed `(`, `[` or `{`"
                    .into(),
            ),
        ));
    }
    ron_options().from_str::<T>(src.text).map_err(|e| {
        let off = ronspan::offset_of(src.text, e.span.start.line, e.span.start.col);
        // ron points just after the previous token: move to the offending one
        // (unless that runs off the end: then the end of the last token is best).
        let skipped = skip_trivia(src.text, off);
        let off = if skipped >= src.text.len() {
            off
        } else {
            skipped
        };
        let msg = e.code.to_string();
        let hint = hint_for_serde(&msg);
        src.diag_at(off, msg, hint)
    })
}

/// Skip whitespace and comments from `off`.
fn skip_trivia(text: &str, mut off: usize) -> usize {
    let b = text.as_bytes();
    loop {
        while off < b.len() && b[off].is_ascii_whitespace() {
            off += 1;
        }
        if b[off.min(b.len())..].starts_with(b"//") {
            while off < b.len() && b[off] != b'\n' {
                off += 1;
            }
        } else if b[off.min(b.len())..].starts_with(b"/*") {
            match text[off..].find("*/") {
                Some(e) => off += e + 2,
                None => return off,
            }
        } else {
            return off.min(b.len());
        }
    }
}

fn nesting_depth(text: &str) -> usize {
    let (mut d, mut max) = (0usize, 0usize);
    let mut in_str = false;
    let mut esc = false;
    for c in text.bytes() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'(' | b'[' | b'{' => {
                d += 1;
                max = max.max(d);
            }
            b')' | b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn deepest_offset(text: &str) -> usize {
    let mut d = 0usize;
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'(' | b'[' | b'{' => {
                d += 1;
                if d > 200 {
                    return i;
                }
            }
            b')' | b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    0
}

fn hint_for_serde(msg: &str) -> Option<String> {
    if msg.contains("Unexpected missing field") || msg.contains("missing field") {
        Some("add the field; README.md lists every field, its unit and default".into())
    } else if msg.contains("field named `pre_vote`") && !msg.contains("in `Raft`") {
        Some(
            "`pre_vote` is an option of the Raft policy only: `policy: Raft(pre_vote: true)`"
                .into(),
        )
    } else if msg.contains("Unexpected field")
        || msg.contains("unknown field")
        || msg.contains("No such field")
    {
        Some("check the spelling against the scenario reference in README.md".into())
    } else if msg.contains("escape") {
        Some("inside strings only \\\", \\\\, \\n, \\t and \\u{...} escapes are allowed".into())
    } else if msg.contains("Expected opening `(`") || msg.contains("Expected struct") {
        Some("a scenario file is RON and starts with `Scenario(`; see scenarios/mm1.ron".into())
    } else if msg.contains("end of RON") || msg.contains("Unexpected end") {
        Some("the file ends too early: look for an unclosed `(`, `[`, `{` or string".into())
    } else if msg.contains("trailing") || msg.contains("Trailing") {
        Some("remove what follows the closing `)` of `Scenario(...)`".into())
    } else if msg.contains("missing field") || msg.contains("Unexpected missing") {
        Some("add the field; README.md lists every field, its unit and default".into())
    } else if msg.contains("variant") {
        Some("check the spelling of the variant name; README.md lists the choices".into())
    } else if msg.contains("Expected") || msg.contains("expected") {
        Some("check the value's type: numbers like `5.0`, strings in double quotes, lists in `[...]`".into())
    } else {
        None
    }
}

/// Load and validate a scenario file with all its variants and sweep points.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::nowhere(
            path,
            format!("cannot read the scenario file: {e}"),
            Some("check the path; bundled scenarios are in scenarios/".into()),
        )
    })?;
    load_str(path, &text)
}

/// Load and validate scenario text (`path` is used for messages and to find models).
pub fn load_str(path: &Path, text: &str) -> Result<Loaded, LoadError> {
    let empty = SpliceMap::default();
    let src = Src {
        file: path,
        orig: text,
        text,
        map: &empty,
        doc: RonDoc::parse(text),
    };
    let spec: ScenarioSpec = parse_typed(&src)?;
    let base_result = validate(&src, &spec);
    let mut base_diags = Vec::new();
    let base = match base_result {
        Ok(b) => Some(b),
        Err(e) => {
            base_diags = e.diagnostics;
            None
        }
    };

    // Variants and sweep grid: collect raw override texts from the position index.
    let doc = src.doc.as_ref().ok_or_else(|| {
        Diagnostic::nowhere(
            path,
            "the file parsed but could not be indexed".into(),
            None,
        )
    })?;
    let n_base_diags = base_diags.len();
    let mut diags = base_diags;
    let base_ok = base.is_some();
    let mut variant_sets: Vec<(String, String, Vec<Override>)> = Vec::new();
    if let Some((_, RonNode::Seq { items, .. })) = doc.root.field("variants") {
        for (i, item) in items.iter().enumerate() {
            let name = item
                .field("name")
                .and_then(|(_, n)| doc.scalar_str(n))
                .unwrap_or_default();
            let desc = item
                .field("description")
                .and_then(|(_, n)| doc.scalar_str(n))
                .unwrap_or_default();
            if variant_sets.iter().any(|(n, _, _)| *n == name) {
                diags.push(src.diag_at(
                    item.span().start,
                    format!("variant name `{name}` is used twice"),
                    Some("give every variant a distinct name".into()),
                ));
            }
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                diags.push(src.diag_path(
                    &format!("variants[{i}].name"),
                    format!("variant name `{name}` cannot be used as a folder name"),
                    Some("use letters, digits, `-` and `_`".into()),
                ));
            }
            let mut ovs = Vec::new();
            if let Some((_, RonNode::Map { entries, .. })) = item.field("set") {
                for (k, v) in entries {
                    let key = doc.scalar_str(k).unwrap_or_default();
                    ovs.push(Override {
                        path: key,
                        path_offset: k.span().start,
                        value: doc.slice(v.span()).to_string(),
                        value_offset: v.span().start,
                    });
                }
            }
            variant_sets.push((name, desc, ovs));
        }
    }
    if variant_sets.is_empty() {
        variant_sets.push(("base".into(), String::new(), Vec::new()));
    }
    if let Some(c) = &spec.charts {
        for (j, k) in c.include.iter().enumerate() {
            if !CHART_KINDS.contains(&k.as_str()) {
                diags.push(src.diag_path(
                    &format!("charts.include[{j}]"),
                    format!("unknown chart kind `{k}`"),
                    Some(format!("chart kinds are: {}", CHART_KINDS.join(", "))),
                ));
            }
        }
        for (j, v) in c.timelines.iter().enumerate() {
            if !variant_sets.iter().any(|(n, _, _)| n == v) {
                let names: Vec<&str> = variant_sets.iter().map(|(n, _, _)| n.as_str()).collect();
                diags.push(src.diag_path(
                    &format!("charts.timelines[{j}]"),
                    format!("unknown variant `{v}`"),
                    Some(format!("variants are: {}", names.join(", "))),
                ));
            }
        }
    }
    let mut sweep_params = Vec::new();
    let mut axes: Vec<Vec<Override>> = Vec::new();
    if let Some((_, RonNode::Seq { items, .. })) = doc.root.field("sweep") {
        for (i, item) in items.iter().enumerate() {
            let Some((_, pnode)) = item.field("param") else {
                continue;
            };
            let param = doc.scalar_str(pnode).unwrap_or_default();
            let label = item
                .field("label")
                .and_then(|(_, n)| doc.scalar_str(n))
                .unwrap_or_else(|| param.clone());
            sweep_params.push(label);
            let mut axis = Vec::new();
            if let Some((_, RonNode::Seq { items: vals, .. })) = item.field("values") {
                for v in vals {
                    axis.push(Override {
                        path: param.clone(),
                        path_offset: pnode.span().start,
                        value: doc.slice(v.span()).to_string(),
                        value_offset: v.span().start,
                    });
                }
            }
            if axis.is_empty() {
                diags.push(src.diag_path(
                    &format!("sweep[{i}].values"),
                    "a sweep needs at least one value".into(),
                    Some("e.g. `values: [100.0, 200.0, 400.0]`".into()),
                ));
            }
            axes.push(axis);
        }
    }
    if diags.len() > n_base_diags {
        return Err(LoadError { diagnostics: diags });
    }
    // Grid points: cartesian product, first axis slowest.
    let mut points: Vec<Vec<Override>> = vec![Vec::new()];
    for axis in &axes {
        let mut next = Vec::new();
        for p in &points {
            for v in axis {
                let mut q = p.clone();
                q.push(v.clone());
                next.push(q);
            }
        }
        points = next;
    }

    let mut variants = Vec::new();
    for (name, desc, ovs) in &variant_sets {
        for (pi, point) in points.iter().enumerate() {
            let mut all = ovs.clone();
            all.extend(point.iter().cloned());
            let scenario = if all.is_empty() {
                match &base {
                    Some(b) => Ok(b.clone()),
                    None => continue,
                }
            } else {
                load_with_overrides(path, text, doc, &all)
            };
            match scenario {
                Ok(s) => variants.push(Variant {
                    name: name.clone(),
                    description: desc.clone(),
                    point: pi,
                    point_values: point
                        .iter()
                        .map(|o| (o.path.clone(), o.value.clone()))
                        .collect(),
                    scenario: s,
                }),
                Err(e) => {
                    for d in e.diagnostics {
                        // Problems of the base scenario are reported once, without the variant prefix.
                        if !base_ok
                            && diags.iter().any(|x| {
                                x.line == d.line
                                    && x.col == d.col
                                    && x.file == d.file
                                    && x.message == d.message
                            })
                        {
                            continue;
                        }
                        let mut d = d;
                        d.message =
                            format!("in variant `{name}`{}: {}", point_suffix(point), d.message);
                        if !diags.contains(&d) {
                            diags.push(d);
                        }
                    }
                }
            }
        }
    }
    if !diags.is_empty() {
        return Err(LoadError { diagnostics: diags });
    }
    let Some(base) = base else {
        return Err(LoadError { diagnostics: diags });
    };
    Ok(Loaded {
        file: path.to_path_buf(),
        text: text.to_string(),
        base,
        variants,
        sweep_params,
    })
}

fn point_suffix(point: &[Override]) -> String {
    if point.is_empty() {
        String::new()
    } else {
        let s: Vec<String> = point
            .iter()
            .map(|o| format!("{} = {}", o.path, o.value))
            .collect();
        format!(" at {}", s.join(", "))
    }
}

#[derive(Clone, Debug)]
struct Override {
    path: String,
    path_offset: usize,
    value: String,
    value_offset: usize,
}

fn load_with_overrides(
    path: &Path,
    text: &str,
    doc: &RonDoc<'_>,
    ovs: &[Override],
) -> Result<Scenario, LoadError> {
    // Plan edits on the original text.
    struct Edit {
        start: usize,
        end: usize,
        insert: String,
        value_offset: usize,
        prefix: usize,
    }
    let mut edits: Vec<Edit> = Vec::new();
    let mut diags = Vec::new();
    let empty = SpliceMap::default();
    let src0 = Src {
        file: path,
        orig: text,
        text,
        map: &empty,
        doc: None,
    };
    for o in ovs {
        let steps = match parse_path(&o.path) {
            Ok(s) => s,
            Err(e) => {
                diags.push(src0.diag_at(
                    o.path_offset,
                    e,
                    Some("paths look like `nodes[app].workers` or `links[0].latency`".into()),
                ));
                continue;
            }
        };
        if matches!(steps.first(), Some(Step::Field(f)) if f == "variants" || f == "sweep") {
            diags.push(src0.diag_at(
                o.path_offset,
                "variants and sweeps cannot override `variants` or `sweep`".into(),
                None,
            ));
            continue;
        }
        if let Some(node) = doc.find(&steps) {
            let s = node.span();
            edits.push(Edit {
                start: s.start,
                end: s.end,
                insert: o.value.clone(),
                value_offset: o.value_offset,
                prefix: 0,
            });
            continue;
        }
        // Not present: insert the field into its parent struct, if the parent exists.
        let (k, parent) = doc.find_prefix(&steps);
        match (&steps[k..], parent.as_struct()) {
            ([Step::Field(f)], Some(RonNode::Struct { inner, .. })) => {
                let prefix = format!("{f}: ");
                edits.push(Edit {
                    start: inner.start,
                    end: inner.start,
                    insert: format!("{prefix}{}, ", o.value),
                    value_offset: o.value_offset,
                    prefix: prefix.len(),
                });
            }
            _ => {
                let have: Vec<String> = steps[..k].iter().map(step_str).collect();
                let missing = step_str(&steps[k]);
                diags.push(src0.diag_at(
                    o.path_offset,
                    format!(
                        "`{}` does not exist in the base scenario (found `{}`, then no `{}`)",
                        o.path,
                        if have.is_empty() { "<top>".into() } else { have.join("") },
                        missing
                    ),
                    Some("a path must lead to an existing value or a field of an existing struct; for a list element use its index or its name, e.g. `nodes[app]`".into()),
                ));
            }
        }
    }
    edits.sort_by_key(|e| (e.start, e.end));
    for w in edits.windows(2) {
        if w[1].start < w[0].end {
            diags.push(src0.diag_at(
                w[1].value_offset,
                "two overrides in one run touch the same value".into(),
                Some("set either the whole value or one field inside it, not both".into()),
            ));
        }
    }
    if !diags.is_empty() {
        return Err(LoadError { diagnostics: diags });
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut map = SpliceMap::default();
    let mut pos = 0;
    for e in &edits {
        out.push_str(&text[pos..e.start]);
        let ns = out.len();
        out.push_str(&e.insert);
        map.edits
            .push((ns, out.len(), e.start, e.end, e.value_offset, e.prefix));
        pos = e.end;
    }
    out.push_str(&text[pos..]);
    let src = Src {
        file: path,
        orig: text,
        text: &out,
        map: &map,
        doc: RonDoc::parse(&out),
    };
    let spec: ScenarioSpec = parse_typed(&src)?;
    validate(&src, &spec)
}

fn step_str(s: &Step) -> String {
    match s {
        Step::Field(f) => format!(".{f}"),
        Step::Index(i) => format!("[{i}]"),
        Step::Named(n) => format!("[{n}]"),
    }
}

/// Validation state: collects every problem.
struct V<'a, 'b> {
    src: &'a Src<'b>,
    diags: Vec<Diagnostic>,
}

impl V<'_, '_> {
    fn err(&mut self, path: &str, msg: impl Into<String>, hint: impl Into<String>) {
        let h: String = hint.into();
        let d = self
            .src
            .diag_path(path, msg.into(), (!h.is_empty()).then_some(h));
        self.diags.push(d);
    }

    fn positive(&mut self, path: &str, v: f64, unit: &str) -> bool {
        if !(v.is_finite() && v > 0.0) {
            self.err(
                path,
                format!(
                    "`{}` must be a positive number of {unit} (got {v})",
                    last(path)
                ),
                format!("e.g. `{}: 10.0`", last(path)),
            );
            false
        } else {
            true
        }
    }

    fn non_negative(&mut self, path: &str, v: f64, unit: &str) -> bool {
        if !(v.is_finite() && v >= 0.0) {
            self.err(
                path,
                format!(
                    "`{}` must be zero or a positive number of {unit} (got {v})",
                    last(path)
                ),
                "",
            );
            false
        } else {
            true
        }
    }

    fn probability(&mut self, path: &str, v: f64) {
        if !(0.0..=1.0).contains(&v) || v.is_nan() {
            self.err(
                path,
                format!(
                    "`{}` is a probability and must be within [0, 1] (got {v})",
                    last(path)
                ),
                "e.g. 1% loss is `0.01`",
            );
        }
    }

    fn dist(&mut self, path: &str, d: &DistSpec) -> Dist {
        if let Err((field, msg, hint)) = d.validate() {
            self.err(&format!("{path}.{field}"), msg, hint);
        }
        d.build()
    }

    fn node_ref(&mut self, path: &str, name: &str, names: &[&str]) -> usize {
        match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                let close = closest(name, names);
                self.err(
                    path,
                    format!("unknown node `{name}`"),
                    match close {
                        Some(c) => format!("did you mean `{c}`? Nodes are: {}", names.join(", ")),
                        None => format!("nodes are: {}", names.join(", ")),
                    },
                );
                usize::MAX
            }
        }
    }

    fn ms(&mut self, path: &str, v: Option<f64>) -> Option<SimTime> {
        let v = v?;
        self.positive(path, v, "milliseconds");
        Some(SimTime::from_ms_f64(v))
    }
}

fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn closest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                let c = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + c);
            }
            prev = cur;
        }
        prev[b.len()]
    }
    names
        .iter()
        .map(|n| (dist(name, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

/// Where model files are looked for, in order.
fn model_dirs(file: &Path) -> Vec<PathBuf> {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut v = vec![
        dir.join("../models"),
        dir.join("models"),
        PathBuf::from("models"),
    ];
    v.dedup();
    v
}

fn load_model(v: &mut V<'_, '_>, path: &str, name: &str) -> Option<(PathBuf, String, ModelFile)> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        v.err(
            path,
            format!("`{name}` is not a model name"),
            "model names are file names in models/ without `.ron`, e.g. `app-server`",
        );
        return None;
    }
    for d in model_dirs(v.src.file) {
        let p = d.join(format!("{name}.ron"));
        if let Ok(text) = std::fs::read_to_string(&p) {
            let empty = SpliceMap::default();
            let msrc = Src {
                file: &p,
                orig: &text,
                text: &text,
                map: &empty,
                doc: RonDoc::parse(&text),
            };
            return match parse_typed::<ModelFile>(&msrc) {
                Ok(m) => Some((p.clone(), text.clone(), m)),
                Err(d) => {
                    v.diags.push(d);
                    None
                }
            };
        }
    }
    let mut known: Vec<String> = Vec::new();
    for d in model_dirs(v.src.file) {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if let Some(s) = e.file_name().to_str().and_then(|s| s.strip_suffix(".ron")) {
                    known.push(s.to_string());
                }
            }
        }
    }
    known.sort();
    known.dedup();
    v.err(
        path,
        format!("model `{name}` not found"),
        format!(
            "models are files `models/<name>.ron`; available: {}",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        ),
    );
    None
}

/// A problem in a field that came from a model file: point into the model.
fn model_err(v: &mut V<'_, '_>, model: &(PathBuf, String), field: &str, msg: String, hint: String) {
    let doc = RonDoc::parse(&model.1);
    let off = doc
        .as_ref()
        .and_then(|d| parse_path(field).ok().map(|s| d.locate(&s).start))
        .unwrap_or(0);
    v.diags.push(Diagnostic::at_offset(
        &model.0,
        &model.1,
        off,
        msg,
        (!hint.is_empty()).then_some(hint),
    ));
}

fn validate(src: &Src<'_>, spec: &ScenarioSpec) -> Result<Scenario, LoadError> {
    let mut v = V {
        src,
        diags: Vec::new(),
    };
    if spec.name.trim().is_empty() || spec.name.contains(['/', '\\']) || spec.name.starts_with('.')
    {
        v.err(
            "name",
            format!(
                "scenario name `{}` cannot be used as a folder name",
                spec.name
            ),
            "use letters, digits, `-` and `_`, e.g. `name: \"cap-partition\"`",
        );
    }
    v.positive("duration_s", spec.duration_s, "seconds");
    v.positive("bucket_s", spec.bucket_s, "seconds");
    if spec.seeds == 0 {
        v.err("seeds", "`seeds` must be at least 1", "");
    }
    if spec.max_events == 0 {
        v.err("max_events", "`max_events` must be at least 1", "");
    }
    let warmup = match spec.warmup {
        Warmup::None => WarmupV::None,
        Warmup::Seconds(s) => {
            if v.non_negative("warmup", s, "seconds") && s >= spec.duration_s {
                v.err("warmup", format!("the warm-up ({s} s) is not shorter than the run ({} s): nothing would be measured", spec.duration_s), "shorten the warm-up or lengthen `duration_s`");
            }
            WarmupV::Time(SimTime::from_secs_f64(s))
        }
        Warmup::Requests(n) => WarmupV::Requests(n),
    };

    // Names: stores expand into their replica nodes.
    let mut flat: Vec<(String, usize, &'static str)> = Vec::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        match n {
            NodeSpec::Store(st) => {
                if st.replicas == 0 || st.replicas > 64 {
                    v.err(
                        &format!("nodes[{i}].replicas"),
                        format!(
                            "a store needs between 1 and 64 replicas (got {})",
                            st.replicas
                        ),
                        "e.g. `replicas: 3`",
                    );
                }
                if !st.replica_names.is_empty() && st.replica_names.len() != st.replicas as usize {
                    v.err(
                        &format!("nodes[{i}].replica_names"),
                        format!(
                            "{} replica names for {} replicas",
                            st.replica_names.len(),
                            st.replicas
                        ),
                        "give one name per replica, or leave `replica_names` out",
                    );
                }
                for r in 0..st.replicas.min(64) as usize {
                    flat.push((st.replica_name(r), i, "replica"));
                }
            }
            _ => flat.push((n.name().to_string(), i, n.kind())),
        }
    }
    let names: Vec<&str> = flat.iter().map(|f| f.0.as_str()).collect();
    let kinds: Vec<&str> = flat.iter().map(|f| f.2).collect();
    let store_names: Vec<&str> = spec
        .nodes
        .iter()
        .filter_map(|n| {
            if let NodeSpec::Store(st) = n {
                Some(st.name.as_str())
            } else {
                None
            }
        })
        .collect();
    if names.is_empty() {
        v.err(
            "nodes",
            "the scenario has no nodes",
            "add at least a `Client(...)` and a `Server(...)`",
        );
    }
    for (k, n) in names.iter().enumerate() {
        let i = flat[k].1;
        if n.is_empty() {
            v.err(
                &format!("nodes[{i}].name"),
                "a node needs a non-empty name",
                "",
            );
        } else if names[..k].contains(n) || (kinds[k] != "replica" && store_names.contains(n)) {
            v.err(
                &format!("nodes[{i}].name"),
                format!("node name `{n}` is used twice"),
                "give every node (and every store replica) a distinct name",
            );
        }
    }
    for (si, sn) in store_names.iter().enumerate() {
        if store_names[..si].contains(sn) {
            v.err(
                "nodes",
                format!("store name `{sn}` is used twice"),
                "give every store a distinct name",
            );
        }
    }

    // Request classes across clients.
    let mut classes: Vec<ClassV> = Vec::new();
    for n in &spec.nodes {
        if let NodeSpec::Client(c) = n {
            for t in &c.mix {
                if !classes.iter().any(|k| k.name == t.name) {
                    classes.push(ClassV {
                        name: t.name.clone(),
                        op: t.op,
                    });
                }
            }
            if c.mix.is_empty() && !classes.iter().any(|k| k.name == "req") {
                classes.push(ClassV {
                    name: "req".into(),
                    op: OpSpec::Read,
                });
            }
        }
    }

    let mut nodes = Vec::new();
    let mut stores = Vec::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        let p = format!("nodes[{i}]");
        let kind = match n {
            NodeSpec::Client(c) => NodeKind::Client(validate_client(
                &mut v, &p, c, &names, &kinds, &classes, spec,
            )),
            NodeSpec::Server(s) => {
                NodeKind::Server(validate_server(&mut v, &p, s, &names, &classes, &kinds))
            }
            NodeSpec::Store(st) => {
                let si = stores.len();
                let n_rep = st.replicas.clamp(1, 64) as usize;
                for (field, msg, hint) in st.policy.validate(n_rep) {
                    v.err(&format!("{p}.policy.{field}"), msg, hint);
                }
                for (k, sk) in st.clock_skew_ms.iter().enumerate() {
                    if !sk.is_finite() {
                        v.err(
                            &format!("{p}.clock_skew_ms[{k}]"),
                            format!("clock skew must be a finite number of ms (got {sk})"),
                            "",
                        );
                    }
                }
                if st.clock_skew_ms.len() > n_rep {
                    v.err(
                        &format!("{p}.clock_skew_ms"),
                        format!(
                            "{} clock offsets for {n_rep} replicas",
                            st.clock_skew_ms.len()
                        ),
                        "give at most one offset per replica",
                    );
                }
                let first = nodes.len();
                let replicas: Vec<usize> = (first..first + n_rep).collect();
                for r in 0..n_rep {
                    nodes.push(Node {
                        name: st.replica_name(r),
                        kind: NodeKind::Replica {
                            store: si,
                            index: r,
                        },
                    });
                }
                stores.push(StoreV {
                    name: st.name.clone(),
                    replicas,
                    policy: st.policy.clone(),
                    skew_ns: (0..n_rep)
                        .map(|r| (st.clock_skew_ms.get(r).copied().unwrap_or(0.0) * 1e6) as i64)
                        .collect(),
                });
                continue;
            }
            NodeSpec::LoadBalancer(lb) => {
                NodeKind::LoadBalancer(validate_lb(&mut v, &p, lb, &names, &kinds))
            }
            NodeSpec::Cache(c) => NodeKind::Cache(validate_cache(&mut v, &p, c, &names, &kinds)),
            NodeSpec::Dns(d) => NodeKind::Dns(validate_dns(&mut v, &p, d, &names, &kinds)),
            NodeSpec::Queue(q) => {
                if q.capacity == 0 {
                    v.err(
                        &format!("{p}.capacity"),
                        "a queue needs `capacity` of at least 1",
                        "",
                    );
                }
                if q.consumers == 0 {
                    v.err(
                        &format!("{p}.consumers"),
                        "a queue needs at least one consumer",
                        "set `consumers: 1` or more",
                    );
                }
                NodeKind::Queue(QueueV {
                    capacity: q.capacity,
                    consumers: q.consumers,
                    service: v.dist(&format!("{p}.service"), &q.service),
                })
            }
        };
        nodes.push(Node {
            name: n.name().to_string(),
            kind,
        });
    }

    validate_pairs(&mut v, spec, &mut nodes, &names, &kinds);

    // Links.
    let mut links = Vec::new();
    for (i, l) in spec.links.iter().enumerate() {
        let p = format!("links[{i}]");
        let from = v.node_ref(&format!("{p}.from"), &l.from, &names);
        let to = v.node_ref(&format!("{p}.to"), &l.to, &names);
        if from == to && from != usize::MAX {
            v.err(
                &format!("{p}.to"),
                "a link must join two different nodes",
                "",
            );
        }
        let params = LinkParams {
            model: l.model.clone(),
            latency: l.latency.clone(),
            loss: l.loss,
            bandwidth_mbps: l.bandwidth_mbps,
        };
        let props = validate_link_props(&mut v, &p, &params);
        links.push(LinkV {
            from,
            to,
            one_way: l.one_way,
            props,
        });
    }
    let default_link = spec
        .default_link
        .as_ref()
        .map(|d| validate_link_props(&mut v, "default_link", d));

    // Faults.
    let mut faults = Vec::new();
    let mut windows = Vec::new();
    for (i, f) in spec.faults.iter().enumerate() {
        let p = format!("faults[{i}]");
        if !(f.at_s.is_finite() && f.at_s >= 0.0) {
            v.err(
                &format!("{p}.at_s"),
                format!("`at_s` must be a time ≥ 0 in seconds (got {})", f.at_s),
                "",
            );
        } else if f.at_s > spec.duration_s {
            v.err(
                &format!("{p}.at_s"),
                format!(
                    "the fault at {} s is after the end of the run ({} s)",
                    f.at_s, spec.duration_s
                ),
                "move it inside the run or lengthen `duration_s`",
            );
        }
        if let Some(d) = f.for_s {
            v.positive(&format!("{p}.for_s"), d, "seconds");
        }
        let at = SimTime::from_secs_f64(f.at_s);
        let until = f.for_s.map(|d| SimTime::from_secs_f64(f.at_s + d));
        let end_s = f.for_s.map(|d| f.at_s + d);
        let a = &f.action;
        let ap = format!("{p}.action");
        let find_link = |v: &mut V<'_, '_>, from: &str, to: &str| -> usize {
            let a = v.node_ref(&format!("{ap}.from"), from, &names);
            let b = v.node_ref(&format!("{ap}.to"), to, &names);
            match spec.links.iter().position(|l| {
                let (x, y) = (
                    names.iter().position(|n| *n == l.from),
                    names.iter().position(|n| *n == l.to),
                );
                (x == Some(a) && y == Some(b)) || (!l.one_way && x == Some(b) && y == Some(a))
            }) {
                Some(k) => k,
                None => {
                    if a != usize::MAX && b != usize::MAX {
                        v.err(
                            &ap,
                            format!("there is no link between `{from}` and `{to}`"),
                            "faults on links name an existing entry of `links`",
                        );
                    }
                    usize::MAX
                }
            }
        };
        match a {
            FaultAction::Partition { groups } => {
                let mut gs = Vec::new();
                let mut seen: Vec<usize> = Vec::new();
                for (gi, g) in groups.iter().enumerate() {
                    let mut ids = Vec::new();
                    for (ni, n) in g.iter().enumerate() {
                        let id = v.node_ref(&format!("{ap}.groups[{gi}][{ni}]"), n, &names);
                        if id != usize::MAX && seen.contains(&id) {
                            v.err(
                                &format!("{ap}.groups[{gi}][{ni}]"),
                                format!("node `{n}` is in two partition groups"),
                                "each node belongs to at most one group",
                            );
                        }
                        seen.push(id);
                        ids.push(id);
                    }
                    gs.push(ids);
                }
                if groups.len() < 2 {
                    v.err(
                        &format!("{ap}.groups"),
                        "a partition needs at least two groups",
                        "e.g. `groups: [[\"a\", \"b\"], [\"c\"]]`",
                    );
                }
                faults.push(FaultV {
                    at,
                    action: FaultActionV::Partition { groups: gs },
                });
                if let Some(u) = until {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::Heal,
                    });
                }
                let label = groups
                    .iter()
                    .map(|g| g.join("+"))
                    .collect::<Vec<_>>()
                    .join(" | ");
                windows.push(("partition", format!("partition {label}"), f.at_s, end_s));
            }
            FaultAction::PartitionOneWay { from, to } => {
                let fr: Vec<usize> = from
                    .iter()
                    .enumerate()
                    .map(|(k, n)| v.node_ref(&format!("{ap}.from[{k}]"), n, &names))
                    .collect();
                let tt: Vec<usize> = to
                    .iter()
                    .enumerate()
                    .map(|(k, n)| v.node_ref(&format!("{ap}.to[{k}]"), n, &names))
                    .collect();
                faults.push(FaultV {
                    at,
                    action: FaultActionV::PartitionOneWay { from: fr, to: tt },
                });
                if let Some(u) = until {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::Heal,
                    });
                }
                windows.push((
                    "partition",
                    format!("one-way {} -> {}", from.join("+"), to.join("+")),
                    f.at_s,
                    end_s,
                ));
            }
            FaultAction::Heal => {
                faults.push(FaultV {
                    at,
                    action: FaultActionV::Heal,
                });
                close_windows(&mut windows, "partition", None, f.at_s);
            }
            FaultAction::Crash { node } => {
                let id = v.node_ref(&format!("{ap}.node"), node, &names);
                faults.push(FaultV {
                    at,
                    action: FaultActionV::Crash(id),
                });
                if let Some(u) = until {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::Restart(id),
                    });
                }
                windows.push(("crash", format!("{node} down"), f.at_s, end_s));
            }
            FaultAction::Restart { node } => {
                let id = v.node_ref(&format!("{ap}.node"), node, &names);
                faults.push(FaultV {
                    at,
                    action: FaultActionV::Restart(id),
                });
                close_windows(&mut windows, "crash", Some(&format!("{node} down")), f.at_s);
            }
            FaultAction::Slow { node, factor } => {
                let id = v.node_ref(&format!("{ap}.node"), node, &names);
                v.positive(&format!("{ap}.factor"), *factor, "(a multiplier)");
                faults.push(FaultV {
                    at,
                    action: FaultActionV::Slow {
                        node: id,
                        factor: *factor,
                    },
                });
                if let Some(u) = until {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::Slow {
                            node: id,
                            factor: 1.0,
                        },
                    });
                }
                close_windows(&mut windows, "slow", Some(&format!("{node} slow")), f.at_s);
                if *factor != 1.0 {
                    windows.push(("slow", format!("{node} slow"), f.at_s, end_s));
                }
            }
            FaultAction::LinkLatency { from, to, latency } => {
                let k = find_link(&mut v, from, to);
                let d = v.dist(&format!("{ap}.latency"), latency);
                faults.push(FaultV {
                    at,
                    action: FaultActionV::LinkLatency {
                        link: k,
                        latency: d,
                    },
                });
                if let (Some(u), true) = (until, k != usize::MAX)
                    && let Some(orig) = links.get(k).map(|l: &LinkV| l.props.latency.clone())
                {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::LinkLatency {
                            link: k,
                            latency: orig,
                        },
                    });
                }
                windows.push(("link", format!("{from}-{to} latency"), f.at_s, end_s));
            }
            FaultAction::LinkLoss { from, to, loss } => {
                let k = find_link(&mut v, from, to);
                v.probability(&format!("{ap}.loss"), *loss);
                faults.push(FaultV {
                    at,
                    action: FaultActionV::LinkLoss {
                        link: k,
                        loss: *loss,
                    },
                });
                if let (Some(u), true) = (until, k != usize::MAX)
                    && let Some(orig) = links.get(k).map(|l: &LinkV| l.props.loss)
                {
                    faults.push(FaultV {
                        at: u,
                        action: FaultActionV::LinkLoss {
                            link: k,
                            loss: orig,
                        },
                    });
                }
                windows.push(("link", format!("{from}-{to} loss {loss}"), f.at_s, end_s));
            }
            FaultAction::RandomCrashes {
                nodes: crash_nodes,
                mtbf_s,
                mttr_s,
            } => {
                if crash_nodes.is_empty() {
                    v.err(
                        &format!("{ap}.nodes"),
                        "random crashes need at least one node",
                        "e.g. `nodes: [\"app-1\", \"app-2\"]`",
                    );
                }
                let ids: Vec<usize> = crash_nodes
                    .iter()
                    .enumerate()
                    .map(|(k, n)| v.node_ref(&format!("{ap}.nodes[{k}]"), n, &names))
                    .collect();
                v.positive(&format!("{ap}.mtbf_s"), *mtbf_s, "seconds");
                v.positive(&format!("{ap}.mttr_s"), *mttr_s, "seconds");
                faults.push(FaultV {
                    at,
                    action: FaultActionV::RandomCrashes {
                        nodes: ids,
                        mtbf_ns: mtbf_s * 1e9,
                        mttr_ns: mttr_s * 1e9,
                        until,
                        stream: format!("fault:{i}:random-crashes"),
                    },
                });
            }
        }
    }
    faults.sort_by_key(|f| f.at);
    let windows = windows
        .into_iter()
        .map(|(kind, label, s, e)| FaultWindow {
            start_s: s,
            end_s: e.unwrap_or(spec.duration_s).min(spec.duration_s),
            label,
            kind: kind.into(),
        })
        .collect();

    // Reachability: every client target and call target must be reachable.
    let spec_index: Vec<usize> = flat.iter().map(|f| f.1).collect();
    if v.diags.is_empty() {
        check_routes(
            &mut v,
            &nodes,
            &stores,
            &spec_index,
            &links,
            default_link.is_some(),
        );
        nearest_replicas(&mut nodes, &links, default_link.as_ref());
    }

    if !v.diags.is_empty() {
        return Err(LoadError {
            diagnostics: v.diags,
        });
    }
    Ok(Scenario {
        file: src.file.to_path_buf(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        question: spec.question.clone(),
        duration: SimTime::from_secs_f64(spec.duration_s),
        warmup,
        seed: spec.seed,
        seeds: spec.seeds,
        bucket: SimTime::from_secs_f64(spec.bucket_s),
        max_events: spec.max_events,
        nodes,
        stores,
        classes,
        links,
        default_link,
        faults,
        windows,
        charts: spec.charts.clone().unwrap_or_default(),
    })
}

/// For clients of stores: the replica with the lowest mean latency (Dijkstra on
/// mean link latency; the default link counts when there is no path).
fn nearest_replicas(nodes: &mut [Node], links: &[LinkV], default: Option<&LinkProps>) {
    let n = nodes.len();
    let mut g = petgraph::graph::DiGraph::<(), f64>::new();
    let idx: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
    for l in links {
        let w = l.props.latency.mean_ns() + 1.0;
        g.add_edge(idx[l.from], idx[l.to], w);
        if !l.one_way {
            g.add_edge(idx[l.to], idx[l.from], w);
        }
    }
    let fallback = default
        .map(|d| d.latency.mean_ns() + 1.0)
        .unwrap_or(f64::INFINITY);
    for i in 0..n {
        if let NodeKind::Client(c) = &nodes[i].kind
            && let Some(st) = &c.store
        {
            let dist = petgraph::algo::dijkstra(&g, idx[i], None, |e| *e.weight());
            let best = st
                .replicas
                .iter()
                .enumerate()
                .map(|(k, &r)| (dist.get(&idx[r]).copied().unwrap_or(fallback), k))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .map(|(_, k)| k)
                .unwrap_or(0);
            if let NodeKind::Client(c) = &mut nodes[i].kind
                && let Some(st) = &mut c.store
            {
                st.nearest = best;
            }
        }
    }
}

fn close_windows(
    windows: &mut [(&str, String, f64, Option<f64>)],
    kind: &str,
    label: Option<&str>,
    at: f64,
) {
    for w in windows.iter_mut() {
        if w.0 == kind && w.3.is_none() && label.is_none_or(|l| l == w.1) && w.2 <= at {
            w.3 = Some(at);
        }
    }
}

fn check_routes(
    v: &mut V<'_, '_>,
    nodes: &[Node],
    stores: &[StoreV],
    spec_index: &[usize],
    links: &[LinkV],
    has_default: bool,
) {
    if has_default {
        return;
    }
    let n = nodes.len();
    let mut g = petgraph::graph::DiGraph::<(), ()>::new();
    let idx: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
    for l in links {
        g.add_edge(idx[l.from], idx[l.to], ());
        if !l.one_way {
            g.add_edge(idx[l.to], idx[l.from], ());
        }
    }
    // Clients are endpoints, never routers (as in `Network`): a path may start or
    // end at a client but not pass through one.
    let endpoint: Vec<bool> = nodes
        .iter()
        .map(|nd| matches!(nd.kind, NodeKind::Client(_)))
        .collect();
    let has_path = |a: usize, b: usize| -> bool {
        let mut seen = vec![false; n];
        let mut stack = vec![a];
        seen[a] = true;
        while let Some(x) = stack.pop() {
            if x == b {
                return true;
            }
            if x != a && endpoint[x] {
                continue;
            }
            for y in g.neighbors(idx[x]) {
                if !seen[y.index()] {
                    seen[y.index()] = true;
                    stack.push(y.index());
                }
            }
        }
        false
    };
    let mut need: Vec<(usize, usize, String)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Client(c) if c.store.is_some() => {
                for &r in &c.store.as_ref().expect("checked").replicas {
                    need.push((i, r, format!("nodes[{}].target", spec_index[i])));
                }
            }
            NodeKind::Client(c) if c.balance.is_some() => {
                let bal = c.balance.as_ref().expect("checked");
                for (k, &b) in bal.backends.iter().enumerate() {
                    if b < n {
                        need.push((
                            i,
                            b,
                            format!("nodes[{}].balance.backends[{k}]", spec_index[i]),
                        ));
                    }
                }
            }
            NodeKind::Client(c) => {
                need.push((i, c.target, format!("nodes[{}].target", spec_index[i])));
                match nodes.get(c.target).map(|t| &t.kind) {
                    // A DNS client sends to every address of the record.
                    Some(NodeKind::Dns(d)) => {
                        for &a in &d.addresses {
                            need.push((i, a, format!("nodes[{}].target", spec_index[i])));
                        }
                    }
                    // A pair's address moves to the standby.
                    Some(NodeKind::LoadBalancer(lb)) => {
                        if let Some(pair) = lb.pair {
                            need.push((i, pair.peer, format!("nodes[{}].target", spec_index[i])));
                        }
                    }
                    _ => {}
                }
            }
            NodeKind::Replica { store, .. } => {
                for &r in &stores[*store].replicas {
                    if r != i {
                        need.push((i, r, format!("nodes[{}].replicas", spec_index[i])));
                    }
                }
            }
            NodeKind::Server(s) => {
                for (k, c) in s.calls.iter().enumerate() {
                    match c {
                        CallV::Call { target, .. } => {
                            need.push((i, *target, format!("nodes[{}].calls[{k}]", spec_index[i])))
                        }
                        CallV::Parallel { targets, .. } => {
                            for t in targets {
                                need.push((i, *t, format!("nodes[{}].calls[{k}]", spec_index[i])));
                            }
                        }
                        CallV::Enqueue { queue, .. } => {
                            need.push((i, *queue, format!("nodes[{}].calls[{k}]", spec_index[i])))
                        }
                    }
                }
            }
            NodeKind::LoadBalancer(lb) => {
                for (k, &b) in lb.backends.iter().enumerate() {
                    if b < n {
                        need.push((i, b, format!("nodes[{}].backends[{k}]", spec_index[i])));
                    }
                }
                if let Some(pair) = lb.pair {
                    need.push((i, pair.peer, format!("nodes[{}].standby", spec_index[i])));
                }
            }
            NodeKind::Dns(d) => {
                for (k, &a) in d.addresses.iter().enumerate() {
                    need.push((i, a, format!("nodes[{}].addresses[{k}]", spec_index[i])));
                }
            }
            NodeKind::Cache(c) => {
                need.push((i, c.origin, format!("nodes[{}].origin", spec_index[i])));
                for (k, &p) in c.peers.iter().enumerate() {
                    need.push((i, p, format!("nodes[{}].peers[{k}]", spec_index[i])));
                }
                for (k, &p) in c.push_to.iter().enumerate() {
                    need.push((i, p, format!("nodes[{}].push_to[{k}]", spec_index[i])));
                }
            }
            NodeKind::Queue(_) => {}
        }
    }
    for (a, b, path) in need {
        let there = has_path(a, b);
        let back = has_path(b, a);
        if !there || !back {
            v.err(
                &path,
                format!(
                    "no network path {} `{}` {} `{}`",
                    if there { "back from" } else { "from" },
                    if there { &nodes[b].name } else { &nodes[a].name },
                    "to",
                    if there { &nodes[a].name } else { &nodes[b].name }
                ),
                "add a link between them (answers travel back too), or a `default_link: (latency: Constant(ms: 0.5))` for all unlinked pairs",
            );
        }
    }
}

fn validate_lb(
    v: &mut V<'_, '_>,
    p: &str,
    lb: &LoadBalancerSpec,
    names: &[&str],
    kinds: &[&str],
) -> LoadBalancerV {
    let n = lb.backends.len();
    if n == 0 {
        v.err(
            &format!("{p}.backends"),
            "a load balancer needs at least one backend",
            "e.g. `backends: [\"app-1\", \"app-2\"]`",
        );
    }
    let mut backends = Vec::with_capacity(n);
    for (k, b) in lb.backends.iter().enumerate() {
        let bp = format!("{p}.backends[{k}]");
        let id = v.node_ref(&bp, b, names);
        if id != usize::MAX {
            if *b == lb.name {
                v.err(&bp, "a load balancer cannot be its own backend", "");
            } else if kinds[id] == "client" {
                v.err(
                    &bp,
                    format!(
                        "backend `{b}` is a client; clients send requests but do not answer them"
                    ),
                    "name servers (or other balancers) as backends",
                );
            } else if lb.backends[..k].contains(b) {
                v.err(
                    &bp,
                    format!("backend `{b}` is listed twice"),
                    "to send it more traffic, give it a larger weight in `weights`",
                );
            }
        }
        backends.push(id);
    }
    let weights = if lb.weights.is_empty() {
        vec![1; n]
    } else {
        if lb.weights.len() != n {
            v.err(
                &format!("{p}.weights"),
                format!("{} weights for {n} backends", lb.weights.len()),
                "give one weight per backend, or leave `weights` out (all 1)",
            );
        }
        (0..n)
            .map(|k| lb.weights.get(k).copied().unwrap_or(1))
            .collect()
    };
    if n > 0 && weights.iter().all(|&w| w == 0) {
        v.err(
            &format!("{p}.weights"),
            "every weight is 0: no backend would ever receive a request",
            "weight 0 drains a backend; give at least one a positive weight",
        );
    }
    let pools = if lb.pools.is_empty() {
        vec![0; n]
    } else {
        if lb.pools.len() != n {
            v.err(
                &format!("{p}.pools"),
                format!("{} pools for {n} backends", lb.pools.len()),
                "give one pool per backend, or leave `pools` out (all 0)",
            );
        }
        (0..n)
            .map(|k| lb.pools.get(k).copied().unwrap_or(0))
            .collect()
    };
    if let Err(e) = lb.policy.validate() {
        v.err(&format!("{p}.policy"), e.to_string(), "");
    }
    let health = lb
        .health
        .as_ref()
        .map(|h| active_check(v, &format!("{p}.health"), h));
    let passive = lb
        .passive
        .as_ref()
        .map(|ps| passive_cfg(v, &format!("{p}.passive"), ps));
    let timeout = v.ms(&format!("{p}.timeout_ms"), lb.timeout_ms);
    let ewma_alpha = lb.ewma_alpha.unwrap_or(0.2);
    if !(ewma_alpha.is_finite() && ewma_alpha > 0.0 && ewma_alpha <= 1.0) {
        v.err(
            &format!("{p}.ewma_alpha"),
            format!("`ewma_alpha` must be in (0, 1] (got {ewma_alpha})"),
            "0.1–0.3 is typical",
        );
    }
    LoadBalancerV {
        backends,
        weights,
        pools,
        policy: lb.policy.clone(),
        health,
        passive,
        timeout,
        ewma_alpha,
        pair: None,
    }
}

/// Active–passive pairs: `standby` names another balancer with the same backends,
/// in no other pair; both members get the pair (the first member's index is the
/// virtual address).
fn validate_pairs(
    v: &mut V<'_, '_>,
    spec: &ScenarioSpec,
    nodes: &mut [Node],
    names: &[&str],
    kinds: &[&str],
) {
    use crate::components::load_balancer::HeartbeatConfig;
    for (i, n) in spec.nodes.iter().enumerate() {
        let NodeSpec::LoadBalancer(lb) = n else {
            continue;
        };
        let p = format!("nodes[{i}]");
        let Some(sb) = &lb.standby else {
            if lb.heartbeat.is_some() {
                v.err(
                    &format!("{p}.heartbeat"),
                    "`heartbeat` only applies to a balancer with a `standby`",
                    "name the standby balancer with `standby: \"lb-b\"`, or remove `heartbeat`",
                );
            }
            if lb.takeover_delay_ms.is_some() {
                v.err(
                    &format!("{p}.takeover_delay_ms"),
                    "`takeover_delay_ms` only applies to a balancer with a `standby`",
                    "name the standby balancer with `standby: \"lb-b\"`, or remove `takeover_delay_ms`",
                );
            }
            if lb.sync_sessions {
                v.err(
                    &format!("{p}.sync_sessions"),
                    "`sync_sessions` only applies to a balancer with a `standby`",
                    "name the standby balancer with `standby: \"lb-b\"`, or remove `sync_sessions`",
                );
            }
            continue;
        };
        let sp = format!("{p}.standby");
        let Some(me) = names.iter().position(|x| *x == lb.name) else {
            continue;
        };
        let sid = v.node_ref(&sp, sb, names);
        if sid == usize::MAX {
            continue;
        }
        if sid == me {
            v.err(
                &sp,
                format!("balancer `{sb}` cannot be its own standby"),
                "name a second `LoadBalancer(...)` with the same backends",
            );
            continue;
        }
        if kinds[sid] != "load_balancer" {
            v.err(
                &sp,
                format!(
                    "`{sb}` is a {}; a standby must be a load balancer",
                    kinds[sid]
                ),
                "add `LoadBalancer(name: ...)` with the same backends and name it here",
            );
            continue;
        }
        let (mine, theirs) = match (&nodes[me].kind, &nodes[sid].kind) {
            (NodeKind::LoadBalancer(a), NodeKind::LoadBalancer(b)) => (a.clone(), b.clone()),
            _ => continue,
        };
        if mine.backends != theirs.backends {
            v.err(
                &sp,
                format!(
                    "the standby `{sb}` has other backends than `{}`",
                    lb.name
                ),
                "both members of an active–passive pair balance the same backends, in the same order",
            );
            continue;
        }
        if mine.pair.is_some() || theirs.pair.is_some() {
            v.err(
                &sp,
                format!(
                    "`{}` or `{sb}` is already a member of another active–passive pair",
                    lb.name
                ),
                "a balancer belongs to at most one pair",
            );
            continue;
        }
        let (hi, ht) = lb
            .heartbeat
            .as_ref()
            .map_or((100.0, 300.0), |h| (h.interval_ms, h.timeout_ms));
        let hp = format!("{p}.heartbeat");
        let ok_i = v.positive(&format!("{hp}.interval_ms"), hi, "milliseconds");
        let ok_t = v.positive(&format!("{hp}.timeout_ms"), ht, "milliseconds");
        if ok_i && ok_t && ht <= hi {
            v.err(
                &format!("{hp}.timeout_ms"),
                format!(
                    "the heartbeat timeout ({ht} ms) is not longer than the interval ({hi} ms): a live active would be suspected"
                ),
                "use a timeout of a few intervals, e.g. `interval_ms: 100.0, timeout_ms: 300.0`",
            );
        }
        let delay = lb.takeover_delay_ms.unwrap_or(0.0);
        v.non_negative(&format!("{p}.takeover_delay_ms"), delay, "milliseconds");
        let heartbeat = HeartbeatConfig {
            interval_ns: SimTime::from_ms_f64(hi).as_ns().max(1),
            timeout_ns: SimTime::from_ms_f64(ht).as_ns().max(2),
        };
        let takeover_delay = SimTime::from_ms_f64(delay.max(0.0));
        if lb.sync_sessions {
            let sticky = |k: &NodeKind| {
                matches!(k, NodeKind::LoadBalancer(x)
                    if matches!(x.policy, crate::components::load_balancer::PolicySpec::Sticky { .. }))
            };
            if !sticky(&nodes[me].kind) || !sticky(&nodes[sid].kind) {
                v.err(
                    &format!("{p}.sync_sessions"),
                    format!(
                        "`sync_sessions` replicates sticky session pins, but `{}` or its standby `{sb}` has no `Sticky` policy",
                        lb.name
                    ),
                    "give both members `policy: Sticky(inner: LeastConnections)`, or remove `sync_sessions`",
                );
            }
        }
        for (node, peer) in [(me, sid), (sid, me)] {
            if let NodeKind::LoadBalancer(x) = &mut nodes[node].kind {
                x.pair = Some(PairV {
                    vip: me,
                    peer,
                    heartbeat,
                    takeover_delay,
                    sync_sessions: lb.sync_sessions,
                });
            }
        }
    }
}

/// A DNS node: addresses that answer requests, a positive TTL, optional checks.
fn validate_dns(v: &mut V<'_, '_>, p: &str, d: &DnsSpec, names: &[&str], kinds: &[&str]) -> DnsV {
    if d.addresses.is_empty() {
        v.err(
            &format!("{p}.addresses"),
            "a DNS record needs at least one address",
            "e.g. `addresses: [\"lb-a\", \"lb-b\"]`",
        );
    }
    let mut addresses = Vec::new();
    for (k, a) in d.addresses.iter().enumerate() {
        let ap = format!("{p}.addresses[{k}]");
        let id = v.node_ref(&ap, a, names);
        if id != usize::MAX {
            if matches!(kinds[id], "client" | "dns") {
                v.err(
                    &ap,
                    format!("`{a}` is a {} and cannot answer requests", kinds[id]),
                    "a DNS record lists load balancers or servers",
                );
            } else if d.addresses[..k].contains(a) {
                v.err(&ap, format!("address `{a}` is listed twice"), "");
            }
        }
        addresses.push(id);
    }
    v.positive(&format!("{p}.ttl_s"), d.ttl_s, "seconds");
    let health = d
        .health
        .as_ref()
        .map(|h| active_check(v, &format!("{p}.health"), h));
    DnsV {
        addresses,
        ttl: SimTime::from_secs_f64(d.ttl_s.max(0.0)),
        health,
    }
}

/// Validate an active health-check spec at `hp`.
fn active_check(
    v: &mut V<'_, '_>,
    hp: &str,
    h: &HealthCheckSpec,
) -> crate::components::load_balancer::ActiveCheckConfig {
    let ok_i = v.positive(&format!("{hp}.interval_ms"), h.interval_ms, "milliseconds");
    let ok_t = v.positive(&format!("{hp}.timeout_ms"), h.timeout_ms, "milliseconds");
    if ok_i && ok_t && h.timeout_ms > h.interval_ms {
        v.err(
            &format!("{hp}.timeout_ms"),
            format!(
                "the check timeout ({} ms) is longer than the interval ({} ms)",
                h.timeout_ms, h.interval_ms
            ),
            "a check must time out before the next one is sent: use `timeout_ms` ≤ `interval_ms`",
        );
    }
    if h.healthy_threshold == 0 {
        v.err(
            &format!("{hp}.healthy_threshold"),
            "`healthy_threshold` must be at least 1",
            "e.g. `healthy_threshold: 2`",
        );
    }
    if h.unhealthy_threshold == 0 {
        v.err(
            &format!("{hp}.unhealthy_threshold"),
            "`unhealthy_threshold` must be at least 1",
            "e.g. `unhealthy_threshold: 3`",
        );
    }
    crate::components::load_balancer::ActiveCheckConfig {
        interval_ns: SimTime::from_ms_f64(h.interval_ms).as_ns().max(1),
        timeout_ns: SimTime::from_ms_f64(h.timeout_ms).as_ns().max(1),
        healthy_threshold: h.healthy_threshold.max(1),
        unhealthy_threshold: h.unhealthy_threshold.max(1),
    }
}

/// Validate a passive-ejection spec at `pp`.
fn passive_cfg(
    v: &mut V<'_, '_>,
    pp: &str,
    ps: &PassiveSpec,
) -> crate::components::load_balancer::PassiveConfig {
    if ps.consecutive_errors == 0 {
        v.err(
            &format!("{pp}.consecutive_errors"),
            "`consecutive_errors` must be at least 1",
            "e.g. `consecutive_errors: 5`",
        );
    }
    if ps.probation_successes == 0 {
        v.err(
            &format!("{pp}.probation_successes"),
            "`probation_successes` must be at least 1",
            "",
        );
    }
    if ps.max_ejection_percent > 100 {
        v.err(
            &format!("{pp}.max_ejection_percent"),
            format!(
                "`max_ejection_percent` is a percentage in 0..=100 (got {})",
                ps.max_ejection_percent
            ),
            "",
        );
    }
    v.positive(&format!("{pp}.ejection_ms"), ps.ejection_ms, "milliseconds");
    crate::components::load_balancer::PassiveConfig {
        consecutive_errors: ps.consecutive_errors.max(1),
        ejection_ns: SimTime::from_ms_f64(ps.ejection_ms).as_ns().max(1),
        probation_successes: ps.probation_successes.max(1),
        max_ejection_percent: ps.max_ejection_percent.min(100),
    }
}

fn validate_link_props(v: &mut V<'_, '_>, p: &str, l: &LinkParams) -> LinkProps {
    let mut latency = l.latency.clone();
    let mut loss = l.loss;
    let mut bw = l.bandwidth_mbps;
    let mut from_model: Option<(PathBuf, String)> = None;
    if let Some(m) = &l.model
        && let Some((mp, mt, mf)) = load_model(v, &format!("{p}.model"), m)
    {
        match mf {
            ModelFile::Link(ml) => {
                latency = latency.or(ml.latency);
                loss = loss.or(ml.loss);
                bw = bw.or(ml.bandwidth_mbps);
                from_model = Some((mp, mt));
            }
            ModelFile::Server(_) => v.err(
                &format!("{p}.model"),
                format!("model `{m}` describes a server, not a link"),
                "use a link model such as `same-rack`",
            ),
        }
    }
    let latency_spec = latency.unwrap_or(DistSpec::Constant { ms: 0.0 });
    let latency_path = format!("{p}.latency");
    let model_problem = match (&from_model, latency_spec.validate()) {
        (Some(m), Err(e)) if !v.src.has(&latency_path) => Some((m.clone(), e)),
        _ => None,
    };
    let latency = if let Some((m, (field, msg, hint))) = model_problem {
        model_err(v, &m, &format!("latency.{field}"), msg, hint);
        Dist::Constant(0.0)
    } else {
        v.dist(&latency_path, &latency_spec)
    };
    let loss = loss.unwrap_or(0.0);
    v.probability(&format!("{p}.loss"), loss);
    let bytes_per_ns = bw.and_then(|b| {
        v.positive(&format!("{p}.bandwidth_mbps"), b, "megabits per second")
            .then_some(b * 1e6 / 8.0 / 1e9)
    });
    LinkProps {
        latency,
        loss,
        bytes_per_ns,
    }
}

fn validate_client(
    v: &mut V<'_, '_>,
    p: &str,
    c: &ClientSpec,
    names: &[&str],
    kinds: &[&str],
    classes: &[ClassV],
    spec: &ScenarioSpec,
) -> ClientV {
    // A store target: the store's name.
    let mut store_target = None;
    let mut si = 0;
    let mut first_replica = 0;
    for n in &spec.nodes {
        if let NodeSpec::Store(st) = n {
            if st.name == c.target {
                let replicas: Vec<usize> =
                    (first_replica..first_replica + st.replicas.clamp(1, 64) as usize).collect();
                let route = c.route.unwrap_or_else(|| st.policy.default_route());
                if let crate::components::store::Route::Replica(i) = route
                    && i >= replicas.len()
                {
                    v.err(
                        &format!("{p}.route"),
                        format!(
                            "replica {i} does not exist; the store has {} (0-based)",
                            replicas.len()
                        ),
                        "",
                    );
                }
                store_target = Some(StoreTarget {
                    store: si,
                    replicas,
                    route,
                    nearest: 0,
                });
            }
            si += 1;
            first_replica += st.replicas.clamp(1, 64) as usize;
        } else {
            first_replica += 1;
        }
    }
    let balance = c.balance.as_ref().map(|b| {
        let bp = format!("{p}.balance");
        if b.backends.is_empty() {
            v.err(
                &format!("{bp}.backends"),
                "a smart client needs at least one backend to balance over",
                "e.g. `balance: (backends: [\"app-1\", \"app-2\"], policy: LeastConnections)`",
            );
        }
        let mut backends = Vec::new();
        for (k, name) in b.backends.iter().enumerate() {
            let kp = format!("{bp}.backends[{k}]");
            let id = v.node_ref(&kp, name, names);
            if id != usize::MAX {
                if matches!(kinds[id], "client" | "dns") {
                    v.err(
                        &kp,
                        format!(
                            "backend `{name}` is a {} and cannot answer requests",
                            kinds[id]
                        ),
                        "name servers or balancers",
                    );
                } else if b.backends[..k].contains(name) {
                    v.err(&kp, format!("backend `{name}` is listed twice"), "");
                }
            }
            backends.push(id);
        }
        let n = backends.len();
        if !b.weights.is_empty() && b.weights.len() != n {
            v.err(
                &format!("{bp}.weights"),
                format!("{} weights for {n} backends", b.weights.len()),
                "give one weight per backend, or leave `weights` out (all 1)",
            );
        }
        let weights: Vec<u32> = (0..n)
            .map(|k| b.weights.get(k).copied().unwrap_or(1))
            .collect();
        if n > 0 && weights.iter().all(|&w| w == 0) {
            v.err(
                &format!("{bp}.weights"),
                "every weight is 0: no backend would ever receive a request",
                "",
            );
        }
        if let Err(e) = b.policy.validate() {
            v.err(&format!("{bp}.policy"), e.to_string(), "");
        }
        if matches!(
            b.policy,
            crate::components::load_balancer::PolicySpec::Layer7 { .. }
        ) {
            v.err(
                &format!("{bp}.policy"),
                "layer-7 routing is a balancer feature, not available to smart clients",
                "use a LoadBalancer node for layer-7 pools",
            );
        }
        let passive = b
            .passive
            .as_ref()
            .map(|ps| passive_cfg(v, &format!("{bp}.passive"), ps));
        let health = b
            .health
            .as_ref()
            .map(|h| active_check(v, &format!("{bp}.health"), h));
        ClientBalanceV {
            backends,
            weights,
            policy: b.policy.clone(),
            passive,
            health,
        }
    });
    if balance.is_some() && !c.target.is_empty() {
        v.err(
            &format!("{p}.target"),
            "a smart client (`balance`) picks its backend itself and has no `target`",
            "remove `target`, or remove `balance` to send through the target",
        );
    }
    if balance.is_none() && c.target.is_empty() {
        v.err(
            p,
            format!("client `{}` has no `target`", c.name),
            "add `target: \"<node>\"` (a server, balancer, queue, store or DNS), or `balance: (...)` for a smart client",
        );
    }
    let target = match (&store_target, &balance) {
        (_, Some(b)) => b.backends.first().copied().unwrap_or(usize::MAX),
        (_, None) if c.target.is_empty() => usize::MAX,
        (Some(t), None) => t.replicas[0],
        (None, None) => {
            let mut all: Vec<&str> = names.to_vec();
            for n in &spec.nodes {
                if let NodeSpec::Store(st) = n {
                    all.push(&st.name);
                }
            }
            if names.contains(&c.target.as_str()) {
                v.node_ref(&format!("{p}.target"), &c.target, names)
            } else {
                v.node_ref(&format!("{p}.target"), &c.target, &all)
            }
        }
    };
    if c.route.is_some() && store_target.is_none() {
        v.err(
            &format!("{p}.route"),
            "`route` only applies when the target is a store",
            "remove `route`, or target a `Store(...)` by its name",
        );
    }
    if kinds.get(target) == Some(&"client") {
        v.err(
            &format!("{p}.target"),
            format!(
                "`{}` is a client; clients send to servers, queues, balancers or stores",
                c.target
            ),
            "set `target` to the name of a server, queue or store",
        );
    }
    let wp = format!("{p}.workload");
    let workload = match &c.workload {
        Workload::Poisson { rate_per_s } => {
            v.positive(
                &format!("{wp}.rate_per_s"),
                *rate_per_s,
                "requests per second",
            );
            WorkloadV::Poisson {
                rate_per_ns: rate_per_s / 1e9,
            }
        }
        Workload::Constant { rate_per_s } => {
            v.positive(
                &format!("{wp}.rate_per_s"),
                *rate_per_s,
                "requests per second",
            );
            WorkloadV::Constant {
                rate_per_ns: rate_per_s / 1e9,
            }
        }
        Workload::Closed { users, think } => {
            if *users == 0 {
                v.err(
                    &format!("{wp}.users"),
                    "a closed workload needs at least one user",
                    "",
                );
            }
            WorkloadV::Closed {
                users: *users,
                think: v.dist(&format!("{wp}.think"), think),
            }
        }
        Workload::Schedule { segments, poisson } => {
            let pts = schedule_points(v, &wp, segments);
            let max = pts.iter().map(|p| p.1).fold(0.0, f64::max);
            if max <= 0.0 && !segments.is_empty() {
                v.err(
                    &format!("{wp}.segments"),
                    "the schedule's rate is never above zero",
                    "give at least one segment a positive `rate_per_s`",
                );
            }
            if segments.is_empty() {
                v.err(
                    &format!("{wp}.segments"),
                    "a schedule needs at least one segment",
                    "e.g. `segments: [Step(at_s: 0.0, rate_per_s: 100.0)]`",
                );
            }
            WorkloadV::Schedule {
                points: pts,
                max_rate_per_ns: max,
                poisson: *poisson,
            }
        }
    };
    let mut mix = Vec::new();
    let total: f64 = c.mix.iter().map(|t| t.weight).sum();
    let mut cum = 0.0;
    for (k, t) in c.mix.iter().enumerate() {
        if !(t.weight.is_finite() && t.weight >= 0.0) {
            v.err(
                &format!("{p}.mix[{k}].weight"),
                format!("weight must be ≥ 0 (got {})", t.weight),
                "weights are relative, e.g. 9 reads to 1 write",
            );
        }
        if c.mix[..k].iter().any(|o| o.name == t.name) {
            v.err(
                &format!("{p}.mix[{k}].name"),
                format!("request type `{}` appears twice in this mix", t.name),
                "",
            );
        }
        cum += t.weight;
        let class = classes.iter().position(|k| k.name == t.name).unwrap_or(0) as u16;
        if classes[class as usize].op != t.op {
            v.err(
                &format!("{p}.mix[{k}].op"),
                format!(
                    "request type `{}` is a {:?} here but a {:?} in another client",
                    t.name, t.op, classes[class as usize].op
                ),
                "give different operations different type names",
            );
        }
        mix.push(MixEntry {
            cum_weight: if total > 0.0 { cum / total } else { 0.0 },
            class,
            op: t.op,
            size_bytes: t.size_bytes,
            response_bytes: t.response_bytes,
        });
    }
    if !c.mix.is_empty() && total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        v.err(
            &format!("{p}.mix"),
            "the weights of the mix add up to zero",
            "give at least one request type a positive weight",
        );
    }
    if let Some(last) = mix.last_mut() {
        last.cum_weight = 1.0;
    }
    if mix.is_empty() {
        let class = classes.iter().position(|k| k.name == "req").unwrap_or(0) as u16;
        mix.push(MixEntry {
            cum_weight: 1.0,
            class,
            op: OpSpec::Read,
            size_bytes: 100,
            response_bytes: 100,
        });
    }
    let keys = match c.keys {
        KeySpec::Uniform { count } => {
            if count == 0 {
                v.err(
                    &format!("{p}.keys.count"),
                    "the key space needs at least one key",
                    "",
                );
            }
            KeysV::Uniform {
                count: count.max(1),
            }
        }
        KeySpec::Zipf { count, s } => {
            if count == 0 {
                v.err(
                    &format!("{p}.keys.count"),
                    "the key space needs at least one key",
                    "",
                );
            }
            if !(s.is_finite() && s >= 0.0) {
                v.err(
                    &format!("{p}.keys.s"),
                    format!("the Zipf exponent must be ≥ 0 (got {s})"),
                    "typical web workloads have s between 0.6 and 1.2",
                );
            }
            if count > 100_000_000 {
                v.err(
                    &format!("{p}.keys.count"),
                    "Zipf key spaces are limited to 100 million keys",
                    "",
                );
            }
            KeysV::Zipf {
                count: count.max(1),
                s,
            }
        }
    };
    let timeout = v.ms(&format!("{p}.timeout_ms"), c.timeout_ms);
    let retry = c.retry.as_ref().map(|r| {
        let rp = format!("{p}.retry");
        if r.max_attempts == 0 {
            v.err(
                &format!("{rp}.max_attempts"),
                "`max_attempts` counts the first try too and must be at least 1",
                "",
            );
        }
        v.positive(&format!("{rp}.base_ms"), r.base_ms, "milliseconds");
        v.positive(&format!("{rp}.max_ms"), r.max_ms, "milliseconds");
        if !(r.multiplier.is_finite() && r.multiplier >= 1.0) {
            v.err(
                &format!("{rp}.multiplier"),
                format!("`multiplier` must be ≥ 1 (got {})", r.multiplier),
                "2.0 doubles the backoff after each attempt",
            );
        }
        RetryV {
            max_attempts: r.max_attempts.max(1),
            base: SimTime::from_ms_f64(r.base_ms),
            max: SimTime::from_ms_f64(r.max_ms),
            multiplier: r.multiplier,
            jitter: r.jitter,
        }
    });
    if c.sessions == Some(0) {
        v.err(
            &format!("{p}.sessions"),
            "`sessions` must be at least 1",
            "each request belongs to one of the client's sessions, e.g. `sessions: 100`",
        );
    }
    let dns = kinds.get(target) == Some(&"dns");
    ClientV {
        target,
        store: store_target,
        workload,
        mix,
        keys,
        timeout,
        retry,
        sessions: c.sessions.unwrap_or(1).max(1),
        balance,
        dns,
    }
}

fn schedule_points(v: &mut V<'_, '_>, wp: &str, segments: &[RateSegment]) -> Vec<(f64, f64)> {
    // Evaluate segments on a time grid of breakpoints: later segments override.
    let mut bps: Vec<f64> = vec![0.0];
    for (k, s) in segments.iter().enumerate() {
        let sp = format!("{wp}.segments[{k}]");
        match s {
            RateSegment::Step { at_s, rate_per_s } => {
                v.non_negative(&format!("{sp}.at_s"), *at_s, "seconds");
                v.non_negative(
                    &format!("{sp}.rate_per_s"),
                    *rate_per_s,
                    "requests per second",
                );
                bps.push(*at_s);
            }
            RateSegment::Ramp {
                from_s,
                to_s,
                to_rate_per_s,
            } => {
                v.non_negative(&format!("{sp}.from_s"), *from_s, "seconds");
                if to_s.partial_cmp(from_s) != Some(std::cmp::Ordering::Greater) {
                    v.err(
                        &format!("{sp}.to_s"),
                        format!("a ramp must end after it starts ({from_s} s → {to_s} s)"),
                        "",
                    );
                }
                v.non_negative(
                    &format!("{sp}.to_rate_per_s"),
                    *to_rate_per_s,
                    "requests per second",
                );
                bps.push(*from_s);
                bps.push(*to_s);
            }
            RateSegment::Spike {
                at_s,
                duration_s,
                rate_per_s,
            } => {
                v.non_negative(&format!("{sp}.at_s"), *at_s, "seconds");
                v.positive(&format!("{sp}.duration_s"), *duration_s, "seconds");
                v.non_negative(
                    &format!("{sp}.rate_per_s"),
                    *rate_per_s,
                    "requests per second",
                );
                bps.push(*at_s);
                bps.push(at_s + duration_s);
            }
        }
    }
    bps.retain(|b| b.is_finite());
    bps.sort_by(f64::total_cmp);
    bps.dedup();
    let rate_at = |t: f64, left: bool| -> f64 {
        let mut r = 0.0;
        for s in segments {
            match *s {
                RateSegment::Step { at_s, rate_per_s } => {
                    if t > at_s || (!left && t >= at_s) {
                        r = rate_per_s;
                    }
                }
                RateSegment::Ramp {
                    from_s,
                    to_s,
                    to_rate_per_s,
                } => {
                    if t >= to_s {
                        r = to_rate_per_s;
                    } else if t > from_s || (!left && t >= from_s) {
                        let r0 = r;
                        r = r0 + (to_rate_per_s - r0) * (t - from_s) / (to_s - from_s);
                    }
                }
                RateSegment::Spike {
                    at_s,
                    duration_s,
                    rate_per_s,
                } => {
                    let end = at_s + duration_s;
                    let inside = if left {
                        t > at_s && t <= end
                    } else {
                        t >= at_s && t < end
                    };
                    if inside {
                        r = rate_per_s;
                    }
                }
            }
        }
        r
    };
    // Breakpoints in ns with left and right limits (for steps), rates per ns.
    let mut pts = Vec::new();
    for b in bps {
        let l = rate_at(b, true);
        let r = rate_at(b, false);
        pts.push((b * 1e9, l / 1e9));
        if (l - r).abs() > 0.0 {
            pts.push((b * 1e9, r / 1e9));
        }
    }
    pts
}

fn validate_cache(
    v: &mut V<'_, '_>,
    p: &str,
    c: &CacheSpec,
    names: &[&str],
    kinds: &[&str],
) -> CacheV {
    use crate::components::cache::{CacheConfig, eviction::MAX_ENTRIES};
    let origin = v.node_ref(&format!("{p}.origin"), &c.origin, names);
    if origin != usize::MAX {
        if names[origin] == c.name {
            v.err(
                &format!("{p}.origin"),
                format!("cache `{}` cannot be its own origin", c.name),
                "name the backing node, e.g. a `Server` with `data: true`",
            );
        } else if kinds[origin] == "client" || kinds[origin] == "queue" {
            v.err(&format!("{p}.origin"), format!("`{}` is a {} and cannot answer requests", c.origin, kinds[origin]), "the origin is a server (with `data: true` to hold values), a store replica or another cache");
        }
    }
    if c.capacity_entries == Some(0) {
        v.err(
            &format!("{p}.capacity_entries"),
            "`capacity_entries` is 0: the cache could hold nothing",
            "leave it out for no limit, or set e.g. `capacity_entries: Some(1000)`",
        );
    }
    if c.capacity_entries.is_some_and(|n| n > MAX_ENTRIES) {
        v.err(
            &format!("{p}.capacity_entries"),
            format!("`capacity_entries` is above the limit of {MAX_ENTRIES}"),
            "",
        );
    }
    if c.capacity_bytes == Some(0) {
        v.err(
            &format!("{p}.capacity_bytes"),
            "`capacity_bytes` is 0: the cache could hold nothing",
            "leave it out for no limit, or set e.g. `capacity_bytes: Some(1000000)`",
        );
    }
    let ttl = v.ms(&format!("{p}.ttl_ms"), c.ttl_ms);
    let flush_interval = v
        .ms(&format!("{p}.flush_interval_ms"), c.flush_interval_ms)
        .unwrap_or(SimTime::from_ms(1000));
    let batch_size = c.batch_size.unwrap_or(100);
    if batch_size == 0 {
        v.err(
            &format!("{p}.batch_size"),
            "`batch_size` must be at least 1",
            "e.g. `batch_size: Some(100)`",
        );
    }
    let refresh_fraction = c.refresh_fraction.unwrap_or(0.2);
    if !(refresh_fraction > 0.0 && refresh_fraction < 1.0) {
        v.err(
            &format!("{p}.refresh_fraction"),
            format!("`refresh_fraction` must be within (0, 1) (got {refresh_fraction})"),
            "e.g. `refresh_fraction: Some(0.2)`: refresh on hits in the last 20% of the TTL",
        );
    }
    if c.pattern == CachePattern::RefreshAhead && ttl.is_none() {
        v.err(
            &format!("{p}.pattern"),
            "refresh-ahead needs a `ttl_ms`",
            "set e.g. `ttl_ms: Some(1000.0)`",
        );
    }
    if c.pattern != CachePattern::WriteBack
        && (c.flush_interval_ms.is_some() || c.batch_size.is_some())
    {
        v.err(
            &format!("{p}.pattern"),
            "`flush_interval_ms` and `batch_size` only apply to `pattern: WriteBack`",
            "remove them or use `pattern: WriteBack`",
        );
    }
    let service = match &c.service {
        Some(d) => v.dist(&format!("{p}.service"), d),
        None => Dist::Constant(50_000.0),
    };
    let mut peers = Vec::new();
    for (k, name) in c.peers.iter().enumerate() {
        let id = v.node_ref(&format!("{p}.peers[{k}]"), name, names);
        if id != usize::MAX {
            if kinds[id] != "cache" {
                v.err(
                    &format!("{p}.peers[{k}]"),
                    format!("peer `{name}` is not a cache"),
                    "peers are the other `Cache(...)` shards",
                );
            } else if names[id] == c.name || peers.contains(&id) {
                v.err(
                    &format!("{p}.peers[{k}]"),
                    format!("peer `{name}` is listed twice (or is this cache)"),
                    "list every other shard once",
                );
            }
        }
        peers.push(id);
    }
    let placement = c
        .placement
        .unwrap_or(CachePlacement::ConsistentHash { vnodes: 100 });
    if let CachePlacement::ConsistentHash { vnodes: 0 } = placement {
        v.err(
            &format!("{p}.placement"),
            "`vnodes` must be at least 1",
            "e.g. `ConsistentHash(vnodes: 100)`",
        );
    }
    if let CachePlacement::ConsistentHash { vnodes } = placement
        && u64::from(vnodes) > crate::components::hashring::MAX_VNODES_PER_NODE
    {
        v.err(
            &format!("{p}.placement"),
            format!(
                "`vnodes` is {vnodes}, above the limit of {} per shard",
                crate::components::hashring::MAX_VNODES_PER_NODE
            ),
            "a few hundred virtual nodes already balance the ring within a few percent",
        );
    }
    let (peer_health, forward_timeout, push_to) = validate_cache_network(v, p, c, names, kinds);
    let store = CacheConfig {
        policy: c.eviction,
        capacity_entries: c.capacity_entries,
        capacity_bytes: c.capacity_bytes,
        ttl_ns: ttl.map(|t| t.as_ns().max(1)),
        ttl_mode: c.ttl_mode,
    };
    CacheV {
        origin,
        pattern: c.pattern,
        store,
        flush_interval,
        batch_size: batch_size.max(1),
        refresh_fraction,
        service,
        peers,
        placement,
        peer_health,
        forward_timeout,
        push_to,
    }
}

/// The distributed-cache and push fields of a cache: `peer_health`,
/// `forward_timeout_ms` (both need `peers`) and `push_to` (other caches).
fn validate_cache_network(
    v: &mut V<'_, '_>,
    p: &str,
    c: &CacheSpec,
    names: &[&str],
    kinds: &[&str],
) -> (
    Option<crate::components::load_balancer::ActiveCheckConfig>,
    Option<SimTime>,
    Vec<usize>,
) {
    use crate::components::load_balancer::ActiveCheckConfig;
    let peer_health = c.peer_health.as_ref().map(|h| {
        let hp = format!("{p}.peer_health");
        if c.peers.is_empty() {
            v.err(
                &hp,
                "`peer_health` checks the other shards, but this cache has no `peers`",
                "list the other shards in `peers`, or remove `peer_health`",
            );
        }
        let ok_i = v.positive(&format!("{hp}.interval_ms"), h.interval_ms, "milliseconds");
        let ok_t = v.positive(&format!("{hp}.timeout_ms"), h.timeout_ms, "milliseconds");
        if ok_i && ok_t && h.timeout_ms > h.interval_ms {
            v.err(
                &format!("{hp}.timeout_ms"),
                format!(
                    "the check timeout ({} ms) is longer than the interval ({} ms)",
                    h.timeout_ms, h.interval_ms
                ),
                "a check must time out before the next one is sent: use `timeout_ms` ≤ `interval_ms`",
            );
        }
        if h.healthy_threshold == 0 {
            v.err(
                &format!("{hp}.healthy_threshold"),
                "`healthy_threshold` must be at least 1",
                "e.g. `healthy_threshold: 2`",
            );
        }
        if h.unhealthy_threshold == 0 {
            v.err(
                &format!("{hp}.unhealthy_threshold"),
                "`unhealthy_threshold` must be at least 1",
                "e.g. `unhealthy_threshold: 3`",
            );
        }
        ActiveCheckConfig {
            interval_ns: SimTime::from_ms_f64(h.interval_ms).as_ns().max(1),
            timeout_ns: SimTime::from_ms_f64(h.timeout_ms).as_ns().max(1),
            healthy_threshold: h.healthy_threshold.max(1),
            unhealthy_threshold: h.unhealthy_threshold.max(1),
        }
    });
    let forward_timeout = v.ms(&format!("{p}.forward_timeout_ms"), c.forward_timeout_ms);
    if forward_timeout.is_some() && c.peers.is_empty() {
        v.err(
            &format!("{p}.forward_timeout_ms"),
            "`forward_timeout_ms` applies to requests forwarded to peers, but this cache has no `peers`",
            "list the other shards in `peers`, or remove `forward_timeout_ms`",
        );
    }
    let mut push_to: Vec<usize> = Vec::new();
    for (k, name) in c.push_to.iter().enumerate() {
        let path = format!("{p}.push_to[{k}]");
        let id = v.node_ref(&path, name, names);
        if id == usize::MAX {
            continue;
        }
        if kinds[id] != "cache" {
            v.err(
                &path,
                format!("`{name}` is a {}, but pushes go to caches", kinds[id]),
                "list the edge `Cache(...)` nodes that should receive every write",
            );
        } else if names[id] == c.name || push_to.contains(&id) {
            v.err(
                &path,
                format!("push target `{name}` is listed twice (or is this cache)"),
                "list every edge cache once",
            );
        }
        push_to.push(id);
    }
    (peer_health, forward_timeout, push_to)
}

fn validate_server(
    v: &mut V<'_, '_>,
    p: &str,
    s: &ServerSpec,
    names: &[&str],
    classes: &[ClassV],
    kinds: &[&str],
) -> ServerV {
    let mut m = ServerModel::default();
    let mut model_src: Option<(PathBuf, String)> = None;
    if let Some(name) = &s.model
        && let Some((mp, mt, mf)) = load_model(v, &format!("{p}.model"), name)
    {
        match mf {
            ModelFile::Server(sm) => {
                m = sm;
                model_src = Some((mp, mt));
            }
            ModelFile::Link(_) => v.err(
                &format!("{p}.model"),
                format!("model `{name}` describes a link, not a server"),
                "use a server model such as `app-server`",
            ),
        }
    }
    // Report a problem at the scenario's field if it set it, else in the model file.
    let here = |v: &V<'_, '_>, f: &str| v.src.has(&format!("{p}.{f}")) || model_src.is_none();
    let problem = |v: &mut V<'_, '_>, f: &str, msg: String, hint: String| {
        if here(v, f.split('.').next().unwrap_or(f)) {
            v.err(&format!("{p}.{f}"), msg, hint);
        } else if let Some(ms) = &model_src {
            model_err(v, ms, f, msg, hint);
        }
    };
    let workers = s.workers.or(m.workers).unwrap_or(1);
    if workers == 0 {
        problem(
            v,
            "workers",
            "a server needs at least one worker (`workers` is 0)".into(),
            "set `workers: 1` or more; the pool size is the c in M/M/c".into(),
        );
    }
    let queue_capacity = s.queue_capacity.or(m.queue_capacity).unwrap_or(10_000);
    let service_spec = s.service.clone().or(m.service.clone());
    let service = match &service_spec {
        Some(d) => {
            if let Err((field, msg, hint)) = d.validate() {
                problem(v, &format!("service.{field}"), msg, hint);
            }
            d.build()
        }
        None if s.model.is_some() && model_src.is_none() => Dist::Constant(0.0), // the model's own error says it all
        None => {
            v.err(&format!("{p}.service"), format!("server `{}` has no `service` time", s.name), "e.g. `service: Exponential(mean_ms: 5.0)`, or take it from a model with `model: \"app-server\"`");
            Dist::Constant(0.0)
        }
    };
    let mut service_by_class = vec![None; classes.len()];
    if let Some(by) = s.service_by_type.as_ref().or(m.service_by_type.as_ref()) {
        for (tname, d) in by {
            match classes.iter().position(|k| &k.name == tname) {
                Some(k) => {
                    if let Err((field, msg, hint)) = d.validate() {
                        problem(v, &format!("service_by_type.{field}"), msg, hint);
                    }
                    service_by_class[k] = Some(d.build());
                }
                None => problem(
                    v,
                    "service_by_type",
                    format!("request type `{tname}` is not in any client's mix"),
                    format!(
                        "types are: {}",
                        classes
                            .iter()
                            .map(|k| k.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
    }
    let blocking = s.blocking.or(m.blocking).unwrap_or(true);
    let mut calls = Vec::new();
    let call_specs = s.calls.clone().or(m.calls.clone()).unwrap_or_default();
    for (k, c) in call_specs.iter().enumerate() {
        let cp = format!("{p}.calls[{k}]");
        let check_target = |v: &mut V<'_, '_>, path: &str, t: &str| -> usize {
            let id = v.node_ref(path, t, names);
            if id != usize::MAX {
                if names[id] == s.name {
                    v.err(
                        path,
                        format!("server `{}` calls itself", s.name),
                        "calls go to other nodes",
                    );
                } else if kinds[id] == "client" {
                    v.err(path, format!("`{t}` is a client and cannot be called"), "");
                }
            }
            id
        };
        calls.push(match c {
            CallStep::Call { target, timeout_ms } => {
                let t = check_target(v, &format!("{cp}.target"), target);
                CallV::Call {
                    target: t,
                    timeout: v.ms(&format!("{cp}.timeout_ms"), *timeout_ms),
                }
            }
            CallStep::Parallel {
                targets,
                wait_for,
                timeout_ms,
            } => {
                if targets.is_empty() {
                    v.err(
                        &format!("{cp}.targets"),
                        "a parallel call needs at least one target",
                        "",
                    );
                }
                let ts: Vec<usize> = targets
                    .iter()
                    .enumerate()
                    .map(|(j, t)| check_target(v, &format!("{cp}.targets[{j}]"), t))
                    .collect();
                if let Gather::First(n) = wait_for
                    && (*n == 0 || *n as usize > targets.len())
                {
                    v.err(
                        &format!("{cp}.wait_for"),
                        format!("cannot wait for {n} of {} answers", targets.len()),
                        format!("use `First(k)` with 1 ≤ k ≤ {}, or `All`", targets.len()),
                    );
                }
                CallV::Parallel {
                    targets: ts,
                    wait_for: *wait_for,
                    timeout: v.ms(&format!("{cp}.timeout_ms"), *timeout_ms),
                }
            }
            CallStep::Enqueue { queue, timeout_ms } => {
                let id = v.node_ref(&format!("{cp}.queue"), queue, names);
                if id != usize::MAX && kinds[id] != "queue" {
                    v.err(
                        &format!("{cp}.queue"),
                        format!("`{queue}` is not a queue node"),
                        "enqueue to a `Queue(...)` node",
                    );
                }
                CallV::Enqueue {
                    queue: id,
                    timeout: v.ms(&format!("{cp}.timeout_ms"), *timeout_ms),
                }
            }
        });
    }
    ServerV {
        workers: workers.max(1),
        queue_capacity,
        service,
        service_by_class,
        blocking,
        calls,
        model: s.model.clone(),
        data: s.data,
    }
}

/// Parse a value of type `T` from RON text (used by tests and the `models` checks).
pub fn parse_ron<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    let empty = SpliceMap::default();
    let src = Src {
        file,
        orig: text,
        text,
        map: &empty,
        doc: RonDoc::parse(text),
    };
    parse_typed(&src)
}

/// Position of a path in a text (for callers reporting on loaded scenarios).
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let doc = RonDoc::parse(text)?;
    let steps = parse_path(path).ok()?;
    let Span { start, .. } = doc.find(&steps)?.span();
    Some(line_col(text, start))
}

#[allow(dead_code)]
fn unused(_: BTreeMap<(), ()>) {}
