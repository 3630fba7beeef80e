//! A position index over RON text: a small, tolerant parser that records the byte
//! span of every value, so validation errors on a path such as
//! `nodes[app].workers` can name a line and column, and variant overrides can be
//! spliced into the text before it is parsed again by serde.
//!
//! It does not convert values (serde does); it only finds where they are.

/// Byte range `[start, end)` in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A RON value with positions.
#[derive(Clone, Debug)]
pub enum RonNode {
    /// `Name(field: v, …)` or `(field: v, …)`; `inner` is the span just inside the parentheses.
    Struct {
        name: Option<String>,
        fields: Vec<(String, Span, RonNode)>,
        span: Span,
        inner: Span,
    },
    /// `Name(v, …)`, `(v, …)`, `Some(v)`.
    Tuple {
        name: Option<String>,
        items: Vec<RonNode>,
        span: Span,
    },
    /// `[v, …]`
    Seq { items: Vec<RonNode>, span: Span },
    /// `{k: v, …}`
    Map {
        entries: Vec<(RonNode, RonNode)>,
        span: Span,
    },
    /// A number, string, char, bool or bare identifier (unit variant).
    Scalar { span: Span },
}

impl RonNode {
    pub fn span(&self) -> Span {
        match self {
            RonNode::Struct { span, .. }
            | RonNode::Tuple { span, .. }
            | RonNode::Seq { span, .. }
            | RonNode::Map { span, .. }
            | RonNode::Scalar { span } => *span,
        }
    }

    /// The field `name` of a struct, looking through one-item wrappers such as `Some(…)`.
    pub fn field(&self, name: &str) -> Option<(&Span, &RonNode)> {
        match self {
            RonNode::Struct { fields, .. } => fields
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, s, v)| (s, v)),
            RonNode::Tuple { items, .. } if items.len() == 1 => items[0].field(name),
            _ => None,
        }
    }

    /// The items of a sequence (through one-item wrappers).
    pub fn items(&self) -> Option<&[RonNode]> {
        match self {
            RonNode::Seq { items, .. } => Some(items),
            RonNode::Tuple { items, .. } if items.len() == 1 => items[0].items(),
            _ => None,
        }
    }

    /// The struct node itself (through one-item wrappers), for inserting fields.
    pub fn as_struct(&self) -> Option<&RonNode> {
        match self {
            RonNode::Struct { .. } => Some(self),
            RonNode::Tuple { items, .. } if items.len() == 1 => items[0].as_struct(),
            _ => None,
        }
    }
}

/// A parsed document.
pub struct RonDoc<'a> {
    pub text: &'a str,
    pub root: RonNode,
}

/// One step of a path: `.field`, `[3]`, or `[name]` (the element whose `name` is `name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
    Named(String),
}

/// Parse `nodes[app].service.mean_ms` into steps.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                let close = path[i..]
                    .find(']')
                    .ok_or_else(|| format!("unclosed `[` in path `{path}`"))?;
                let inner = path[i + 1..i + close].trim().trim_matches('"');
                if inner.is_empty() {
                    return Err(format!("empty `[]` in path `{path}`"));
                }
                steps.push(match inner.parse::<usize>() {
                    Ok(n) => Step::Index(n),
                    Err(_) => Step::Named(inner.to_string()),
                });
                i += close + 1;
            }
            _ => {
                let end = path[i..].find(['.', '[']).map(|e| i + e).unwrap_or(b.len());
                let f = path[i..end].trim();
                if f.is_empty() || !f.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(format!("`{f}` is not a field name (in path `{path}`)"));
                }
                steps.push(Step::Field(f.to_string()));
                i = end;
            }
        }
    }
    if steps.is_empty() {
        return Err("empty path".into());
    }
    Ok(steps)
}

impl<'a> RonDoc<'a> {
    /// Index `text`. Returns `None` when the text is not well-formed enough to index
    /// (serde will then report the syntax error with its position).
    pub fn parse(text: &'a str) -> Option<RonDoc<'a>> {
        let mut p = P {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        p.skip_attrs();
        let root = p.value()?;
        Some(RonDoc { text, root })
    }

    /// Find the node at `steps`.
    pub fn find(&self, steps: &[Step]) -> Option<&RonNode> {
        let mut cur = &self.root;
        for st in steps {
            cur = match st {
                Step::Field(f) => cur.field(f)?.1,
                Step::Index(n) => cur.items()?.get(*n)?,
                Step::Named(name) => cur.items()?.iter().find(|it| {
                    it.field("name")
                        .map(|(_, v)| self.scalar_str(v).as_deref() == Some(name.as_str()))
                        .unwrap_or(false)
                })?,
            };
        }
        Some(cur)
    }

    /// The deepest node on `steps` that exists, with how many steps matched.
    pub fn find_prefix(&self, steps: &[Step]) -> (usize, &RonNode) {
        for k in (0..=steps.len()).rev() {
            if let Some(n) = self.find(&steps[..k]) {
                return (k, n);
            }
        }
        (0, &self.root)
    }

    /// Span of the node at a path, or of its deepest existing ancestor.
    pub fn locate(&self, steps: &[Step]) -> Span {
        self.find_prefix(steps).1.span()
    }

    /// A string scalar's contents (without quotes; simple escapes only).
    pub fn scalar_str(&self, n: &RonNode) -> Option<String> {
        if let RonNode::Scalar { span } = n {
            let t = &self.text[span.start..span.end];
            if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
                return Some(
                    t[1..t.len() - 1]
                        .replace("\\\"", "\"")
                        .replace("\\\\", "\\"),
                );
            }
        }
        None
    }

    pub fn slice(&self, s: Span) -> &'a str {
        &self.text[s.start..s.end]
    }
}

/// Line and column (1-based, column in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut off = offset;
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Byte offset of a 1-based line and column.
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let c = l
                .char_indices()
                .nth(col.saturating_sub(1))
                .map(|(b, _)| b)
                .unwrap_or(l.len());
            return off + c;
        }
        off += l.len();
    }
    text.len()
}

struct P<'s> {
    s: &'s [u8],
    i: usize,
    depth: u32,
}

/// Deeper nesting than this is not indexed (serde reports it instead).
const MAX_DEPTH: u32 = 256;

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'/') => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    let mut depth = 1;
                    while depth > 0 && self.i < self.s.len() {
                        if self.s[self.i..].starts_with(b"/*") {
                            depth += 1;
                            self.i += 2;
                        } else if self.s[self.i..].starts_with(b"*/") {
                            depth -= 1;
                            self.i += 2;
                        } else {
                            self.i += 1;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn skip_attrs(&mut self) {
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"#![") {
                let mut depth = 0;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
            } else {
                return;
            }
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        if self.s[self.i..].starts_with(b"r#") {
            self.i += 2;
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn value(&mut self) -> Option<RonNode> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Option<RonNode> {
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value()?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {}
                        _ => return None,
                    }
                }
                Some(RonNode::Seq {
                    items,
                    span: Span { start, end: self.i },
                })
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                        break;
                    }
                    let k = self.value()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    let v = self.value()?;
                    entries.push((k, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {}
                        _ => return None,
                    }
                }
                Some(RonNode::Map {
                    entries,
                    span: Span { start, end: self.i },
                })
            }
            b'(' => self.parens(None, start),
            b'"' => {
                self.string()?;
                Some(RonNode::Scalar {
                    span: Span { start, end: self.i },
                })
            }
            b'\'' => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == b'\\' {
                        self.i += 1;
                    } else if c == b'\'' {
                        break;
                    }
                }
                Some(RonNode::Scalar {
                    span: Span { start, end: self.i },
                })
            }
            b'r' if matches!(self.s.get(self.i + 1), Some(b'#') | Some(b'"'))
                && self.s[self.i + 1..]
                    .iter()
                    .take_while(|&&c| c == b'#')
                    .count()
                    < 200
                && self.s[self.i + 1..].iter().find(|&&c| c != b'#') == Some(&b'"') =>
            {
                self.i += 1;
                let hashes = self.s[self.i..].iter().take_while(|&&c| c == b'#').count();
                self.i += hashes + 1;
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                while self.i < self.s.len() && !self.s[self.i..].starts_with(&close) {
                    self.i += 1;
                }
                self.i = (self.i + close.len()).min(self.s.len());
                Some(RonNode::Scalar {
                    span: Span { start, end: self.i },
                })
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let name = self.ident()?;
                let after_name = self.i;
                self.ws();
                if self.peek() == Some(b'(') {
                    self.parens(Some(name), start)
                } else {
                    self.i = after_name;
                    Some(RonNode::Scalar {
                        span: Span { start, end: self.i },
                    })
                }
            }
            c if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                        self.i += 1;
                    } else if (c == b'-' || c == b'+')
                        && matches!(self.s.get(self.i - 1), Some(b'e') | Some(b'E'))
                    {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                Some(RonNode::Scalar {
                    span: Span { start, end: self.i },
                })
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<()> {
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\\' {
                self.i += 1;
            } else if c == b'"' {
                return Some(());
            }
        }
        None
    }

    fn parens(&mut self, name: Option<String>, start: usize) -> Option<RonNode> {
        self.i += 1; // (
        let inner_start = self.i;
        self.ws();
        // Struct if `ident :` (but not `::`) follows.
        let save = self.i;
        let is_struct = if self.ident().is_some() {
            self.ws();
            self.peek() == Some(b':') && self.s.get(self.i + 1) != Some(&b':')
        } else {
            false
        };
        self.i = save;
        if is_struct {
            let mut fields = Vec::new();
            loop {
                self.ws();
                if self.peek()? == b')' {
                    let inner = Span {
                        start: inner_start,
                        end: self.i,
                    };
                    self.i += 1;
                    return Some(RonNode::Struct {
                        name,
                        fields,
                        span: Span { start, end: self.i },
                        inner,
                    });
                }
                let fstart = self.i;
                let f = self.ident()?;
                let fspan = Span {
                    start: fstart,
                    end: self.i,
                };
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                let v = self.value()?;
                fields.push((f, fspan, v));
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b')' => {}
                    _ => return None,
                }
            }
        }
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek()? == b')' {
                self.i += 1;
                break;
            }
            items.push(self.value()?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b')' => {}
                _ => return None,
            }
        }
        Some(RonNode::Tuple {
            name,
            items,
            span: Span { start, end: self.i },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r##"// a comment
Scenario(
    name: "demo", /* block /* nested */ */
    nodes: [
        Server(name: "app", workers: 4, service: Exponential(mean_ms: 5.0)),
        Client(name: "users", rate: Some(1_000.5e0), mix: [(0.9, "read")]),
    ],
    tags: {"a": 1, "b": r#"raw "x""#},
)"##;

    #[test]
    fn finds_values_by_path_and_name() {
        let d = RonDoc::parse(DOC).expect("parses");
        let p = parse_path("nodes[app].workers").unwrap();
        let n = d.find(&p).expect("found");
        assert_eq!(d.slice(n.span()), "4");
        assert_eq!(line_col(DOC, n.span().start), (5, 38));
        let p = parse_path("nodes[1].rate").unwrap();
        assert_eq!(d.slice(d.find(&p).unwrap().span()), "Some(1_000.5e0)");
        let p = parse_path("nodes[app].service.mean_ms").unwrap();
        assert_eq!(d.slice(d.find(&p).unwrap().span()), "5.0");
        let p = parse_path("nodes[nope].workers").unwrap();
        assert!(d.find(&p).is_none());
        assert_eq!(d.find_prefix(&p).0, 1);
    }

    #[test]
    fn paths_parse_and_reject_garbage() {
        assert_eq!(
            parse_path("a.b[2][x]").unwrap(),
            vec![
                Step::Field("a".into()),
                Step::Field("b".into()),
                Step::Index(2),
                Step::Named("x".into())
            ]
        );
        assert!(parse_path("a[").is_err());
        assert!(parse_path("a.b c").is_err());
        assert!(parse_path("").is_err());
    }

    #[test]
    fn malformed_text_gives_none_not_panic() {
        for t in [
            "(",
            "Scenario(a: ",
            "[1, 2",
            "\"abc",
            "(a: 1 b: 2)",
            "{1 2}",
            "",
            "r#\"x",
        ] {
            let _ = RonDoc::parse(t);
        }
    }

    #[test]
    fn line_col_round_trips() {
        let t = "ab\ncdé\nf";
        for off in [0, 1, 3, 5, 8] {
            let (l, c) = line_col(t, off);
            assert_eq!(offset_of(t, l, c), off);
        }
    }
}
