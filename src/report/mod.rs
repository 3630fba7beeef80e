//! Reports: tables, CSV/JSON, charts and HTML. Reads results, never a live simulation.
//!
//! This module owns the presentation layer: [`charts`] renders plain chart data
//! ([`charts::Chart`]) to PNG and SVG files with plotters and the bundled DejaVu
//! Sans font, [`html`] renders a self-contained offline HTML report that links
//! those files, and [`write_atomic`] is the single way output files are written
//! (temporary file in the same directory, then rename), so a reader never sees a
//! half-written report. It must not depend on the simulator, read the wall clock
//! or use randomness: the same input always produces byte-identical files.

pub mod charts;
mod font;
pub mod html;

pub use charts::{
    BandPoint, BandSeries, Bar, Chart, RenderOptions, Series, Shade, XYPoint, render, render_svg,
    render_with,
};
pub use html::{ChartRef, ReportModel, Table, referenced_files, render_html};

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors from rendering or writing report files.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// plotters reported an error while drawing a chart.
    #[error("drawing chart \"{title}\" failed: {message}")]
    Draw {
        /// Title of the chart being drawn.
        title: String,
        /// The backend's error message.
        message: String,
    },
    /// The bundled font could not be parsed (the binary was built with a corrupt asset).
    #[error(
        "the bundled DejaVu Sans font could not be loaded; rebuild capsim with assets/fonts/DejaVuSans.ttf intact"
    )]
    Font,
    /// The requested image size is unusable.
    #[error(
        "chart size {width_px}x{height_px} px is not supported: width must be 400..=8000 and height 300..=8000"
    )]
    InvalidSize {
        /// Requested width.
        width_px: u32,
        /// Requested height.
        height_px: u32,
    },
    /// The output stem has no file name (e.g. it is empty or ends in `..`).
    #[error("output stem {} does not name a file (expected something like out/latency)", stem.display())]
    InvalidStem {
        /// The stem that was passed.
        stem: PathBuf,
    },
}

/// Distinguishes temporary files created concurrently by one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a temporary file in the same directory
/// is written, flushed to disk and renamed over `path`. Readers see either the
/// old file or the complete new one, never a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// Like [`write_atomic`], but `write` produces the temporary file itself (for
/// encoders that only write to paths). The temporary name keeps `path`'s
/// extension so that format detection by extension still works.
pub(crate) fn write_atomic_with<F>(path: &Path, write: F) -> std::io::Result<()>
where
    F: FnOnce(&Path) -> std::io::Result<()>,
{
    let tmp = temp_path_for(path)?;
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        // Best effort: the temporary may not exist if `write` failed early.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.<pid>.<n>.tmp.<ext>` next to `path`.
fn temp_path_for(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    if let Some(ext) = path.extension() {
        tmp_name.push(".");
        tmp_name.push(ext);
    }
    Ok(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("capsim-report-mod-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temporary() {
        let dir = scratch_dir("atomic");
        let target = dir.join("out.txt");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("out.txt")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn write_atomic_reports_missing_directory_and_keeps_nothing() {
        let dir = scratch_dir("missing");
        let target = dir.join("no-such-dir").join("out.txt");
        assert!(write_atomic(&target, b"x").is_err());
        assert!(!target.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn temp_path_keeps_extension_and_directory() {
        let tmp = temp_path_for(Path::new("a/b/chart.png")).unwrap();
        assert_eq!(tmp.parent(), Some(Path::new("a/b")));
        assert_eq!(tmp.extension().unwrap(), "png");
        assert!(
            tmp.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".chart.png.")
        );
        assert!(temp_path_for(Path::new("")).is_err());
    }
}
