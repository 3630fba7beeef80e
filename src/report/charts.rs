//! Charts: renders plain chart data ([`Chart`]) to PNG and SVG with plotters.
//!
//! This module owns chart layout and drawing: axis ranges and ticks, fault-window
//! shading, legends, error bars, labels, colours and the bundled DejaVu Sans font
//! (registered as plotters' "sans-serif", so rendering needs no system fonts).
//! plotters is used only as a drawing surface; layout (title, notes, legend
//! outside the plot, axes, labels) is computed here so that PNG and SVG agree and
//! nothing overlaps the data. It must not know about the simulator, read clocks
//! or use randomness: the same chart always yields byte-identical files.
//! Bad values never panic: non-finite values are skipped, non-positive values are
//! dropped from log axes, and every such omission is stated in the chart's note line.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use super::{ReportError, font, write_atomic, write_atomic_with};

// ---------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------

/// A fault window (partition, crash, slow node …) shaded on time-series charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shade {
    /// Start of the window, in the x unit of the chart (normally seconds).
    pub start_s: f64,
    /// End of the window (same unit).
    pub end_s: f64,
    /// Short label drawn above the window, e.g. "partition".
    pub label: String,
}

/// Who led a replicated store when: a thin strip drawn above a time-series
/// panel, one lane per node that led (the lane label is the node's name), with
/// periods of split brain hatched across the strip and labelled.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LeaderStrip {
    /// Short label drawn at the right of the panel's title row, e.g. "leaders (seed 1)".
    pub label: String,
    /// Lane names, top to bottom (each lane has its own colour).
    pub lanes: Vec<String>,
    /// Leadership spans.
    pub spans: Vec<StripSpan>,
    /// Periods to hatch across the strip (split brain), with their label.
    pub alerts: Vec<Shade>,
}

/// One leadership span of a [`LeaderStrip`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripSpan {
    /// Lane index into [`LeaderStrip::lanes`].
    pub lane: usize,
    /// Start (x unit of the chart).
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// Text drawn inside the bar where it fits (e.g. the term, "t3").
    pub text: String,
}

/// A named line of (x, y) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend name; also selects the colour (see [`RenderOptions::series_order`]).
    pub name: String,
    /// Points in any order (they are sorted by x before drawing).
    pub points: Vec<(f64, f64)>,
}

/// One point of a line with a confidence band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    /// The swept parameter.
    pub x: f64,
    /// Point estimate (drawn as the line).
    pub mean: f64,
    /// Lower confidence bound.
    pub lo: f64,
    /// Upper confidence bound.
    pub hi: f64,
}

/// A named line with a shaded confidence band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandSeries {
    /// Legend name.
    pub name: String,
    /// Points in any order (sorted by x before drawing).
    pub points: Vec<BandPoint>,
}

/// One bar with a confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Category (variant) name.
    pub label: String,
    /// Bar height.
    pub mean: f64,
    /// Lower end of the error bar.
    pub lo: f64,
    /// Upper end of the error bar.
    pub hi: f64,
}

/// One labelled point with error bars in both axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XYPoint {
    /// Variant name, drawn next to the point.
    pub label: String,
    /// x estimate.
    pub x: f64,
    /// Lower end of the x error bar.
    pub x_lo: f64,
    /// Upper end of the x error bar.
    pub x_hi: f64,
    /// y estimate.
    pub y: f64,
    /// Lower end of the y error bar.
    pub y_lo: f64,
    /// Upper end of the y error bar.
    pub y_hi: f64,
}

/// A chart to render. Labels should carry units, e.g. "latency (ms)".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Chart {
    /// Lines over time with shaded fault windows (latency percentiles, throughput …).
    TimeSeries {
        /// Chart title.
        title: String,
        /// x-axis label, e.g. "time (s)".
        x_label: String,
        /// y-axis label with unit.
        y_label: String,
        /// The lines.
        series: Vec<Series>,
        /// Fault windows shaded beneath the lines.
        shades: Vec<Shade>,
        /// Logarithmic y axis (non-positive values are dropped and reported).
        log_y: bool,
        /// Leadership strip drawn above the plot (replicated stores with leaders).
        #[serde(default)]
        strip: Option<LeaderStrip>,
    },
    /// Cumulative distributions overlaid; points are (value, cumulative fraction).
    Cdf {
        /// Chart title.
        title: String,
        /// x-axis label with unit, e.g. "latency (ms)".
        x_label: String,
        /// One curve per variant.
        series: Vec<Series>,
        /// Logarithmic x axis.
        log_x: bool,
    },
    /// A metric across variants with confidence-interval error bars.
    Bars {
        /// Chart title.
        title: String,
        /// Value-axis label with unit.
        y_label: String,
        /// One bar per variant, in display order.
        bars: Vec<Bar>,
    },
    /// A metric against a swept parameter, one line (with confidence band) per variant.
    Lines {
        /// Chart title.
        title: String,
        /// Swept parameter with unit.
        x_label: String,
        /// Metric with unit.
        y_label: String,
        /// One band series per variant.
        series: Vec<BandSeries>,
        /// Logarithmic y axis.
        log_y: bool,
        /// Logarithmic x axis (for parameters swept over decades).
        #[serde(default)]
        log_x: bool,
    },
    /// One labelled point per variant with error bars in x and y (e.g. the CAP chart).
    Scatter {
        /// Chart title.
        title: String,
        /// x-axis label with unit.
        x_label: String,
        /// y-axis label with unit.
        y_label: String,
        /// The points.
        points: Vec<XYPoint>,
    },
    /// Small multiples stacked vertically. When every panel is a `TimeSeries`
    /// they share the x axis, the legend and the fault-window labels.
    Panels {
        /// Overall title.
        title: String,
        /// The panels, top to bottom (each panel's title labels its panel).
        panels: Vec<Chart>,
    },
}

impl Chart {
    /// The chart's title.
    pub fn title(&self) -> &str {
        match self {
            Chart::TimeSeries { title, .. }
            | Chart::Cdf { title, .. }
            | Chart::Bars { title, .. }
            | Chart::Lines { title, .. }
            | Chart::Scatter { title, .. }
            | Chart::Panels { title, .. } => title,
        }
    }
}

/// Rendering options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderOptions {
    /// Image width in pixels (SVG uses the same logical size).
    pub width_px: u32,
    /// Image height in pixels. Stacked panels and long horizontal bar charts
    /// grow the height so that each panel/bar stays legible.
    pub height_px: u32,
    /// Colour key: a series, bar or point whose name is at position `i` here gets
    /// palette colour `i` in every chart, so a variant keeps its colour across
    /// charts. Names not listed get the following colours in order of appearance.
    pub series_order: Vec<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width_px: 1200,
            height_px: 700,
            series_order: Vec::new(),
        }
    }
}

/// Renders `chart` to `stem.png` and `stem.svg` (1200×700) and returns their paths.
pub fn render(chart: &Chart, stem: &Path) -> Result<Vec<PathBuf>, ReportError> {
    render_with(chart, stem, &RenderOptions::default())
}

/// Renders `chart` to `stem.png` and `stem.svg` with `opts`, creating the parent
/// directory if needed; both files are written atomically.
pub fn render_with(
    chart: &Chart,
    stem: &Path,
    opts: &RenderOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    let png_path = with_suffix(stem, "png")?;
    let svg_path = with_suffix(stem, "svg")?;
    if let Some(dir) = png_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let (w, h, rgb) = render_rgb(chart, opts)?;
    write_atomic_with(&png_path, |tmp| {
        let mut backend = BitMapBackend::new(tmp, (w, h));
        backend
            .blit_bitmap((0, 0), (w, h), &rgb)
            .and_then(|()| backend.present())
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|source| ReportError::Io {
        path: png_path.clone(),
        source,
    })?;
    let svg = render_svg(chart, opts)?;
    write_atomic(&svg_path, svg.as_bytes()).map_err(|source| ReportError::Io {
        path: svg_path.clone(),
        source,
    })?;
    Ok(vec![png_path, svg_path])
}

/// Renders `chart` as an SVG document.
pub fn render_svg(chart: &Chart, opts: &RenderOptions) -> Result<String, ReportError> {
    ensure_font()?;
    let (w, h) = figure_size(chart, opts)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        draw_figure(&root, true, chart, opts, w, h)?;
        root.present().map_err(|e| draw_err(chart, e))?;
    }
    Ok(out)
}

/// Renders `chart` into an RGB pixel buffer; returns (width, height, pixels).
fn render_rgb(chart: &Chart, opts: &RenderOptions) -> Result<(u32, u32, Vec<u8>), ReportError> {
    ensure_font()?;
    let (w, h) = figure_size(chart, opts)?;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw_figure(&root, false, chart, opts, w, h)?;
        root.present().map_err(|e| draw_err(chart, e))?;
    }
    Ok((w, h, buf))
}

fn with_suffix(stem: &Path, ext: &str) -> Result<PathBuf, ReportError> {
    if stem.file_name().is_none() {
        return Err(ReportError::InvalidStem {
            stem: stem.to_path_buf(),
        });
    }
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    Ok(PathBuf::from(s))
}

/// Registers the bundled font as "sans-serif" (once per process).
fn ensure_font() -> Result<(), ReportError> {
    if font::ensure_registered() {
        Ok(())
    } else {
        Err(ReportError::Font)
    }
}

fn draw_err<E: std::error::Error + Send + Sync>(
    chart: &Chart,
    e: DrawingAreaErrorKind<E>,
) -> ReportError {
    ReportError::Draw {
        title: chart.title().to_string(),
        message: e.to_string(),
    }
}

/// Final image size: the requested size, grown for stacked panels and long bar lists.
fn figure_size(chart: &Chart, opts: &RenderOptions) -> Result<(u32, u32), ReportError> {
    let (w, h) = (opts.width_px, opts.height_px);
    if !(400..=8000).contains(&w) || !(300..=8000).contains(&h) {
        return Err(ReportError::InvalidSize {
            width_px: w,
            height_px: h,
        });
    }
    let s = scale_for(w, h);
    let need = match chart {
        Chart::Panels { panels, .. } if all_time_series(panels) => {
            // Leadership strips add their height to every panel.
            let lanes = panels
                .iter()
                .filter_map(|p| match p {
                    Chart::TimeSeries {
                        strip: Some(st), ..
                    } => Some(st.lanes.len()),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            let strip = if lanes > 0 {
                lanes as f64 * STRIP_LANE_PX + STRIP_GAP_PX
            } else {
                0.0
            };
            (150.0 + (190.0 + strip) * panels.len() as f64) * s
        }
        Chart::Panels { panels, .. } => (110.0 + 420.0 * panels.len() as f64) * s,
        Chart::Bars { bars, .. } if bars.len() > 18 => (170.0 + 30.0 * bars.len() as f64) * s,
        _ => 0.0,
    };
    Ok((w, (h as f64).max(need).min(8000.0) as u32))
}

fn scale_for(w: u32, h: u32) -> f64 {
    (w as f64 / 1200.0).min(h as f64 / 700.0).clamp(0.5, 4.0)
}

fn all_time_series(panels: &[Chart]) -> bool {
    !panels.is_empty() && panels.iter().all(|p| matches!(p, Chart::TimeSeries { .. }))
}

// ---------------------------------------------------------------------------
// Colours, fonts and the drawing surface
// ---------------------------------------------------------------------------

/// Tableau 10 (the classic category10 ordering): distinguishable for 10 series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];
/// Fault-window fills (drawn translucent) and their label colours.
const SHADE_FILL: [RGBColor; 4] = [
    RGBColor(0x99, 0x99, 0x99),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x88, 0x66, 0xcc),
    RGBColor(0x44, 0xaa, 0x99),
];
const SHADE_INK: [RGBColor; 4] = [
    RGBColor(0x44, 0x44, 0x44),
    RGBColor(0x8a, 0x5a, 0x00),
    RGBColor(0x55, 0x33, 0x8a),
    RGBColor(0x23, 0x69, 0x5e),
];
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const AXIS: RGBColor = RGBColor(0x44, 0x44, 0x44);
const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GRID: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);
const GRID_MINOR: RGBColor = RGBColor(0xf1, 0xf1, 0xf1);
const FRAME: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);

/// Mixes `c` towards black by `f` (0..1), for text in a series' colour.
fn darken(c: RGBColor, f: f64) -> RGBColor {
    let k = |v: u8| (v as f64 * (1.0 - f)).round() as u8;
    RGBColor(k(c.0), k(c.1), k(c.2))
}

/// Assigns palette indices by name: caller order first, then first appearance.
struct Colours {
    order: Vec<String>,
    extra: Vec<String>,
}

impl Colours {
    fn new(opts: &RenderOptions) -> Self {
        Colours {
            order: opts.series_order.clone(),
            extra: Vec::new(),
        }
    }
    fn index(&mut self, name: &str) -> usize {
        if let Some(i) = self.order.iter().position(|n| n == name) {
            return i;
        }
        if let Some(i) = self.extra.iter().position(|n| n == name) {
            return self.order.len() + i;
        }
        self.extra.push(name.to_string());
        self.order.len() + self.extra.len() - 1
    }
    /// (colour, dashed): beyond 10 series the palette repeats with dashes.
    fn style(&mut self, name: &str) -> (RGBColor, bool, Marker) {
        let i = self.index(name);
        (
            PALETTE[i % 10],
            (i / 10) % 2 == 1,
            MARKERS[i % MARKERS.len()],
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
}
const MARKERS: [Marker; 5] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
];

/// Text sizes at 1200×700 (multiplied by the scale), as plotters sizes: the
/// em is size/1.164 px in PNG and size/1.24 px in SVG, so 17.5 gives a font of
/// at least 14 px in both.
const TITLE_PX: f64 = 28.0;
const NOTE_PX: f64 = 17.5;
const AXIS_TITLE_PX: f64 = 20.0;
const TICK_PX: f64 = 17.5;
const LEGEND_PX: f64 = 17.5;
const LABEL_PX: f64 = 17.5;
const PANEL_TITLE_PX: f64 = 19.0;

/// Width in px of `text` in the bundled font at `size`.
fn text_w(text: &str, size: f64) -> f64 {
    font::text_width(text, size)
}

/// Height of capital letters at `size` (the visual height used for alignment).
fn cap_h(size: f64) -> f64 {
    0.626 * size
}

/// Replaces control characters (invalid in SVG/XML) by spaces.
fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Shortens `s` with an ellipsis so it fits in `max_w` px.
fn truncate_to(s: &str, size: f64, max_w: f64) -> String {
    let s = clean_text(s);
    if text_w(&s, size) <= max_w {
        return s;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let cand: String = chars[..n].iter().collect::<String>().trim_end().to_string() + "…";
        if text_w(&cand, size) <= max_w {
            return cand;
        }
    }
    "…".to_string()
}

/// Greedy word wrap to `max_w` px; at most `max_lines` lines (the last is truncated).
fn wrap(s: &str, size: f64, max_w: f64, max_lines: usize) -> Vec<String> {
    let s = clean_text(s);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let cand = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if text_w(&cand, size) <= max_w || cur.is_empty() {
            cur = cand;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        let rest = lines[max_lines - 1..].join(" ");
        lines.truncate(max_lines - 1);
        lines.push(rest);
    }
    let last = lines.len().saturating_sub(1);
    for (i, l) in lines.iter_mut().enumerate() {
        if i == last || text_w(l, size) > max_w {
            *l = truncate_to(l, size, max_w);
        }
    }
    lines
}

fn ip(v: f64) -> i32 {
    if v.is_finite() {
        v.round().clamp(-1.0e6, 1.0e6) as i32
    } else {
        0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
}

impl Rect {
    fn w(&self) -> f64 {
        self.r - self.l
    }
    fn h(&self) -> f64 {
        self.b - self.t
    }
    fn overlap_area(&self, o: &Rect) -> f64 {
        let w = (self.r.min(o.r) - self.l.max(o.l)).max(0.0);
        let h = (self.b.min(o.b) - self.t.max(o.t)).max(0.0);
        w * h
    }
    fn contains(&self, o: &Rect) -> bool {
        o.l >= self.l && o.r <= self.r && o.t >= self.t && o.b <= self.b
    }
}

#[derive(Clone, Copy)]
enum VAlign {
    /// y is the top of capital letters.
    Top,
    /// y is the middle of capital letters.
    Middle,
}

type DrawResult = Result<(), ReportError>;

/// A drawing surface over one plotters backend, in absolute pixel coordinates.
struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    svg: bool,
    s: f64,
    title: &'a str,
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    fn err(&self, e: DrawingAreaErrorKind<DB::ErrorType>) -> ReportError {
        ReportError::Draw {
            title: self.title.to_string(),
            message: e.to_string(),
        }
    }

    /// Draws `text`; `x` is interpreted per `h`, `y` per `v`.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &self,
        text: &str,
        x: f64,
        y: f64,
        size: f64,
        color: RGBColor,
        h: HPos,
        v: VAlign,
    ) -> DrawResult {
        let baseline = match v {
            VAlign::Top => y + cap_h(size),
            VAlign::Middle => y + cap_h(size) / 2.0,
        };
        let top = baseline - self.baseline_offset(size);
        let text = clean_text(text);
        let metrics = font::metrics();
        let Some(m) = metrics.filter(|_| !self.svg) else {
            let style = FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
                .color(&color)
                .pos(Pos::new(h, VPos::Top));
            return self
                .area
                .draw(&Text::new(text, (ip(x), ip(top)), style))
                .map_err(|e| self.err(e));
        };
        let w = text_w(&text, size);
        let start = match h {
            HPos::Left => x,
            HPos::Center => x - w / 2.0,
            HPos::Right => x - w,
        };
        let style = FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
            .color(&color)
            .pos(Pos::new(HPos::Left, VPos::Top));
        let mut pen = start;
        for c in text.chars() {
            if !c.is_whitespace() {
                let gx = ip(pen) + m.bearing_px(c, size);
                self.area
                    .draw(&Text::new(c.to_string(), (gx, ip(top)), style.clone()))
                    .map_err(|e| self.err(e))?;
            }
            pen += m.advance_px(c, size);
        }
        Ok(())
    }

    /// Draws `text` rotated to read bottom-to-top, centred on `y`, with the
    /// tops of its capitals at `x`.
    fn text_up(&self, text: &str, x: f64, y: f64, size: f64, color: RGBColor) -> DrawResult {
        let baseline_x = x + cap_h(size);
        let pos_x = baseline_x - self.baseline_offset(size);
        let text = clean_text(text);
        let font = FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
            .transform(FontTransform::Rotate270);
        let Some(m) = font::metrics().filter(|_| !self.svg) else {
            let style = font.color(&color).pos(Pos::new(HPos::Center, VPos::Top));
            return self
                .area
                .draw(&Text::new(text, (ip(pos_x), ip(y)), style))
                .map_err(|e| self.err(e));
        };
        // Glyph by glyph, reading upwards from the bottom end of the text.
        let style = font.color(&color).pos(Pos::new(HPos::Left, VPos::Top));
        let mut pen = y + text_w(&text, size) / 2.0;
        for c in text.chars() {
            if !c.is_whitespace() {
                let gy = ip(pen) - m.bearing_px(c, size);
                self.area
                    .draw(&Text::new(c.to_string(), (ip(pos_x), gy), style.clone()))
                    .map_err(|e| self.err(e))?;
            }
            pen -= m.advance_px(c, size);
        }
        Ok(())
    }

    /// Distance from a top-anchored text position to its baseline on this backend.
    fn baseline_offset(&self, size: f64) -> f64 {
        if self.svg {
            // plotters' SVG backend: font-size = size/1.24, dy = 0.76em.
            0.76 * size / 1.24
        } else {
            // plotters' ab_glyph rasteriser puts the baseline at size/2.
            size / 2.0
        }
    }

    fn line(&self, pts: &[(f64, f64)], color: RGBAColor, width: f64) -> DrawResult {
        if pts.len() < 2 {
            return Ok(());
        }
        let mut v: Vec<(i32, i32)> = Vec::with_capacity(pts.len());
        for &(x, y) in pts {
            let p = (ip(x), ip(y));
            if v.last() != Some(&p) {
                v.push(p);
            }
        }
        if v.len() < 2 {
            v.push(v[0]);
        }
        let stroke_width = (width.round() as u32).max(1);
        let style = ShapeStyle {
            color,
            filled: false,
            stroke_width,
        };
        if self.svg || stroke_width < 2 || color.3 < 1.0 {
            return self
                .area
                .draw(&PathElement::new(v, style))
                .map_err(|e| self.err(e));
        }
        // plotters rasterises a thick polyline as one offset polygon, which
        // spikes at sharp joints; draw segments with round joints instead.
        let r = width / 2.0;
        for w in v.windows(2) {
            self.area
                .draw(&PathElement::new(vec![w[0], w[1]], style))
                .map_err(|e| self.err(e))?;
        }
        if stroke_width >= 3 {
            for &p in &v[1..v.len() - 1] {
                self.area
                    .draw(&Circle::new(p, ip(r - 0.5).max(1), color.filled()))
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    fn dashed(&self, pts: &[(f64, f64)], color: RGBAColor, width: f64, dash: f64) -> DrawResult {
        for piece in dash_pieces(pts, dash, dash * 0.7) {
            self.line(&piece, color, width)?;
        }
        Ok(())
    }

    fn rect(&self, r: Rect, color: RGBAColor) -> DrawResult {
        self.area
            .draw(&Rectangle::new(
                [(ip(r.l), ip(r.t)), (ip(r.r), ip(r.b))],
                color.filled(),
            ))
            .map_err(|e| self.err(e))
    }

    fn polygon(&self, pts: &[(f64, f64)], color: RGBAColor) -> DrawResult {
        if pts.len() < 3 {
            return Ok(());
        }
        let v: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (ip(x), ip(y))).collect();
        self.area
            .draw(&Polygon::new(v, color.filled()))
            .map_err(|e| self.err(e))
    }

    fn marker(&self, kind: Marker, x: f64, y: f64, r: f64, color: RGBColor) -> DrawResult {
        self.marker_shape(kind, x, y, r + 1.5 * self.s, WHITE.to_rgba())?;
        self.marker_shape(kind, x, y, r, color.to_rgba())
    }

    fn marker_shape(&self, kind: Marker, x: f64, y: f64, r: f64, c: RGBAColor) -> DrawResult {
        match kind {
            Marker::Circle => self
                .area
                .draw(&Circle::new((ip(x), ip(y)), ip(r).max(1), c.filled()))
                .map_err(|e| self.err(e)),
            Marker::Square => {
                let h = r * 0.88;
                self.rect(
                    Rect {
                        l: x - h,
                        t: y - h,
                        r: x + h,
                        b: y + h,
                    },
                    c,
                )
            }
            Marker::TriangleUp => self.polygon(
                &[
                    (x, y - 1.2 * r),
                    (x + 1.05 * r, y + 0.7 * r),
                    (x - 1.05 * r, y + 0.7 * r),
                ],
                c,
            ),
            Marker::TriangleDown => self.polygon(
                &[
                    (x, y + 1.2 * r),
                    (x + 1.05 * r, y - 0.7 * r),
                    (x - 1.05 * r, y - 0.7 * r),
                ],
                c,
            ),
            Marker::Diamond => self.polygon(
                &[
                    (x, y - 1.25 * r),
                    (x + 1.1 * r, y),
                    (x, y + 1.25 * r),
                    (x - 1.1 * r, y),
                ],
                c,
            ),
        }
    }
}

/// Splits a polyline into dashes of length `on` separated by gaps of `off` px.
fn dash_pieces(pts: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut drawing = true;
    let mut left = on;
    if pts.is_empty() || on <= 0.0 || off <= 0.0 {
        return out;
    }
    cur.push(pts[0]);
    for w in pts.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        let mut seg = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let mut guard = 0;
        while seg > left && guard < 100_000 {
            guard += 1;
            let t = left / seg;
            let p = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if drawing {
                cur.push(p);
                out.push(std::mem::take(&mut cur));
            } else {
                cur = vec![p];
            }
            drawing = !drawing;
            seg -= left;
            a = p;
            left = if drawing { on } else { off };
        }
        left -= seg;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() >= 2 {
        out.push(cur);
    }
    out
}

// ---------------------------------------------------------------------------
// Numbers: axes, ticks and labels
// ---------------------------------------------------------------------------

/// Values beyond this magnitude are treated like infinities (skipped).
const MAX_ABS: f64 = 1.0e300;

fn finite(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_ABS
}

/// How an axis treats zero.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Zero {
    /// Always include zero (counts, rates, bars).
    Always,
    /// Include zero when the data starts near it (time axes).
    Near,
    /// Fit the data.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct AxisSpec {
    log: bool,
    zero: Zero,
    /// Fractional padding below and above (in transformed units).
    pad_lo: f64,
    pad_hi: f64,
    /// A range the axis always covers (e.g. 0..1 for fractions).
    fixed: Option<(f64, f64)>,
    /// Pad beyond a zero anchor too (for markers sitting on zero).
    pad_zero: bool,
}

impl AxisSpec {
    fn linear(zero: Zero, pad: f64) -> Self {
        AxisSpec {
            log: false,
            zero,
            pad_lo: pad,
            pad_hi: pad,
            fixed: None,
            pad_zero: false,
        }
    }
    fn log(pad: f64) -> Self {
        AxisSpec {
            log: true,
            zero: Zero::Never,
            pad_lo: pad,
            pad_hi: pad,
            fixed: None,
            pad_zero: false,
        }
    }
}

/// An axis in transformed units (log10 of the value on log axes).
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    labels: Vec<String>,
    minor: Vec<f64>,
}

impl Axis {
    /// Transforms a raw value; `None` if it cannot be shown on this axis.
    fn t(&self, v: f64) -> Option<f64> {
        if !finite(v) {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
}

/// Running min/max of raw values.
#[derive(Debug, Clone, Copy)]
struct Extent {
    lo: f64,
    hi: f64,
}

impl Extent {
    fn new() -> Self {
        Extent {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
    fn add(&mut self, v: f64, log: bool) {
        if finite(v) && (!log || v > 0.0) {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }
    fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
}

/// Builds an axis covering `ext` (raw values) with about `target` ticks.
fn make_axis(spec: AxisSpec, ext: Extent, target: usize) -> Axis {
    let target = target.clamp(2, 12);
    if spec.log {
        let (mut lo, mut hi) = if ext.is_empty() {
            (0.0, 1.0)
        } else {
            (ext.lo.log10(), ext.hi.log10())
        };
        if let Some((a, b)) = spec.fixed.filter(|&(a, b)| a > 0.0 && b > 0.0) {
            lo = lo.min(a.log10());
            hi = hi.max(b.log10());
        }
        if hi - lo < 1e-9 {
            lo -= 0.5;
            hi += 0.5;
        }
        let span = hi - lo;
        lo -= span * spec.pad_lo;
        hi += span * spec.pad_hi;
        let (ticks, labels, minor) = log_ticks(lo, hi, target);
        return Axis {
            lo,
            hi,
            log: true,
            ticks,
            labels,
            minor,
        };
    }
    let (mut lo, mut hi) = if ext.is_empty() {
        (0.0, 1.0)
    } else {
        (ext.lo, ext.hi)
    };
    if let Some((a, b)) = spec.fixed.filter(|&(a, b)| finite(a) && finite(b) && a < b) {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    match spec.zero {
        Zero::Always => {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        Zero::Near => {
            if lo > 0.0 && lo <= 0.25 * hi {
                lo = 0.0;
            } else if hi < 0.0 && hi >= 0.25 * lo {
                hi = 0.0;
            }
        }
        Zero::Never => {}
    }
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()) || hi - lo < 1e-250 {
        // Zero range: open it symmetrically, but never below/above an anchor at zero.
        let d = if lo == 0.0 && hi == 0.0 {
            1.0
        } else {
            (0.1 * lo.abs().max(hi.abs())).max(1e-250)
        };
        if lo == 0.0 {
            hi += d;
        } else if hi == 0.0 {
            lo -= d;
        } else {
            lo -= d;
            hi += d;
        }
    }
    // Padding, except below a zero floor (data ≥ 0) or above a zero ceiling.
    let span = 0.5 * hi - 0.5 * lo; // half the span, overflow-safe
    if spec.pad_zero || !(lo == 0.0 && (ext.is_empty() || ext.lo >= 0.0)) {
        lo -= 2.0 * span * spec.pad_lo;
    }
    if spec.pad_zero || !(hi == 0.0 && (ext.is_empty() || ext.hi <= 0.0)) {
        hi += 2.0 * span * spec.pad_hi;
    }
    lo = lo.max(-f64::MAX / 4.0);
    hi = hi.min(f64::MAX / 4.0);
    let (ticks, step) = linear_ticks(lo, hi, target);
    let labels = linear_labels(&ticks, step);
    Axis {
        lo,
        hi,
        log: false,
        ticks,
        labels,
        minor: Vec::new(),
    }
}

/// A "nice" step (1, 2, 2.5 or 5 × 10^k) close to `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Evenly spaced "nice" ticks inside [lo, hi], about `target` of them and
/// never fewer than two (the step is refined until two fit).
fn linear_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = (0.5 * hi - 0.5 * lo) * 2.0;
    let mut best = (vec![lo, hi], hi - lo);
    for refine in [1.0, 2.0, 4.0, 8.0] {
        let step = nice_step(span / (target as f64 * refine));
        let (k0, k1) = ((lo / step).ceil(), (hi / step).floor());
        if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 1000.0 || k0.abs() > 1e15 {
            break;
        }
        let mut ticks = Vec::new();
        let mut k = k0;
        while k <= k1 {
            let v = k * step;
            ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
            k += 1.0;
        }
        if ticks.len() >= 2 {
            return (ticks, step);
        }
        if !ticks.is_empty() {
            best = (ticks, step);
        }
    }
    best
}

/// Decimal places needed to show multiples of `step` exactly (at most 6).
fn decimals_for(step: f64) -> usize {
    for d in 0..=6 {
        let x = step * 10f64.powi(d as i32);
        if (x - x.round()).abs() < 1e-6 * x.abs().max(1.0) {
            return d;
        }
    }
    6
}

/// Labels for evenly spaced ticks, with a shared unit suffix (k, M, G, T) or
/// shared scientific notation so every label has the same precision.
fn linear_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let m = ticks.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if m >= 1e15 || (m > 0.0 && m < 1e-3) {
        let e = m.log10().floor();
        let d = decimals_for(step / 10f64.powf(e)).min(3);
        return ticks
            .iter()
            .map(|&v| {
                if v == 0.0 {
                    "0".to_string()
                } else {
                    format!("{v:.d$e}")
                }
            })
            .collect();
    }
    let (div, suffix) = if m >= 1e12 {
        (1e12, "T")
    } else if m >= 1e9 {
        (1e9, "G")
    } else if m >= 1e6 {
        (1e6, "M")
    } else if m >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let d = decimals_for(step / div);
    ticks
        .iter()
        .map(|&v| {
            let s = format!("{:.*}", d, v / div);
            let s = if s.trim_start_matches(['-', '0', '.']).is_empty() {
                "0".to_string()
            } else {
                s
            };
            if s == "0" { s } else { format!("{s}{suffix}") }
        })
        .collect()
}

/// A value with up to 3 significant digits, SI suffix for large magnitudes.
fn fmt_sig(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e15).contains(&a) {
        return format!("{v:.2e}");
    }
    let (div, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / div;
    let digits = x.abs().log10().floor() as i32 + 1;
    let d = (3 - digits).clamp(0, 6) as usize;
    let mut s = format!("{x:.d$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{suffix}")
}

/// Ticks on a log axis spanning [lo, hi] decades: the densest of 1..9, 1-2-5,
/// 1-3 and 1 per decade that gives at most `target` ticks, else every m-th
/// decade; linear ticks as a last resort for spans well under a decade.
fn log_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, Vec<String>, Vec<f64>) {
    let (d0, d1) = (lo.floor() as i64, hi.ceil() as i64);
    let in_range = |t: f64| t >= lo - 1e-9 && t <= hi + 1e-9;
    let ticks_for = |mults: &[f64]| -> Vec<f64> {
        let mut v = Vec::new();
        for k in d0..=d1 {
            for &f in mults {
                let t = k as f64 + f.log10();
                if in_range(t) {
                    v.push(t);
                }
            }
        }
        v
    };
    const ALL: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let mut options: Vec<&[f64]> = Vec::new();
    if hi - lo <= 1.2 {
        options.push(&ALL);
    }
    options.extend([&[1.0, 2.0, 5.0][..], &[1.0, 3.0], &[1.0]]);
    let mut ticks = options
        .iter()
        .map(|m| ticks_for(m))
        .find(|t| t.len() >= 2 && t.len() <= target);
    let mut thinned = false;
    if ticks.is_none() {
        let decades = ticks_for(&[1.0]);
        if decades.len() > target {
            let m = decades.len().div_ceil(target) as i64;
            thinned = true;
            // Every m-th decade, aligned to multiples of m when that leaves two.
            let aligned: Vec<f64> = decades
                .iter()
                .copied()
                .filter(|t| (t.round() as i64).rem_euclid(m) == 0)
                .collect();
            ticks = Some(if aligned.len() >= 2 {
                aligned
            } else {
                decades.into_iter().step_by(m as usize).collect()
            });
        } else {
            // Fewer than two decade ticks and no option within `target`: the
            // sparsest option that still gives two ticks (a short panel
            // over 2..70 gets 3, 10, 30 rather than every integer).
            let sparse: [&[f64]; 3] = [&[1.0, 3.0], &[1.0, 2.0, 5.0], &ALL];
            if let Some(fine) = sparse.iter().map(|m| ticks_for(m)).find(|t| t.len() >= 2) {
                ticks = Some(fine);
            } else {
                // Well under a decade: evenly spaced values, labelled with
                // the shared precision of a linear axis.
                let (lin, step) = linear_ticks(10f64.powf(lo), 10f64.powf(hi), target);
                let lin: Vec<f64> = lin.into_iter().filter(|&v| v > 0.0).collect();
                let labels = linear_labels(&lin, step);
                let t = lin.iter().map(|v| v.log10()).collect();
                return (t, labels, Vec::new());
            }
        }
    }
    let ticks = ticks.unwrap_or_default();
    let minor = if thinned || d1 - d0 > 12 {
        Vec::new()
    } else {
        ticks_for(&ALL)
            .into_iter()
            .filter(|t| !ticks.iter().any(|u| (u - t).abs() < 1e-9))
            .collect()
    };
    let labels = ticks.iter().map(|&t| fmt_sig(10f64.powf(t))).collect();
    (ticks, labels, minor)
}

/// Labels for bar values with a shared number of decimals (3 significant
/// digits of the largest magnitude).
fn value_labels(values: &[f64]) -> Vec<String> {
    let m = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    if !(1e-3..1e4).contains(&m) {
        return values.iter().map(|&v| fmt_sig(v)).collect();
    }
    let digits = m.log10().floor() as i32 + 1;
    let d = (3 - digits).clamp(0, 6) as usize;
    values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                format!("{v:.d$}")
            } else {
                "n/a".to_string()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Intermediate figure description for x/y charts
// ---------------------------------------------------------------------------

/// Counts of values that could not be drawn, reported in the note line.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    non_finite: usize,
    non_positive: usize,
    band_floor: usize,
    bad_shades: usize,
}

impl Tally {
    fn notes(&self, axis_name: &str) -> Vec<String> {
        let mut v = Vec::new();
        if self.non_finite > 0 {
            v.push(format!(
                "{} non-finite value{} skipped",
                self.non_finite,
                plural(self.non_finite)
            ));
        }
        if self.non_positive > 0 {
            v.push(format!(
                "{} non-positive value{} not shown on the log {axis_name} axis",
                self.non_positive,
                plural(self.non_positive)
            ));
        }
        if self.bad_shades > 0 {
            v.push(format!(
                "{} fault window{} with non-finite bounds skipped",
                self.bad_shades,
                plural(self.bad_shades)
            ));
        }
        if self.band_floor > 0 {
            v.push(format!(
                "{} confidence bound{} ≤ 0 drawn at the axis floor",
                self.band_floor,
                plural(self.band_floor)
            ));
        }
        v
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

struct LineSpec {
    name: String,
    color: RGBColor,
    dashed: bool,
    /// Markers at every point (None: only isolated points get one).
    marker: Option<Marker>,
    width: f64,
    segments: Vec<Vec<(f64, f64)>>,
    /// Confidence band segments: (x, lo, hi).
    band: Vec<Vec<(f64, f64, f64)>>,
}

struct PointSpec {
    label: String,
    color: RGBColor,
    marker: Marker,
    x: f64,
    y: f64,
    x_err: Option<(f64, f64)>,
    y_err: Option<(f64, f64)>,
}

struct PanelSpec {
    title: Option<String>,
    y_label: String,
    y_spec: AxisSpec,
    lines: Vec<LineSpec>,
    points: Vec<PointSpec>,
    /// Horizontal reference lines (value, label), e.g. p50/p99 on a CDF.
    refs: Vec<(f64, &'static str)>,
    /// Leadership strip above the plot.
    strip: Option<LeaderStrip>,
}

#[derive(Clone)]
struct LegendItem {
    name: String,
    color: RGBColor,
    dashed: bool,
    line: bool,
    band: bool,
    marker: Option<Marker>,
}

struct XyFigure {
    title: String,
    x_label: String,
    x_spec: AxisSpec,
    panels: Vec<PanelSpec>,
    shades: Vec<Shade>,
    notes: Vec<String>,
    legend: Vec<LegendItem>,
}

/// Sorts by x, drops bad values and splits the line where y is missing.
fn clean_line(
    points: &[(f64, f64)],
    log_x: bool,
    log_y: bool,
    tally: &mut Tally,
) -> Vec<Vec<(f64, f64)>> {
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for &(x, y) in points {
        if !finite(x) {
            tally.non_finite += 1;
        } else if log_x && x <= 0.0 {
            tally.non_positive += 1;
        } else {
            pts.push((x, y));
        }
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut segs = Vec::new();
    let mut cur = Vec::new();
    for (x, y) in pts {
        let bad = if !finite(y) {
            tally.non_finite += 1;
            true
        } else if log_y && y <= 0.0 {
            tally.non_positive += 1;
            true
        } else {
            false
        };
        if bad {
            if !cur.is_empty() {
                segs.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push((x, y));
        }
    }
    if !cur.is_empty() {
        segs.push(cur);
    }
    segs
}

fn legend_for(lines: &[LineSpec]) -> Vec<LegendItem> {
    let mut out: Vec<LegendItem> = Vec::new();
    for l in lines {
        if out.iter().any(|i| i.name == l.name) {
            continue;
        }
        out.push(LegendItem {
            name: l.name.clone(),
            color: l.color,
            dashed: l.dashed,
            line: true,
            band: !l.band.is_empty(),
            marker: l.marker,
        });
    }
    out
}

/// Drops spans and alerts with non-finite ends or lanes out of range; a strip
/// with no lanes is no strip.
fn clean_strip(strip: Option<&LeaderStrip>, tally: &mut Tally) -> Option<LeaderStrip> {
    let st = strip?;
    if st.lanes.is_empty() {
        return None;
    }
    let mut out = LeaderStrip {
        label: st.label.clone(),
        lanes: st.lanes.clone(),
        spans: Vec::new(),
        alerts: Vec::new(),
    };
    for sp in &st.spans {
        if finite(sp.start_s) && finite(sp.end_s) && sp.lane < st.lanes.len() {
            out.spans.push(sp.clone());
        } else {
            tally.bad_shades += 1;
        }
    }
    out.alerts = clean_shades(&st.alerts, tally);
    Some(out)
}

fn time_series_panel(
    colours: &mut Colours,
    title: Option<String>,
    y_label: &str,
    series: &[Series],
    log_y: bool,
    strip: Option<&LeaderStrip>,
    tally: &mut Tally,
) -> PanelSpec {
    let lines = series
        .iter()
        .map(|s| {
            let (color, dashed, _) = colours.style(&s.name);
            LineSpec {
                name: s.name.clone(),
                color,
                dashed,
                marker: None,
                width: 2.0,
                segments: clean_line(&s.points, false, log_y, tally),
                band: Vec::new(),
            }
        })
        .collect();
    PanelSpec {
        title,
        y_label: y_label.to_string(),
        y_spec: if log_y {
            AxisSpec::log(0.05)
        } else {
            AxisSpec::linear(Zero::Always, 0.05)
        },
        lines,
        points: Vec::new(),
        refs: Vec::new(),
        strip: clean_strip(strip, tally),
    }
}

fn clean_shades(shades: &[Shade], tally: &mut Tally) -> Vec<Shade> {
    let mut out: Vec<Shade> = Vec::new();
    for s in shades {
        if !(finite(s.start_s) && finite(s.end_s)) {
            tally.bad_shades += 1;
            continue;
        }
        let (a, b) = if s.start_s <= s.end_s {
            (s.start_s, s.end_s)
        } else {
            (s.end_s, s.start_s)
        };
        let c = Shade {
            start_s: a,
            end_s: b,
            label: s.label.clone(),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.end_s.total_cmp(&b.end_s))
    });
    out
}

/// Converts an x/y chart into the common figure description.
fn xy_figure(chart: &Chart, opts: &RenderOptions) -> Option<XyFigure> {
    let mut colours = Colours::new(opts);
    let mut tally = Tally::default();
    let time_x = AxisSpec::linear(Zero::Near, 0.0);
    let fig = match chart {
        Chart::TimeSeries {
            title,
            x_label,
            y_label,
            series,
            shades,
            log_y,
            strip,
        } => {
            let panel = time_series_panel(
                &mut colours,
                None,
                y_label,
                series,
                *log_y,
                strip.as_ref(),
                &mut tally,
            );
            let shades = clean_shades(shades, &mut tally);
            let legend = legend_for(&panel.lines);
            let mut notes = tally.notes("y");
            if *log_y {
                notes.insert(0, "log scale".to_string());
            }
            XyFigure {
                title: title.clone(),
                x_label: x_label.clone(),
                x_spec: time_x,
                panels: vec![panel],
                shades,
                notes,
                legend,
            }
        }
        Chart::Panels { title, panels } if all_time_series(panels) => {
            let mut specs = Vec::new();
            let mut shades_all = Vec::new();
            let mut x_label_last = String::new();
            for p in panels {
                if let Chart::TimeSeries {
                    title,
                    x_label,
                    y_label,
                    series,
                    shades,
                    log_y,
                    strip,
                } = p
                {
                    let t = (!title.trim().is_empty()).then(|| title.clone());
                    specs.push(time_series_panel(
                        &mut colours,
                        t,
                        y_label,
                        series,
                        *log_y,
                        strip.as_ref(),
                        &mut tally,
                    ));
                    shades_all.extend(shades.iter().cloned());
                    x_label_last = x_label.clone();
                }
            }
            let shades = clean_shades(&shades_all, &mut tally);
            let mut legend: Vec<LegendItem> = Vec::new();
            for s in &specs {
                for item in legend_for(&s.lines) {
                    if !legend.iter().any(|i| i.name == item.name) {
                        legend.push(item);
                    }
                }
            }
            XyFigure {
                title: title.clone(),
                x_label: x_label_last,
                x_spec: time_x,
                panels: specs,
                shades,
                notes: tally.notes("y"),
                legend,
            }
        }
        Chart::Cdf {
            title,
            x_label,
            series,
            log_x,
        } => {
            let lines: Vec<LineSpec> = series
                .iter()
                .map(|s| {
                    let (color, dashed, _) = colours.style(&s.name);
                    LineSpec {
                        name: s.name.clone(),
                        color,
                        dashed,
                        marker: None,
                        width: 2.5,
                        segments: clean_line(&s.points, *log_x, false, &mut tally),
                        band: Vec::new(),
                    }
                })
                .collect();
            let legend = legend_for(&lines);
            let mut notes = tally.notes("x");
            if *log_x {
                notes.insert(0, "log scale".to_string());
            }
            XyFigure {
                title: title.clone(),
                x_label: x_label.clone(),
                x_spec: if *log_x {
                    AxisSpec::log(0.03)
                } else {
                    AxisSpec::linear(Zero::Near, 0.03)
                },
                panels: vec![PanelSpec {
                    title: None,
                    y_label: "cumulative fraction".to_string(),
                    y_spec: AxisSpec {
                        fixed: Some((0.0, 1.0)),
                        pad_zero: true,
                        ..AxisSpec::linear(Zero::Always, 0.02)
                    },
                    lines,
                    points: Vec::new(),
                    refs: vec![(0.5, "p50"), (0.99, "p99")],
                    strip: None,
                }],
                shades: Vec::new(),
                notes,
                legend,
            }
        }
        Chart::Lines {
            title,
            x_label,
            y_label,
            series,
            log_y,
            log_x,
        } => {
            let lines: Vec<LineSpec> = series
                .iter()
                .map(|s| {
                    let (color, dashed, marker) = colours.style(&s.name);
                    let mut pts: Vec<BandPoint> = Vec::new();
                    for p in &s.points {
                        if finite(p.x) {
                            pts.push(*p);
                        } else {
                            tally.non_finite += 1;
                        }
                    }
                    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
                    let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.x, p.mean)).collect();
                    let segments = clean_line(&xy, false, *log_y, &mut tally);
                    let mut band = Vec::new();
                    let mut cur = Vec::new();
                    for p in &pts {
                        let ok = finite(p.lo) && finite(p.hi);
                        let (lo, hi) = if p.lo <= p.hi {
                            (p.lo, p.hi)
                        } else {
                            (p.hi, p.lo)
                        };
                        if ok && *log_y && hi <= 0.0 {
                            tally.non_positive += 1;
                        }
                        if ok && (!*log_y || hi > 0.0) {
                            if *log_y && lo <= 0.0 {
                                tally.band_floor += 1;
                            }
                            cur.push((p.x, lo, hi));
                        } else if !cur.is_empty() {
                            band.push(std::mem::take(&mut cur));
                        }
                        if !ok {
                            tally.non_finite +=
                                usize::from(!finite(p.lo)) + usize::from(!finite(p.hi));
                        }
                    }
                    if !cur.is_empty() {
                        band.push(cur);
                    }
                    LineSpec {
                        name: s.name.clone(),
                        color,
                        dashed,
                        marker: Some(marker),
                        width: 2.5,
                        segments,
                        band,
                    }
                })
                .collect();
            let legend = legend_for(&lines);
            let mut notes = vec!["shaded bands: confidence intervals".to_string()];
            match (*log_x, *log_y) {
                (true, true) => notes.push("log scales".to_string()),
                (true, false) => notes.push("log x scale".to_string()),
                (false, true) => notes.push("log scale".to_string()),
                (false, false) => {}
            }
            notes.extend(tally.notes("y"));
            XyFigure {
                title: title.clone(),
                x_label: x_label.clone(),
                x_spec: if *log_x {
                    AxisSpec::log(0.04)
                } else {
                    AxisSpec::linear(Zero::Never, 0.04)
                },
                panels: vec![PanelSpec {
                    title: None,
                    y_label: y_label.clone(),
                    y_spec: if *log_y {
                        AxisSpec::log(0.05)
                    } else {
                        AxisSpec::linear(Zero::Always, 0.06)
                    },
                    lines,
                    points: Vec::new(),
                    refs: Vec::new(),
                    strip: None,
                }],
                shades: Vec::new(),
                notes,
                legend,
            }
        }
        Chart::Scatter {
            title,
            x_label,
            y_label,
            points,
        } => {
            let mut pts = Vec::new();
            let mut legend = Vec::new();
            for p in points {
                if !(finite(p.x) && finite(p.y)) {
                    tally.non_finite += 1;
                    continue;
                }
                let (color, _, marker) = colours.style(&p.label);
                let err = |lo: f64, hi: f64, tally: &mut Tally| {
                    if finite(lo) && finite(hi) {
                        Some((lo.min(hi), lo.max(hi)))
                    } else {
                        tally.non_finite += usize::from(!finite(lo)) + usize::from(!finite(hi));
                        None
                    }
                };
                let x_err = err(p.x_lo, p.x_hi, &mut tally);
                let y_err = err(p.y_lo, p.y_hi, &mut tally);
                pts.push(PointSpec {
                    label: p.label.clone(),
                    color,
                    marker,
                    x: p.x,
                    y: p.y,
                    x_err,
                    y_err,
                });
                if !legend.iter().any(|i: &LegendItem| i.name == p.label) {
                    legend.push(LegendItem {
                        name: p.label.clone(),
                        color,
                        dashed: false,
                        line: false,
                        band: false,
                        marker: Some(marker),
                    });
                }
            }
            let mut notes = vec!["error bars: confidence intervals".to_string()];
            notes.extend(tally.notes("y"));
            XyFigure {
                title: title.clone(),
                x_label: x_label.clone(),
                x_spec: AxisSpec::linear(Zero::Never, 0.08),
                panels: vec![PanelSpec {
                    title: None,
                    y_label: y_label.clone(),
                    y_spec: AxisSpec {
                        pad_zero: true,
                        ..AxisSpec::linear(Zero::Always, 0.08)
                    },
                    lines: Vec::new(),
                    points: pts,
                    refs: Vec::new(),
                    strip: None,
                }],
                shades: Vec::new(),
                notes,
                legend,
            }
        }
        Chart::Bars { .. } | Chart::Panels { .. } => return None,
    };
    Some(fig)
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

/// Where things ended up (used by tests to check for overlaps).
#[derive(Debug, Default, Clone)]
struct Drawn {
    plots: Vec<Rect>,
    legend: Option<Rect>,
    labels: Vec<Rect>,
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    svg: bool,
    chart: &Chart,
    opts: &RenderOptions,
    w: u32,
    h: u32,
) -> Result<Drawn, ReportError> {
    let cv = Canvas {
        area: root,
        svg,
        s: scale_for(opts.width_px, opts.height_px),
        title: chart.title(),
    };
    root.fill(&WHITE).map_err(|e| cv.err(e))?;
    let region = Rect {
        l: 0.0,
        t: 0.0,
        r: w as f64,
        b: h as f64,
    };
    draw_chart(&cv, chart, opts, region, 0)
}

fn draw_chart<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    chart: &Chart,
    opts: &RenderOptions,
    region: Rect,
    depth: usize,
) -> Result<Drawn, ReportError> {
    if let Some(fig) = xy_figure(chart, opts) {
        return draw_xy(cv, &fig, region);
    }
    match chart {
        Chart::Bars {
            title,
            y_label,
            bars,
        } => draw_bars(cv, title, y_label, bars, opts, region),
        Chart::Panels { title, panels } => {
            let mut notes = Vec::new();
            if panels.is_empty() {
                notes.push("no panels".to_string());
            }
            if depth >= 3 {
                notes.push("panels nested too deeply to draw".to_string());
            }
            let top = draw_header(cv, region, title, &notes)?;
            let mut drawn = Drawn::default();
            if depth >= 3 || panels.is_empty() {
                return Ok(drawn);
            }
            let each = (region.b - top) / panels.len() as f64;
            for (i, p) in panels.iter().enumerate() {
                let r = Rect {
                    l: region.l,
                    t: top + i as f64 * each,
                    r: region.r,
                    b: top + (i + 1) as f64 * each,
                };
                let d = draw_chart(cv, p, opts, r, depth + 1)?;
                drawn.plots.extend(d.plots);
                drawn.labels.extend(d.labels);
            }
            Ok(drawn)
        }
        _ => Ok(Drawn::default()),
    }
}

/// Title (≤ 2 lines) and note line; returns the y below them.
fn draw_header<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    region: Rect,
    title: &str,
    notes: &[String],
) -> Result<f64, ReportError> {
    let s = cv.s;
    let pad = 16.0 * s;
    let max_w = region.w() - 2.0 * pad;
    let cx = (region.l + region.r) / 2.0;
    let mut y = region.t + 16.0 * s;
    let tsize = TITLE_PX * s;
    for line in wrap(title, tsize, max_w, 2) {
        cv.text(&line, cx, y, tsize, INK, HPos::Center, VAlign::Top)?;
        y += 1.3 * tsize;
    }
    if !notes.is_empty() {
        let nsize = NOTE_PX * s;
        y += 2.0 * s;
        for line in wrap(&notes.join(" · "), nsize, max_w, 2) {
            cv.text(&line, cx, y, nsize, MUTED, HPos::Center, VAlign::Top)?;
            y += 1.35 * nsize;
        }
    }
    Ok(y + 8.0 * s)
}

/// Pixel mapping of one plot.
#[derive(Debug, Clone)]
struct Frame {
    rect: Rect,
    x: Axis,
    y: Axis,
}

impl Frame {
    fn px(&self, t: f64) -> f64 {
        self.rect.l + (t - self.x.lo) / (self.x.hi - self.x.lo) * self.rect.w()
    }
    fn py(&self, t: f64) -> f64 {
        self.rect.b - (t - self.y.lo) / (self.y.hi - self.y.lo) * self.rect.h()
    }
    /// Maps raw values; `None` if not representable on the axes.
    fn map(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.px(self.x.t(x)?), self.py(self.y.t(y)?)))
    }
    /// Maps a raw y, clamping values below a log axis to its floor.
    fn py_floor(&self, y: f64) -> f64 {
        match self.y.t(y) {
            Some(t) => self.py(t.max(self.y.lo)),
            None => self.rect.b,
        }
    }
}

/// Draws background, grid and the plot frame.
fn draw_grid<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    f: &Frame,
    horizontal_grid: bool,
    vertical_grid: bool,
) -> DrawResult {
    let r = f.rect;
    if vertical_grid {
        for &t in &f.x.minor {
            let x = f.px(t);
            cv.line(&[(x, r.t), (x, r.b)], GRID_MINOR.to_rgba(), 1.0)?;
        }
    }
    if horizontal_grid {
        for &t in &f.y.minor {
            let y = f.py(t);
            cv.line(&[(r.l, y), (r.r, y)], GRID_MINOR.to_rgba(), 1.0)?;
        }
    }
    if vertical_grid {
        for &t in &f.x.ticks {
            let x = f.px(t);
            cv.line(&[(x, r.t), (x, r.b)], GRID.to_rgba(), 1.0)?;
        }
    }
    if horizontal_grid {
        for &t in &f.y.ticks {
            let y = f.py(t);
            cv.line(&[(r.l, y), (r.r, y)], GRID.to_rgba(), 1.0)?;
        }
    }
    Ok(())
}

/// Frame lines, ticks and tick labels (x labels only when `x_labels`).
fn draw_axes<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    f: &Frame,
    x_labels: bool,
    y_labels: bool,
) -> DrawResult {
    let r = f.rect;
    let s = cv.s;
    cv.line(&[(r.l, r.t), (r.r, r.t), (r.r, r.b)], FRAME.to_rgba(), 1.0)?;
    cv.line(
        &[(r.l, r.t), (r.l, r.b), (r.r, r.b)],
        AXIS.to_rgba(),
        s.max(1.0),
    )?;
    let tick = 6.0 * s;
    let size = TICK_PX * s;
    for (i, &t) in f.x.ticks.iter().enumerate() {
        let x = f.px(t);
        cv.line(&[(x, r.b), (x, r.b + tick)], AXIS.to_rgba(), 1.0)?;
        if let Some(l) = f.x.labels.get(i).filter(|_| x_labels) {
            let y = r.b + tick + 5.0 * s;
            cv.text(l, x, y, size, INK, HPos::Center, VAlign::Top)?;
        }
    }
    for (i, &t) in f.y.ticks.iter().enumerate() {
        let y = f.py(t);
        cv.line(&[(r.l - tick, y), (r.l, y)], AXIS.to_rgba(), 1.0)?;
        if let Some(l) = f.y.labels.get(i).filter(|_| y_labels) {
            let x = r.l - tick - 5.0 * s;
            cv.text(l, x, y, size, INK, HPos::Right, VAlign::Middle)?;
        }
    }
    Ok(())
}

fn y_tick_label_w(axis: &Axis, s: f64) -> f64 {
    axis.labels
        .iter()
        .map(|l| text_w(l, TICK_PX * s))
        .fold(0.0, f64::max)
}

/// True if adjacent x tick labels keep at least `gap` px between them.
fn x_labels_fit(axis: &Axis, l: f64, r: f64, size: f64, gap: f64) -> bool {
    let px = |t: f64| l + (t - axis.lo) / (axis.hi - axis.lo) * (r - l);
    axis.ticks
        .windows(2)
        .zip(axis.labels.windows(2))
        .all(|(t, lab)| {
            px(t[1]) - px(t[0]) >= (text_w(&lab[0], size) + text_w(&lab[1], size)) / 2.0 + gap
        })
}

/// Builds an x axis over [l, r] px whose labels do not collide.
fn fit_x_axis(spec: AxisSpec, ext: Extent, l: f64, r: f64, s: f64) -> Axis {
    let mut target = ((r - l) / (105.0 * s)).round().clamp(2.0, 12.0) as usize;
    loop {
        let axis = make_axis(spec, ext, target);
        if target <= 2 || x_labels_fit(&axis, l, r, TICK_PX * s, 14.0 * s) {
            return axis;
        }
        target -= 1;
    }
}

fn legend_width(items: &[LegendItem], region: Rect, s: f64) -> f64 {
    if items.is_empty() {
        return 0.0;
    }
    let max_text = items
        .iter()
        .map(|i| text_w(&clean_text(&i.name), LEGEND_PX * s))
        .fold(0.0, f64::max)
        .min(0.3 * region.w());
    // 8 px gap + swatch and gap (40) + text + right padding (8) + 4 px slack.
    max_text + 60.0 * s
}

/// Draws the legend in a column starting at (x, y); returns its box.
fn draw_legend<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    items: &[LegendItem],
    x: f64,
    y: f64,
    max_w: f64,
    bottom: f64,
) -> Result<Rect, ReportError> {
    let s = cv.s;
    let size = LEGEND_PX * s;
    let row = 27.0 * s;
    let fit = (((bottom - y) / row).floor().max(1.0)) as usize;
    let shown = if items.len() > fit {
        fit.saturating_sub(1)
    } else {
        items.len()
    };
    let text_max = max_w - 40.0 * s;
    let mut yy = y + row / 2.0;
    for item in &items[..shown] {
        let (x0, x1) = (x + 2.0 * s, x + 32.0 * s);
        if item.band {
            cv.rect(
                Rect {
                    l: x0,
                    t: yy - 8.0 * s,
                    r: x1,
                    b: yy + 8.0 * s,
                },
                item.color.mix(0.2),
            )?;
        }
        if item.line {
            if item.dashed {
                cv.dashed(
                    &[(x0, yy), (x1, yy)],
                    item.color.to_rgba(),
                    3.0 * s,
                    6.0 * s,
                )?;
            } else {
                cv.line(&[(x0, yy), (x1, yy)], item.color.to_rgba(), 3.0 * s)?;
            }
        }
        if let Some(m) = item.marker {
            cv.marker(m, (x0 + x1) / 2.0, yy, 5.0 * s, item.color)?;
        }
        let name = truncate_to(&item.name, size, text_max);
        cv.text(
            &name,
            x + 40.0 * s,
            yy,
            size,
            INK,
            HPos::Left,
            VAlign::Middle,
        )?;
        yy += row;
    }
    if shown < items.len() {
        let more = format!("+{} more", items.len() - shown);
        cv.text(
            &more,
            x + 40.0 * s,
            yy,
            size,
            MUTED,
            HPos::Left,
            VAlign::Middle,
        )?;
        yy += row;
    }
    Ok(Rect {
        l: x,
        t: y,
        r: x + max_w,
        b: yy - row / 2.0,
    })
}

/// Placement of fault-window labels in rows above the plot.
struct ShadeLabel {
    row: usize,
    text: String,
    cx: f64,
    x0: f64,
    x1: f64,
    color: usize,
}

fn shade_colour_index(shades: &[Shade], label: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for s in shades {
        if !seen.contains(&s.label.as_str()) {
            seen.push(&s.label);
        }
    }
    seen.iter().position(|l| *l == label).unwrap_or(0) % SHADE_FILL.len()
}

fn layout_shade_labels(shades: &[Shade], x: &Axis, l: f64, r: f64, s: f64) -> Vec<ShadeLabel> {
    let size = LABEL_PX * s;
    let px = |v: f64| {
        let t = x.t(v).unwrap_or(x.lo);
        (l + (t - x.lo) / (x.hi - x.lo) * (r - l)).clamp(l, r)
    };
    let max_rows = 6;
    let mut occupied: Vec<Vec<(f64, f64)>> = vec![Vec::new(); max_rows];
    let mut out = Vec::new();
    for sh in shades {
        let text = truncate_to(&sh.label, size, 0.4 * (r - l));
        let w = text_w(&text, size);
        let (x0, x1) = (px(sh.start_s), px(sh.end_s));
        let cx = ((x0 + x1) / 2.0).clamp(l + w / 2.0, r - w / 2.0);
        let span = (
            (cx - w / 2.0).min(x0) - 6.0 * s,
            (cx + w / 2.0).max(x1) + 6.0 * s,
        );
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|&(a, b)| span.1 <= a || span.0 >= b);
        let row = (0..max_rows)
            .find(|&i| free(&occupied[i]))
            .unwrap_or_else(|| {
                // All rows busy: the row whose busiest overlap is smallest.
                (0..max_rows)
                    .min_by(|&a, &b| {
                        let ov = |i: usize| {
                            occupied[i]
                                .iter()
                                .map(|&(p, q)| (span.1.min(q) - span.0.max(p)).max(0.0))
                                .sum::<f64>()
                        };
                        ov(a).total_cmp(&ov(b))
                    })
                    .unwrap_or(0)
            });
        occupied[row].push(span);
        out.push(ShadeLabel {
            row,
            text,
            cx,
            x0,
            x1,
            color: shade_colour_index(shades, &sh.label),
        });
    }
    out
}

fn shade_rows(labels: &[ShadeLabel]) -> usize {
    labels.iter().map(|l| l.row + 1).max().unwrap_or(0)
}

const SHADE_ROW_PX: f64 = 27.0;

/// Layout of an x/y figure for a given number of shade-label rows.
struct XyLayout {
    frames: Vec<Frame>,
    legend_x: f64,
    legend_w: f64,
    panel_title_h: f64,
    /// Height reserved above every plot for leadership strips (0 without).
    strip_h: f64,
}

/// Height of one lane of a leadership strip, and the gap under the strip.
const STRIP_LANE_PX: f64 = 19.0;
const STRIP_GAP_PX: f64 = 8.0;
const STRIP_TEXT_PX: f64 = LABEL_PX;
/// Lane colours (node identities; red is kept for split brain).
const LANE_FILL: [RGBColor; 6] = [
    RGBColor(0x17, 0x8a, 0x9c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x5a, 0x8f, 0x29),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];
const SPLIT_BRAIN: RGBColor = RGBColor(0xd6, 0x27, 0x28);

fn strip_height(fig: &XyFigure, s: f64) -> f64 {
    let lanes = fig
        .panels
        .iter()
        .filter_map(|p| p.strip.as_ref())
        .map(|st| st.lanes.len())
        .max()
        .unwrap_or(0);
    if lanes == 0 {
        0.0
    } else {
        lanes as f64 * STRIP_LANE_PX * s + STRIP_GAP_PX * s
    }
}

fn xy_layout(fig: &XyFigure, region: Rect, header_bottom: f64, rows: usize, s: f64) -> XyLayout {
    let pad = 16.0 * s;
    let legend_w = legend_width(&fig.legend, region, s);
    let band_h = if rows > 0 {
        rows as f64 * SHADE_ROW_PX * s + 6.0 * s
    } else {
        0.0
    };
    let plots_top = header_bottom + band_h + 4.0 * s;
    let bottom_area =
        6.0 * s + 5.0 * s + cap_h(TICK_PX * s) + 20.0 * s + cap_h(AXIS_TITLE_PX * s) + 14.0 * s;
    let plots_bottom = region.b - bottom_area - 6.0 * s;
    let n = fig.panels.len().max(1);
    let panel_title_h = if fig.panels.iter().any(|p| p.title.is_some()) {
        30.0 * s
    } else {
        0.0
    };
    let gap = if n > 1 { 14.0 * s } else { 0.0 };
    let strip_h = strip_height(fig, s);
    let avail =
        plots_bottom - plots_top - n as f64 * (panel_title_h + strip_h) - (n - 1) as f64 * gap;
    let ph = (avail / n as f64).max(30.0 * s);
    // y axes
    let y_axes: Vec<Axis> = fig
        .panels
        .iter()
        .map(|p| {
            let mut ext = Extent::new();
            for l in &p.lines {
                for seg in &l.segments {
                    for &(_, y) in seg {
                        ext.add(y, p.y_spec.log);
                    }
                }
                for seg in &l.band {
                    for &(_, lo, hi) in seg {
                        ext.add(lo, p.y_spec.log);
                        ext.add(hi, p.y_spec.log);
                    }
                }
            }
            for q in &p.points {
                ext.add(q.y, p.y_spec.log);
                if let Some((a, b)) = q.y_err {
                    ext.add(a, p.y_spec.log);
                    ext.add(b, p.y_spec.log);
                }
            }
            let target = (ph / (60.0 * s)).round().clamp(2.0, 8.0) as usize;
            make_axis(p.y_spec, ext, target)
        })
        .collect();
    let ytw = y_axes
        .iter()
        .map(|a| y_tick_label_w(a, s))
        .fold(0.0, f64::max);
    let left = region.l + pad + cap_h(AXIS_TITLE_PX * s) + 14.0 * s + ytw + 6.0 * s + 6.0 * s;
    // x axis (shared)
    let mut xext = Extent::new();
    for p in &fig.panels {
        for l in &p.lines {
            for seg in &l.segments {
                for &(x, _) in seg {
                    xext.add(x, fig.x_spec.log);
                }
            }
            for seg in &l.band {
                for &(x, _, _) in seg {
                    xext.add(x, fig.x_spec.log);
                }
            }
        }
        for q in &p.points {
            xext.add(q.x, fig.x_spec.log);
            if let Some((a, b)) = q.x_err {
                xext.add(a, fig.x_spec.log);
                xext.add(b, fig.x_spec.log);
            }
        }
    }
    for sh in &fig.shades {
        xext.add(sh.start_s, fig.x_spec.log);
        xext.add(sh.end_s, fig.x_spec.log);
    }
    let right_guess = region.r - legend_w - 30.0 * s;
    let mut x_axis = fit_x_axis(fig.x_spec, xext, left, right_guess, s);
    let last_half = x_axis
        .labels
        .last()
        .map(|l| text_w(l, TICK_PX * s) / 2.0)
        .unwrap_or(0.0);
    let right = region.r
        - legend_w
        - (last_half + 8.0 * s).max(if legend_w > 0.0 {
            12.0 * s
        } else {
            pad + 8.0 * s
        });
    if (right - right_guess).abs() > 1.0 {
        x_axis = fit_x_axis(fig.x_spec, xext, left, right, s);
    }
    let mut frames = Vec::new();
    let mut top = plots_top;
    for (i, y) in y_axes.into_iter().enumerate() {
        if i > 0 {
            top += gap;
        }
        top += panel_title_h + strip_h;
        frames.push(Frame {
            rect: Rect {
                l: left,
                t: top,
                r: right.max(left + 10.0),
                b: top + ph,
            },
            x: x_axis.clone(),
            y,
        });
        top += ph;
    }
    XyLayout {
        frames,
        legend_x: region.r - legend_w,
        legend_w,
        panel_title_h,
        strip_h,
    }
}

/// Draws a leadership strip in the band `strip_h` high above frame `f`.
fn draw_strip<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    f: &Frame,
    st: &LeaderStrip,
    strip_h: f64,
    title_row: Option<f64>,
    drawn: &mut Drawn,
) -> DrawResult {
    let s = cv.s;
    let lane_h = STRIP_LANE_PX * s;
    let top = f.rect.t - strip_h;
    let bottom = top + st.lanes.len() as f64 * lane_h;
    let xpx = |v: f64| f.x.t(v).map(|t| f.px(t).clamp(f.rect.l, f.rect.r));
    let size = STRIP_TEXT_PX * s;
    // Lane backgrounds and names (in the lane's colour, left of the plot).
    for (i, name) in st.lanes.iter().enumerate() {
        let t = top + i as f64 * lane_h;
        cv.rect(
            Rect {
                l: f.rect.l,
                t: t + 1.0 * s,
                r: f.rect.r,
                b: t + lane_h - 1.0 * s,
            },
            GRID_MINOR.to_rgba(),
        )?;
        let c = LANE_FILL[i % LANE_FILL.len()];
        let label = truncate_to(name, size, 90.0 * s);
        cv.text(
            &label,
            f.rect.l - 6.0 * s,
            t + lane_h / 2.0,
            size,
            darken(c, 0.2),
            HPos::Right,
            VAlign::Middle,
        )?;
    }
    // Spans, with their text where it fits.
    for sp in &st.spans {
        let (Some(x0), Some(x1)) = (xpx(sp.start_s), xpx(sp.end_s)) else {
            continue;
        };
        let t = top + sp.lane as f64 * lane_h;
        let c = LANE_FILL[sp.lane % LANE_FILL.len()];
        cv.rect(
            Rect {
                l: x0,
                t: t + 1.0 * s,
                r: x1.max(x0 + 2.0 * s),
                b: t + lane_h - 1.0 * s,
            },
            c.mix(0.9),
        )?;
        // At the start of the span (where a hand-over is), if it fits.
        let w = text_w(&sp.text, size);
        if !sp.text.is_empty() && x1 - x0 > w + 8.0 * s {
            cv.text(
                &sp.text,
                x0 + 4.0 * s,
                t + lane_h / 2.0,
                size,
                WHITE,
                HPos::Left,
                VAlign::Middle,
            )?;
        }
    }
    // Split brain: hatched in red across the strip, labelled.
    for a in &st.alerts {
        let (Some(x0), Some(x1)) = (xpx(a.start_s), xpx(a.end_s)) else {
            continue;
        };
        let x1 = x1.max(x0 + 2.0 * s);
        cv.rect(
            Rect {
                l: x0,
                t: top,
                r: x1,
                b: bottom,
            },
            SPLIT_BRAIN.mix(0.12),
        )?;
        let h = bottom - top;
        let step = 9.0 * s;
        let mut x = x0 - h;
        while x < x1 {
            // The segment from (x, bottom) to (x + h, top), clipped to [x0, x1].
            let (a0, a1) = ((x0 - x).max(0.0), (x1 - x).min(h));
            if a1 > a0 {
                cv.line(
                    &[(x + a0, bottom - a0), (x + a1, bottom - a1)],
                    SPLIT_BRAIN.mix(0.6),
                    (1.2 * s).max(1.0),
                )?;
            }
            x += step;
        }
        for xx in [x0, x1] {
            cv.line(
                &[(xx, top), (xx, bottom)],
                SPLIT_BRAIN.to_rgba(),
                (2.0 * s).max(1.0),
            )?;
        }
        let text = truncate_to(&a.label, size, (x1 - x0 - 8.0 * s).max(0.0));
        if !text.is_empty() {
            let w = text_w(&text, size);
            let cx = (x0 + x1) / 2.0;
            let cy = (top + bottom) / 2.0;
            let r = Rect {
                l: cx - w / 2.0 - 3.0 * s,
                t: cy - cap_h(size) / 2.0 - 3.0 * s,
                r: cx + w / 2.0 + 3.0 * s,
                b: cy + cap_h(size) / 2.0 + 3.0 * s,
            };
            cv.rect(r, WHITE.mix(0.9))?;
            cv.text(
                &text,
                cx,
                cy,
                size,
                darken(SPLIT_BRAIN, 0.3),
                HPos::Center,
                VAlign::Middle,
            )?;
        }
    }
    // The strip's label at the right of the panel title row.
    if let Some(y) = title_row.filter(|_| !st.label.is_empty()) {
        let w = text_w(&st.label, size);
        cv.text(
            &st.label,
            f.rect.r,
            y,
            size,
            MUTED,
            HPos::Right,
            VAlign::Top,
        )?;
        drawn.labels.push(Rect {
            l: f.rect.r - w,
            t: y,
            r: f.rect.r,
            b: y + cap_h(size),
        });
    }
    Ok(())
}

fn draw_xy<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    fig: &XyFigure,
    region: Rect,
) -> Result<Drawn, ReportError> {
    let s = cv.s;
    let empty = fig.panels.iter().all(|p| {
        p.points.is_empty()
            && p.lines
                .iter()
                .all(|l| l.segments.is_empty() && l.band.is_empty())
    });
    let mut notes = fig.notes.clone();
    if empty {
        notes.push("no data to plot".to_string());
    }
    let header_bottom = draw_header(cv, region, &fig.title, &notes)?;
    // Fault-window label rows depend on the x mapping, which depends on the
    // y tick labels, which depend on the plot height: iterate to a fixed point.
    let mut rows = 0;
    let mut lay = xy_layout(fig, region, header_bottom, rows, s);
    for _ in 0..4 {
        let Some(f0) = lay.frames.first() else { break };
        let labels = layout_shade_labels(&fig.shades, &f0.x, f0.rect.l, f0.rect.r, s);
        let new_rows = shade_rows(&labels);
        if new_rows == rows {
            break;
        }
        rows = new_rows;
        lay = xy_layout(fig, region, header_bottom, rows, s);
    }
    let mut drawn = Drawn::default();
    let n = lay.frames.len();
    let mut obstacles: Vec<Rect> = Vec::new();
    let mut label_jobs: Vec<(usize, &PointSpec)> = Vec::new();
    for (i, (f, p)) in lay.frames.iter().zip(&fig.panels).enumerate() {
        drawn.plots.push(f.rect);
        draw_grid(cv, f, true, true)?;
        // Fault windows beneath everything else.
        for sh in &fig.shades {
            let (Some(a), Some(b)) = (f.x.t(sh.start_s), f.x.t(sh.end_s)) else {
                continue;
            };
            let (x0, x1) = (f.px(a).max(f.rect.l), f.px(b).min(f.rect.r));
            let ci = shade_colour_index(&fig.shades, &sh.label);
            cv.rect(
                Rect {
                    l: x0,
                    t: f.rect.t,
                    r: x1.max(x0 + 1.0),
                    b: f.rect.b,
                },
                SHADE_FILL[ci].mix(0.2),
            )?;
            for x in [x0, x1] {
                cv.dashed(
                    &[(x, f.rect.t), (x, f.rect.b)],
                    SHADE_INK[ci].mix(0.55),
                    1.0,
                    5.0 * s,
                )?;
            }
        }
        // Axes beneath the data, so values on the frame stay visible.
        draw_axes(cv, f, i + 1 == n, true)?;
        // Reference lines.
        for &(v, name) in &p.refs {
            if let Some(t) = f.y.t(v).filter(|t| *t >= f.y.lo && *t <= f.y.hi) {
                let y = f.py(t);
                cv.dashed(
                    &[(f.rect.l, y), (f.rect.r, y)],
                    MUTED.mix(0.6),
                    1.0,
                    4.0 * s,
                )?;
                cv.text(
                    name,
                    f.rect.l + 6.0 * s,
                    y + 5.0 * s,
                    LABEL_PX * s,
                    MUTED,
                    HPos::Left,
                    VAlign::Top,
                )?;
            }
        }
        // Confidence bands.
        for l in &p.lines {
            for seg in &l.band {
                let upper: Vec<(f64, f64)> = seg
                    .iter()
                    .filter_map(|&(x, _, hi)| Some((f.px(f.x.t(x)?), f.py_floor(hi))))
                    .collect();
                let lower: Vec<(f64, f64)> = seg
                    .iter()
                    .rev()
                    .filter_map(|&(x, lo, _)| Some((f.px(f.x.t(x)?), f.py_floor(lo))))
                    .collect();
                if upper.len() == 1 {
                    let (x, y1) = upper[0];
                    let y0 = lower[0].1;
                    cv.rect(
                        Rect {
                            l: x - 4.0 * s,
                            t: y1,
                            r: x + 4.0 * s,
                            b: y0,
                        },
                        l.color.mix(0.2),
                    )?;
                } else {
                    let poly: Vec<(f64, f64)> = upper.into_iter().chain(lower).collect();
                    cv.polygon(&poly, l.color.mix(0.18))?;
                }
            }
        }
        // Lines.
        for l in &p.lines {
            for seg in &l.segments {
                let px: Vec<(f64, f64)> = seg.iter().filter_map(|&(x, y)| f.map(x, y)).collect();
                let px = simplify(decimate(px, f.rect.w()), 2.0 * s);
                if l.dashed {
                    cv.dashed(&px, l.color.to_rgba(), l.width * s, 9.0 * s)?;
                } else {
                    cv.line(&px, l.color.to_rgba(), l.width * s)?;
                }
                // An isolated point has no line: mark it so it stays visible.
                if let Some((x, y)) = px.first().filter(|_| l.marker.is_none() && seg.len() == 1) {
                    cv.marker(Marker::Circle, *x, *y, 4.5 * s, l.color)?;
                }
            }
            if let Some(m) = l.marker {
                for seg in &l.segments {
                    for &(x, y) in seg {
                        if let Some((x, y)) = f.map(x, y) {
                            cv.marker(m, x, y, 5.0 * s, l.color)?;
                        }
                    }
                }
            }
        }
        // Points with error bars.
        for q in &p.points {
            let Some((x, y)) = f.map(q.x, q.y) else {
                continue;
            };
            let cap = 6.0 * s;
            let ecol = q.color.mix(0.9);
            if let Some((a, b)) = q.x_err {
                let (xa, xb) = (
                    f.px(f.x.t(a).unwrap_or(f.x.lo)),
                    f.px(f.x.t(b).unwrap_or(f.x.lo)),
                );
                cv.line(&[(xa, y), (xb, y)], ecol, 2.0 * s)?;
                cv.line(&[(xa, y - cap), (xa, y + cap)], ecol, 2.0 * s)?;
                cv.line(&[(xb, y - cap), (xb, y + cap)], ecol, 2.0 * s)?;
                obstacles.push(Rect {
                    l: xa,
                    t: y - cap,
                    r: xb,
                    b: y + cap,
                });
            }
            if let Some((a, b)) = q.y_err {
                let (ya, yb) = (f.py_floor(a), f.py_floor(b));
                cv.line(&[(x, ya), (x, yb)], ecol, 2.0 * s)?;
                cv.line(&[(x - cap, ya), (x + cap, ya)], ecol, 2.0 * s)?;
                cv.line(&[(x - cap, yb), (x + cap, yb)], ecol, 2.0 * s)?;
                obstacles.push(Rect {
                    l: x - cap,
                    t: yb,
                    r: x + cap,
                    b: ya,
                });
            }
        }
        for q in &p.points {
            let Some((x, y)) = f.map(q.x, q.y) else {
                continue;
            };
            let r = 7.0 * s;
            cv.marker(q.marker, x, y, r, q.color)?;
            obstacles.push(Rect {
                l: x - r - 2.0,
                t: y - r - 2.0,
                r: x + r + 2.0,
                b: y + r + 2.0,
            });
            label_jobs.push((i, q));
        }
        // Leadership strip above the plot.
        if let Some(st) = &p.strip {
            let row = (lay.panel_title_h > 0.0)
                .then_some(f.rect.t - lay.strip_h - lay.panel_title_h + 8.0 * s);
            draw_strip(cv, f, st, lay.strip_h, row, &mut drawn)?;
        }
        // Panel title and y-axis title.
        if let Some(t) = &p.title {
            let size = PANEL_TITLE_PX * s;
            let reserve = p
                .strip
                .as_ref()
                .map_or(0.0, |st| text_w(&st.label, STRIP_TEXT_PX * s) + 16.0 * s);
            let t = truncate_to(t, size, f.rect.w() - reserve);
            cv.text(
                &t,
                f.rect.l,
                f.rect.t - lay.strip_h - lay.panel_title_h + 6.0 * s,
                size,
                INK,
                HPos::Left,
                VAlign::Top,
            )?;
        }
        let asize = AXIS_TITLE_PX * s;
        let ylab = truncate_to(&p.y_label, asize, f.rect.h() + 20.0 * s);
        cv.text_up(
            &ylab,
            region.l + 16.0 * s,
            (f.rect.t + f.rect.b) / 2.0,
            asize,
            INK,
        )?;
        if empty {
            cv.text(
                "no data",
                (f.rect.l + f.rect.r) / 2.0,
                (f.rect.t + f.rect.b) / 2.0,
                NOTE_PX * s * 1.2,
                MUTED,
                HPos::Center,
                VAlign::Middle,
            )?;
        }
    }
    // Scatter labels, placed to avoid markers, error bars and each other.
    for (i, q) in label_jobs {
        let f = &lay.frames[i];
        let Some((x, y)) = f.map(q.x, q.y) else {
            continue;
        };
        let size = LABEL_PX * s;
        let text = truncate_to(&q.label, size, 0.5 * f.rect.w());
        let rect = place_label(&text, x, y, 7.0 * s, size, f.rect, &obstacles, s);
        cv.rect(
            Rect {
                l: rect.l - 2.0 * s,
                t: rect.t - 1.0 * s,
                r: rect.r + 2.0 * s,
                b: rect.b + 1.0 * s,
            },
            WHITE.mix(0.75),
        )?;
        let ink = darken(q.color, 0.35);
        cv.text(
            &text,
            rect.l,
            rect.t + 3.0 * s,
            size,
            ink,
            HPos::Left,
            VAlign::Top,
        )?;
        obstacles.push(rect);
        drawn.labels.push(rect);
    }
    // x-axis title under the last panel.
    if let Some(f) = lay.frames.last() {
        let asize = AXIS_TITLE_PX * s;
        let xl = truncate_to(&fig.x_label, asize, f.rect.w());
        let y = f.rect.b + 6.0 * s + 5.0 * s + cap_h(TICK_PX * s) + 20.0 * s;
        cv.text(
            &xl,
            (f.rect.l + f.rect.r) / 2.0,
            y,
            asize,
            INK,
            HPos::Center,
            VAlign::Top,
        )?;
    }
    // Fault-window labels above the first panel.
    if let Some(f0) = lay.frames.first() {
        let labels = layout_shade_labels(&fig.shades, &f0.x, f0.rect.l, f0.rect.r, s);
        let size = LABEL_PX * s;
        let base = f0.rect.t - lay.strip_h - lay.panel_title_h - 4.0 * s;
        for sl in &labels {
            let bar_y = base - sl.row as f64 * SHADE_ROW_PX * s - 3.0 * s;
            let ink = SHADE_INK[sl.color];
            // A bracket spanning the window, under its label.
            let col = SHADE_INK[sl.color].mix(0.7);
            let x1 = sl.x1.max(sl.x0 + 2.0);
            cv.line(
                &[
                    (sl.x0, bar_y + 4.0 * s),
                    (sl.x0, bar_y),
                    (x1, bar_y),
                    (x1, bar_y + 4.0 * s),
                ],
                col,
                (2.0 * s).max(1.0),
            )?;
            let ty = bar_y - 7.0 * s - cap_h(size);
            cv.text(&sl.text, sl.cx, ty, size, ink, HPos::Center, VAlign::Top)?;
            let w = text_w(&sl.text, size);
            drawn.labels.push(Rect {
                l: sl.cx - w / 2.0,
                t: ty,
                r: sl.cx + w / 2.0,
                b: ty + cap_h(size),
            });
        }
    }
    // Legend outside the plots, to the right.
    if !fig.legend.is_empty() {
        let top = lay
            .frames
            .first()
            .map(|f| f.rect.t)
            .unwrap_or(header_bottom);
        let bottom = lay.frames.last().map(|f| f.rect.b).unwrap_or(region.b);
        let r = draw_legend(
            cv,
            &fig.legend,
            lay.legend_x + 8.0 * s,
            top,
            lay.legend_w - 16.0 * s,
            bottom,
        )?;
        drawn.legend = Some(r);
    }
    Ok(drawn)
}

/// Chooses a label position next to a point that avoids `obstacles` and stays
/// inside `bounds`; returns the label's box. Candidates are tried close to the
/// point first (right-above, right-below, left-above, left-below, right, left,
/// above, below), then further away.
#[allow(clippy::too_many_arguments)]
fn place_label(
    text: &str,
    x: f64,
    y: f64,
    r: f64,
    size: f64,
    bounds: Rect,
    obstacles: &[Rect],
    s: f64,
) -> Rect {
    let w = text_w(text, size);
    let h = cap_h(size) + 6.0 * s;
    let mut best = Rect {
        l: x + r,
        t: y,
        r: x + r + w,
        b: y + h,
    };
    let mut best_score = f64::INFINITY;
    for mult in [1.0, 2.0, 3.2] {
        let d = (r + 4.0 * s) * mult;
        let cands = [
            (x + d, y - d - h + 0.5 * r),
            (x + d, y + d - 0.5 * r),
            (x - d - w, y - d - h + 0.5 * r),
            (x - d - w, y + d - 0.5 * r),
            (x + d + 2.0 * s, y - h / 2.0),
            (x - d - w - 2.0 * s, y - h / 2.0),
            (x - w / 2.0, y - d - h),
            (x - w / 2.0, y + d),
        ];
        for &(l, t) in &cands {
            let rect = Rect {
                l,
                t,
                r: l + w,
                b: t + h,
            };
            let mut score: f64 = obstacles.iter().map(|o| o.overlap_area(&rect)).sum();
            if !bounds.contains(&rect) {
                score += 1e6 + (w * h - bounds.overlap_area(&rect)) * 100.0;
            }
            score += mult; // prefer close positions on ties
            if score < best_score {
                best_score = score;
                best = rect;
            }
        }
        if best_score < 10.0 {
            break;
        }
    }
    best
}

/// Drops points closer than `min_d` px to the previously kept one (the last
/// point is always kept), so thick lines rasterise without jagged joints.
fn simplify(px: Vec<(f64, f64)>, min_d: f64) -> Vec<(f64, f64)> {
    if px.len() <= 2 {
        return px;
    }
    let last = px[px.len() - 1];
    let mut out = Vec::with_capacity(px.len());
    out.push(px[0]);
    for &p in &px[1..px.len() - 1] {
        let q = out[out.len() - 1];
        if (p.0 - q.0).hypot(p.1 - q.1) >= min_d {
            out.push(p);
        }
    }
    if out.len() > 1 {
        let q = out[out.len() - 1];
        if (last.0 - q.0).hypot(last.1 - q.1) < min_d / 2.0 {
            out.pop();
        }
    }
    out.push(last);
    out
}

/// For very dense lines keep, per pixel column, the first, min, max and last
/// point, which preserves the drawn envelope while keeping SVGs small.
fn decimate(px: Vec<(f64, f64)>, width: f64) -> Vec<(f64, f64)> {
    if px.len() <= (4.0 * width.max(1.0)) as usize {
        return px;
    }
    let mut out = Vec::with_capacity((4.0 * width) as usize + 4);
    let mut i = 0;
    while i < px.len() {
        let col = px[i].0.round();
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < px.len() && px[j].0.round() == col {
            if px[j].1 < px[lo].1 {
                lo = j;
            }
            if px[j].1 > px[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let mut keep = vec![i, lo, hi, j - 1];
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|k| px[k]));
        i = j;
    }
    out
}

// ---------------------------------------------------------------------------
// Bars
// ---------------------------------------------------------------------------

/// A unit axis without ticks (the categorical axis of bar charts).
fn blank_axis() -> Axis {
    Axis {
        lo: 0.0,
        hi: 1.0,
        log: false,
        ticks: Vec::new(),
        labels: Vec::new(),
        minor: Vec::new(),
    }
}

struct BarSpec {
    label: String,
    color: RGBColor,
    mean: Option<f64>,
    err: Option<(f64, f64)>,
}

fn draw_bars<DB: DrawingBackend>(
    cv: &Canvas<'_, DB>,
    title: &str,
    y_label: &str,
    bars: &[Bar],
    opts: &RenderOptions,
    region: Rect,
) -> Result<Drawn, ReportError> {
    let s = cv.s;
    let mut colours = Colours::new(opts);
    let mut tally = Tally::default();
    let specs: Vec<BarSpec> = bars
        .iter()
        .map(|b| {
            let (color, _, _) = colours.style(&b.label);
            let mean = finite(b.mean).then_some(b.mean);
            if mean.is_none() {
                tally.non_finite += 1;
            }
            let err = if finite(b.lo) && finite(b.hi) {
                Some((b.lo.min(b.hi), b.lo.max(b.hi)))
            } else {
                tally.non_finite += usize::from(!finite(b.lo)) + usize::from(!finite(b.hi));
                None
            };
            BarSpec {
                label: b.label.clone(),
                color,
                mean,
                err,
            }
        })
        .collect();
    let mut notes = vec!["error bars: confidence intervals".to_string()];
    notes.extend(tally.notes("y"));
    if specs.is_empty() {
        notes.push("no data to plot".to_string());
    }
    let header_bottom = draw_header(cv, region, title, &notes)?;
    let mut ext = Extent::new();
    for b in &specs {
        if let Some(m) = b.mean {
            ext.add(m, false);
        }
        if let Some((a, c)) = b.err {
            ext.add(a, false);
            ext.add(c, false);
        }
    }
    let n = specs.len();
    let means: Vec<f64> = specs.iter().map(|b| b.mean.unwrap_or(f64::NAN)).collect();
    let vlabels = value_labels(&means);
    let pad = 16.0 * s;
    let lsize = TICK_PX * s;
    let vsize = LABEL_PX * s;
    let vertical_plot_w = region.w() - 2.0 * pad - 110.0 * s;
    let slot_guess = vertical_plot_w / n.max(1) as f64;
    let wrapped: Vec<Vec<String>> = specs
        .iter()
        .map(|b| wrap(&b.label, lsize, slot_guess - 10.0 * s, 3))
        .collect();
    let vertical = n <= 12
        && specs.iter().zip(&wrapped).all(|(b, w)| {
            let words_fit = clean_text(&b.label)
                .split_whitespace()
                .all(|word| text_w(word, lsize) <= slot_guess - 10.0 * s);
            words_fit
                && w.join(" ")
                    == clean_text(&b.label)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
        });
    let asize = AXIS_TITLE_PX * s;
    let mut drawn = Drawn::default();
    let has_pos = ext.is_empty() || ext.hi > 0.0;
    let has_neg = !ext.is_empty() && ext.lo < 0.0;
    if vertical {
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let bottom = region.b - pad - 8.0 * s - lines as f64 * 1.3 * lsize;
        let top = header_bottom + 6.0 * s;
        let ph = bottom - top;
        let extra = (2.0 * vsize / ph.max(1.0)).min(0.3);
        let spec = AxisSpec {
            pad_lo: if has_neg { 0.04 + extra } else { 0.04 },
            pad_hi: if has_pos { 0.04 + extra } else { 0.04 },
            ..AxisSpec::linear(Zero::Always, 0.04)
        };
        let y = make_axis(
            spec,
            ext,
            (ph / (60.0 * s)).round().clamp(2.0, 8.0) as usize,
        );
        let left = region.l + pad + cap_h(asize) + 14.0 * s + y_tick_label_w(&y, s) + 12.0 * s;
        let rect = Rect {
            l: left,
            t: top,
            r: region.r - pad - 8.0 * s,
            b: bottom,
        };
        let f = Frame {
            rect,
            x: blank_axis(),
            y,
        };
        drawn.plots.push(rect);
        draw_grid(cv, &f, true, false)?;
        draw_axes(cv, &f, false, true)?;
        let slot = rect.w() / n.max(1) as f64;
        let bw = (0.62 * slot).min(120.0 * s);
        let zero_y = f.py(0.0);
        for (i, (b, lines)) in specs.iter().zip(&wrapped).enumerate() {
            let cx = rect.l + (i as f64 + 0.5) * slot;
            if let Some(m) = b.mean {
                let my = f.py(m);
                cv.rect(
                    Rect {
                        l: cx - bw / 2.0,
                        t: my.min(zero_y),
                        r: cx + bw / 2.0,
                        b: my.max(zero_y),
                    },
                    b.color.mix(0.85),
                )?;
            }
            let mut label_anchor = b.mean.map(|m| (m, m));
            if let Some((lo, hi)) = b.err {
                let (ylo, yhi) = (f.py(lo), f.py(hi));
                let cap = (bw * 0.18).max(5.0 * s);
                let c = INK.to_rgba();
                cv.line(&[(cx, ylo), (cx, yhi)], c, 2.0 * s)?;
                cv.line(&[(cx - cap, ylo), (cx + cap, ylo)], c, 2.0 * s)?;
                cv.line(&[(cx - cap, yhi), (cx + cap, yhi)], c, 2.0 * s)?;
                label_anchor =
                    label_anchor.map(|(m, _)| (m, if m >= 0.0 { hi.max(m) } else { lo.min(m) }));
            }
            match (b.mean, label_anchor) {
                (Some(m), Some((_, edge))) => {
                    let text = &vlabels[i];
                    if text_w(text, vsize) <= slot - 4.0 * s {
                        let ey = f.py(edge);
                        let ty = if m >= 0.0 {
                            ey - 6.0 * s - cap_h(vsize)
                        } else {
                            ey + 6.0 * s
                        };
                        cv.text(text, cx, ty, vsize, INK, HPos::Center, VAlign::Top)?;
                    }
                }
                _ => {
                    cv.text(
                        "n/a",
                        cx,
                        zero_y - 6.0 * s - cap_h(vsize),
                        vsize,
                        MUTED,
                        HPos::Center,
                        VAlign::Top,
                    )?;
                }
            }
            for (k, line) in lines.iter().enumerate() {
                let ty = rect.b + 10.0 * s + k as f64 * 1.3 * lsize;
                cv.text(line, cx, ty, lsize, INK, HPos::Center, VAlign::Top)?;
            }
        }
        if n > 0 {
            cv.line(
                &[(rect.l, zero_y), (rect.r, zero_y)],
                AXIS.to_rgba(),
                1.0 * s,
            )?;
        }
        let ylab = truncate_to(y_label, asize, rect.h() + 20.0 * s);
        cv.text_up(&ylab, region.l + pad, (rect.t + rect.b) / 2.0, asize, INK)?;
        if n == 0 {
            cv.text(
                "no data",
                (rect.l + rect.r) / 2.0,
                (rect.t + rect.b) / 2.0,
                NOTE_PX * s * 1.2,
                MUTED,
                HPos::Center,
                VAlign::Middle,
            )?;
        }
    } else {
        // Horizontal bars: categories down the left, values along x.
        let label_max = 0.35 * region.w();
        let labels: Vec<String> = specs
            .iter()
            .map(|b| truncate_to(&b.label, lsize, label_max))
            .collect();
        let lw = labels.iter().map(|l| text_w(l, lsize)).fold(0.0, f64::max);
        let left = region.l + pad + lw + 12.0 * s;
        let top = header_bottom + 6.0 * s;
        let bottom = region.b
            - (6.0 * s + 5.0 * s + cap_h(TICK_PX * s) + 20.0 * s + cap_h(asize) + 14.0 * s)
            - 6.0 * s;
        let right_guess = region.r - pad - 30.0 * s;
        let vmax = vlabels.iter().map(|l| text_w(l, vsize)).fold(0.0, f64::max);
        let extra = ((vmax + 12.0 * s) / (right_guess - left).max(1.0)).min(0.4);
        let spec = AxisSpec {
            pad_lo: if has_neg { 0.04 + extra } else { 0.04 },
            pad_hi: if has_pos { 0.04 + extra } else { 0.04 },
            ..AxisSpec::linear(Zero::Always, 0.04)
        };
        let x = fit_x_axis(spec, ext, left, right_guess, s);
        let half = x
            .labels
            .last()
            .map(|l| text_w(l, TICK_PX * s) / 2.0)
            .unwrap_or(0.0);
        let rect = Rect {
            l: left,
            t: top,
            r: region.r - pad - half.max(8.0 * s),
            b: bottom,
        };
        let f = Frame {
            rect,
            x,
            y: blank_axis(),
        };
        drawn.plots.push(rect);
        draw_grid(cv, &f, false, true)?;
        draw_axes(cv, &f, true, false)?;
        let slot = rect.h() / n.max(1) as f64;
        let bh = (0.62 * slot).min(44.0 * s);
        let zero_x = f.px(0.0);
        for (i, (b, label)) in specs.iter().zip(&labels).enumerate() {
            let cy = rect.t + (i as f64 + 0.5) * slot;
            if let Some(m) = b.mean {
                let mx = f.px(m);
                cv.rect(
                    Rect {
                        l: mx.min(zero_x),
                        t: cy - bh / 2.0,
                        r: mx.max(zero_x),
                        b: cy + bh / 2.0,
                    },
                    b.color.mix(0.85),
                )?;
            }
            let mut edge = b.mean;
            if let Some((lo, hi)) = b.err {
                let (xlo, xhi) = (f.px(lo), f.px(hi));
                let cap = (bh * 0.25).max(4.0 * s);
                let c = INK.to_rgba();
                cv.line(&[(xlo, cy), (xhi, cy)], c, 2.0 * s)?;
                cv.line(&[(xlo, cy - cap), (xlo, cy + cap)], c, 2.0 * s)?;
                cv.line(&[(xhi, cy - cap), (xhi, cy + cap)], c, 2.0 * s)?;
                edge = edge.map(|m| if m >= 0.0 { hi.max(m) } else { lo.min(m) });
            }
            match (b.mean, edge) {
                (Some(m), Some(e)) => {
                    let ex = f.px(e);
                    let (tx, hp) = if m >= 0.0 {
                        (ex + 6.0 * s, HPos::Left)
                    } else {
                        (ex - 6.0 * s, HPos::Right)
                    };
                    if bh >= cap_h(vsize) {
                        cv.text(&vlabels[i], tx, cy, vsize, INK, hp, VAlign::Middle)?;
                    }
                }
                _ => cv.text(
                    "n/a",
                    zero_x + 6.0 * s,
                    cy,
                    vsize,
                    MUTED,
                    HPos::Left,
                    VAlign::Middle,
                )?,
            }
            cv.text(
                label,
                rect.l - 10.0 * s,
                cy,
                lsize,
                INK,
                HPos::Right,
                VAlign::Middle,
            )?;
        }
        if n > 0 {
            cv.line(
                &[(zero_x, rect.t), (zero_x, rect.b)],
                AXIS.to_rgba(),
                1.0 * s,
            )?;
        }
        let xl = truncate_to(y_label, asize, rect.w());
        let y = rect.b + 6.0 * s + 5.0 * s + cap_h(TICK_PX * s) + 20.0 * s;
        cv.text(
            &xl,
            (rect.l + rect.r) / 2.0,
            y,
            asize,
            INK,
            HPos::Center,
            VAlign::Top,
        )?;
    }
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::html::{ChartRef, ReportModel, Table, referenced_files, render_html};
    use rand::Rng;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capsim-charts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Reads width and height from a PNG's IHDR chunk after checking the signature.
    fn png_dims(bytes: &[u8]) -> (u32, u32) {
        assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    fn check_files(paths: &[PathBuf], w: u32, h: u32) {
        assert_eq!(paths.len(), 2);
        let png = std::fs::read(&paths[0]).unwrap();
        assert_eq!(png_dims(&png), (w, h));
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.starts_with("<svg"), "SVG starts with <svg");
        assert!(svg.trim_end().ends_with("</svg>"), "SVG is closed");
        assert!(svg.contains(&format!("viewBox=\"0 0 {w} {h}\"")));
    }

    // ---- realistic synthetic data for the gallery ------------------------

    fn latency_over_time() -> Chart {
        let mut rng = crate::detrand::stream(7, "gallery-latency");
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut p999 = Vec::new();
        for i in 0..=240 {
            let t = i as f64 * 0.5;
            let part = (40.0..70.0).contains(&t);
            let crash = (90.0..96.0).contains(&t);
            let base = if part {
                9.0
            } else if crash {
                6.5
            } else {
                4.0
            };
            let noise = |rng: &mut crate::detrand::SimRng| 1.0 + 0.08 * (rng.random::<f64>() - 0.5);
            p50.push((t, base * noise(&mut rng)));
            p99.push((
                t,
                base * 4.5 * noise(&mut rng) * if part { 6.0 } else { 1.0 },
            ));
            p999.push((
                t,
                base * 9.0 * noise(&mut rng) * if part { 11.0 } else { 1.0 },
            ));
        }
        Chart::TimeSeries {
            title: "Read latency percentiles over time — quorum store, 5 replicas".into(),
            x_label: "time since start (s)".into(),
            y_label: "latency (ms)".into(),
            series: vec![
                Series {
                    name: "p50".into(),
                    points: p50,
                },
                Series {
                    name: "p99".into(),
                    points: p99,
                },
                Series {
                    name: "p99.9".into(),
                    points: p999,
                },
            ],
            shades: vec![
                Shade {
                    start_s: 40.0,
                    end_s: 70.0,
                    label: "partition {1,2} | {3,4,5}".into(),
                },
                Shade {
                    start_s: 90.0,
                    end_s: 96.0,
                    label: "crash node 3".into(),
                },
                Shade {
                    start_s: 97.0,
                    end_s: 99.0,
                    label: "slow disk".into(),
                },
            ],
            log_y: true,
            strip: None,
        }
    }

    fn throughput_panels() -> Chart {
        let mk = |name: &str, drop: f64| {
            let ok: Vec<(f64, f64)> = (0..=120)
                .map(|i| {
                    let t = i as f64;
                    let v = if (40.0..70.0).contains(&t) {
                        5000.0 * drop
                    } else {
                        5000.0
                    };
                    (t, v + 40.0 * ((t * 0.7).sin()))
                })
                .collect();
            let err: Vec<(f64, f64)> = (0..=120)
                .map(|i| {
                    let t = i as f64;
                    (
                        t,
                        if (40.0..70.0).contains(&t) {
                            5000.0 * (1.0 - drop)
                        } else {
                            0.0
                        },
                    )
                })
                .collect();
            Chart::TimeSeries {
                title: name.into(),
                x_label: "time since start (s)".into(),
                y_label: "requests/s".into(),
                series: vec![
                    Series {
                        name: "successful".into(),
                        points: ok,
                    },
                    Series {
                        name: "errors + timeouts".into(),
                        points: err,
                    },
                ],
                shades: vec![Shade {
                    start_s: 40.0,
                    end_s: 70.0,
                    label: "partition".into(),
                }],
                log_y: false,
                strip: None,
            }
        };
        Chart::Panels {
            title: "Throughput and errors during a partition, per design".into(),
            panels: vec![
                mk("CP (majority quorum)", 0.4),
                mk("AP (sloppy quorum, hinted handoff)", 1.0),
            ],
        }
    }

    fn cdf_three_variants() -> Chart {
        let variant = |name: &str, median: f64, sigma: f64| {
            // Log-normal quantiles via an inverse-normal approximation.
            let pts = (1..1000)
                .map(|i| {
                    let q = i as f64 / 1000.0;
                    let z = inv_norm(q);
                    (median * (sigma * z).exp(), q)
                })
                .collect();
            Series {
                name: name.into(),
                points: pts,
            }
        };
        Chart::Cdf {
            title: "Request latency distribution by load-balancing policy".into(),
            x_label: "latency (ms)".into(),
            series: vec![
                variant("round robin", 12.0, 0.9),
                variant("least outstanding requests", 9.0, 0.55),
                variant("power of two choices", 9.5, 0.6),
            ],
            log_x: true,
        }
    }

    /// Acklam-style rational approximation; plenty for synthetic data.
    fn inv_norm(p: f64) -> f64 {
        let t = if p < 0.5 {
            (-2.0 * p.ln()).sqrt()
        } else {
            (-2.0 * (1.0 - p).ln()).sqrt()
        };
        let z = t
            - (2.515517 + 0.802853 * t + 0.010328 * t * t)
                / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
        if p < 0.5 { -z } else { z }
    }

    fn bars_five() -> Chart {
        let b = |l: &str, m: f64, h: f64| Bar {
            label: l.into(),
            mean: m,
            lo: m - h,
            hi: m + h,
        };
        Chart::Bars {
            title: "p99 latency by load-balancing policy (20 seeds, 95% CI)".into(),
            y_label: "p99 latency (ms)".into(),
            bars: vec![
                b("round robin", 48.2, 3.1),
                b("random", 55.7, 4.4),
                b("least outstanding requests", 31.4, 1.9),
                b("power of two choices", 33.0, 2.2),
                b("consistent hashing (bounded loads)", 41.8, 5.0),
            ],
        }
    }

    fn knee_lines() -> Chart {
        let curve = |name: &str, cap: f64| {
            let pts = (1..=12)
                .map(|i| {
                    let load = i as f64 * 1000.0;
                    let rho = (load / cap).min(0.985);
                    let mean = 4.0 / (1.0 - rho);
                    let half = mean * (0.05 + 0.25 * rho * rho);
                    BandPoint {
                        x: load,
                        mean,
                        lo: mean - half,
                        hi: mean + half,
                    }
                })
                .collect();
            BandSeries {
                name: name.into(),
                points: pts,
            }
        };
        Chart::Lines {
            title: "p99 latency vs offered load: where each policy hits the knee".into(),
            x_label: "offered load (requests/s)".into(),
            y_label: "p99 latency (ms)".into(),
            series: vec![
                curve("round robin", 10_500.0),
                curve("least outstanding requests", 12_500.0),
                curve("power of two choices", 12_200.0),
            ],
            log_y: true,
            log_x: false,
        }
    }

    fn cap_scatter() -> Chart {
        let p = |l: &str, x: f64, xe: f64, y: f64, ye: f64| XYPoint {
            label: l.into(),
            x,
            x_lo: (x - xe).max(0.0),
            x_hi: (x + xe).min(100.0),
            y,
            y_lo: (y - ye).max(0.0),
            y_hi: y + ye,
        };
        Chart::Scatter {
            title: "Availability vs consistency during a partition (CAP trade-off)".into(),
            x_label: "availability during partition (% of requests succeeding)".into(),
            y_label: "stale or anomalous reads (% of reads)".into(),
            points: vec![
                p("CP: majority quorum (R=W=3)", 61.0, 2.5, 0.0, 0.0),
                p("CP: leader + sync replica", 58.5, 3.0, 0.05, 0.05),
                p("AP: R=W=1", 99.6, 0.3, 7.8, 1.1),
                p("AP: sloppy quorum + hinted handoff", 99.1, 0.5, 3.9, 0.8),
                p("AP: R=2, W=1", 93.0, 1.5, 2.1, 0.6),
            ],
        }
    }

    /// `throughput_panels` with leadership strips: the CP panel hands over once,
    /// the other keeps its old leader through the partition (split brain).
    fn leader_panels() -> Chart {
        let Chart::Panels { title, mut panels } = throughput_panels() else {
            unreachable!()
        };
        let sp = |lane: usize, a: f64, b: f64, t: u64| StripSpan {
            lane,
            start_s: a,
            end_s: b,
            text: format!("t{t}"),
        };
        let strips = [
            LeaderStrip {
                label: "leader by node, seed 1".into(),
                lanes: vec!["kv-1".into(), "kv-3".into()],
                spans: vec![sp(1, 0.3, 40.0, 1), sp(0, 40.4, 120.0, 2)],
                alerts: Vec::new(),
            },
            LeaderStrip {
                label: "leader by node, seed 1".into(),
                lanes: vec!["kv-2".into(), "kv-3".into()],
                spans: vec![sp(1, 0.0, 70.0, 1), sp(0, 40.3, 120.0, 2)],
                alerts: vec![Shade {
                    start_s: 40.3,
                    end_s: 70.0,
                    label: "split brain".into(),
                }],
            },
        ];
        for (p, st) in panels.iter_mut().zip(strips) {
            if let Chart::TimeSeries { strip, .. } = p {
                *strip = Some(st);
            }
        }
        Chart::Panels {
            title: format!("{title}, with leaders"),
            panels,
        }
    }

    #[test]
    fn leader_strips_sit_between_title_and_plot_and_grow_the_figure() {
        let plain = throughput_panels();
        let with = leader_panels();
        let opts = RenderOptions::default();
        // Five panels (more than 700 px need): two lanes each add 5 × (2 × 19 + 8) px.
        let five = |c: &Chart| {
            let Chart::Panels { title, panels } = c else {
                unreachable!()
            };
            Chart::Panels {
                title: title.clone(),
                panels: panels.iter().cycle().take(5).cloned().collect(),
            }
        };
        let (_, h0) = figure_size(&five(&plain), &opts).unwrap();
        let (_, h1) = figure_size(&five(&with), &opts).unwrap();
        assert_eq!(h1 - h0, 5 * (2 * 19 + 8), "{h0} → {h1}");
        // Two panels fit in 700 px either way: the strips take their height from
        // the plots, which stay below them.
        let (a, b) = (layout_of(&plain), layout_of(&with));
        assert_eq!(a.plots.len(), 2);
        assert_eq!(b.plots.len(), 2);
        for (p, q) in a.plots.iter().zip(&b.plots) {
            assert!(q.t > p.t, "{p:?} vs {q:?}");
            assert!(q.h() >= p.h() - (2.0 * 19.0 + 8.0) - 1.0, "{p:?} vs {q:?}");
        }
        // The strip label is a label like any other: it overlaps nothing.
        assert!(b.labels.len() > a.labels.len());
        for (i, x) in b.labels.iter().enumerate() {
            for y in &b.labels[i + 1..] {
                assert!(x.overlap_area(y) < 1.0, "{x:?} overlaps {y:?}");
            }
            for p in &b.plots {
                assert!(x.overlap_area(p) < 1.0, "{x:?} overlaps plot {p:?}");
            }
        }
    }

    fn gallery() -> Vec<(&'static str, Chart)> {
        vec![
            ("latency_timeseries", latency_over_time()),
            ("throughput_panels", throughput_panels()),
            ("leader_panels", leader_panels()),
            ("latency_cdf", cdf_three_variants()),
            ("p99_bars", bars_five()),
            ("knee_lines", knee_lines()),
            ("cap_scatter", cap_scatter()),
        ]
    }

    fn all_kinds() -> Vec<(&'static str, Chart)> {
        let mut v = gallery();
        v.push((
            "mixed_panels",
            Chart::Panels {
                title: "Mixed panels fall back to independent charts".into(),
                panels: vec![bars_five(), cap_scatter()],
            },
        ));
        v
    }

    fn layout_of(chart: &Chart) -> Drawn {
        ensure_font().unwrap();
        let opts = RenderOptions::default();
        let (w, h) = figure_size(chart, &opts).unwrap();
        let mut buf = vec![0u8; (w * h * 3) as usize];
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw_figure(&root, false, chart, &opts, w, h).unwrap()
    }

    #[test]
    fn every_chart_kind_renders_png_and_svg_of_the_declared_size() {
        let dir = scratch("kinds");
        for (name, chart) in all_kinds() {
            let paths = render(&chart, &dir.join(name)).unwrap();
            let (w, h) = figure_size(&chart, &RenderOptions::default()).unwrap();
            check_files(&paths, w, h);
            if !matches!(chart, Chart::Panels { .. }) {
                assert_eq!((w, h), (1200, 700), "{name}");
            }
        }
        // A custom size is honoured.
        let opts = RenderOptions {
            width_px: 800,
            height_px: 450,
            ..RenderOptions::default()
        };
        let paths = render_with(&bars_five(), &dir.join("small"), &opts).unwrap();
        check_files(&paths, 800, 450);
        // Extreme but allowed sizes still lay out without panicking.
        for (w, h) in [(400, 300), (3000, 400), (400, 2000)] {
            let opts = RenderOptions {
                width_px: w,
                height_px: h,
                ..RenderOptions::default()
            };
            for (name, chart) in all_kinds() {
                let stem = dir.join(format!("{name}-{w}x{h}"));
                let paths = render_with(&chart, &stem, &opts).unwrap();
                let (fw, fh) = figure_size(&chart, &opts).unwrap();
                check_files(&paths, fw, fh);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn charts_round_trip_through_ron_exactly() {
        for (name, chart) in all_kinds() {
            let text = ron::to_string(&chart).unwrap();
            let back: Chart = ron::from_str(&text).unwrap();
            assert!(back == chart, "{name} changed through RON");
            // JSON also works (serde_json may round the last bit of a float).
            let json = serde_json::to_string(&chart).unwrap();
            assert!(
                serde_json::from_str::<Chart>(&json).is_ok(),
                "{name} via JSON"
            );
        }
    }

    #[test]
    fn rendering_twice_gives_byte_identical_files() {
        let (a, b) = (scratch("det-a"), scratch("det-b"));
        for (name, chart) in all_kinds() {
            let pa = render(&chart, &a.join(name)).unwrap();
            let pb = render(&chart, &b.join(name)).unwrap();
            for (x, y) in pa.iter().zip(&pb) {
                let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
                assert!(!bx.is_empty());
                assert!(bx == by, "{} differs between runs", x.display());
            }
        }
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }

    fn ts(series: Vec<Series>, shades: Vec<Shade>, log_y: bool) -> Chart {
        Chart::TimeSeries {
            title: "edge".into(),
            x_label: "time (s)".into(),
            y_label: "value (units)".into(),
            series,
            shades,
            log_y,
            strip: None,
        }
    }

    fn ser(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }

    fn edge_cases() -> Vec<(&'static str, Chart)> {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let many: Vec<Series> = (0..15)
            .map(|i| {
                ser(
                    &format!("series {i}"),
                    (0..50).map(|t| (t as f64, (t * (i + 1)) as f64)).collect(),
                )
            })
            .collect();
        let bars = |n: usize| Chart::Bars {
            title: "many bars".into(),
            y_label: "throughput (requests/s)".into(),
            bars: (0..n)
                .map(|i| Bar {
                    label: format!("variant number {i} with a long name"),
                    mean: i as f64 * 10.0,
                    lo: i as f64 * 9.0,
                    hi: i as f64 * 11.0,
                })
                .collect(),
        };
        vec![
            ("no_series", ts(vec![], vec![], false)),
            ("empty_series", ts(vec![ser("a", vec![])], vec![], false)),
            (
                "single_point",
                ts(vec![ser("a", vec![(5.0, 3.0)])], vec![], false),
            ),
            (
                "all_nan",
                ts(
                    vec![ser("a", vec![(nan, 1.0), (1.0, nan), (inf, inf)])],
                    vec![],
                    false,
                ),
            ),
            (
                "zero_range",
                ts(
                    vec![ser("a", vec![(0.0, 7.0), (1.0, 7.0), (2.0, 7.0)])],
                    vec![],
                    false,
                ),
            ),
            (
                "all_zero",
                ts(vec![ser("a", vec![(3.0, 0.0), (3.0, 0.0)])], vec![], false),
            ),
            (
                "log_nonpositive",
                ts(
                    vec![ser(
                        "a",
                        vec![(0.0, -1.0), (1.0, 0.0), (2.0, 5.0), (3.0, 50.0)],
                    )],
                    vec![],
                    true,
                ),
            ),
            (
                "log_all_nonpositive",
                ts(vec![ser("a", vec![(0.0, -1.0), (1.0, 0.0)])], vec![], true),
            ),
            (
                "huge_range",
                ts(
                    vec![ser(
                        "a",
                        vec![(-1e300, 1e-300), (0.0, -1e300), (1e300, 1e300)],
                    )],
                    vec![],
                    false,
                ),
            ),
            (
                "huge_log",
                ts(
                    vec![ser("a", vec![(0.0, 1e-300), (1.0, 1e300)])],
                    vec![],
                    true,
                ),
            ),
            (
                "tiny_values",
                ts(
                    vec![ser("a", vec![(0.0, 1e-9), (1.0, 3e-9)])],
                    vec![],
                    false,
                ),
            ),
            (
                "subnormal",
                ts(
                    vec![ser("a", vec![(5e-324, 5e-324), (1e-323, 0.0)])],
                    vec![],
                    false,
                ),
            ),
            (
                "negative",
                ts(
                    vec![ser("a", vec![(0.0, -5.0), (1.0, -2.0)])],
                    vec![],
                    false,
                ),
            ),
            (
                "bad_shades",
                ts(
                    vec![ser("a", vec![(0.0, 1.0), (10.0, 2.0)])],
                    vec![
                        Shade {
                            start_s: 8.0,
                            end_s: 2.0,
                            label: "reversed".into(),
                        },
                        Shade {
                            start_s: nan,
                            end_s: 2.0,
                            label: "nan".into(),
                        },
                        Shade {
                            start_s: 3.0,
                            end_s: 3.0,
                            label: "zero width".into(),
                        },
                        Shade {
                            start_s: 3.1,
                            end_s: 3.2,
                            label: "close one".into(),
                        },
                        Shade {
                            start_s: 3.3,
                            end_s: 3.4,
                            label: "close two".into(),
                        },
                        Shade {
                            start_s: 3.5,
                            end_s: 3.6,
                            label: "close three".into(),
                        },
                        Shade {
                            start_s: 3.7,
                            end_s: 3.8,
                            label: "close four".into(),
                        },
                        Shade {
                            start_s: 3.9,
                            end_s: 4.0,
                            label: "close five".into(),
                        },
                        Shade {
                            start_s: 50.0,
                            end_s: 60.0,
                            label: "after the data".into(),
                        },
                    ],
                    false,
                ),
            ),
            ("fifteen_series", ts(many, vec![], false)),
            (
                "long_text",
                Chart::TimeSeries {
                    title: "A very long title ".repeat(12),
                    x_label: "an x label that goes on and on ".repeat(8),
                    y_label: "a y label that goes on ".repeat(8),
                    series: vec![ser(
                        &"long series name ".repeat(10),
                        vec![(0.0, 1.0), (1.0, 2.0)],
                    )],
                    shades: vec![Shade {
                        start_s: 0.2,
                        end_s: 0.4,
                        label: "long shade label ".repeat(10),
                    }],
                    log_y: false,
                    strip: None,
                },
            ),
            (
                "markup_and_control_chars",
                ts(
                    vec![ser("<b>&\"'\u{0}\u{7}", vec![(0.0, 1.0), (1.0, 2.0)])],
                    vec![Shade {
                        start_s: 0.0,
                        end_s: 0.5,
                        label: "<script>".into(),
                    }],
                    false,
                ),
            ),
            (
                "cdf_empty",
                Chart::Cdf {
                    title: "cdf".into(),
                    x_label: "latency (ms)".into(),
                    series: vec![],
                    log_x: true,
                },
            ),
            (
                "cdf_nonpositive_log",
                Chart::Cdf {
                    title: "cdf".into(),
                    x_label: "latency (ms)".into(),
                    series: vec![ser(
                        "a",
                        vec![(0.0, 0.1), (-1.0, 0.0), (5.0, 0.5), (9.0, 1.0)],
                    )],
                    log_x: true,
                },
            ),
            (
                "bars_empty",
                Chart::Bars {
                    title: "bars".into(),
                    y_label: "y (ms)".into(),
                    bars: vec![],
                },
            ),
            (
                "bars_bad_values",
                Chart::Bars {
                    title: "bars".into(),
                    y_label: "y (ms)".into(),
                    bars: vec![
                        Bar {
                            label: "nan".into(),
                            mean: nan,
                            lo: nan,
                            hi: nan,
                        },
                        Bar {
                            label: "negative".into(),
                            mean: -3.0,
                            lo: -4.0,
                            hi: -2.0,
                        },
                        Bar {
                            label: "swapped ci".into(),
                            mean: 2.0,
                            lo: 3.0,
                            hi: 1.0,
                        },
                        Bar {
                            label: "inf ci".into(),
                            mean: 1.0,
                            lo: -inf,
                            hi: inf,
                        },
                    ],
                },
            ),
            (
                "bars_single_zero",
                Chart::Bars {
                    title: "bars".into(),
                    y_label: "y".into(),
                    bars: vec![Bar {
                        label: "".into(),
                        mean: 0.0,
                        lo: 0.0,
                        hi: 0.0,
                    }],
                },
            ),
            ("bars_many", bars(30)),
            ("bars_thirteen", bars(13)),
            (
                "lines_empty",
                Chart::Lines {
                    title: "lines".into(),
                    x_label: "x".into(),
                    y_label: "y".into(),
                    series: vec![],
                    log_y: false,
                    log_x: false,
                },
            ),
            (
                "lines_bad_values",
                Chart::Lines {
                    title: "lines".into(),
                    x_label: "load (requests/s)".into(),
                    y_label: "p99 (ms)".into(),
                    series: vec![BandSeries {
                        name: "a".into(),
                        points: vec![
                            BandPoint {
                                x: 1.0,
                                mean: 1.0,
                                lo: -1.0,
                                hi: 2.0,
                            },
                            BandPoint {
                                x: 2.0,
                                mean: nan,
                                lo: 1.0,
                                hi: 3.0,
                            },
                            BandPoint {
                                x: 3.0,
                                mean: 3.0,
                                lo: nan,
                                hi: 4.0,
                            },
                            BandPoint {
                                x: nan,
                                mean: 3.0,
                                lo: 2.0,
                                hi: 4.0,
                            },
                            BandPoint {
                                x: 4.0,
                                mean: 0.0,
                                lo: 0.0,
                                hi: 0.0,
                            },
                        ],
                    }],
                    log_y: true,
                    log_x: false,
                },
            ),
            (
                "scatter_empty",
                Chart::Scatter {
                    title: "s".into(),
                    x_label: "x".into(),
                    y_label: "y".into(),
                    points: vec![],
                },
            ),
            (
                "scatter_single_and_nan",
                Chart::Scatter {
                    title: "s".into(),
                    x_label: "x".into(),
                    y_label: "y".into(),
                    points: vec![
                        XYPoint {
                            label: "only".into(),
                            x: 1.0,
                            x_lo: 1.0,
                            x_hi: 1.0,
                            y: 0.0,
                            y_lo: 0.0,
                            y_hi: 0.0,
                        },
                        XYPoint {
                            label: "nan".into(),
                            x: nan,
                            x_lo: 0.0,
                            x_hi: 1.0,
                            y: 1.0,
                            y_lo: 0.0,
                            y_hi: 2.0,
                        },
                        XYPoint {
                            label: "same place".into(),
                            x: 1.0,
                            x_lo: nan,
                            x_hi: 1.0,
                            y: 0.0,
                            y_lo: 0.0,
                            y_hi: inf,
                        },
                    ],
                },
            ),
            (
                "panels_empty",
                Chart::Panels {
                    title: "p".into(),
                    panels: vec![],
                },
            ),
            (
                "panels_nested",
                Chart::Panels {
                    title: "p".into(),
                    panels: vec![Chart::Panels {
                        title: "q".into(),
                        panels: vec![Chart::Panels {
                            title: "r".into(),
                            panels: vec![Chart::Panels {
                                title: "s".into(),
                                panels: vec![bars_five()],
                            }],
                        }],
                    }],
                },
            ),
        ]
    }

    #[test]
    fn edge_cases_render_without_panicking() {
        let dir = scratch("edges");
        for (name, chart) in edge_cases() {
            let paths = render(&chart, &dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (w, h) = figure_size(&chart, &RenderOptions::default()).unwrap();
            check_files(&paths, w, h);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Renders the edge cases for manual inspection.
    #[test]
    #[ignore = "writes edge-case charts for manual inspection"]
    fn edge_gallery_for_inspection() {
        let dir = std::env::temp_dir().join("capsim-gallery").join("edges");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, chart) in edge_cases() {
            render(&chart, &dir.join(name)).unwrap();
        }
    }

    #[test]
    fn omitted_values_are_stated_in_the_note_line() {
        let opts = RenderOptions::default();
        let log = ts(
            vec![ser(
                "a",
                vec![(0.0, -1.0), (1.0, 0.0), (2.0, 5.0), (3.0, f64::NAN)],
            )],
            vec![],
            true,
        );
        let svg = render_svg(&log, &opts).unwrap();
        assert!(
            svg.contains("2 non-positive values not shown on the log y axis"),
            "{svg}"
        );
        assert!(svg.contains("1 non-finite value skipped"));
        let empty = ts(vec![], vec![], false);
        assert!(
            render_svg(&empty, &opts)
                .unwrap()
                .contains("no data to plot")
        );
        let clean = ts(vec![ser("a", vec![(0.0, 1.0), (1.0, 2.0)])], vec![], false);
        let svg = render_svg(&clean, &opts).unwrap();
        assert!(!svg.contains("skipped") && !svg.contains("not shown"));
    }

    #[test]
    fn svg_text_is_escaped_and_tags_balance() {
        let chart = ts(
            vec![ser("<script>&\"", vec![(0.0, 1.0), (1.0, 2.0)])],
            vec![],
            false,
        );
        let svg = render_svg(&chart, &RenderOptions::default()).unwrap();
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn bad_sizes_and_stems_are_typed_errors() {
        let opts = RenderOptions {
            width_px: 10,
            height_px: 10,
            ..RenderOptions::default()
        };
        assert!(matches!(
            render_svg(&bars_five(), &opts),
            Err(ReportError::InvalidSize { .. })
        ));
        let err = render(&bars_five(), Path::new("")).unwrap_err();
        assert!(matches!(err, ReportError::InvalidStem { .. }), "{err}");
    }

    #[test]
    fn legend_sits_outside_every_plot_area() {
        for (name, chart) in gallery() {
            let d = layout_of(&chart);
            assert!(!d.plots.is_empty(), "{name}");
            if let Some(l) = d.legend {
                for p in &d.plots {
                    assert_eq!(
                        l.overlap_area(p),
                        0.0,
                        "{name}: legend {l:?} over plot {p:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn point_and_fault_window_labels_do_not_overlap() {
        let dense_faults = ts(
            vec![ser("a", (0..=100).map(|t| (t as f64, 1.0)).collect())],
            (0..5)
                .map(|i| Shade {
                    start_s: 30.0 + i as f64,
                    end_s: 30.5 + i as f64,
                    label: format!("fault {i}"),
                })
                .collect(),
            false,
        );
        for chart in [cap_scatter(), latency_over_time(), dense_faults] {
            let d = layout_of(&chart);
            assert!(!d.labels.is_empty());
            for (i, a) in d.labels.iter().enumerate() {
                for b in &d.labels[i + 1..] {
                    assert!(
                        a.overlap_area(b) < 1.0,
                        "{}: {a:?} overlaps {b:?}",
                        chart.title()
                    );
                }
            }
        }
    }

    #[test]
    fn a_variant_keeps_its_colour_whatever_the_order_within_a_chart() {
        let opts = RenderOptions {
            series_order: vec!["CP".into(), "AP".into()],
            ..RenderOptions::default()
        };
        let mut c1 = Colours::new(&opts);
        let mut c2 = Colours::new(&opts);
        assert_eq!(c1.style("AP").0, PALETTE[1]);
        assert_eq!(c2.style("other").0, PALETTE[2]);
        assert_eq!(c2.style("AP").0, PALETTE[1]);
        assert_eq!(c1.style("CP").0, c2.style("CP").0);
        // Beyond the palette, colours repeat with dashes.
        let mut c3 = Colours::new(&RenderOptions::default());
        let styles: Vec<_> = (0..11).map(|i| c3.style(&i.to_string())).collect();
        assert_eq!(styles[10].0, styles[0].0);
        assert!(styles[10].1 && !styles[0].1);
    }

    #[test]
    fn fonts_are_at_least_14_px_at_default_size_in_png_and_svg() {
        let s = scale_for(1200, 700);
        for px in [
            TITLE_PX,
            NOTE_PX,
            AXIS_TITLE_PX,
            TICK_PX,
            LEGEND_PX,
            LABEL_PX,
            PANEL_TITLE_PX,
        ] {
            // Font size (em) in PNG is size/1.164 (ab_glyph), in SVG size/1.24.
            let em = (px * s / 1.164).min(px * s / 1.24);
            assert!(em >= 14.0, "{px} gives a {em} px font");
        }
        let svg = render_svg(&bars_five(), &RenderOptions::default()).unwrap();
        for size in svg.split("font-size=\"").skip(1) {
            let v: f64 = size.split('"').next().unwrap().parse().unwrap();
            assert!(v >= 14.0, "SVG font-size {v}");
        }
    }

    #[test]
    fn tick_labels_share_precision_and_suffix() {
        let (t, step) = linear_ticks(0.0, 1.0, 5);
        assert_eq!(
            linear_labels(&t, step),
            vec!["0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        let (t, step) = linear_ticks(0.0, 12_000.0, 6);
        assert_eq!(
            linear_labels(&t, step),
            vec!["0", "2k", "4k", "6k", "8k", "10k", "12k"]
        );
        let (t, step) = linear_ticks(0.0, 2.5e-6, 5);
        let l = linear_labels(&t, step);
        assert_eq!(l[0], "0");
        assert!(l[1].contains('e'), "{l:?}");
        assert_eq!(fmt_sig(1234.4), "1234");
        assert_eq!(fmt_sig(123.44), "123");
        assert_eq!(fmt_sig(12_345.0), "12.3k");
        assert_eq!(fmt_sig(0.5), "0.5");
        assert_eq!(
            value_labels(&[33.0, 55.7, f64::NAN]),
            vec!["33.0", "55.7", "n/a"]
        );
    }

    #[test]
    fn log_ticks_use_one_two_five_when_they_fit() {
        // 0.7 .. 200 spans ~2.5 decades: 1, 2, 5, 10, 20, 50, 100, 200.
        let (t, l, minor) = log_ticks(0.7f64.log10(), 200f64.log10(), 8);
        assert_eq!(l, vec!["1", "2", "5", "10", "20", "50", "100", "200"]);
        assert_eq!(t.len(), 8);
        assert!(!minor.is_empty());
        // 2 .. 70 in a short panel (room for 2 ticks): 3, 10, 30, not 2..9, 10..70.
        let (_, l, _) = log_ticks(2f64.log10(), 70f64.log10(), 2);
        assert_eq!(l, vec!["3", "10", "30"]);
        // 30 decades with room for 6 ticks: every 5th decade.
        let (t, _, _) = log_ticks(-10.0, 20.0, 6);
        assert!(t.len() <= 7 && t.len() >= 2, "{t:?}");
    }

    #[test]
    fn dense_lines_keep_their_envelope_when_decimated() {
        let px: Vec<(f64, f64)> = (0..10_000)
            .map(|i| {
                (
                    i as f64 / 100.0,
                    if i == 5_555 {
                        0.0
                    } else {
                        50.0 + (i % 7) as f64
                    },
                )
            })
            .collect();
        let d = decimate(px.clone(), 100.0);
        assert!(d.len() < px.len() / 10);
        assert!(d.contains(&(55.55, 0.0)), "spike kept");
        assert_eq!(d.first(), px.first());
        assert_eq!(d.last(), px.last());
        let s = simplify(px.clone(), 2.0);
        assert_eq!(s.last(), px.last());
    }

    #[test]
    fn narrow_log_axis_still_gets_two_ticks() {
        // Found by proptest: 2.1e11..2.8e11 on a log axis with room for 2 ticks.
        let mut ext = Extent::new();
        ext.add(208_733_202_059.488_5, true);
        ext.add(282_026_138_757.799_3, true);
        let axis = make_axis(AxisSpec::log(0.05), ext, 2);
        assert!(axis.ticks.len() >= 2, "{:?}", axis.labels);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0005_eed5),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]
        /// Axes never clip data: every finite value lies inside the axis range,
        /// ticks are increasing, inside the range, and have distinct labels.
        #[test]
        fn axis_covers_all_data(
            mantissas in proptest::collection::vec(-10.0f64..10.0, 1..50),
            exp in -300i32..300,
            spread in 0i32..30,
            log in proptest::bool::ANY,
            zero in 0usize..3,
            target in 2usize..10,
        ) {
            // Values of one magnitude, or spread over up to 30 decades.
            let vals: Vec<f64> = mantissas
                .iter()
                .enumerate()
                .map(|(i, m)| m * 10f64.powi(exp + (i as i32 * spread) % 31 - 15))
                .collect();
            let zero = [Zero::Always, Zero::Near, Zero::Never][zero];
            let spec = if log { AxisSpec::log(0.05) } else { AxisSpec::linear(zero, 0.05) };
            let mut ext = Extent::new();
            for &v in &vals { ext.add(v, log); }
            let axis = make_axis(spec, ext, target);
            proptest::prop_assert!(axis.lo < axis.hi);
            for &v in &vals {
                if let Some(t) = axis.t(v) {
                    proptest::prop_assert!(t >= axis.lo && t <= axis.hi, "{} outside {}..{}", t, axis.lo, axis.hi);
                }
            }
            for w in axis.ticks.windows(2) { proptest::prop_assert!(w[0] < w[1]); }
            for &t in &axis.ticks { proptest::prop_assert!(t >= axis.lo - 1e-9 * axis.lo.abs().max(1.0) && t <= axis.hi + 1e-9 * axis.hi.abs().max(1.0)); }
            for w in axis.labels.windows(2) { proptest::prop_assert!(w[0] != w[1], "{:?}", axis.labels); }
            proptest::prop_assert!(axis.ticks.len() >= 2, "{:?}", axis.labels);
        }
    }

    /// Renders one of each chart kind plus an index.html into
    /// $TMPDIR/capsim-gallery for visual inspection.
    #[test]
    #[ignore = "writes a gallery for manual inspection"]
    fn gallery_renders_every_kind_with_realistic_data() {
        let dir = std::env::temp_dir().join("capsim-gallery");
        std::fs::create_dir_all(&dir).unwrap();
        let mut charts = Vec::new();
        for (name, chart) in all_kinds() {
            let paths = render(&chart, &dir.join(name)).unwrap();
            let (w, h) = figure_size(&chart, &RenderOptions::default()).unwrap();
            check_files(&paths, w, h);
            charts.push(ChartRef {
                title: chart.title().to_string(),
                png: format!("{name}.png"),
                svg: format!("{name}.svg"),
                caption: Some(format!("Synthetic data for the {name} chart.")),
            });
        }
        let model = ReportModel {
            title: "capsim chart gallery".into(),
            description: "Synthetic data exercising every chart kind.\n\nNot a simulation result."
                .into(),
            question: "Do the charts read clearly, without overlaps or clipping?".into(),
            variants: vec![
                ("CP".into(), "majority quorum".into()),
                ("AP".into(), "sloppy quorum".into()),
            ],
            tables: vec![Table {
                title: "Summary".into(),
                headers: vec!["variant".into(), "p99 (ms)".into(), "availability".into()],
                rows: vec![
                    vec!["CP".into(), "48.2 ± 3.1".into(), "61.0%".into()],
                    vec!["AP".into(), "31.4 ± 1.9".into(), "99.6%".into()],
                ],
                caption: Some("95% confidence intervals over 20 seeds.".into()),
            }],
            charts,
            commands: vec![(
                "Run".into(),
                "capsim run scenarios/partition.ron --seeds 20".into(),
            )],
            notes: vec!["Gallery only.".into()],
            generated_by: "capsim test gallery".into(),
        };
        // Small renders, to check that layout degrades gracefully.
        let small = RenderOptions {
            width_px: 600,
            height_px: 350,
            ..RenderOptions::default()
        };
        for (name, chart) in [
            ("small_latency", latency_over_time()),
            ("small_cap", cap_scatter()),
        ] {
            render_with(&chart, &dir.join(name), &small).unwrap();
        }
        let html = render_html(&model);
        crate::report::write_atomic(&dir.join("index.html"), html.as_bytes()).unwrap();
        for f in referenced_files(&html) {
            assert!(dir.join(&f).is_file(), "{f} referenced but missing");
        }
    }
}
