//! Where things go on screen. Update code uses the same arithmetic as drawing (page sizes,
//! scrolling), so both agree without the drawing code having to write anything back.

use ratatui::layout::Rect;

/// The four bands of every screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Server, connection, counts, READ-ONLY.
    pub header: Rect,
    /// The view's title, filter and sort.
    pub title: Rect,
    pub body: Rect,
    /// A flash message, the command line, or key hints.
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let row = |y: u16, height: u16| Rect::new(area.x, area.y + y, area.width, height);
    let h = area.height;
    Areas {
        header: row(0, h.min(1)),
        title: row(1.min(h), h.saturating_sub(1).min(1)),
        body: row(2.min(h), h.saturating_sub(3)),
        footer: row(h.saturating_sub(1), h.min(1)),
    }
}

/// The whole screen for a terminal size.
pub fn screen(size: (u16, u16)) -> Rect {
    Rect::new(0, 0, size.0, size.1)
}

/// Data rows a list view shows (its body less the table's header row).
pub fn list_rows(size: (u16, u16)) -> usize {
    areas(screen(size)).body.height.saturating_sub(1) as usize
}

/// The run view: facts and states on the left, task runs on the right, logs below.
pub struct RunAreas {
    pub facts: Rect,
    pub tasks: Rect,
    pub logs_title: Rect,
    pub logs: Rect,
}

pub fn run_areas(body: Rect) -> RunAreas {
    let top = (body.height / 2)
        .clamp(6, 14)
        .min(body.height.saturating_sub(3));
    let left = if body.width >= 100 {
        body.width * 3 / 5
    } else {
        body.width / 2
    };
    RunAreas {
        facts: Rect::new(body.x, body.y, left, top),
        tasks: Rect::new(
            body.x + left + 1,
            body.y,
            body.width.saturating_sub(left + 1),
            top,
        ),
        logs_title: Rect::new(body.x, body.y + top, body.width, 1),
        logs: Rect::new(
            body.x,
            body.y + top + 1,
            body.width,
            body.height.saturating_sub(top + 1),
        ),
    }
}

/// The deployment view: properties on the left and runs on the right when the body is wide
/// (`None` for the runs: both go one under the other, in the first area, when it is narrow).
pub fn deployment_areas(body: Rect) -> (Rect, Option<Rect>) {
    if body.width >= 120 {
        let left = body.width * 11 / 20;
        (
            Rect::new(body.x + 1, body.y, left - 1, body.height),
            Some(Rect::new(
                body.x + left + 1,
                body.y,
                body.width - left - 1,
                body.height,
            )),
        )
    } else {
        let all = Rect::new(
            body.x + 1,
            body.y,
            body.width.saturating_sub(1),
            body.height,
        );
        (all, None)
    }
}

/// The log pane's size (columns, rows) for a terminal size.
pub fn log_pane(size: (u16, u16)) -> (usize, usize) {
    let logs = run_areas(areas(screen(size)).body).logs;
    (logs.width as usize, logs.height as usize)
}

/// A box of `width` × `height` centred in `area` (cut to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
