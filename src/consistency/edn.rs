//! A small, tolerant EDN reader: just enough of Clojure's data notation to read
//! Jepsen histories (maps of keywords, integers, nil, strings, vectors, sets
//! and tagged literals) and the values in Jepsen log lines.
//!
//! It owns tokenising and parsing only; interpreting the data as operations is
//! the caller's job. It never panics: malformed input and excessive nesting are
//! errors carrying the line number.

/// An EDN value. Numbers that do not fit an `i64` and floats are kept as text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// A float, ratio or big number, as written.
    Number(String),
    Str(String),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    Char(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// Looks up a keyword key in a map (or a tagged map).
    pub(crate) fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == keyword))
                .map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(keyword),
            _ => None,
        }
    }

    /// True for maps and tagged maps.
    pub(crate) fn is_map(&self) -> bool {
        match self {
            Edn::Map(_) => true,
            Edn::Tagged(_, inner) => inner.is_map(),
            _ => false,
        }
    }
}

impl std::fmt::Display for Edn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn seq(
            f: &mut std::fmt::Formatter<'_>,
            open: &str,
            items: &[Edn],
            close: &str,
        ) -> std::fmt::Result {
            write!(f, "{open}")?;
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " ")?;
                }
                write!(f, "{x}")?;
            }
            write!(f, "{close}")
        }
        match self {
            Edn::Nil => write!(f, "nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Number(s) | Edn::Symbol(s) => write!(f, "{s}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Vector(v) => seq(f, "[", v, "]"),
            Edn::List(v) => seq(f, "(", v, ")"),
            Edn::Set(v) => seq(f, "#{", v, "}"),
            Edn::Map(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                write!(f, "}}")
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag} {inner}"),
        }
    }
}

/// A syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EdnError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

const MAX_DEPTH: usize = 200;

/// Reads EDN forms from text, tracking 1-based line numbers.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Current line (1-based).
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    /// Skips whitespace, commas and `;` comments. `#_` discards are handled
    /// by the form reader.
    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.bump();
            } else if c == ';' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    /// Peeks the next significant character.
    pub(crate) fn peek_significant(&mut self) -> Option<char> {
        self.skip_ws();
        self.peek()
    }

    /// Consumes one character (used by callers to step into a top-level collection).
    pub(crate) fn consume(&mut self) -> Option<char> {
        self.bump()
    }

    /// Reads the next form; `Ok(None)` at end of input.
    pub(crate) fn read(&mut self) -> Result<Option<Edn>, EdnError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Ok(None);
        }
        self.form(0).map(Some)
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn seq_until(&mut self, close: char, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let open_line = self.line;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    return Err(EdnError {
                        line: open_line,
                        message: format!("unclosed collection: missing `{close}`"),
                    });
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(')' | ']' | '}') => {
                    return self.err(format!("mismatched closing bracket, expected `{close}`"));
                }
                Some(_) => {
                    if let Some(x) = self.form_or_discard(depth + 1)? {
                        items.push(x);
                    }
                }
            }
        }
    }

    /// A form, or `None` for a `#_` discarded form.
    fn form_or_discard(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        if self.text[self.pos..].starts_with("#_") {
            self.bump();
            self.bump();
            self.skip_ws();
            self.form(depth)?;
            return Ok(None);
        }
        self.form(depth).map(Some)
    }

    fn form(&mut self, depth: usize) -> Result<Edn, EdnError> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.err("unexpected end of input");
        };
        match c {
            '(' => {
                self.bump();
                Ok(Edn::List(self.seq_until(')', depth)?))
            }
            '[' => {
                self.bump();
                Ok(Edn::Vector(self.seq_until(']', depth)?))
            }
            '{' => {
                self.bump();
                let items = self.seq_until('}', depth)?;
                if items.len() % 2 != 0 {
                    return self.err("map literal with an odd number of forms");
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            ')' | ']' | '}' => self.err(format!("unexpected `{c}`")),
            '"' => {
                self.bump();
                self.string().map(Edn::Str)
            }
            '\\' => {
                self.bump();
                let t = self.token();
                if t.is_empty() {
                    // A delimiter character literal such as `\(`.
                    match self.bump() {
                        Some(d) => Ok(Edn::Char(d.to_string())),
                        None => self.err("unexpected end of input after `\\`"),
                    }
                } else {
                    Ok(Edn::Char(t.to_string()))
                }
            }
            '#' => {
                self.bump();
                match self.peek() {
                    Some('{') => {
                        self.bump();
                        Ok(Edn::Set(self.seq_until('}', depth)?))
                    }
                    Some('"') => {
                        self.bump();
                        self.string().map(Edn::Str)
                    }
                    Some('_') => {
                        self.bump();
                        self.form(depth + 1)?;
                        self.form(depth)
                    }
                    Some(ch) if !is_delimiter(ch) => {
                        let tag = self.token().to_string();
                        let inner = self.form(depth + 1)?;
                        Ok(Edn::Tagged(tag, Box::new(inner)))
                    }
                    _ => self.err("`#` must be followed by a tag, `{`, `_` or a string"),
                }
            }
            _ => {
                let t = self.token();
                Ok(atom(t))
            }
        }
    }

    fn string(&mut self) -> Result<String, EdnError> {
        let start_line = self.line;
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(EdnError {
                        line: start_line,
                        message: "unterminated string".to_string(),
                    });
                }
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(other) => s.push(other),
                    None => return self.err("unterminated string"),
                },
                Some(c) => s.push(c),
            }
        }
    }
}

fn atom(t: &str) -> Edn {
    match t {
        "nil" => return Edn::Nil,
        "true" => return Edn::Bool(true),
        "false" => return Edn::Bool(false),
        _ => {}
    }
    if let Some(k) = t.strip_prefix(':') {
        return Edn::Keyword(k.to_string());
    }
    let first = t.chars().next().unwrap_or(' ');
    let second = t.chars().nth(1).unwrap_or(' ');
    let numeric =
        first.is_ascii_digit() || ((first == '-' || first == '+') && second.is_ascii_digit());
    if numeric {
        let digits = t.strip_suffix('N').unwrap_or(t);
        if let Ok(i) = digits.parse::<i64>() {
            return Edn::Int(i);
        }
        return Edn::Number(t.to_string());
    }
    Edn::Symbol(t.to_string())
}

/// Parses the first form of `text` (e.g. one field of a log line).
pub(crate) fn parse_one(text: &str) -> Result<Option<Edn>, EdnError> {
    Reader::new(text).read()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jepsen_op_maps_with_nested_values_and_tags() {
        let text = "{:type :invoke, :f :cas, :value [1 nil], :process 3, :time -12, :index 0}\n\
                    #jepsen.history.Op{:type :ok, :f :read, :value 4, :process :nemesis, :error {:x #{1 2}}}";
        let mut r = Reader::new(text);
        let a = r.read().unwrap().unwrap();
        assert_eq!(a.get("type"), Some(&Edn::Keyword("invoke".into())));
        assert_eq!(
            a.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Nil]))
        );
        assert_eq!(a.get("time"), Some(&Edn::Int(-12)));
        assert_eq!(r.line(), 1);
        let b = r.read().unwrap().unwrap();
        assert!(b.is_map());
        assert_eq!(b.get("process"), Some(&Edn::Keyword("nemesis".into())));
        assert_eq!(r.read().unwrap(), None);
    }

    #[test]
    fn comments_discards_strings_and_big_numbers() {
        let text = "; comment\n[#_ {:a 1} \"a \\\"q\\\" b\" 123456789012345678901234 1.5 \\c sym]";
        let v = parse_one(text).unwrap().unwrap();
        assert_eq!(
            v,
            Edn::Vector(vec![
                Edn::Str("a \"q\" b".into()),
                Edn::Number("123456789012345678901234".into()),
                Edn::Number("1.5".into()),
                Edn::Char("c".into()),
                Edn::Symbol("sym".into()),
            ])
        );
        assert_eq!(
            v.to_string(),
            "[\"a \\\"q\\\" b\" 123456789012345678901234 1.5 \\c sym]"
        );
    }

    #[test]
    fn malformed_input_is_an_error_with_a_line_not_a_panic() {
        for bad in [
            "{:a 1",
            "{:a}",
            "[1 2)",
            "\"open",
            ")",
            "#",
            "\\",
            &"[".repeat(1000),
        ] {
            let res = Reader::new(bad).read();
            assert!(res.is_err(), "{bad:?} parsed as {res:?}");
        }
        let err = Reader::new("\n\n{:a 1").read().unwrap_err();
        assert_eq!(err.line, 3);
    }
}
