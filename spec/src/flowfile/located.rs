//! Line numbers for problems found after parsing.
//!
//! YAML and JSON are first read into a value tree (which keeps no positions), then deserialized
//! into typed structs with `serde_path_to_error`, which names the path of the failing field.
//! [`LineIndex`] maps such a path back to the line it came from, so every error — syntax, type,
//! unknown key or a semantic check done afterwards — points at a line of the file.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};
use serde::{Deserialize, Deserializer};

use rigel_common::validation::FieldError;

/// One step of a path into a document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// `flows[0].tasks[2].needs`, as shown in messages.
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Splits a [`FieldError`] field (`config.env.A`, `tags[1]`) into path segments.
pub(crate) fn parse_field(field: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(key(name));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// Where each node of one YAML (or JSON) document starts: mapping entries at their key's line,
/// sequence items at the item's line.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<Vec<Seg>, usize>,
}

enum Frame {
    Map {
        path: Vec<Seg>,
        key: Option<Seg>,
        expecting_key: bool,
    },
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
}

impl LineIndex {
    /// Indexes the first document of `text`. Never fails: if the parser rejects the text, what was
    /// read before the problem stays indexed and lookups fall back to the nearest ancestor.
    pub(crate) fn build(text: &str) -> Self {
        let mut index = LineIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut seen_root = false;
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let line = span.start.line();
            let starts_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::Alias(_)
                    | Event::MappingStart(..)
                    | Event::SequenceStart(..)
            );
            if starts_node {
                if stack.is_empty() && seen_root {
                    break; // a second document
                }
                seen_root = true;
                let path = match stack.last_mut() {
                    None => {
                        index.lines.entry(Vec::new()).or_insert(line);
                        Vec::new()
                    }
                    Some(Frame::Map {
                        path,
                        key,
                        expecting_key,
                    }) => {
                        if *expecting_key {
                            *expecting_key = false;
                            let k = match &event {
                                Event::Scalar(s, ..) => Seg::Key(s.to_string()),
                                _ => Seg::Key(String::new()),
                            };
                            let mut p = path.clone();
                            p.push(k.clone());
                            index.lines.entry(p.clone()).or_insert(line);
                            *key = Some(k);
                            // A complex key's contents are indexed under the key itself.
                            p
                        } else {
                            *expecting_key = true;
                            let mut p = path.clone();
                            p.extend(key.take());
                            index.lines.entry(p.clone()).or_insert(line);
                            p
                        }
                    }
                    Some(Frame::Seq { path, next }) => {
                        let mut p = path.clone();
                        p.push(Seg::Index(*next));
                        *next += 1;
                        index.lines.entry(p.clone()).or_insert(line);
                        p
                    }
                };
                match event {
                    Event::MappingStart(..) => stack.push(Frame::Map {
                        path,
                        key: None,
                        expecting_key: true,
                    }),
                    Event::SequenceStart(..) => stack.push(Frame::Seq { path, next: 0 }),
                    _ => {}
                }
            } else if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
            }
        }
        index
    }

    /// An index of known lines by dotted field path (`parameters.name` → 4); `root` is the
    /// line of the whole unit.
    pub(crate) fn from_fields<'a>(
        root: usize,
        fields: impl IntoIterator<Item = (&'a String, &'a usize)>,
    ) -> Self {
        let mut index = LineIndex::default();
        index.lines.insert(Vec::new(), root);
        for (field, line) in fields {
            index.lines.insert(parse_field(field), *line);
        }
        index
    }

    /// The line of the node at `path`, or of its nearest indexed ancestor.
    pub(crate) fn line(&self, path: &[Seg]) -> Option<usize> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.lines.get(&path[..n]).copied())
    }

    /// The line of the node at exactly `path`.
    pub(crate) fn exact(&self, path: &[Seg]) -> Option<usize> {
        self.lines.get(path).copied()
    }
}

/// One unit being read (a deployment spec, a flow): where it sits in its document, so errors
/// inside it can be given a line and a readable path.
pub(crate) struct Scope<'a> {
    pub index: &'a LineIndex,
    /// Path of the unit in the document.
    pub base: Vec<Seg>,
    /// Whether messages show `base` in front of a field path (`flows[1].tasks[0]: …`).
    pub show_base: bool,
    /// The unit's own line, used when nothing more precise is known.
    pub line: usize,
}

impl Scope<'_> {
    fn full(&self, rel: &[Seg]) -> Vec<Seg> {
        let mut p = self.base.clone();
        p.extend_from_slice(rel);
        p
    }

    /// The line of a field of the unit (or of its nearest ancestor inside the unit).
    pub(crate) fn line_of(&self, rel: &[Seg]) -> usize {
        let full = self.full(rel);
        (self.base.len()..=full.len())
            .rev()
            .find_map(|n| self.index.exact(&full[..n]))
            .unwrap_or(self.line)
    }

    /// The line of exactly this field of the unit, if it was written.
    pub(crate) fn exact(&self, rel: &[Seg]) -> Option<usize> {
        self.index.exact(&self.full(rel))
    }

    /// `field: message`, with the field shown as configured.
    pub(crate) fn label(&self, rel: &[Seg], message: &str) -> String {
        let shown = if self.show_base {
            self.full(rel)
        } else {
            rel.to_vec()
        };
        if shown.is_empty() {
            message.to_string()
        } else {
            format!("{}: {message}", display_path(&shown))
        }
    }

    /// Turns a validation error of the unit into `(line, message)`.
    pub(crate) fn field_error(&self, err: &FieldError) -> (usize, String) {
        let rel = parse_field(&err.field);
        (self.line_of(&rel), self.label(&rel, &err.message))
    }

    /// Deserializes the unit, reporting a failure as `(line, message)`.
    pub(crate) fn deserialize<'de, D, T>(&self, de: D) -> Result<T, (usize, String)>
    where
        D: Deserializer<'de>,
        D::Error: std::fmt::Display,
        T: Deserialize<'de>,
    {
        serde_path_to_error::deserialize(de).map_err(|e| {
            let rel: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    _ => None,
                })
                .collect();
            let message = e.inner().to_string();
            // An unknown key is already named by the message: label it with its mapping.
            let shown = match rel.last() {
                Some(Seg::Key(k)) if message.starts_with(&format!("unknown field `{k}`")) => {
                    &rel[..rel.len() - 1]
                }
                _ => &rel[..],
            };
            (self.line_of(&rel), self.label(shown, &message))
        })
    }
}

/// The line and the message (without its position) of a YAML parse error.
pub(crate) fn yaml_error(err: &serde_norway::Error) -> (Option<usize>, String) {
    let text = err.to_string();
    match err.location() {
        Some(loc) => {
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            (Some(loc.line()), text.replacen(&at, "", 1))
        }
        None => (None, text),
    }
}

/// The line and the message (without its position) of a JSON parse error.
pub(crate) fn json_error(err: &serde_json::Error) -> (Option<usize>, String) {
    let text = err.to_string();
    if err.line() == 0 {
        return (None, text);
    }
    let at = format!(" at line {} column {}", err.line(), err.column());
    (Some(err.line()), text.replacen(&at, "", 1))
}

/// 1-based line of byte offset `pos` in `text`.
pub(crate) fn line_at(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_keys_items_and_ancestors() {
        let text = "\n# c\nflows:\n  - name: a\n    tasks:\n      - name: x\n        needs: [y, z]\n      - {name: y, run: z}\n";
        let idx = LineIndex::build(text);
        let p = |s: &str| parse_field(s);
        assert_eq!(idx.line(&p("flows")), Some(3));
        assert_eq!(idx.line(&p("flows[0]")), Some(4));
        assert_eq!(idx.line(&p("flows[0].tasks[0].needs[1]")), Some(7));
        assert_eq!(idx.line(&p("flows[0].tasks[1].run")), Some(8));
        // Unknown leaf: nearest ancestor.
        assert_eq!(idx.line(&p("flows[0].tasks[1].nope")), Some(8));
        assert_eq!(idx.exact(&p("flows[0].tasks[1].nope")), None);
    }

    #[test]
    fn index_reads_json() {
        let idx = LineIndex::build("[\n {\"name\": \"a\"},\n {\n  \"name\": 3}\n]");
        assert_eq!(idx.line(&parse_field("[1]")), Some(3));
        assert_eq!(idx.line(&parse_field("[1].name")), Some(4));
    }

    #[test]
    fn fields_parse_into_paths() {
        assert_eq!(
            parse_field("config.env.A"),
            vec![key("config"), key("env"), key("A")]
        );
        assert_eq!(parse_field("tags[1]"), vec![key("tags"), Seg::Index(1)]);
        assert_eq!(display_path(&parse_field("a[0].b[2][3]")), "a[0].b[2][3]");
    }
}
