//! Following `GET /api/events`: a stream of typed events that survives disconnects.
//!
//! The stream reconnects on its own (with backoff, sending `Last-Event-ID`), so a consumer sees
//! one ordered sequence: after a reconnect the server replays what was missed, or sends `reset`
//! when it can't. A failed connection attempt comes out as an `Err` item (show "reconnecting")
//! and the stream goes on; only an answer that retrying can't fix (a 4xx, e.g. a bad filter)
//! ends it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use reqwest::header::{ACCEPT, CACHE_CONTROL};

use super::{ClientError, ClientResult, RigelClient};
use crate::backoff::Backoff;
use crate::event::{Event, EventFilter, EventKind};

/// First wait before reconnecting after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A stream silent for this long is dead (the server sends a keep-alive every 15 s).
pub(crate) const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(45);

type BoxedEvents = Pin<Box<dyn Stream<Item = ClientResult<Event>> + Send>>;

/// Events as they happen. Use [`EventStream::next`], or any `futures` stream combinator.
pub struct EventStream {
    inner: BoxedEvents,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl EventStream {
    /// The next event, or an error of one connection attempt (the stream keeps retrying after
    /// it). `None` once the stream gave up for good.
    pub async fn next(&mut self) -> Option<ClientResult<Event>> {
        futures_util::StreamExt::next(&mut self.inner).await
    }

    /// Waits for the subscription to be live: returns the connection's first event (`ready`, or
    /// `reset` when missed events are gone). An error here means the first attempt failed;
    /// call it again to keep waiting.
    pub async fn connected(&mut self) -> ClientResult<Event> {
        loop {
            match self.next().await {
                Some(Ok(e)) if e.kind.is_control() => return Ok(e),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(ClientError::Protocol {
                        url: String::new(),
                        status: 0,
                        detail: "the event stream ended before it was ready".into(),
                    })
                }
            }
        }
    }
}

impl Stream for EventStream {
    type Item = ClientResult<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl RigelClient {
    /// Follows the events that match `filter`, from now on.
    pub fn events(&self, filter: EventFilter) -> EventStream {
        self.events_after(filter, None)
    }

    /// Follows the events that match `filter`, starting after event `last_event_id` (replayed
    /// from the server's ring, or a `reset` when they are gone).
    pub fn events_after(&self, filter: EventFilter, last_event_id: Option<u64>) -> EventStream {
        let query = filter.to_query();
        let url = if query.is_empty() {
            format!("{}/events", self.base)
        } else {
            format!("{}/events?{query}", self.base)
        };
        let follower = Follower {
            client: self.clone(),
            url,
            last_id: last_event_id,
            response: None,
            parser: SseParser::default(),
            ready: VecDeque::new(),
            wait: None,
            backoff: Backoff::new(FIRST_BACKOFF, MAX_BACKOFF),
            done: false,
        };
        let inner = futures_util::stream::unfold(follower, |mut f| async move {
            let item = f.step().await?;
            Some((item, f))
        });
        EventStream {
            inner: Box::pin(inner),
        }
    }
}

/// The connection state behind an [`EventStream`].
struct Follower {
    client: RigelClient,
    url: String,
    last_id: Option<u64>,
    response: Option<reqwest::Response>,
    parser: SseParser,
    ready: VecDeque<Event>,
    /// Wait before the next connection attempt (none right after a success).
    wait: Option<Duration>,
    backoff: Backoff,
    done: bool,
}

impl Follower {
    async fn step(&mut self) -> Option<ClientResult<Event>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            let Some(response) = self.response.as_mut() else {
                if let Some(wait) = self.wait {
                    tokio::time::sleep(wait).await;
                }
                match self.connect().await {
                    Ok(r) => {
                        self.parser = SseParser::default();
                        self.response = Some(r);
                    }
                    Err(e) => {
                        self.done = !e.is_transient();
                        self.fail();
                        return Some(Err(e));
                    }
                }
                continue;
            };
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    for raw in self.parser.feed(&bytes) {
                        match raw.into_event() {
                            Ok(Some(e)) => {
                                self.last_id = Some(e.id);
                                self.wait = None;
                                self.backoff.reset();
                                self.ready.push_back(e);
                            }
                            // an event kind this client doesn't know: a newer server
                            Ok(None) => {}
                            Err(detail) => {
                                return Some(Err(ClientError::Protocol {
                                    url: self.url.clone(),
                                    status: 200,
                                    detail,
                                }))
                            }
                        }
                    }
                }
                Ok(None) => {
                    // the server ended the stream (shutdown, or this subscriber lagged):
                    // reconnect, not in a tight loop if it keeps doing so
                    self.response = None;
                    self.wait = Some(self.wait.unwrap_or(FIRST_BACKOFF / 2));
                }
                Err(source) => {
                    self.response = None;
                    self.fail();
                    return Some(Err(ClientError::Http {
                        url: self.url.clone(),
                        source,
                    }));
                }
            }
        }
    }

    /// Lengthens the wait before the next attempt.
    fn fail(&mut self) {
        self.wait = Some(self.backoff.next_delay());
    }

    async fn connect(&self) -> ClientResult<reqwest::Response> {
        let mut req = self.client.authorize(
            self.client
                .stream_http
                .get(&self.url)
                .header(ACCEPT, "text/event-stream")
                .header(CACHE_CONTROL, "no-cache"),
        );
        if let Some(id) = self.last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|source| self.client.send_error(source, &self.url))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        Err(self
            .client
            .error_from_response(status, &bytes, self.url.clone()))
    }
}

/// One dispatched SSE record, before its fields are interpreted.
#[derive(Debug, Default, PartialEq)]
struct RawEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl RawEvent {
    /// The typed event; `Ok(None)` for a kind this client doesn't know.
    fn into_event(self) -> Result<Option<Event>, String> {
        let name = self.event.as_deref().unwrap_or("message");
        let Some(kind) = EventKind::parse(name) else {
            return Ok(None);
        };
        let id = self
            .id
            .as_deref()
            .and_then(|i| i.parse::<u64>().ok())
            .ok_or_else(|| format!("a {name} event without a numeric id"))?;
        let data = serde_json::from_str(&self.data)
            .map_err(|e| format!("the data of {name} event {id} is not JSON: {e}"))?;
        Ok(Some(Event { id, kind, data }))
    }
}

/// The `text/event-stream` format: `field: value` lines, records ended by a blank line, `:`
/// comments (keep-alives). Lines end in LF or CRLF (the server never sends a lone CR).
#[derive(Debug, Default)]
struct SseParser {
    line: Vec<u8>,
    current: RawEvent,
    has_data: bool,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<RawEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            if line.is_empty() {
                if self.has_data {
                    out.push(std::mem::take(&mut self.current));
                }
                self.current = RawEvent::default();
                self.has_data = false;
            } else {
                self.field(&String::from_utf8_lossy(&line));
            }
        }
        out
    }

    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "event" => self.current.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.current.id = Some(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_split_across_chunks() {
        let mut p = SseParser::default();
        let text = ": keep-alive\n\nid: 7\r\nevent: flow_run.state\ndata: {\"a\":\ndata: 1}\n\nid: 8\nevent: ready\ndata: {}\n\n";
        let mut got = Vec::new();
        for chunk in text.as_bytes().chunks(5) {
            got.extend(p.feed(chunk));
        }
        assert_eq!(
            got,
            vec![
                RawEvent {
                    id: Some("7".into()),
                    event: Some("flow_run.state".into()),
                    data: "{\"a\":\n1}".into(),
                },
                RawEvent {
                    id: Some("8".into()),
                    event: Some("ready".into()),
                    data: "{}".into(),
                },
            ]
        );
        let e = got.remove(0).into_event().unwrap().unwrap();
        assert_eq!((e.id, e.kind), (7, EventKind::FlowRunState));
        assert_eq!(e.data["a"], 1);
    }

    #[test]
    fn unknown_kinds_are_skipped_and_bad_records_reported() {
        let raw = |id: &str, event: &str, data: &str| RawEvent {
            id: Some(id.into()),
            event: Some(event.into()),
            data: data.into(),
        };
        assert_eq!(raw("1", "something.new", "{}").into_event(), Ok(None));
        assert!(raw("x", "ready", "{}").into_event().is_err());
        assert!(raw("1", "ready", "{oops").into_event().is_err());
    }

    #[test]
    fn a_record_without_data_is_not_dispatched() {
        let mut p = SseParser::default();
        assert!(p.feed(b"id: 3\nevent: ready\n\n").is_empty());
        assert_eq!(p.feed(b"data: {}\n\n").len(), 1);
    }
}
