//! The custom-run form: the deployment's parameters prefilled, checked against their declared
//! types before anything is sent, an optional start time and extra tags, and the equivalent
//! `rigel deployment run` command.

use chrono::{DateTime, Utc};

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use rigel_common::deployment::{validate_tags, Deployment, Parameters};
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::params::{check_parameter_values, check_parameters};
use tui_input::Input;
use uuid::Uuid;

use super::params::{declared, parse_value, value_text, ParamInfo};
use super::{edit, Cx, Handled};
use crate::app::Action;
use crate::msg::Change;
use crate::ui::{format, wrap_line};
use crate::views::run_time::{parse_start, StartAt};

pub struct ParamField {
    pub info: ParamInfo,
    pub input: Input,
    pub error: Option<String>,
}

pub struct CustomRunForm {
    pub deployment_id: Uuid,
    pub deployment: String,
    pub fields: Vec<ParamField>,
    pub start: Input,
    pub start_error: Option<String>,
    pub tags: Input,
    pub tags_error: Option<String>,
    /// Parameters, then start, then tags.
    pub focus: usize,
    /// The deployment's parameter schema and values, to check against.
    schema: Option<serde_json::Value>,
    defaults: Parameters,
}

/// Shell-quotes one argument when it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl CustomRunForm {
    pub fn new(d: &Deployment) -> Self {
        let fields = declared(d)
            .into_iter()
            .map(|info| ParamField {
                input: Input::new(info.effective().map(value_text).unwrap_or_default()),
                info,
                error: None,
            })
            .collect();
        Self {
            deployment_id: d.id,
            deployment: d.full_name(),
            fields,
            schema: d.parameter_schema.clone(),
            defaults: d.parameters.clone(),
            start: Input::default(),
            start_error: None,
            tags: Input::default(),
            tags_error: None,
            focus: 0,
        }
    }

    fn field_count(&self) -> usize {
        self.fields.len() + 2
    }

    fn focused_input(&mut self) -> &mut Input {
        let n = self.fields.len();
        match self.focus {
            i if i < n => &mut self.fields[i].input,
            i if i == n => &mut self.start,
            _ => &mut self.tags,
        }
    }

    /// The parameters that differ from what the deployment would use anyway.
    fn changed_params(&mut self) -> Parameters {
        let mut out = Parameters::new();
        for f in &mut self.fields {
            f.error = None;
            let text = f.input.value();
            if text.is_empty() {
                continue;
            }
            match parse_value(f.info.kind, text) {
                Ok(v) if Some(&v) == f.info.effective() => {}
                Ok(v) => {
                    out.insert(f.info.name.clone(), v);
                }
                Err(e) => f.error = Some(e),
            }
        }
        out
    }

    /// Checks everything; on success the run to create and its CLI command.
    pub fn build(&mut self, now: DateTime<Utc>) -> Option<Change> {
        self.start_error = None;
        let params = self.changed_params();
        let mut ok = self.fields.iter().all(|f| f.error.is_none());
        if let (true, Some(schema)) = (ok, &self.schema) {
            let mut merged = self.defaults.clone();
            merged.extend(params.clone());
            let problem = check_parameter_values(schema, &params)
                .and_then(|()| check_parameters(schema, &merged))
                .err();
            if let Some(e) = problem {
                ok = false;
                let name = e.field.strip_prefix("parameters.").unwrap_or(&e.field);
                match self.fields.iter_mut().find(|f| f.info.name == name) {
                    Some(f) => f.error = Some(e.message.clone()),
                    None => self.start_error = Some(e.to_string()),
                }
            }
        }
        let start = match parse_start(self.start.value(), now) {
            Ok(s) => s,
            Err(e) => {
                self.start_error = Some(e);
                ok = false;
                None
            }
        };
        let tags = self.tag_list();
        self.tags_error = validate_tags("tags", &tags).err().map(|e| e.message);
        if !ok || self.tags_error.is_some() {
            return None;
        }
        let body = DeploymentRunCreate {
            parameters: params,
            tags,
            scheduled_start_time: start.as_ref().map(|s| s.at),
            ..Default::default()
        };
        Some(Change::CustomRun {
            deployment_id: self.deployment_id,
            deployment: self.deployment.clone(),
            command: self.command(now),
            body,
        })
    }

    fn tag_list(&self) -> Vec<String> {
        self.tags
            .value()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `rigel deployment run 'flow/name' -p k=v --start-in 10m --tag t`, from what is typed now.
    pub fn command(&self, now: DateTime<Utc>) -> String {
        let mut cmd = format!("rigel deployment run {}", shell_quote(&self.deployment));
        for f in &self.fields {
            let text = f.input.value();
            if text.is_empty() {
                continue;
            }
            let value = parse_value(f.info.kind, text);
            if value.as_ref().ok() == f.info.effective() {
                continue;
            }
            // the CLI reads a -p value as JSON first: a string that reads as JSON needs quotes
            let arg = match value {
                Ok(serde_json::Value::String(s))
                    if serde_json::from_str::<serde_json::Value>(&s).is_ok() =>
                {
                    serde_json::Value::String(s).to_string()
                }
                Ok(serde_json::Value::String(s)) => s,
                Ok(v) => v.to_string(),
                Err(_) => text.to_string(),
            };
            cmd.push_str(&format!(
                " -p {}",
                shell_quote(&format!("{}={arg}", f.info.name))
            ));
        }
        match parse_start(self.start.value(), now) {
            Ok(Some(StartAt { flag, value, .. })) => {
                cmd.push_str(&format!(" {flag} {}", shell_quote(&value)));
            }
            _ if !self.start.value().trim().is_empty() => {
                cmd.push_str(&format!(" --start-in {}", shell_quote(self.start.value())));
            }
            _ => {}
        }
        for t in self.tag_list() {
            cmd.push_str(&format!(" --tag {}", shell_quote(&t)));
        }
        cmd
    }

    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        let n = self.field_count();
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            KeyCode::Esc => return Handled::Do(Action::Back),
            KeyCode::Enter => {
                return match self.build(cx.now) {
                    Some(change) => Handled::Do(Action::Propose(change)),
                    None => Handled::Do(Action::Error(
                        "Fix the marked fields first; nothing was sent.".to_string(),
                    )),
                };
            }
            _ => {
                let focus = self.focus;
                if edit(self.focused_input(), key) {
                    if let Some(f) = self.fields.get_mut(focus) {
                        f.error = None;
                    }
                }
            }
        }
        Handled::Consumed
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        Line::from(vec![
            Span::styled(" Custom run of ", cx.theme.title()),
            Span::raw(self.deployment.clone()),
        ])
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let label_w = self
            .fields
            .iter()
            .map(|f| f.info.name.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(10, 18);
        let input_w = (area.width as usize).saturating_sub(label_w + 6).min(32);
        let mut lines: Vec<Line> = vec![Line::styled(" Parameters", t.title())];
        let mut cursor: Option<Position> = None;
        let mut row = |lines: &mut Vec<Line<'static>>,
                       focus: bool,
                       label: &str,
                       input: &Input,
                       hint: String,
                       error: &Option<String>| {
            let scroll = input.visual_scroll(input_w.saturating_sub(1));
            let shown: String = input
                .value()
                .chars()
                .skip(scroll)
                .take(input_w.saturating_sub(1))
                .collect();
            let marker = if focus { "▸" } else { " " };
            let field_style = if focus { t.selected() } else { t.bar() };
            if focus {
                let x =
                    area.x as usize + 3 + label_w + input.visual_cursor().saturating_sub(scroll);
                cursor = Some(Position::new(x as u16, area.y + lines.len() as u16));
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{marker} "), t.key()),
                Span::raw(format!("{:<label_w$} ", format::fit(label, label_w))),
                Span::styled(format!("{shown:<input_w$}"), field_style),
                Span::styled(format!(" {hint}"), t.dim()),
            ]));
            if let Some(e) = error {
                lines.push(Line::styled(format!("  {:<label_w$} ✗ {e}", ""), t.error()));
            }
        };
        if self.fields.is_empty() {
            lines.push(Line::styled("  The flow declares no parameters.", t.dim()));
        }
        for (i, f) in self.fields.iter().enumerate() {
            let mut hint = f.info.type_words();
            if let Some(desc) = &f.info.description {
                hint.push_str(" · ");
                hint.push_str(desc);
            }
            row(
                &mut lines,
                self.focus == i,
                &f.info.name,
                &f.input,
                hint,
                &f.error,
            );
        }
        lines.push(Line::raw(""));
        let n = self.fields.len();
        row(
            &mut lines,
            self.focus == n,
            "Start",
            &self.start,
            "blank=now, 10m, 2h, or a UTC time".into(),
            &self.start_error,
        );
        row(
            &mut lines,
            self.focus == n + 1,
            "Extra tags",
            &self.tags,
            "comma-separated".into(),
            &self.tags_error,
        );
        lines.push(Line::raw(""));
        lines.push(Line::styled(" Same as:", t.dim()));
        let command = Line::raw(format!(" $ {}", self.command(cx.now)));
        lines.extend(wrap_line(command, area.width as usize));
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            " Tab/↑↓ next field · Enter check and run · Esc cancel",
            t.dim(),
        ));
        frame.render_widget(Paragraph::new(lines), area);
        if let Some(pos) = cursor {
            frame.set_cursor_position(pos);
        }
    }
}
