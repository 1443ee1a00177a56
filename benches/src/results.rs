//! Bench results on disk: one CSV per bench and a line plot (PNG, `plotters`) of its
//! series, both under `target/bench-results/`.
//!
//! Plots need a TrueType sans-serif font through fontconfig (Debian: `fonts-dejavu-core`,
//! installed by `scripts/setup.sh`); without one the PNG is skipped with a message and the
//! CSV still holds every figure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// `target/bench-results/` of this workspace (or of `CARGO_TARGET_DIR`), created if missing.
pub fn results_dir() -> std::io::Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("bench-results");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `NAME.csv`: the header, then one line per row. Cells are written as given, so
/// they must not contain commas or newlines.
pub fn write_csv(name: &str, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<PathBuf> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        debug_assert_eq!(row.len(), header.len(), "a CSV row has one cell per column");
        let _ = writeln!(text, "{}", row.join(","));
    }
    let path = results_dir()?.join(format!("{name}.csv"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One line of a plot: a label and its points (x, y).
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart: every series shares the axes; y starts at zero.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// Draws `chart` into `NAME.png` (1024×640).
pub fn write_png(name: &str, chart: &Chart) -> Result<PathBuf, String> {
    let path = results_dir()
        .map_err(|e| format!("bench-results directory: {e}"))?
        .join(format!("{name}.png"));
    draw(&path, chart).map_err(|e| format!("plotting {}: {e}", path.display()))?;
    Ok(path)
}

fn draw(path: &Path, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_max) = (0.0_f64, 0.0_f64);
    for (x, y) in points {
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };

    let root = BitMapBackend::new(path, (1024, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    plot.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .draw()?;
    for (series, color) in chart.series.iter().zip(PALETTE.iter().cycle()) {
        let color = *color;
        plot.draw_series(LineSeries::new(
            series.points.iter().copied(),
            color.stroke_width(2),
        ))?
        .label(series.label.as_str())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        plot.draw_series(
            series
                .points
                .iter()
                .map(|&point| Circle::new(point, 4, color.filled())),
        )?;
    }
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_drawn_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let png = std::env::var_os("NETSETTLE_PLOT_TEST_OUT")
            .map_or_else(|| dir.path().join("x.png"), std::path::PathBuf::from);
        let chart = Chart {
            title: "test".into(),
            x_label: "clients".into(),
            y_label: "tx/s".into(),
            series: vec![Series {
                label: "committed".into(),
                points: vec![(1.0, 10.0), (2.0, 25.0), (4.0, 30.0)],
            }],
        };
        draw(&png, &chart).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
