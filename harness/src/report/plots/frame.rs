//! A plot's frame, drawn by plotters' SVG backend: the time axis in seconds since the test
//! started, the labelled value axis, the grid, the legend, and the series that need no link or
//! tooltip. [`Area`] maps times and values to the frame's pixels for the marks drawn over it.

use plotters::coord::Shift;
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::{
    BLACK, ChartBuilder, Circle, DrawingArea, EmptyElement, IntoDrawingArea, Rectangle, SVGBackend,
    SeriesLabelPosition, WHITE,
};
use plotters::style::{Color, TRANSPARENT};

use super::Span;
use super::palette::{Look, Paint};

/// Every plot's width in pixels.
pub(crate) const WIDTH: u32 = 1000;
/// Room at the right of the plot for the legend.
const LEGEND_WIDTH: u32 = 220;
/// Room above the plotting area.
const TOP: u32 = 10;
/// Room below the plotting area for the time axis's ticks and name.
const BOTTOM_AXIS: u32 = 44;
/// Room at the left of the plotting area for the value axis's ticks and name.
const LEFT_AXIS: u32 = 78;
/// A legend's rows' height, and the room around them.
const LEGEND_ROW: u32 = 18;
const LEGEND_PAD: u32 = 14;
/// Font size of tick labels, axis names and the legend, in plotters' units.
const FONT: u32 = 15;

/// What a plot's drawing failed at (the SVG backend writes into a String: never, in practice).
pub(crate) type DrawError = DrawingAreaErrorKind<std::io::Error>;

/// The value axis of a plot.
pub(crate) enum Values {
    /// A linear axis from 0 to `top`, named `name`.
    Linear {
        /// The axis's name, with its unit.
        name: &'static str,
        /// The largest value.
        top: f64,
    },
    /// One row per name, top to bottom, the axis named `name`.
    Rows {
        /// The axis's name.
        name: &'static str,
        /// The rows' names.
        rows: Vec<String>,
    },
}

/// A legend entry: what a paint means in this plot.
pub(crate) struct Key {
    /// The words.
    pub(crate) label: String,
    /// The paint it explains.
    pub(crate) paint: Paint,
}

impl Key {
    /// `paint` explained by `label`.
    pub(crate) fn new(label: impl Into<String>, paint: Paint) -> Key {
        Key { label: label.into(), paint }
    }
}

/// A point plotters draws: seconds since the test started, a value, its paint.
pub(crate) type Dot = (f64, f64, Paint);

/// A drawn frame: the SVG plotters wrote, and where its plotting area lies.
pub(crate) struct Frame {
    /// The elements plotters drew, without the `<svg>` element it wrote around them: the
    /// plot's own `<svg>` holds them and the marks drawn over them.
    pub(crate) elements: String,
    /// The plotting area, to place marks over it.
    pub(crate) area: Area,
    /// The frame's height in pixels.
    pub(crate) height: u32,
}

/// The plotting area of a frame in pixels, and the times and values it spans.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Area {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    span: Span,
    /// The value at the top (the number of rows, for rows).
    top_value: f64,
}

impl Area {
    /// The x pixel of `ms` since the test started (clamped to the span).
    pub(crate) fn x(&self, ms: u64) -> f64 {
        let at = ms.clamp(self.span.first, self.span.last) - self.span.first;
        self.left + at as f64 / (self.span.last - self.span.first) as f64 * (self.right - self.left)
    }

    /// The y pixel of `value` on a linear axis (clamped to the axis).
    pub(crate) fn y(&self, value: f64) -> f64 {
        let share = (value / self.top_value).clamp(0.0, 1.0);
        self.bottom - share * (self.bottom - self.top)
    }

    /// The top pixel and height of row `i` (0 the top row).
    pub(crate) fn row(&self, i: usize) -> (f64, f64) {
        let height = (self.bottom - self.top) / self.top_value;
        (self.top + i as f64 * height, height)
    }

    /// The area's top and bottom pixels.
    pub(crate) fn vertical(&self) -> (f64, f64) {
        (self.top, self.bottom)
    }
}

/// A value axis whose ticks we choose (at the rows' middles, or plotters' round values), with
/// no light grid lines between them.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Seconds as a tick label: at most three decimals, no trailing zeros.
fn seconds(s: f64) -> String {
    let text = format!("{s:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{} s", if text == "-0" { "0" } else { text })
}

/// A value as a tick label.
fn value(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// Draws the legend `keys` in `area` (right of the plot, its top level with the plot's): a
/// chart of its own with no axes, whose series are the keys, each with no points.
fn legend(area: &DrawingArea<SVGBackend<'_>, Shift>, keys: &[Key]) -> Result<(), DrawError> {
    let mut chart = ChartBuilder::on(area).margin_top(TOP).build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    for key in keys {
        let (style, look) = (key.paint.style(), key.paint.look);
        // A faint fill (a fault window's shade) gets an outline to be seen on the legend's white.
        let outline = if key.paint.opacity < 1.0 { BLACK.mix(0.3) } else { TRANSPARENT };
        chart.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?.label(key.label.as_str()).legend(
            move |at| {
                let glyph = match look {
                    Look::Line => Rectangle::new([(7, -7), (9, 7)], style.filled()),
                    Look::Fill | Look::Frame => Rectangle::new([(0, -6), (16, 6)], style),
                };
                EmptyElement::at(at) + glyph + Rectangle::new([(0, -6), (16, 6)], outline)
            },
        );
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", FONT))
        .legend_area_size(22)
        .background_style(WHITE)
        .border_style(BLACK.mix(0.3))
        .draw()
}

/// What lies inside the outermost element of `svg`, plotters' document (`<svg ...>` on a line
/// of its own, the elements, `</svg>`).
fn inside(svg: &str) -> &str {
    let start = svg.find(">\n").map_or(0, |i| i + 2);
    let end = svg.rfind("</svg>").unwrap_or(svg.len()).max(start);
    &svg[start..end]
}

/// Draws a frame over `span` whose plotting area is at least `content` pixels high (more when
/// the legend needs it), with the `values` axis, the legend `keys`, and `dots`.
pub(crate) fn draw(
    span: Span,
    content: u32,
    values: &Values,
    keys: &[Key],
    dots: &[Dot],
) -> Result<Frame, DrawError> {
    let legend_height = keys.len() as u32 * LEGEND_ROW + LEGEND_PAD;
    let height = TOP + content.max(legend_height) + BOTTOM_AXIS;
    let (top_value, ticks) = match values {
        Values::Linear { top, .. } => (*top, RangedCoordf64::from(0.0..*top).key_points(6)),
        Values::Rows { rows, .. } => {
            let n = rows.len().max(1);
            (n as f64, (0..n).map(|i| i as f64 + 0.5).collect())
        }
    };
    let row_name = |v: &f64| match values {
        Values::Rows { rows, .. } => {
            let from_top = rows.len().checked_sub(1 + v.floor().max(0.0) as usize);
            from_top.and_then(|i| rows.get(i)).cloned().unwrap_or_default()
        }
        Values::Linear { .. } => value(*v),
    };
    let name = match values {
        Values::Linear { name, .. } | Values::Rows { name, .. } => *name,
    };
    let x_range = span.first as f64 / 1000.0..span.last as f64 / 1000.0;
    let mut svg = String::new();
    let area = {
        let root: DrawingArea<_, Shift> =
            SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let (plot, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(TOP)
            .margin_left(4)
            .margin_right(12)
            .x_label_area_size(BOTTOM_AXIS)
            .y_label_area_size(LEFT_AXIS)
            .build_cartesian_2d(x_range, Ticked { inner: (0.0..top_value).into(), ticks })?;
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(12)
            .x_label_formatter(&|s| seconds(*s))
            .x_desc("time since the test started")
            .y_label_formatter(&row_name)
            .y_desc(name)
            .label_style(("sans-serif", FONT))
            .axis_desc_style(("sans-serif", FONT))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12));
        if matches!(values, Values::Rows { .. }) {
            mesh.disable_y_mesh();
        }
        mesh.draw()?;
        chart.draw_series(dots.iter().map(|(s, v, paint)| Circle::new((*s, *v), 2, paint.style())))?;
        if !keys.is_empty() {
            legend(&legend_area, keys)?;
        }
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        root.present()?;
        Area {
            left: xs.start as f64,
            right: xs.end as f64,
            top: ys.start as f64,
            bottom: ys.end as f64,
            span,
            top_value,
        }
    };
    Ok(Frame { elements: inside(&svg).to_string(), area, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_seconds_with_no_trailing_zeros() {
        assert_eq!(seconds(0.0), "0 s");
        assert_eq!(seconds(0.30000000000000004), "0.3 s");
        assert_eq!(seconds(12.0), "12 s");
        assert_eq!(seconds(1.25), "1.25 s");
    }

    #[test]
    fn the_area_maps_the_span_onto_the_plotting_area() {
        let span = Span { first: 1000, last: 3000 };
        let values = Values::Linear { name: "latency (ms)", top: 10.0 };
        let frame = draw(span, 100, &values, &[], &[]).unwrap();
        let a = frame.area;
        assert_eq!((a.x(1000), a.x(3000)), (a.left, a.right));
        assert_eq!(a.x(2000), (a.left + a.right) / 2.0);
        assert_eq!((a.y(0.0), a.y(10.0), a.y(20.0)), (a.bottom, a.top, a.top), "clamped at the top");
        assert!(!frame.elements.contains("svg") && frame.elements.contains("<text "), "{}", frame.elements);
        assert_eq!(inside("<svg width=\"1\">\n<rect/>\n</svg>\n"), "<rect/>\n");
    }
}
