//! Input errors: every problem names the file, line and column, what is wrong and
//! how to fix it. Loading collects all problems it can find, not only the first.

use super::ronspan::line_col;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the position is unknown.
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The source line, for display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn at_offset(
        file: &Path,
        text: &str,
        offset: usize,
        message: String,
        hint: Option<String>,
    ) -> Self {
        let (line, col) = line_col(text, offset);
        Diagnostic::at(file, text, line, col, message, hint)
    }

    pub fn at(
        file: &Path,
        text: &str,
        line: usize,
        col: usize,
        message: String,
        hint: Option<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            message,
            hint,
            source_line: text.lines().nth(line.saturating_sub(1)).map(str::to_string),
        }
    }

    pub fn nowhere(file: &Path, message: String, hint: Option<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message,
            hint,
            source_line: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            writeln!(
                f,
                "error: {}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
            if let Some(src) = &self.source_line {
                let n = self.line.to_string();
                let pad = " ".repeat(n.len());
                writeln!(f, "{pad} |")?;
                writeln!(f, "{n} | {src}")?;
                let caret_pad: String = src
                    .chars()
                    .take(self.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{pad} | {caret_pad}^")?;
            }
        } else {
            writeln!(f, "error: {}: {}", self.file.display(), self.message)?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "  = hint: {h}")?;
        }
        Ok(())
    }
}

/// All problems found while loading a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            write!(f, "{d}")?;
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "{n} problem{} found; nothing was run or written.",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for LoadError {}

impl From<Diagnostic> for LoadError {
    fn from(d: Diagnostic) -> Self {
        LoadError {
            diagnostics: vec![d],
        }
    }
}
