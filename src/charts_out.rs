//! Turns a complete result set into charts (PNG + SVG) and the HTML report,
//! staged with the other result files. Reads results; never runs a simulation.
//!
//! Chart kinds (names usable in a scenario's `charts: (include: [...])`):
//! `latency` (p50/p99/p99.9 over time, fault windows shaded), `throughput`
//! (ok, errors, rejections, timeouts over time), `cdf` (latency CDF per variant),
//! `nodes` (utilization and queue length per node over time), `bars` (metrics
//! across variants with 95% CI), `sweep` (metric vs swept parameter with bands),
//! `scatter` (two summary metrics, one point per variant, CI bars on both axes),
//! `consistency` (with stores: stale reads and divergent keys over time),
//! `cache` (with caches: overall hit ratio and origin load over time, variants
//! overlaid; hit ratio per cache node over time), `balancers` (with balancers or
//! smart clients: each backend's share of the requests over time, summed over
//! every balancer of the run, one panel per variant, first seed). The list the
//! loader checks names against is `scenario::spec::CHART_KINDS`. Over-time
//! charts show the variants named in `charts: (timelines: [...])`, else the
//! first 8.

use crate::metrics::stats::{Agg, aggregate};
use crate::output::{RunRecord, ScenarioInfo, Staging};
use crate::report::charts::{
    BandPoint, BandSeries, Bar, Chart, LeaderStrip, Series, Shade, StripSpan, XYPoint, render,
};
use crate::report::html::{ChartRef, ReportModel, Table, render_html};
use crate::sim::RunResult;
use crate::sweep::aggregate_runs;
use std::io;

/// Mean per bucket over the seeds of one variant (NaN-skipping).
fn mean_series(runs: &[&RunResult], f: impl Fn(&crate::sim::TsRow) -> f64) -> Vec<(f64, f64)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.timeseries.len())
        .map(|b| {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.timeseries.get(b))
                .map(&f)
                .filter(|v| !v.is_nan())
                .collect();
            let t = first.timeseries[b].t_s + 0.5 * bucket_width(first);
            (
                t,
                if vals.is_empty() {
                    f64::NAN
                } else {
                    vals.iter().sum::<f64>() / vals.len() as f64
                },
            )
        })
        .collect()
}

/// The leadership strip of a variant's panel: who led each store when in its
/// first seed (a node per lane, the term on each span) and split-brain periods.
/// `None` when no store of the run has a leader.
fn leader_strip(runs: &[&RunResult]) -> Option<LeaderStrip> {
    let r = runs.first()?;
    if r.leaders.is_empty() {
        return None;
    }
    let mut stores: Vec<&str> = r.leaders.iter().map(|l| l.store.as_str()).collect();
    stores.sort_unstable();
    stores.dedup();
    let mut lanes: Vec<String> = r.leaders.iter().map(|l| l.node.clone()).collect();
    lanes.sort();
    lanes.dedup();
    let spans = r
        .leaders
        .iter()
        .map(|l| StripSpan {
            lane: lanes.iter().position(|n| *n == l.node).unwrap_or(0),
            start_s: l.from_ns as f64 / 1e9,
            end_s: l.to_ns as f64 / 1e9,
            text: format!("t{}", l.term),
        })
        .collect();
    let alerts = r
        .split_brain
        .iter()
        .map(|b| Shade {
            start_s: b.from_ns as f64 / 1e9,
            end_s: b.to_ns as f64 / 1e9,
            label: if stores.len() > 1 {
                format!("split brain ({})", b.store)
            } else {
                "split brain".into()
            },
        })
        .collect();
    Some(LeaderStrip {
        label: format!("leader by node, seed {}", r.seed),
        lanes,
        spans,
        alerts,
    })
}

fn bucket_width(r: &RunResult) -> f64 {
    if r.timeseries.len() > 1 {
        r.timeseries[1].t_s - r.timeseries[0].t_s
    } else {
        r.simulated_s.max(1e-9)
    }
}

fn wanted(info: &ScenarioInfo, kind: &str) -> bool {
    info.charts.include.is_empty() || info.charts.include.iter().any(|k| k == kind)
}

fn label_of(info: &ScenarioInfo, vi: usize) -> String {
    let v = &info.variants[vi];
    if v.point_values.is_empty() {
        v.name.clone()
    } else {
        let p: Vec<String> = v
            .point_values
            .iter()
            .map(|(k, val)| format!("{}={val}", k.rsplit('.').next().unwrap_or(k)))
            .collect();
        format!("{} {}", v.name, p.join(","))
    }
}

/// Units for a metric name, for axis labels.
pub fn metric_label(m: &str) -> String {
    let unit = if m.contains("_ms") {
        " (ms)"
    } else if m.ends_with("_per_s") {
        " (per s)"
    } else if m.contains("imbalance") {
        " (max / mean)"
    } else if m.contains("ratio")
        || m.contains("fraction")
        || m.ends_with("share")
        || m.contains("availability")
        || m.ends_with("_rate")
        || m.contains("utilization")
        || m.contains("p_wait")
    {
        " (fraction)"
    } else if m.ends_with("_s") {
        " (s)"
    } else {
        " (count)"
    };
    format!("{m}{unit}")
}

pub fn stage_charts(st: &Staging, info: &ScenarioInfo, runs: &[RunRecord]) -> io::Result<()> {
    let nv = info.variants.len();
    let by_variant: Vec<Vec<&RunResult>> = (0..nv)
        .map(|vi| {
            runs.iter()
                .filter(|r| r.variant == vi)
                .map(|r| &r.result)
                .collect()
        })
        .collect();
    let shades = variant_shades(info, &(0..nv).collect::<Vec<_>>());
    let nseeds = info.seeds.len();
    let mut seeds_note = if nseeds > 1 {
        format!("mean over {nseeds} seeds per time bucket")
    } else {
        format!("seed {}", info.seeds.first().copied().unwrap_or(1))
    };
    let mut charts: Vec<(String, Chart, String)> = Vec::new();
    // Time series are drawn for the variants the scenario names in
    // `charts: (timelines: [...])`, else for the first 8 (sweep points excluded)
    // to stay legible.
    let first_points: Vec<usize> = (0..nv).filter(|&vi| info.variants[vi].point == 0).collect();
    let ts_variants: Vec<usize> = if info.charts.timelines.is_empty() {
        first_points.iter().copied().take(8).collect()
    } else {
        first_points
            .iter()
            .copied()
            .filter(|&vi| info.charts.timelines.contains(&info.variants[vi].name))
            .collect()
    };
    if ts_variants.len() < first_points.len() {
        seeds_note.push_str(&format!(
            "; {} of {} variants — choose them with `charts: (timelines: [...])`",
            ts_variants.len(),
            first_points.len()
        ));
    }
    let panels = |make: &dyn Fn(usize) -> Chart| -> Chart {
        if ts_variants.len() == 1 {
            make(ts_variants[0])
        } else {
            Chart::Panels {
                title: String::new(),
                panels: ts_variants.iter().map(|&vi| make(vi)).collect(),
            }
        }
    };
    if wanted(info, "latency") {
        let make = |vi: usize| {
            let rs = &by_variant[vi];
            Chart::TimeSeries {
                title: if ts_variants.len() == 1 {
                    format!("{}: latency percentiles over time", info.name)
                } else {
                    label_of(info, vi)
                },
                x_label: "simulated time (s)".into(),
                y_label: "latency (ms)".into(),
                series: vec![
                    Series {
                        name: "p50".into(),
                        points: mean_series(rs, |r| r.latency_ms_p50),
                    },
                    Series {
                        name: "p99".into(),
                        points: mean_series(rs, |r| r.latency_ms_p99),
                    },
                    Series {
                        name: "p99.9".into(),
                        points: mean_series(rs, |r| r.latency_ms_p999),
                    },
                ],
                shades: panel_shades(info, &ts_variants, vi),
                log_y: true,
                strip: leader_strip(rs),
            }
        };
        let mut c = panels(&make);
        if let Chart::Panels { title, .. } = &mut c {
            *title = format!("{}: latency percentiles over time", info.name);
        }
        let strip_note = if by_variant
            .iter()
            .any(|rs| rs.first().is_some_and(|r| !r.leaders.is_empty()))
        {
            " Strip above each plot: which node led the store when (term on each span) in the first seed; hatched red: split brain (two leaders accepting writes)."
        } else {
            ""
        };
        charts.push(("latency".into(), c, format!("Latency of successful requests per time bucket ({seeds_note}); shaded: fault windows.{strip_note}")));
    }
    if wanted(info, "throughput") {
        let make = |vi: usize| {
            let rs = &by_variant[vi];
            let w = rs.first().map(|r| bucket_width(r)).unwrap_or(1.0);
            Chart::TimeSeries {
                title: if ts_variants.len() == 1 {
                    format!("{}: throughput and failures over time", info.name)
                } else {
                    label_of(info, vi)
                },
                x_label: "simulated time (s)".into(),
                y_label: "requests / s".into(),
                series: vec![
                    Series {
                        name: "ok".into(),
                        points: mean_series(rs, |r| r.throughput_per_s),
                    },
                    Series {
                        name: "errors".into(),
                        points: mean_series(rs, |r| r.errors as f64 / w),
                    },
                    Series {
                        name: "rejected".into(),
                        points: mean_series(rs, |r| r.rejected as f64 / w),
                    },
                    Series {
                        name: "timeouts".into(),
                        points: mean_series(rs, |r| r.timeouts as f64 / w),
                    },
                ],
                shades: panel_shades(info, &ts_variants, vi),
                log_y: false,
                strip: leader_strip(rs),
            }
        };
        let mut c = panels(&make);
        if let Chart::Panels { title, .. } = &mut c {
            *title = format!("{}: throughput and failures over time", info.name);
        }
        charts.push((
            "throughput".into(),
            c,
            format!(
                "Completions per second by outcome ({seeds_note}); shaded: fault windows.{}",
                if by_variant
                    .iter()
                    .any(|rs| rs.first().is_some_and(|r| !r.leaders.is_empty()))
                {
                    " Strip above each plot: which node led the store when (term on each span) in the first seed; hatched red: split brain."
                } else {
                    ""
                }
            ),
        ));
    }
    if wanted(info, "cdf") {
        let series: Vec<Series> = (0..nv)
            .filter(|&vi| !by_variant[vi].is_empty())
            .take(10)
            .map(|vi| Series {
                name: label_of(info, vi),
                points: by_variant[vi][0].cdf.clone(),
            })
            .collect();
        charts.push((
            "latency-cdf".into(),
            Chart::Cdf {
                title: format!("{}: latency distribution", info.name),
                x_label: "latency (ms, log scale)".into(),
                series,
                log_x: true,
            },
            "Cumulative distribution of successful-request latency, first seed of each variant."
                .into(),
        ));
    }
    if wanted(info, "nodes") {
        for (what, idx, unit) in [
            (
                "utilization",
                0usize,
                "utilization (fraction of workers busy)",
            ),
            ("queue length", 1, "mean queue length (requests)"),
        ] {
            let make = |vi: usize| {
                let r = by_variant[vi].first();
                let w = r.map(|r| bucket_width(r)).unwrap_or(1.0);
                let series = r
                    .map(|r| {
                        r.nodes
                            .iter()
                            .map(|n| Series {
                                name: n.name.clone(),
                                points: n
                                    .series
                                    .iter()
                                    .enumerate()
                                    .map(|(b, p)| {
                                        ((b as f64 + 0.5) * w, if idx == 0 { p.0 } else { p.1 })
                                    })
                                    .collect(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Chart::TimeSeries {
                    title: if ts_variants.len() == 1 {
                        format!("{}: per-node {what}", info.name)
                    } else {
                        label_of(info, vi)
                    },
                    x_label: "simulated time (s)".into(),
                    y_label: unit.into(),
                    series,
                    shades: panel_shades(info, &ts_variants, vi),
                    log_y: false,
                    strip: None,
                }
            };
            let mut c = panels(&make);
            if let Chart::Panels { title, .. } = &mut c {
                *title = format!("{}: per-node {what}", info.name);
            }
            if by_variant
                .iter()
                .any(|rs| rs.first().is_some_and(|r| !r.nodes.is_empty()))
            {
                charts.push((
                    format!("nodes-{}", what.replace(' ', "-")),
                    c,
                    "Per node, first seed; time-weighted within each bucket.".into(),
                ));
            }
        }
    }
    let has_stores = runs
        .iter()
        .any(|r| r.result.metric("stale_reads").is_some());
    let has_faults = !info.windows.is_empty();
    if has_stores && wanted(info, "consistency") {
        let make = |vi: usize| {
            let rs = &by_variant[vi];
            let w = rs.first().map(|r| bucket_width(r)).unwrap_or(1.0);
            Chart::TimeSeries {
                title: if ts_variants.len() == 1 {
                    format!("{}: consistency over time", info.name)
                } else {
                    label_of(info, vi)
                },
                x_label: "simulated time (s)".into(),
                y_label: "stale reads/s, divergent".into(),
                series: vec![
                    Series {
                        name: "stale reads per s".into(),
                        points: mean_series(rs, |r| r.stale_reads as f64 / w),
                    },
                    Series {
                        name: "divergent keys".into(),
                        points: mean_series(rs, |r| r.divergent_keys),
                    },
                ],
                shades: panel_shades(info, &ts_variants, vi),
                log_y: false,
                strip: None,
            }
        };
        let mut c = panels(&make);
        if let Chart::Panels { title, .. } = &mut c {
            *title = format!("{}: consistency over time", info.name);
        }
        charts.push(("consistency".into(), c, format!("Stale reads (by read start) and keys whose replicas disagree at the end of each bucket ({seeds_note}); shaded: fault windows.")));
    }
    let has_caches = runs.iter().any(|r| !r.result.caches.is_empty());
    if has_caches && wanted(info, "cache") {
        charts.extend(cache_charts(
            info,
            &by_variant,
            &ts_variants,
            &shades,
            &seeds_note,
        ));
    }
    if runs.iter().any(|r| !r.result.balancers.is_empty()) && wanted(info, "balancers") {
        charts.extend(balancer_charts(info, &by_variant, &ts_variants));
    }
    let pairs: Vec<(usize, &RunResult)> = runs.iter().map(|r| (r.variant, &r.result)).collect();
    let aggs = aggregate_runs(nv, &pairs);
    let agg = |vi: usize, m: &str| -> Option<Agg> {
        aggs[vi].iter().find(|(n, _)| n == m).map(|(_, a)| *a)
    };
    if wanted(info, "bars") && nv > 1 {
        let metrics: Vec<String> = if !info.charts.bars.is_empty() {
            info.charts.bars.clone()
        } else if has_stores {
            let mut v = vec![
                "availability".to_string(),
                "latency_ms_p99".into(),
                "stale_read_rate".into(),
                "lost_writes".into(),
            ];
            if has_faults {
                v.insert(0, "availability_during_faults".into());
            }
            v
        } else {
            vec![
                "throughput_per_s".into(),
                "availability".into(),
                "latency_ms_p99".into(),
            ]
        };
        for m in metrics {
            let bars: Vec<Bar> = (0..nv)
                .filter_map(|vi| {
                    agg(vi, &m).filter(|a| !a.mean.is_nan()).map(|a| Bar {
                        label: label_of(info, vi),
                        mean: a.mean,
                        lo: a.mean - a.ci95,
                        hi: a.mean + a.ci95,
                    })
                })
                .collect();
            if !bars.is_empty() {
                charts.push((
                    format!("bars-{}", slug(&m)),
                    Chart::Bars {
                        title: format!("{}: {m} by variant", info.name),
                        y_label: metric_label(&m),
                        bars,
                    },
                    format!("Mean over {nseeds} seed(s); error bars: 95% confidence interval."),
                ));
            }
        }
    }
    if wanted(info, "sweep") && !info.sweep_params.is_empty() {
        let metrics: Vec<String> = if info.charts.sweep_metrics.is_empty() {
            vec!["latency_ms_p99".into(), "throughput_per_s".into()]
        } else {
            info.charts.sweep_metrics.clone()
        };
        let mut names: Vec<String> = Vec::new();
        for v in &info.variants {
            if !names.contains(&v.name) {
                names.push(v.name.clone());
            }
        }
        for m in metrics {
            let series: Vec<BandSeries> = names
                .iter()
                .map(|name| BandSeries {
                    name: name.clone(),
                    points: (0..nv)
                        .filter(|&vi| info.variants[vi].name == *name)
                        .filter_map(|vi| {
                            let x = sweep_number(&info.variants[vi].point_values.first()?.1)?;
                            let a = agg(vi, &m)?;
                            Some(BandPoint {
                                x,
                                mean: a.mean,
                                lo: a.mean - a.ci95,
                                hi: a.mean + a.ci95,
                            })
                        })
                        .collect(),
                })
                .collect();
            // Values spanning two decades or more (cache sizes, rates) read better on a log axis.
            let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.x));
            let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(x), h.max(x)));
            let log_x = lo > 0.0 && hi / lo >= 100.0;
            charts.push((
                format!("sweep-{}", slug(&m)),
                Chart::Lines {
                    title: format!("{}: {m} against {}", info.name, info.sweep_params[0]),
                    x_label: info.sweep_params[0].clone(),
                    y_label: metric_label(&m),
                    series,
                    log_y: m.contains("latency"),
                    log_x,
                },
                format!("Mean over {nseeds} seed(s) per point; band: 95% confidence interval."),
            ));
        }
    }
    if wanted(info, "scatter") && nv > 1 {
        let pairs_cfg: Vec<(String, String)> = if !info.charts.scatter.is_empty() {
            info.charts.scatter.clone()
        } else if has_stores {
            // The CAP chart, then PACELC: latency against consistency.
            let avail = if has_faults {
                "availability_during_faults"
            } else {
                "availability"
            };
            vec![
                ("anomaly_rate".into(), avail.into()),
                ("stale_read_rate".into(), "latency_ms_p50".into()),
            ]
        } else {
            vec![("latency_ms_p99".into(), "availability".into())]
        };
        for (mx, my) in pairs_cfg {
            let points: Vec<XYPoint> = (0..nv)
                .filter_map(|vi| {
                    let (x, y) = (agg(vi, &mx)?, agg(vi, &my)?);
                    (!x.mean.is_nan() && !y.mean.is_nan()).then(|| XYPoint {
                        label: label_of(info, vi),
                        x: x.mean,
                        x_lo: x.mean - x.ci95,
                        x_hi: x.mean + x.ci95,
                        y: y.mean,
                        y_lo: y.mean - y.ci95,
                        y_hi: y.mean + y.ci95,
                    })
                })
                .collect();
            charts.push((format!("scatter-{}-vs-{}", slug(&my), slug(&mx)), Chart::Scatter { title: format!("{}: {my} against {mx}", info.name), x_label: metric_label(&mx), y_label: metric_label(&my), points }, format!("One point per variant, mean over {nseeds} seed(s); bars: 95% confidence intervals.")));
        }
    }

    let mut refs = Vec::new();
    for (name, chart, caption) in &charts {
        let stem = st.dir.join("charts").join(name);
        render(chart, &stem).map_err(|e| io::Error::other(e.to_string()))?;
        refs.push(ChartRef {
            title: chart.title().to_string(),
            png: format!("charts/{name}.png"),
            svg: format!("charts/{name}.svg"),
            caption: Some(caption.clone()),
        });
    }
    let model = report_model(info, runs, &aggs, refs);
    st.write("index.html", render_html(&model).as_bytes())
}

/// Fault windows to shade on charts that show `variants`: the union of their
/// windows; a window only some of them have is labelled with their names (a
/// variant may crash another node or move the partition).
fn variant_shades(info: &ScenarioInfo, variants: &[usize]) -> Vec<Shade> {
    let of = |vi: usize| -> &[crate::output::FaultWindowInfo] {
        info.variants[vi]
            .windows
            .as_deref()
            .unwrap_or(&info.windows)
    };
    let mut out: Vec<Shade> = Vec::new();
    let mut seen: Vec<&crate::output::FaultWindowInfo> = Vec::new();
    for &vi in variants {
        for w in of(vi) {
            if seen.contains(&w) {
                continue;
            }
            seen.push(w);
            let holders: Vec<&str> = variants
                .iter()
                .filter(|&&vj| of(vj).contains(w))
                .map(|&vj| info.variants[vj].name.as_str())
                .collect();
            let label = if holders.len() == variants.len() {
                w.label.clone()
            } else {
                let mut names: Vec<&str> = Vec::new();
                for h in holders {
                    if !names.contains(&h) {
                        names.push(h);
                    }
                }
                format!("{} ({})", w.label, names.join(", "))
            };
            out.push(Shade {
                start_s: w.start_s,
                end_s: w.end_s,
                label,
            });
        }
    }
    out
}

/// The shades of one variant's panel in a figure of `variants` panels: its own
/// windows, labelled as in the union over the figure (a window not every panel
/// has names the variants that have it), so the figure's shared label row reads
/// right.
fn panel_shades(info: &ScenarioInfo, variants: &[usize], vi: usize) -> Vec<Shade> {
    let own = info.variants[vi]
        .windows
        .as_deref()
        .unwrap_or(&info.windows);
    let all = variant_shades(info, variants);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for w in own {
        if seen.contains(&w) {
            continue;
        }
        seen.push(w);
        // The union lists windows in first-seen order; find this one by
        // extent and base label.
        if let Some(s) = all.iter().find(|s| {
            s.start_s == w.start_s
                && s.end_s == w.end_s
                && (s.label == w.label || s.label.starts_with(&format!("{} (", w.label)))
        }) {
            out.push(s.clone());
        }
    }
    out
}

/// A swept value as a number: `8`, `1_000`, `0.5`, or an option `Some(100)`.
fn sweep_number(v: &str) -> Option<f64> {
    let v = v.trim();
    let v = v
        .strip_prefix("Some(")
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(v);
    v.trim().replace('_', "").parse().ok()
}

/// Cache charts: hit ratio and origin load over time with the variants overlaid
/// (mean over seeds per bucket), and per-node hit ratio (first seed, one panel per
/// variant) when some variant has several cache nodes.
fn cache_charts(
    info: &ScenarioInfo,
    by_variant: &[Vec<&RunResult>],
    ts_variants: &[usize],
    shades: &[Shade],
    seeds_note: &str,
) -> Vec<(String, Chart, String)> {
    let mut out = Vec::new();
    let with_caches: Vec<usize> = ts_variants
        .iter()
        .copied()
        .filter(|&vi| by_variant[vi].iter().any(|r| !r.caches.is_empty()))
        .collect();
    let overlay = |f: fn(&crate::sim::TsRow) -> f64| -> Vec<Series> {
        with_caches
            .iter()
            .map(|&vi| Series {
                name: label_of(info, vi),
                points: mean_series(&by_variant[vi], f),
            })
            .collect()
    };
    out.push((
        "cache-hit-ratio".into(),
        Chart::TimeSeries {
            title: format!("{}: cache hit ratio over time", info.name),
            x_label: "simulated time (s)".into(),
            y_label: "hit ratio (fraction of lookups)".into(),
            series: overlay(|r| r.cache_hit_ratio),
            shades: shades.to_vec(),
            log_y: false,
            strip: None,
        },
        format!("Hits / lookups over all cache nodes per time bucket, one line per variant ({seeds_note}); shaded: fault windows."),
    ));
    out.push((
        "cache-origin-load".into(),
        Chart::TimeSeries {
            title: format!("{}: load on the origin over time", info.name),
            x_label: "simulated time (s)".into(),
            y_label: "requests from caches to the origin per s".into(),
            series: overlay(|r| r.cache_origin_per_s),
            shades: shades.to_vec(),
            log_y: false,
            strip: None,
        },
        format!("Fetches, writes, flushes and refreshes the caches sent to their origins, one line per variant ({seeds_note}); shaded: fault windows."),
    ));
    if with_caches.iter().any(|&vi| {
        by_variant[vi]
            .iter()
            .any(|r| r.metric("cache_stale_reads").is_some_and(|x| x > 0.0))
    }) {
        out.push((
            "cache-stale-reads".into(),
            Chart::TimeSeries {
                title: format!("{}: stale cache reads over time", info.name),
                x_label: "simulated time (s)".into(),
                y_label: "stale reads (fraction of lookups)".into(),
                series: overlay(|r| r.cache_stale_read_rate),
                shades: shades.to_vec(),
                log_y: false,
                strip: None,
            },
            format!("Reads a cache answered with a value other than the latest write a cache acknowledged, per lookup, one line per variant ({seeds_note}); shaded: fault windows."),
        ));
    }
    let multi: Vec<usize> = with_caches
        .iter()
        .copied()
        .filter(|&vi| by_variant[vi].first().is_some_and(|r| r.caches.len() > 1))
        .collect();
    if !multi.is_empty() {
        let make = |vi: usize| {
            let r = by_variant[vi].first();
            let w = r.map(|r| bucket_width(r)).unwrap_or(1.0);
            let series = r
                .map(|r| {
                    r.caches
                        .iter()
                        // Nodes that never looked anything up (a write gateway) have no line.
                        .filter(|c| c.hits.iter().chain(&c.misses).any(|&x| x > 0))
                        .map(|c| Series {
                            name: c.name.clone(),
                            points: (0..c.hits.len())
                                .map(|b| ((b as f64 + 0.5) * w, c.hit_ratio(b)))
                                .collect(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Chart::TimeSeries {
                title: if multi.len() == 1 {
                    format!("{}: hit ratio per cache node", info.name)
                } else {
                    label_of(info, vi)
                },
                x_label: "simulated time (s)".into(),
                y_label: "hit ratio (fraction)".into(),
                series,
                shades: shades.to_vec(),
                log_y: false,
                strip: None,
            }
        };
        let chart = if multi.len() == 1 {
            make(multi[0])
        } else {
            Chart::Panels {
                title: format!("{}: hit ratio per cache node", info.name),
                panels: multi.iter().map(|&vi| make(vi)).collect(),
            }
        };
        out.push((
            "cache-nodes-hit-ratio".into(),
            chart,
            "Per cache node, first seed; a crashed node has no lookups (gap).".into(),
        ));
    }
    out
}

/// Per-backend share of requests over time: for each variant's first seed, the
/// requests every balancer (and smart client) of the run sent to each backend
/// (by backend name), divided by all they sent, per bucket.
fn balancer_charts(
    info: &ScenarioInfo,
    by_variant: &[Vec<&RunResult>],
    ts_variants: &[usize],
) -> Vec<(String, Chart, String)> {
    let with: Vec<usize> = ts_variants
        .iter()
        .copied()
        .filter(|&vi| {
            by_variant[vi]
                .first()
                .is_some_and(|r| !r.balancers.is_empty())
        })
        .collect();
    if with.is_empty() {
        return Vec::new();
    }
    let make = |vi: usize| {
        let r = by_variant[vi][0];
        let w = bucket_width(r);
        let mut names: Vec<&str> = Vec::new();
        for l in &r.balancers {
            for b in &l.backends {
                if !names.contains(&b.as_str()) {
                    names.push(b);
                }
            }
        }
        let nb = r
            .balancers
            .iter()
            .flat_map(|l| l.requests.iter().map(Vec::len))
            .max()
            .unwrap_or(0);
        let count = |name: Option<&str>, t: usize| -> u64 {
            r.balancers
                .iter()
                .flat_map(|l| l.backends.iter().zip(&l.requests))
                .filter(|(b, _)| name.is_none_or(|n| b.as_str() == n))
                .map(|(_, req)| req.get(t).copied().unwrap_or(0))
                .sum()
        };
        let series = names
            .iter()
            .map(|&n| Series {
                name: n.to_string(),
                points: (0..nb)
                    .map(|t| {
                        let all = count(None, t);
                        let y = if all == 0 {
                            f64::NAN
                        } else {
                            count(Some(n), t) as f64 / all as f64
                        };
                        ((t as f64 + 0.5) * w, y)
                    })
                    .collect(),
            })
            .collect();
        Chart::TimeSeries {
            title: if with.len() == 1 {
                format!("{}: share of requests per backend", info.name)
            } else {
                label_of(info, vi)
            },
            x_label: "simulated time (s)".into(),
            y_label: "share".into(),
            series,
            shades: panel_shades(info, &with, vi),
            log_y: false,
            strip: None,
        }
    };
    let chart = if with.len() == 1 {
        make(with[0])
    } else {
        Chart::Panels {
            title: format!("{}: share of requests per backend", info.name),
            panels: with.iter().map(|&vi| make(vi)).collect(),
        }
    };
    vec![(
        "balancer-backend-share".into(),
        chart,
        format!(
            "Requests sent to each backend / all requests sent, per time bucket, summed over every balancer (and smart client) of the run; first seed ({}); shaded: fault windows. A gap: nothing was sent.",
            info.seeds.first().copied().unwrap_or(1)
        ),
    )]
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect()
}

fn cell(a: Option<Agg>, ci: bool) -> String {
    match a {
        Some(a) if !a.mean.is_nan() => {
            let p = if a.mean.abs() >= 100.0 {
                1
            } else if a.mean.abs() >= 1.0 {
                3
            } else {
                4
            };
            if ci && a.n > 1 {
                format!("{:.*} ± {:.*}", p, a.mean, p, a.ci95)
            } else {
                format!("{:.*}", p, a.mean)
            }
        }
        _ => "–".into(),
    }
}

fn report_model(
    info: &ScenarioInfo,
    runs: &[RunRecord],
    aggs: &[Vec<(String, Agg)>],
    charts: Vec<ChartRef>,
) -> ReportModel {
    let nv = info.variants.len();
    let ci = info.seeds.len() > 1;
    let key = [
        "throughput_per_s",
        "availability",
        "latency_ms_p50",
        "latency_ms_p99",
        "latency_ms_p999",
        "errors",
        "rejected",
        "timeouts",
    ];
    let mut extra: Vec<String> = Vec::new();
    for a in aggs {
        for (m, _) in a {
            if !key.contains(&m.as_str())
                && !m.starts_with("node.")
                && !m.starts_with("class.")
                && !extra.contains(m)
            {
                extra.push(m.clone());
            }
        }
    }
    let get = |vi: usize, m: &str| aggs[vi].iter().find(|(n, _)| n == m).map(|(_, a)| *a);
    let mut headers = vec!["variant".to_string()];
    headers.extend(key.iter().map(|k| k.to_string()));
    let rows = (0..nv).map(|vi| {
        let mut r = vec![label_of(info, vi)];
        r.extend(key.iter().map(|k| cell(get(vi, k), ci)));
        r
    });
    let mut tables = vec![Table {
        title: "Summary by variant".into(),
        headers,
        rows: rows.collect(),
        caption: Some(if ci {
            format!(
                "Mean ± 95% confidence interval over {} seeds.",
                info.seeds.len()
            )
        } else {
            "One seed.".into()
        }),
    }];
    let mut h2 = vec!["metric".to_string()];
    h2.extend((0..nv).map(|vi| label_of(info, vi)));
    let rows2: Vec<Vec<String>> = extra
        .iter()
        .map(|m| {
            let mut r = vec![m.clone()];
            r.extend((0..nv).map(|vi| cell(get(vi, m), ci)));
            r
        })
        .collect();
    tables.push(Table {
        title: "All summary metrics".into(),
        headers: h2,
        rows: rows2,
        caption: None,
    });
    // Per-node table for the first run of each variant (simulated vs theory).
    for vi in 0..nv.min(6) {
        if let Some(r) = runs.iter().find(|r| r.variant == vi) {
            if r.result.nodes.is_empty() {
                continue;
            }
            let headers = [
                "node",
                "workers",
                "offered/s",
                "utilization",
                "queue length",
                "sojourn ms (sim)",
                "sojourn ms (theory)",
                "model",
                "rejected",
                "lost in crashes",
            ]
            .map(String::from)
            .to_vec();
            let rows = r.result.nodes.iter().map(|n| {
                let p = n.prediction.as_ref();
                vec![
                    n.name.clone(),
                    n.workers.to_string(),
                    n.offered_per_s
                        .map(|l| format!("{l:.1}"))
                        .unwrap_or_else(|| "–".into()),
                    format!("{:.4}", n.utilization),
                    format!("{:.4}", n.queue_len_mean),
                    format!("{:.4}", n.sojourn_ms_mean),
                    p.filter(|p| !p.sojourn_s.is_nan())
                        .map(|p| format!("{:.4}", p.sojourn_s * 1e3))
                        .unwrap_or_else(|| "–".into()),
                    p.map(|p| format!("{}{}", p.model, if p.exact { "" } else { " (approx.)" }))
                        .unwrap_or_default(),
                    n.rejected.to_string(),
                    n.lost_crash.to_string(),
                ]
            });
            tables.push(Table { title: format!("Nodes — {} (seed {})", label_of(info, vi), r.result.seed), headers, rows: rows.collect(), caption: Some("Theory: queueing formula for leaf stations with Poisson arrivals (M/M/c/K, Pollaczek–Khinchine …).".into()) });
        }
    }
    let mut commands = vec![(
        "Run everything again".to_string(),
        format!(
            "capsim run {} --seed {} --seeds {}",
            info.file,
            info.seeds.first().copied().unwrap_or(1),
            info.seeds.len()
        ),
    )];
    for r in runs.iter().take(50) {
        commands.push((
            format!("{} seed {}", label_of(info, r.variant), r.result.seed),
            info.replay(r.variant, r.result.seed),
        ));
    }
    if runs.len() > 50 {
        commands.push((
            "…".into(),
            format!("{} more runs: see summary.json", runs.len() - 50),
        ));
    }
    let mut notes = Vec::new();
    for r in runs {
        if r.result.end == crate::engine::RunEnd::EventLimit {
            notes.push(format!(
                "{} seed {}: {}",
                label_of(info, r.variant),
                r.result.seed,
                r.result.end_message
            ));
        }
    }
    let _ = aggregate(&[]);
    ReportModel {
        title: info.name.clone(),
        description: info.description.clone(),
        question: info.question.clone(),
        variants: (0..nv)
            .map(|vi| (label_of(info, vi), info.variants[vi].description.clone()))
            .collect(),
        tables,
        charts,
        commands,
        notes,
        generated_by: format!(
            "capsim {} — {} runs, seeds {:?}",
            info.capsim_version,
            runs.len(),
            info.seeds
        ),
    }
}
