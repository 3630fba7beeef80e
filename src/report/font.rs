//! The bundled chart font (DejaVu Sans, Bitstream Vera licence) and its metrics.
//!
//! This module owns the font bytes (compiled in with `include_bytes!`), their
//! registration as plotters' "sans-serif" family, and text measurement from the
//! font's own `cmap`/`hhea`/`hmtx` tables (advance widths and left side
//! bearings). The chart code uses these to place bitmap glyphs one by one:
//! plotters 0.3.7's ab_glyph rasteriser ignores each glyph's bearing, which
//! makes letter spacing visibly uneven ("b y", "h ashing") at chart text sizes.
//! Kerning is not applied (DejaVu's kerning changes widths by well under 1%).
//! It must not read system fonts or touch the file system.

use std::sync::OnceLock;

use plotters::style::register_font;
use plotters::style::{FontDesc, FontFamily, FontStyle};

/// DejaVu Sans, shipped in assets/fonts (licence in DejaVu-LICENSE.txt).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font as "sans-serif" once per process; false if the
/// font could not be parsed.
pub(crate) fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT_BYTES).is_ok())
}

/// Width in px of `text` at `size` (sum of advance widths; plotters' own
/// measurement if the font tables could not be read).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    match metrics() {
        Some(m) => text.chars().map(|c| m.advance_px(c, size)).sum(),
        None => FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
            .layout_box(text)
            .map(|((x0, _), (x1, _))| (x1 - x0) as f64)
            .unwrap_or(text.chars().count() as f64 * size * 0.6),
    }
}

/// Horizontal metrics needed to place glyphs individually.
pub(crate) struct Metrics {
    /// ascender − descender in font units (ab_glyph's "height": px scale = size / this).
    height_units: f64,
    cmap: Cmap4,
    /// Advance width per glyph id, in font units.
    advance: Vec<u16>,
    /// Left side bearing per glyph id, in font units.
    lsb: Vec<i16>,
}

impl Metrics {
    /// Left side bearing of `c` in whole pixels at `size`, as ab_glyph's pixel
    /// bounds round it (floor).
    pub(crate) fn bearing_px(&self, c: char, size: f64) -> i32 {
        let g = self.cmap.glyph(c);
        let lsb = self.lsb.get(g as usize).copied().unwrap_or(0) as f64;
        (lsb * size / self.height_units).floor() as i32
    }

    /// Advance width of `c` in px at `size` (ab_glyph's horizontal scale).
    pub(crate) fn advance_px(&self, c: char, size: f64) -> f64 {
        let g = self.cmap.glyph(c) as usize;
        let adv = self
            .advance
            .get(g)
            .or(self.advance.last())
            .copied()
            .unwrap_or(0) as f64;
        adv * size / self.height_units
    }
}

/// The parsed metrics of the bundled font (None if its tables are unreadable,
/// in which case glyphs are drawn without bearing correction).
pub(crate) fn metrics() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| parse(FONT_BYTES)).as_ref()
}

/// Big-endian reads that return None instead of panicking past the end.
fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]))
}
fn i16_at(d: &[u8], off: usize) -> Option<i16> {
    u16_at(d, off).map(|v| v as i16)
}
fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(off)?,
        *d.get(off + 1)?,
        *d.get(off + 2)?,
        *d.get(off + 3)?,
    ]))
}

fn table<'a>(d: &'a [u8], tag: &[u8; 4]) -> Option<&'a [u8]> {
    let n = u16_at(d, 4)? as usize;
    for i in 0..n {
        let rec = 12 + 16 * i;
        if d.get(rec..rec + 4)? == tag {
            let off = u32_at(d, rec + 8)? as usize;
            let len = u32_at(d, rec + 12)? as usize;
            return d.get(off..off.checked_add(len)?);
        }
    }
    None
}

fn parse(d: &[u8]) -> Option<Metrics> {
    let hhea = table(d, b"hhea")?;
    let ascender = i16_at(hhea, 4)? as f64;
    let descender = i16_at(hhea, 6)? as f64;
    let n_hmetrics = u16_at(hhea, 34)? as usize;
    let maxp = table(d, b"maxp")?;
    let n_glyphs = u16_at(maxp, 4)? as usize;
    let hmtx = table(d, b"hmtx")?;
    if n_hmetrics == 0 {
        return None;
    }
    let mut lsb = Vec::with_capacity(n_glyphs);
    let mut advance = Vec::with_capacity(n_hmetrics);
    for g in 0..n_glyphs {
        let off = if g < n_hmetrics {
            advance.push(u16_at(hmtx, 4 * g)?);
            4 * g + 2
        } else {
            4 * n_hmetrics + 2 * (g - n_hmetrics)
        };
        lsb.push(i16_at(hmtx, off)?);
    }
    let cmap = Cmap4::parse(table(d, b"cmap")?)?;
    let height_units = ascender - descender;
    (height_units > 0.0).then_some(Metrics {
        height_units,
        cmap,
        advance,
        lsb,
    })
}

/// A format-4 (Unicode BMP) character-to-glyph map.
struct Cmap4 {
    data: Vec<u8>,
    seg_count: usize,
}

impl Cmap4 {
    fn parse(cmap: &[u8]) -> Option<Cmap4> {
        let n = u16_at(cmap, 2)? as usize;
        for i in 0..n {
            let rec = 4 + 8 * i;
            let (platform, encoding) = (u16_at(cmap, rec)?, u16_at(cmap, rec + 2)?);
            let unicode = (platform == 3 && encoding == 1) || (platform == 0 && encoding <= 3);
            let off = u32_at(cmap, rec + 4)? as usize;
            if unicode && u16_at(cmap, off)? == 4 {
                let len = u16_at(cmap, off + 2)? as usize;
                let data = cmap.get(off..off + len)?.to_vec();
                let seg_count = u16_at(&data, 6)? as usize / 2;
                // Every array must be readable before we accept the table.
                u16_at(&data, 16 + 8 * seg_count - 2)?;
                return Some(Cmap4 { data, seg_count });
            }
        }
        None
    }

    /// Glyph id of `c` (0, the missing-glyph box, if unmapped).
    fn glyph(&self, c: char) -> u16 {
        let c = c as u32;
        if c > 0xFFFF {
            return 0;
        }
        let c = c as u16;
        let d = &self.data;
        let n = self.seg_count;
        let (ends, starts, deltas, ranges) = (14, 16 + 2 * n, 16 + 4 * n, 16 + 6 * n);
        for i in 0..n {
            let Some(end) = u16_at(d, ends + 2 * i) else {
                return 0;
            };
            if end < c {
                continue;
            }
            let (Some(start), Some(delta), Some(range)) = (
                u16_at(d, starts + 2 * i),
                u16_at(d, deltas + 2 * i),
                u16_at(d, ranges + 2 * i),
            ) else {
                return 0;
            };
            if start > c {
                return 0;
            }
            if range == 0 {
                return c.wrapping_add(delta);
            }
            let addr = ranges + 2 * i + range as usize + 2 * (c - start) as usize;
            return match u16_at(d, addr) {
                Some(0) | None => 0,
                Some(g) => g.wrapping_add(delta),
            };
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_registers_and_measures_text() {
        assert!(ensure_registered());
        let w = text_width("latency (ms)", 20.0);
        // DejaVu Sans averages ~0.55 em per character; 12 chars at ~17 px/em.
        assert!((80.0..160.0).contains(&w), "width {w}");
        assert!(text_width("abc", 40.0) > text_width("abc", 20.0));
    }

    #[test]
    fn metrics_map_ascii_to_distinct_glyphs_with_plausible_bearings() {
        let m = metrics().expect("bundled font tables parse");
        let (ga, gb) = (m.cmap.glyph('a'), m.cmap.glyph('b'));
        assert!(ga != 0 && gb != 0 && ga != gb);
        assert_eq!(m.cmap.glyph('\u{10FFFF}'), 0);
        // At 100 px: 'l' and 'b' have bearings of roughly 0.08–0.09 em
        // (about 8 px); 'j' hangs left of its origin (negative bearing).
        let b = m.bearing_px('b', 100.0);
        assert!((4..=12).contains(&b), "b bearing {b}");
        assert!(m.bearing_px('j', 100.0) < 0);
    }

    #[test]
    fn own_widths_match_plotters_measurement_without_kerning() {
        assert!(ensure_registered());
        // "minimum" has no kerning pairs; plotters truncates to whole pixels,
        // so the two agree within 1 px at 200 px size.
        let ours = text_width("minimum", 200.0);
        let theirs = FontDesc::new(FontFamily::SansSerif, 200.0, FontStyle::Normal)
            .layout_box("minimum")
            .map(|((x0, _), (x1, _))| (x1 - x0) as f64)
            .unwrap();
        assert!(
            (ours - theirs).abs() <= 1.0,
            "ours {ours} plotters {theirs}"
        );
    }
}
