//! The plots: ROC curves on logarithmic axes (`roc.svg`) and learning curves of an incremental
//! run (`learning.svg`), drawn with plotters' SVG backend.

use std::path::Path;

use anyhow::{Result, anyhow};
use chaff_core::metrics;
use plotters::prelude::*;

use super::RunResult;

const COLORS: [RGBColor; 10] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e}")
}

/// The largest power of ten at or below `x`.
fn floor_pow10(x: f64) -> f64 {
    10f64.powf(x.log10().floor())
}

/// ROC curves: ham misclassification % (x, log) against spam misclassification % (y, log), one
/// curve per filter. A rate of 0 sits on the axis minimum, half a message below the smallest
/// possible non-zero rate.
pub fn roc(path: &Path, results: &[RunResult]) -> Result<()> {
    let count = |spam: bool| {
        results
            .iter()
            .map(|r| r.rows.iter().filter(|x| x.1 == spam).count())
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let x_min = floor_pow10(50.0 / count(false) as f64).min(0.1);
    let y_min = floor_pow10(50.0 / count(true) as f64).min(0.1);
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("ROC (lower left is better)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((x_min..100f64).log_scale(), (y_min..100f64).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x}"))
        .y_label_formatter(&|y| format!("{y}"))
        .x_desc("ham misclassification % (log scale)")
        .y_desc("spam misclassification % (log scale)")
        .draw()
        .map_err(err)?;
    let curves = results.iter().map(|r| {
        let scored: Vec<(bool, f64)> = r.rows.iter().map(|x| (x.1, x.2)).collect();
        let points: Vec<(f64, f64)> = metrics::roc_curve(&scored)
            .into_iter()
            .map(|(fpr, tpr)| ((100.0 * fpr).max(x_min), (100.0 * (1.0 - tpr)).max(y_min)))
            .collect();
        (r.name.clone(), points)
    });
    draw_curves(&mut chart, curves)?;
    root.present().map_err(err)?;
    Ok(())
}

/// One line per filter, in the house colours, and the legend in the upper right.
fn draw_curves<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    curves: impl Iterator<Item = (String, Vec<(f64, f64)>)>,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    for (i, (name, points)) in curves.enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Cumulative errors per 1,000 messages, at each point of the run: misclassifications at the
/// natural threshold among the first `i` messages, times 1,000 / `i`. At most ~500 points.
pub fn learning_points(r: &RunResult) -> Vec<(f64, f64)> {
    let n = r.rows.len();
    let every = (n / 500).max(1);
    let mut errors = 0usize;
    let mut points = Vec::new();
    for (i, (_, spam, s)) in r.rows.iter().enumerate() {
        errors += ((*s >= r.threshold) != *spam) as usize;
        if (i + 1) % every == 0 || i + 1 == n {
            points.push(((i + 1) as f64, 1000.0 * errors as f64 / (i + 1) as f64));
        }
    }
    points
}

/// Learning curves of an incremental run: errors per 1,000 messages so far, against messages
/// seen.
pub fn learning(path: &Path, results: &[RunResult]) -> Result<()> {
    let curves: Vec<Vec<(f64, f64)>> = results.iter().map(learning_points).collect();
    let n = results
        .iter()
        .map(|r| r.rows.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // The first few messages give rates up to 1,000; scale to what the curves do after 5 %.
    let y_max = curves
        .iter()
        .flatten()
        .filter(|p| p.0 >= n * 0.05)
        .map(|p| p.1)
        .fold(1.0f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Learning curve (incremental run)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("messages seen")
        .y_desc("errors per 1,000 messages so far")
        .draw()
        .map_err(err)?;
    let clipped = results.iter().zip(curves).map(|(r, points)| {
        let points = points.into_iter().map(|(x, y)| (x, y.min(y_max))).collect();
        (r.name.clone(), points)
    });
    draw_curves(&mut chart, clipped)?;
    root.present().map_err(err)?;
    Ok(())
}
