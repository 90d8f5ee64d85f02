//! Report charts as PNG images, drawn with plotters into memory and encoded with `png`.
//!
//! The font is compiled in (DejaVu Sans, `assets/`), so a server without any fonts draws the same
//! charts. plotters does not shape Persian or Arabic script, so images carry only numbers, dates
//! and short Latin labels; titles and figures in the reader's language go in the caption.
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1000, 560);

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

fn font_ready() -> Result<(), ChartError> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| ChartError("the embedded font".into()))
}

fn fail(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// A white canvas handed to `draw`, then encoded as PNG.
fn canvas(
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), ChartError>,
) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        draw(&root)?;
        root.present().map_err(fail)?;
    }
    png(&buf, SIZE)
}

/// The value axis' end: a little above the largest value (1 when there is none).
fn top_of(values: &[(String, f64)]) -> f64 {
    let top = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    if top <= 0.0 { 1.0 } else { top * 1.12 }
}

/// Encodes an RGB buffer as PNG.
fn png(buf: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, w, h);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(fail)?;
    w.write_image_data(buf).map_err(fail)?;
    drop(w);
    Ok(out)
}

/// A bar per day: `values` are (label like `11-30`, value); `title` is short Latin text.
pub fn daily_bars(
    title: &str,
    values: &[(String, f64)],
    color: RGBColor,
) -> Result<Vec<u8>, ChartError> {
    canvas(|root| {
        let top = top_of(values);
        let n = values.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 28))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..top)
            .map_err(fail)?;
        let every = n.div_ceil(10).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) if i % every == 0 => {
                    values.get(*i).map(|v| v.0.clone()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|y| short_number(*y))
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(color.filled())
                    .margin(2)
                    .data(values.iter().enumerate().map(|(i, (_, v))| (i, *v))),
            )
            .map_err(fail)?;
        Ok(())
    })
}

/// Horizontal bars for a breakdown (by plan, by method): `values` are (short Latin label,
/// value), largest first.
pub fn breakdown(
    title: &str,
    values: &[(String, f64)],
    color: RGBColor,
) -> Result<Vec<u8>, ChartError> {
    canvas(|root| {
        let top = top_of(values);
        let n = values.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 28))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(160)
            .build_cartesian_2d(0.0..top, (0..n).into_segmented())
            .map_err(fail)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) => {
                    values.get(*i).map(|v| v.0.clone()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_label_formatter(&|x| short_number(*x))
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(
                Histogram::horizontal(&chart)
                    .style(color.filled())
                    .margin(6)
                    .data(values.iter().enumerate().map(|(i, (_, v))| (i, *v))),
            )
            .map_err(fail)?;
        Ok(())
    })
}

/// 1234567 → `1.2M`, 45000 → `45k`: axis labels stay short.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_png_images_drawn_without_system_fonts() {
        let days: Vec<(String, f64)> = (1..=30)
            .map(|d| (format!("11-{d:02}"), f64::from(d * 1000)))
            .collect();
        let image = daily_bars("Revenue per day (IRT)", &days, BLUE).unwrap();
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        assert!(image.len() > 5_000, "{}", image.len());
        let split = breakdown(
            "Revenue by plan",
            &[("#1".into(), 5.0), ("#2".into(), 2.0)],
            GREEN,
        )
        .unwrap();
        // To look at them: VPNSHOP_CHART_DIR=/tmp cargo test -p vpnshop-bot charts
        if let Ok(dir) = std::env::var("VPNSHOP_CHART_DIR") {
            std::fs::write(format!("{dir}/daily.png"), &image).unwrap();
            std::fs::write(format!("{dir}/breakdown.png"), &split).unwrap();
        }
        assert_eq!(&split[..8], b"\x89PNG\r\n\x1a\n");
        // Nothing sold yet draws an empty chart, not an error.
        assert!(daily_bars("New customers per day", &[], RED).is_ok());
    }
}
