//! The plots' colours, one list for both the page's CSS (the classes of the marks we draw
//! ourselves) and plotters (the legend's glyphs and the series it draws), so a legend never
//! shows a colour the plot does not use.

use plotters::style::{Color, RGBColor, ShapeStyle};

/// How a mark is painted.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Look {
    /// Filled with the colour (at the paint's opacity).
    Fill,
    /// A dashed frame in the colour, not filled.
    Frame,
    /// A line in the colour.
    Line,
}

/// A mark's colour: its CSS class, its colour and opacity, and how it is painted.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct Paint {
    /// The class of the marks painted so.
    pub(crate) class: &'static str,
    /// The colour.
    pub(crate) rgb: (u8, u8, u8),
    /// The opacity, 0 to 1.
    pub(crate) opacity: f64,
    /// Filled, framed or a line.
    pub(crate) look: Look,
}

const fn fill(class: &'static str, rgb: (u8, u8, u8), opacity: f64) -> Paint {
    Paint { class, rgb, opacity, look: Look::Fill }
}

/// A node saying Master.
pub(crate) const MASTER: Paint = fill("Master", (0xc6, 0x28, 0x28), 1.0);
/// A node saying Backup.
pub(crate) const BACKUP: Paint = fill("Backup", (0x15, 0x65, 0xc0), 1.0);
/// A node waiting for an election.
pub(crate) const WAIT_ELECTION: Paint = fill("WaitElection", (0xef, 0x6c, 0x00), 1.0);
/// A node that did not answer.
pub(crate) const DOWN: Paint = fill("down", (0x9e, 0x9e, 0x9e), 1.0);
/// A fault's window (every fault but packet faults).
pub(crate) const FAULT: Paint = fill("fault", (0, 0, 0), 0.08);
/// A packet fault's window.
pub(crate) const PACKET: Paint = fill("packet", (0x15, 0x65, 0xc0), 0.12);
/// A split-brain window.
pub(crate) const SPLIT: Paint = fill("split", (0xc6, 0x28, 0x28), 0.25);
/// An operation that succeeded.
pub(crate) const OK: Paint = fill("ok", (0x2e, 0x7d, 0x32), 1.0);
/// An operation that failed.
pub(crate) const FAIL: Paint = fill("fail", (0xc6, 0x28, 0x28), 1.0);
/// An operation whose outcome is unknown.
pub(crate) const INFO: Paint = fill("info", (0xef, 0x6c, 0x00), 1.0);
/// A deposed master serving while a rival did.
pub(crate) const DEPOSED: Paint =
    Paint { class: "deposed", rgb: (0x6a, 0x1b, 0x9a), opacity: 1.0, look: Look::Frame };
/// An update a deposed master acknowledged (discarded at its recovery).
pub(crate) const DISCARDED: Paint = fill("discarded", (0x6a, 0x1b, 0x9a), 1.0);
/// A read a deposed master answered (possibly stale).
pub(crate) const STALE: Paint = fill("stale", (0xf9, 0xa8, 0x25), 1.0);
/// An acknowledged set element missing from the final read.
pub(crate) const LOST: Paint = fill("lost", (0, 0, 0), 1.0);
/// The operation no linearization explains.
pub(crate) const NONLINEARIZABLE: Paint =
    Paint { class: "nonlinearizable", rgb: (0, 0, 0), opacity: 1.0, look: Look::Line };

/// Every paint, for the page's CSS.
const ALL: [Paint; 15] = [
    MASTER,
    BACKUP,
    WAIT_ELECTION,
    DOWN,
    FAULT,
    PACKET,
    SPLIT,
    OK,
    FAIL,
    INFO,
    DEPOSED,
    DISCARDED,
    STALE,
    LOST,
    NONLINEARIZABLE,
];

impl Paint {
    /// The colour as CSS writes it.
    fn hex(self) -> String {
        let (r, g, b) = self.rgb;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// The paint as plotters draws it: filled (at its opacity) or stroked.
    pub(crate) fn style(self) -> ShapeStyle {
        let (r, g, b) = self.rgb;
        let colour = RGBColor(r, g, b).mix(self.opacity);
        match self.look {
            Look::Fill => colour.filled(),
            Look::Frame | Look::Line => colour.stroke_width(2),
        }
    }

    /// The paint for an operation's outcome, by its type's name (`ok`, `fail`, `info`).
    pub(crate) fn of_outcome(name: &str) -> Paint {
        match name {
            "ok" => OK,
            "fail" => FAIL,
            _ => INFO,
        }
    }
}

/// The CSS rule of every paint's class.
pub(crate) fn css() -> String {
    ALL.iter()
        .map(|p| {
            let opacity = if p.opacity < 1.0 { format!(";opacity:{}", p.opacity) } else { String::new() };
            match p.look {
                Look::Fill => format!(".{}{{fill:{}{opacity}}}", p.class, p.hex()),
                Look::Frame => format!(
                    ".{}{{fill:none;stroke:{};stroke-width:2;stroke-dasharray:4 2{opacity}}}",
                    p.class,
                    p.hex()
                ),
                Look::Line => format!(".{}{{stroke:{};stroke-width:2{opacity}}}", p.class, p.hex()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_one_rule_in_its_colour() {
        let css = css();
        assert!(css.contains(".Master{fill:#c62828}"), "{css}");
        assert!(css.contains(".fault{fill:#000000;opacity:0.08}"), "{css}");
        assert!(css.contains(".deposed{fill:none;stroke:#6a1b9a;"), "{css}");
        for p in ALL {
            assert_eq!(css.matches(&format!(".{}{{", p.class)).count(), 1, "{}", p.class);
        }
    }
}
