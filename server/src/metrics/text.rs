//! The Prometheus text exposition format (version 0.0.4), which every scraper reads.

use std::fmt::{Display, Write as _};

use super::histogram::Snapshot;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default)]
pub struct Text {
    out: String,
}

impl Text {
    /// Starts a metric family: its help line and type (`counter`, `gauge`, `histogram`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's `_bucket` (with `le`), `_sum` and `_count` samples.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Snapshot) {
        for (bound, n) in &h.buckets {
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&bound.to_string()));
            let _ = writeln!(self.out, " {n}");
        }
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", h.count);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count);
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{k}=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_histograms_render_in_the_text_format() {
        let mut t = Text::default();
        t.family("rigel_x_total", "counter", "Things.");
        t.sample("rigel_x_total", &[("queue", "a \"b\"\\\nc")], 3);
        t.sample("rigel_up", &[], 1);
        let h = Snapshot {
            buckets: vec![(0.5, 1), (1.0, 2)],
            count: 3,
            sum: 2.25,
        };
        t.histogram("rigel_t_seconds", &[("route", "/r")], &h);
        assert_eq!(
            t.finish(),
            "# HELP rigel_x_total Things.\n# TYPE rigel_x_total counter\n\
             rigel_x_total{queue=\"a \\\"b\\\"\\\\\\nc\"} 3\nrigel_up 1\n\
             rigel_t_seconds_bucket{route=\"/r\",le=\"0.5\"} 1\n\
             rigel_t_seconds_bucket{route=\"/r\",le=\"1\"} 2\n\
             rigel_t_seconds_bucket{route=\"/r\",le=\"+Inf\"} 3\n\
             rigel_t_seconds_sum{route=\"/r\"} 2.25\nrigel_t_seconds_count{route=\"/r\"} 3\n"
        );
    }
}
