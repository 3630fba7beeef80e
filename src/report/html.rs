//! HTML report: one self-contained, offline page per experiment.
//!
//! This module owns the report page: the question, the variants, result tables,
//! charts (PNG shown, SVG linked, both by relative path), reproduce commands and
//! notes. The page has inline CSS only — no scripts, web fonts or network URLs —
//! and every piece of caller text is HTML-escaped, so scenario descriptions cannot
//! inject markup. It must not write files itself (callers use
//! [`super::write_atomic`]) nor read anything but its [`ReportModel`].

use serde::{Deserialize, Serialize};

/// Everything shown in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportModel {
    /// Page title and main heading.
    pub title: String,
    /// What was simulated (blank lines separate paragraphs).
    pub description: String,
    /// The question the experiment answers, shown prominently.
    pub question: String,
    /// Compared variants: (name, description).
    pub variants: Vec<(String, String)>,
    /// Result tables.
    pub tables: Vec<Table>,
    /// Charts, in display order.
    pub charts: Vec<ChartRef>,
    /// Commands to reproduce: (label, command line).
    pub commands: Vec<(String, String)>,
    /// Caveats and remarks.
    pub notes: Vec<String>,
    /// Provenance: capsim version, seeds …
    pub generated_by: String,
}

/// A table of pre-formatted cells. Columns whose cells all look numeric are right-aligned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Heading above the table.
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows of cells (ragged rows are padded with empty cells).
    pub rows: Vec<Vec<String>>,
    /// Optional caption under the table.
    pub caption: Option<String>,
}

/// A chart file pair referenced from the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartRef {
    /// Heading of the figure.
    pub title: String,
    /// PNG path relative to the report file (shown).
    pub png: String,
    /// SVG path relative to the report file (linked).
    pub svg: String,
    /// Optional caption.
    pub caption: Option<String>,
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f6f4; color: #222;
  font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
  font-size: 16px; line-height: 1.5; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.9em; margin: 0.2em 0 0.4em; line-height: 1.2; }
h2 { font-size: 1.35em; margin: 1.8em 0 0.6em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.1em; margin: 1.4em 0 0.4em; }
p { margin: 0.5em 0; }
.question { margin: 1em 0 1.4em; padding: 14px 18px; background: #eef4fb; border-left: 5px solid #1f77b4;
  font-size: 1.2em; font-weight: 600; }
.question .label { display: block; font-size: 0.7em; font-weight: 600; letter-spacing: 0.06em;
  text-transform: uppercase; color: #1f5f94; margin-bottom: 2px; }
nav.toc { font-size: 0.95em; color: #555; }
nav.toc a { color: #1f5f94; margin-right: 1em; }
dl.variants { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0.6em 0; }
dl.variants dt { font-weight: 600; }
dl.variants dd { margin: 0; color: #333; }
.table-wrap { overflow-x: auto; margin: 0.4em 0 0.2em; }
table { border-collapse: collapse; font-size: 0.95em; min-width: 50%; }
th, td { padding: 6px 12px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f3f3f3; border-bottom: 2px solid #ccc; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafafa; }
.caption { color: #555; font-size: 0.92em; margin: 0.3em 0 0; }
figure { margin: 1.2em 0 2em; }
figure img { display: block; width: 100%; height: auto; border: 1px solid #e2e2e2; }
figcaption { color: #444; font-size: 0.95em; margin-top: 0.4em; }
figcaption .files { color: #666; font-size: 0.9em; }
figcaption a { color: #1f5f94; }
pre { background: #f4f4f4; border: 1px solid #e2e2e2; padding: 10px 14px; overflow-x: auto;
  font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
.cmd-label { font-weight: 600; margin: 0.8em 0 0.2em; }
ul.notes li { margin: 0.3em 0; }
footer { margin-top: 2.5em; padding-top: 0.8em; border-top: 1px solid #ddd; color: #666; font-size: 0.9em; }
.missing { color: #a33; }
"#;

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a relative path for an attribute, percent-encoding characters that
/// would change its meaning as a URL (`%`, `#`, `?`, spaces).
fn esc_path(p: &str) -> String {
    let mut enc = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '%' => enc.push_str("%25"),
            '#' => enc.push_str("%23"),
            '?' => enc.push_str("%3F"),
            ' ' => enc.push_str("%20"),
            '\\' => enc.push('/'),
            c => enc.push(c),
        }
    }
    esc(&enc)
}

/// True for a path that may be linked: relative, no URL scheme, not
/// protocol-relative, no control characters.
fn is_local_relative(p: &str) -> bool {
    let p = p.trim();
    if p.is_empty() || p.starts_with('/') || p.starts_with('\\') || p.chars().any(char::is_control)
    {
        return false;
    }
    // A ':' before any '/' means a scheme (http:, javascript:, data:, C:).
    match (p.find(':'), p.find('/')) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => false,
        _ => true,
    }
}

/// True for a table cell that reads as a number (possibly with unit, sign or interval).
fn looks_numeric(cell: &str) -> bool {
    let t = cell.trim();
    let mut chars = t.chars();
    let first = match chars.next() {
        Some(c) => c,
        None => return false,
    };
    let starts_numeric = first.is_ascii_digit()
        || (matches!(first, '-' | '+' | '−' | '.' | '±' | '~' | '≈')
            && chars.next().is_some_and(|c| c.is_ascii_digit() || c == '.'));
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    starts_numeric && letters <= 6
}

fn is_placeholder(cell: &str) -> bool {
    matches!(
        cell.trim(),
        "" | "-" | "—" | "–" | "n/a" | "NaN" | "inf" | "∞"
    )
}

fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        out.push_str(&esc(para).replace('\n', "<br>"));
        out.push_str("</p>\n");
    }
    out
}

fn render_table(out: &mut String, t: &Table, idx: usize) {
    let ncols = t
        .rows
        .iter()
        .map(Vec::len)
        .chain(std::iter::once(t.headers.len()))
        .max()
        .unwrap_or(0);
    let numeric: Vec<bool> = (0..ncols)
        .map(|c| {
            let cells: Vec<&str> = t
                .rows
                .iter()
                .filter_map(|r| r.get(c).map(String::as_str))
                .filter(|s| !is_placeholder(s))
                .collect();
            !cells.is_empty() && cells.iter().all(|s| looks_numeric(s))
        })
        .collect();
    let class = |c: usize| if numeric[c] { " class=\"num\"" } else { "" };
    out.push_str(&format!("<section id=\"table-{}\">\n", idx + 1));
    if !t.title.trim().is_empty() {
        out.push_str(&format!("<h3>{}</h3>\n", esc(&t.title)));
    }
    out.push_str("<div class=\"table-wrap\"><table>\n");
    if !t.headers.is_empty() {
        out.push_str("<thead><tr>");
        for c in 0..ncols {
            let h = t.headers.get(c).map(String::as_str).unwrap_or("");
            out.push_str(&format!("<th scope=\"col\"{}>{}</th>", class(c), esc(h)));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for c in 0..ncols {
            let v = row.get(c).map(String::as_str).unwrap_or("");
            out.push_str(&format!("<td{}>{}</td>", class(c), esc(v)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if let Some(cap) = t.caption.as_deref().filter(|c| !c.trim().is_empty()) {
        out.push_str(&format!("<p class=\"caption\">{}</p>\n", esc(cap)));
    }
    out.push_str("</section>\n");
}

fn render_chart(out: &mut String, c: &ChartRef, idx: usize) {
    out.push_str(&format!("<figure id=\"figure-{}\">\n", idx + 1));
    if !c.title.trim().is_empty() {
        out.push_str(&format!("<h3>{}</h3>\n", esc(&c.title)));
    }
    if is_local_relative(&c.png) {
        out.push_str(&format!(
            "<img src=\"{}\" alt=\"{}\" loading=\"lazy\">\n",
            esc_path(c.png.trim()),
            esc(&c.title)
        ));
    } else {
        out.push_str(&format!(
            "<p class=\"missing\">Chart image not shown: “{}” is not a relative local path.</p>\n",
            esc(&c.png)
        ));
    }
    out.push_str("<figcaption>");
    if let Some(cap) = c.caption.as_deref().filter(|c| !c.trim().is_empty()) {
        out.push_str(&esc(cap));
        out.push(' ');
    }
    let mut files = Vec::new();
    if is_local_relative(&c.png) {
        files.push(format!("<a href=\"{}\">PNG</a>", esc_path(c.png.trim())));
    }
    if is_local_relative(&c.svg) {
        files.push(format!("<a href=\"{}\">SVG</a>", esc_path(c.svg.trim())));
    }
    if !files.is_empty() {
        out.push_str(&format!(
            "<span class=\"files\">[{}]</span>",
            files.join(" · ")
        ));
    }
    out.push_str("</figcaption>\n</figure>\n");
}

/// Renders the report as one HTML document (UTF-8, inline CSS, no scripts).
/// Chart paths that are not relative local paths are not linked.
pub fn render_html(model: &ReportModel) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n", esc(&model.title)));
    out.push_str("<style>");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<main>\n");
    out.push_str(&format!("<h1>{}</h1>\n", esc(&model.title)));
    if !model.question.trim().is_empty() {
        out.push_str(&format!(
            "<div class=\"question\"><span class=\"label\">Question</span>{}</div>\n",
            esc(model.question.trim())
        ));
    }
    // Table of contents (in-page anchors only).
    let mut toc = Vec::new();
    if !model.variants.is_empty() {
        toc.push(("variants", "Variants"));
    }
    if !model.tables.is_empty() {
        toc.push(("results", "Results"));
    }
    if !model.charts.is_empty() {
        toc.push(("charts", "Charts"));
    }
    if !model.commands.is_empty() {
        toc.push(("reproduce", "Reproduce"));
    }
    if !model.notes.is_empty() {
        toc.push(("notes", "Notes"));
    }
    if toc.len() > 1 {
        out.push_str("<nav class=\"toc\">");
        for (id, name) in &toc {
            out.push_str(&format!("<a href=\"#{id}\">{name}</a>"));
        }
        out.push_str("</nav>\n");
    }
    if !model.description.trim().is_empty() {
        out.push_str("<section id=\"description\">\n");
        out.push_str(&paragraphs(&model.description));
        out.push_str("</section>\n");
    }
    if !model.variants.is_empty() {
        out.push_str("<section id=\"variants\">\n<h2>Variants</h2>\n<dl class=\"variants\">\n");
        for (name, desc) in &model.variants {
            out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(name), esc(desc)));
        }
        out.push_str("</dl>\n</section>\n");
    }
    if !model.tables.is_empty() {
        out.push_str("<section id=\"results\">\n<h2>Results</h2>\n");
        for (i, t) in model.tables.iter().enumerate() {
            render_table(&mut out, t, i);
        }
        out.push_str("</section>\n");
    }
    if !model.charts.is_empty() {
        out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
        for (i, c) in model.charts.iter().enumerate() {
            render_chart(&mut out, c, i);
        }
        out.push_str("</section>\n");
    }
    if !model.commands.is_empty() {
        out.push_str("<section id=\"reproduce\">\n<h2>Reproduce</h2>\n");
        for (label, cmd) in &model.commands {
            if !label.trim().is_empty() {
                out.push_str(&format!("<p class=\"cmd-label\">{}</p>\n", esc(label)));
            }
            out.push_str(&format!("<pre><code>{}</code></pre>\n", esc(cmd)));
        }
        out.push_str("</section>\n");
    }
    if !model.notes.is_empty() {
        out.push_str("<section id=\"notes\">\n<h2>Notes</h2>\n<ul class=\"notes\">\n");
        for n in &model.notes {
            out.push_str(&format!("<li>{}</li>\n", esc(n)));
        }
        out.push_str("</ul>\n</section>\n");
    }
    if !model.generated_by.trim().is_empty() {
        out.push_str(&format!(
            "<footer>Generated by {}</footer>\n",
            esc(&model.generated_by)
        ));
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Decodes the entities [`esc`] produces.
fn unescape_entities(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Decodes the percent-escapes of [`esc_path`].
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every `src`/`href` attribute value that points to a local file (not an
/// in-page anchor or URL), decoded, in document order, without duplicates.
pub fn referenced_files(html: &str) -> Vec<String> {
    let bytes = html.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let attr_len = if rest.len() > 5 && rest[..5].eq_ignore_ascii_case(b"src=\"") {
            5
        } else if rest.len() > 6 && rest[..6].eq_ignore_ascii_case(b"href=\"") {
            6
        } else {
            i += 1;
            continue;
        };
        let is_attr = i > 0 && bytes[i - 1].is_ascii_whitespace();
        let start = i + attr_len;
        let Some(len) = html[start..].find('"') else {
            break;
        };
        i = start + len + 1;
        if !is_attr {
            continue;
        }
        let value = unescape_entities(&html[start..start + len]);
        if value.starts_with('#') || !is_local_relative(&value) {
            continue;
        }
        // Drop a fragment or query before decoding (an encoded %23 is part of the name).
        let path = percent_decode(value.split(['#', '?']).next().unwrap_or(""));
        if !path.is_empty() && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str =
        "<script>alert('x')</script> & \"quoted\" <img src=\"evil.png\" onerror=alert(1)>";

    fn model() -> ReportModel {
        ReportModel {
            title: format!("Partition study {EVIL}"),
            description: format!(
                "First paragraph {EVIL}.\n\nSecond paragraph, line one\nline two."
            ),
            question: format!("Does CP or AP serve more reads? {EVIL}"),
            variants: vec![
                ("CP".into(), format!("majority quorum {EVIL}")),
                (format!("AP {EVIL}"), "sloppy quorum".into()),
            ],
            tables: vec![Table {
                title: format!("Summary {EVIL}"),
                headers: vec![
                    "variant".into(),
                    "p99 (ms)".into(),
                    "availability".into(),
                    "notes".into(),
                ],
                rows: vec![
                    vec![
                        "CP".into(),
                        "48.2 ± 3.1".into(),
                        "61.0%".into(),
                        EVIL.into(),
                    ],
                    vec!["AP".into(), "1,234.5".into(), "—".into(), "fine".into()],
                    vec!["ragged".into()],
                ],
                caption: Some(format!("95% CI {EVIL}")),
            }],
            charts: vec![
                ChartRef {
                    title: format!("Latency {EVIL}"),
                    png: "charts/latency.png".into(),
                    svg: "charts/latency.svg".into(),
                    caption: Some(format!("Shaded: partition {EVIL}")),
                },
                ChartRef {
                    title: "CAP".into(),
                    png: "charts/cap plot #1.png".into(),
                    svg: "charts/cap plot #1.svg".into(),
                    caption: None,
                },
            ],
            commands: vec![(
                "Run it".into(),
                format!("capsim run x.ron --title '{EVIL}'"),
            )],
            notes: vec![format!("Note {EVIL}")],
            generated_by: format!("capsim 0.1.0, seed 42 {EVIL}"),
        }
    }

    #[test]
    fn caller_text_cannot_inject_markup() {
        let html = render_html(&model());
        assert!(!html.contains("<script"), "raw script tag in output");
        assert!(!html.contains("<img src=\"evil.png\""), "raw tag in output");
        assert!(!html.contains("evil.png\""));
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"
            )
        );
        // Every tag in the page is one we wrote.
        let allowed = [
            "!DOCTYPE",
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "main",
            "h1",
            "h2",
            "h3",
            "div",
            "span",
            "nav",
            "a",
            "section",
            "p",
            "br",
            "dl",
            "dt",
            "dd",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "figure",
            "img",
            "figcaption",
            "pre",
            "code",
            "ul",
            "li",
            "footer",
        ];
        for tag in html.split('<').skip(1) {
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect();
            assert!(allowed.contains(&name.as_str()), "unexpected tag <{name}");
        }
    }

    #[test]
    fn page_is_offline_and_script_free() {
        let html = render_html(&model());
        for banned in [
            "http:",
            "https:",
            "//",
            "@import",
            "url(",
            "<script",
            "<link",
            "@font-face",
        ] {
            let outside_comments = html.replace("<!DOCTYPE html>", "");
            assert!(!outside_comments.contains(banned), "page contains {banned}");
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn referenced_files_are_exactly_the_chart_files() {
        let html = render_html(&model());
        assert_eq!(
            referenced_files(&html),
            vec![
                "charts/latency.png",
                "charts/latency.svg",
                "charts/cap plot #1.png",
                "charts/cap plot #1.svg",
            ]
        );
        // Paths are encoded so '#' and spaces do not change their meaning.
        assert!(html.contains("src=\"charts/cap%20plot%20%231.png\""));
    }

    #[test]
    fn non_local_chart_paths_are_not_linked() {
        let mut m = model();
        m.charts = vec![
            ChartRef {
                title: "remote".into(),
                png: "https://example.com/x.png".into(),
                svg: "javascript:alert(1)".into(),
                caption: None,
            },
            ChartRef {
                title: "absolute".into(),
                png: "/etc/x.png".into(),
                svg: "//host/x.svg".into(),
                caption: None,
            },
        ];
        let html = render_html(&m);
        assert!(referenced_files(&html).is_empty());
        assert!(!html.contains("src=\"https"));
        assert!(!html.contains("href=\"javascript"));
        assert!(html.contains("is not a relative local path"));
    }

    #[test]
    fn numeric_columns_are_right_aligned_and_text_columns_are_not() {
        let html = render_html(&model());
        assert!(html.contains("<th scope=\"col\" class=\"num\">p99 (ms)</th>"));
        assert!(html.contains("<td class=\"num\">48.2 ± 3.1</td>"));
        assert!(html.contains("<td class=\"num\">1,234.5</td>"));
        assert!(html.contains("<th scope=\"col\" class=\"num\">availability</th>"));
        assert!(html.contains("<th scope=\"col\">variant</th>"));
        assert!(html.contains("<th scope=\"col\">notes</th>"));
        // Ragged rows are padded to the header width.
        assert!(html.contains(
            "<tr><td>ragged</td><td class=\"num\"></td><td class=\"num\"></td><td></td></tr>"
        ));
        assert!(looks_numeric("-3.5 ms") && looks_numeric("99.9%") && looks_numeric("1.2e-3"));
        assert!(!looks_numeric("round robin") && !looks_numeric("p99") && !looks_numeric(""));
    }

    #[test]
    fn layout_has_question_variants_and_reproduce_blocks() {
        let html = render_html(&model());
        let q = html.find("class=\"question\"").unwrap();
        let v = html.find("id=\"variants\"").unwrap();
        let r = html.find("id=\"reproduce\"").unwrap();
        assert!(q < v && v < r, "question first, reproduce last");
        assert!(html.contains("<pre><code>capsim run x.ron"));
        assert!(html.contains("<p>Second paragraph, line one<br>line two.</p>"));
        assert_eq!(html.matches("<figure").count(), 2);
    }

    #[test]
    fn empty_model_renders_a_valid_page() {
        let html = render_html(&ReportModel::default());
        assert!(html.contains("<h1></h1>"));
        assert!(referenced_files(&html).is_empty());
        assert!(!html.contains("<nav"));
    }
}
