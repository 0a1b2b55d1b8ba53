//! One deployment in full: every property, its parameters with their declared types, its
//! upcoming and recent runs.

use chrono::Duration;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use rigel_common::deployment::Deployment;
use rigel_common::flow_data::DataEncoding;
use rigel_common::state::StateType;
use uuid::Uuid;

use super::params::declared;
use super::runs::state_cell;
use super::{Cx, Handled};
use crate::app::{Action, RunScope};
use crate::msg::Change;
use crate::store::{DeploymentFacts, RunRow};
use crate::ui::format;
use crate::ui::layout::{areas, deployment_areas, screen};
use crate::ui::list::{nav_key, Nav};
use crate::ui::theme::Theme;

pub struct DeploymentView {
    pub id: Uuid,
    pub scroll: u16,
    /// Newest first; `None` until fetched (the lists' runs are shown meanwhile).
    pub recent: Option<Vec<RunRow>>,
    pub upcoming: Option<Vec<RunRow>>,
}

impl DeploymentView {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            scroll: 0,
            recent: None,
            upcoming: None,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        let Some((d, f)) = cx.store.deployment(self.id) else {
            return Handled::Ignored;
        };
        if let Some(nav) = nav_key(&key) {
            let page = areas(screen(cx.size)).body.height.max(1);
            self.scroll = match nav {
                Nav::Up => self.scroll.saturating_sub(1),
                Nav::Down => self.scroll.saturating_add(1),
                Nav::PageUp => self.scroll.saturating_sub(page),
                Nav::PageDown => self.scroll.saturating_add(page),
                Nav::Home => 0,
                Nav::End => u16::MAX,
            };
            if let Some(full) = d.full() {
                let max = (self.line_count(&full, f, cx) as u16).saturating_sub(page);
                self.scroll = self.scroll.min(max);
            }
            return Handled::Consumed;
        }
        let name = f.full_name.clone();
        match key.code {
            KeyCode::Char('r') => Handled::Do(Action::Propose(Change::QuickRun {
                deployment_id: d.id,
                deployment: name,
            })),
            KeyCode::Char('R') => Handled::Do(Action::OpenCustomRun(d.id)),
            KeyCode::Char('p') => Handled::Do(Action::Propose(Change::SetScheduleActive {
                deployment_id: d.id,
                deployment: name,
                active: !d.is_schedule_active,
            })),
            KeyCode::Char('l') => Handled::Do(Action::ShowRuns(RunScope::Deployment(d.id))),
            _ => Handled::Ignored,
        }
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        Line::from(vec![
            Span::styled(" Deployment ", cx.theme.title()),
            Span::raw(cx.store.deployment_name(Some(self.id)).to_string()),
        ])
    }

    /// Rows the text takes once wrapped (an estimate: word wrapping may take a few more).
    fn line_count(&self, d: &Deployment, f: &DeploymentFacts, cx: &Cx) -> usize {
        let (props, runs) = self.lines(d, f, cx);
        let rows = |lines: &[Line], w: u16| -> usize {
            let w = usize::from(w.max(1));
            lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum()
        };
        match deployment_areas(areas(screen(cx.size)).body) {
            (left, Some(_)) => rows(&props, left.width).max(runs.len()) + 2,
            (all, None) => rows(&props, all.width) + runs.len() + 2,
        }
    }

    /// Properties, and the runs part.
    fn lines(
        &self,
        d: &Deployment,
        f: &DeploymentFacts,
        cx: &Cx,
    ) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
        let t = cx.theme;
        let field = |name: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{name:<13}"), t.key()),
                Span::raw(value),
            ])
        };
        let mut props = vec![
            field("Name", f.full_name.clone()),
            field("ID", d.id.to_string()),
            field(
                "Description",
                d.description.clone().unwrap_or_else(|| "-".into()),
            ),
        ];
        let schedule_state = match (&d.schedule, d.is_schedule_active) {
            (None, _) => "none: runs only when started".to_string(),
            (Some(_), true) => format!("{} (active)", f.schedule_words),
            (Some(_), false) => format!("{} (paused)", f.schedule_words),
        };
        props.push(field("Schedule", schedule_state));
        props.push(field(
            "Next run",
            f.next_run.map_or("-".into(), |at| {
                format!(
                    "{} UTC ({})",
                    format::time(Some(at)),
                    format::until(cx.now, at)
                )
            }),
        ));
        props.push(field(
            "Tags",
            if d.tags.is_empty() {
                "-".into()
            } else {
                d.tags.join(", ")
            },
        ));
        props.push(field(
            "Work queue",
            d.work_queue_name.clone().unwrap_or_else(|| "-".into()),
        ));
        props.push(field(
            "Flow runner",
            format!("{} {}", d.flow_runner.kind.as_str(), d.flow_runner.config),
        ));
        let encoding = match d.flow_data.encoding {
            DataEncoding::Blockstorage => "blockstorage",
            DataEncoding::Text => "text",
            DataEncoding::File => "file",
            DataEncoding::Json => "json",
        };
        let blob = if d.flow_data.encoding == DataEncoding::Text {
            format!("{} bytes of flow code", d.flow_data.blob.len())
        } else {
            d.flow_data.blob.clone()
        };
        props.push(field("Flow data", format!("{encoding} {blob}")));
        props.push(field(
            "Created",
            format!("{} UTC", format::time(Some(d.created))),
        ));
        props.push(field(
            "Updated",
            format!("{} UTC", format::time(Some(d.updated))),
        ));
        props.push(Line::styled("Parameters", t.title()));
        let params = declared(d);
        if params.is_empty() {
            props.push(Line::styled("  none", t.dim()));
        }
        for p in params {
            let value = p
                .effective()
                .map_or("(no value)".to_string(), |v| format!("= {}", v));
            let origin = match (&p.value, &p.default) {
                (Some(_), _) => "",
                (None, Some(_)) => " (flow default)",
                (None, None) => "",
            };
            props.push(Line::from(vec![
                Span::raw(format!("  {} ", p.name)),
                Span::styled(format!("({})", p.type_words()), t.dim()),
                Span::raw(format!(" {value}{origin}")),
            ]));
            if let Some(desc) = p.description {
                props.push(Line::styled(format!("      {desc}"), t.dim()));
            }
        }
        (props, self.run_lines(d, cx, t))
    }

    fn run_lines(&self, d: &Deployment, cx: &Cx, t: Theme) -> Vec<Line<'static>> {
        let mut out = vec![Line::styled("Upcoming runs", t.title())];
        let run_line = |r: &RunRow, at: String| {
            Line::from(vec![
                Span::raw("  "),
                state_cell(r, t),
                Span::raw(format!("  {}  {at}", r.name)),
            ])
        };
        let upcoming: Vec<RunRow> = match &self.upcoming {
            Some(u) => u.clone(),
            None => cx
                .store
                .runs
                .iter()
                .rev()
                .filter(|r| r.deployment_id == Some(d.id) && r.state == StateType::Scheduled)
                .take(5)
                .cloned()
                .collect(),
        };
        for r in upcoming.iter().take(5) {
            let at = r.expected_start.map_or("-".into(), |at| {
                format!(
                    "{}  {}",
                    format::minute(Some(at)),
                    format::until(cx.now, at)
                )
            });
            out.push(run_line(r, at));
        }
        if upcoming.is_empty() {
            match &d.schedule {
                None => out.push(Line::styled(
                    "  none: no schedule (r starts a run)",
                    t.dim(),
                )),
                Some(s) => {
                    let note = if d.is_schedule_active {
                        "  not created yet; the schedule gives:"
                    } else {
                        "  schedule paused; when resumed it gives:"
                    };
                    out.push(Line::styled(note, t.dim()));
                    let times = s
                        .next_runs(cx.now, cx.now + Duration::days(400), 3)
                        .unwrap_or_default();
                    for at in times {
                        out.push(Line::raw(format!(
                            "  ○ {}  {}",
                            format::minute(Some(at)),
                            format::until(cx.now, at)
                        )));
                    }
                }
            }
        }
        out.push(Line::styled("Recent runs", t.title()));
        let recent: Vec<RunRow> = match &self.recent {
            Some(r) => r.clone(),
            None => cx
                .store
                .runs
                .iter()
                .filter(|r| r.deployment_id == Some(d.id) && r.state != StateType::Scheduled)
                .take(10)
                .cloned()
                .collect(),
        };
        if recent.is_empty() {
            out.push(Line::styled("  none yet", t.dim()));
        }
        for r in recent.iter().take(10) {
            let took = r
                .run_seconds(cx.now)
                .map_or(String::new(), |s| format!("  {}", format::span(s)));
            out.push(run_line(
                r,
                format!("{}{took}", format::minute(r.sort_time())),
            ));
        }
        out
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        // decoding one deployment per frame costs microseconds; lists keep only its summary
        let found = cx
            .store
            .deployment(self.id)
            .and_then(|(row, f)| Some((row.full()?, f)));
        let Some((d, f)) = found else {
            frame.render_widget(
                Line::styled(" This deployment no longer exists.", cx.theme.dim()),
                area,
            );
            return;
        };
        let (props, runs) = self.lines(&d, f, cx);
        match deployment_areas(area) {
            (l, Some(r)) => {
                let wrap = Wrap { trim: false };
                frame.render_widget(Paragraph::new(props).wrap(wrap).scroll((self.scroll, 0)), l);
                frame.render_widget(Paragraph::new(runs).scroll((self.scroll, 0)), r);
            }
            (inner, None) => {
                let mut all = props;
                all.extend(runs);
                frame.render_widget(
                    Paragraph::new(all)
                        .wrap(Wrap { trim: false })
                        .scroll((self.scroll, 0)),
                    inner,
                );
            }
        }
    }
}
