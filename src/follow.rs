//! Following one run live: `flow-run logs --follow` and `deployment run --watch`. The event
//! stream drives the output; a slow poll is the safety net should events be lost, and what
//! happened before the subscription is read from the API once it is live.

use std::collections::HashSet;
use std::time::Duration;

use rigel_common::client::{EventStream, RigelClient};
use rigel_common::event::{EventFilter, EventKind};
use rigel_common::flow_run::FlowRun;
use rigel_common::log::Log;
use rigel_common::state::{State, StateType};
use uuid::Uuid;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format};
use crate::say;

/// How often the run is re-read in case an event went missing.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// Subscribes to run `id`'s events and waits until the subscription is live, so that reading
/// the run afterwards can't miss a change.
async fn subscribe(client: &RigelClient, id: Uuid, kinds: &[&str]) -> CliResult<EventStream> {
    let mut events = client.events(EventFilter::flow_run(id).with_kinds(kinds.iter().copied()));
    events.connected().await?;
    Ok(events)
}

/// Interval that fires first after one period (the caller has just read everything).
fn safety_poll() -> tokio::time::Interval {
    let start = tokio::time::Instant::now() + SAFETY_POLL;
    let mut poll = tokio::time::interval_at(start, SAFETY_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll
}

/// Says once that the stream was lost (it reconnects on its own) and again when it is back.
#[derive(Default)]
struct Connection {
    lost: bool,
}

impl Connection {
    fn on_item(
        &mut self,
        item: &Option<rigel_common::client::ClientResult<rigel_common::event::Event>>,
    ) {
        match item {
            Some(Ok(_)) if self.lost => {
                self.lost = false;
                say!("(live events are back)");
            }
            Some(Err(e)) if !self.lost => {
                self.lost = true;
                say!("warning: lost the live event stream ({e}); reconnecting");
            }
            _ => {}
        }
    }
}

/// Prints a run's log records once each, in order, remembering the last id printed.
struct LogPrinter {
    run: Uuid,
    format: Format,
    after: Option<i64>,
}

impl LogPrinter {
    /// Prints every record stored after the last one printed.
    async fn catch_up(&mut self, client: &RigelClient) -> CliResult {
        let format = self.format;
        read_logs(client, self.run, &mut self.after, |page| {
            page.iter().try_for_each(|l| print_record(format, l))
        })
        .await
    }
}

/// Prints one record: a line of text, a JSON line or a YAML document.
fn print_record(format: Format, l: &Log) -> CliResult {
    match format {
        Format::Table => println!("{}", log_line(l)),
        // one document per record, so the output can be read while it grows
        Format::Json => println!(
            "{}",
            serde_json::to_string(l)
                .map_err(|e| CliError::failed(format!("cannot format a log record: {e}")))?
        ),
        Format::Yaml => {
            println!("---");
            output::data(Format::Yaml, l)?;
        }
    }
    Ok(())
}

/// Reads run `run`'s log records stored after record `after` (all when `None`), page by page:
/// hands each page to `each`, oldest first, and moves `after` to its last record.
pub async fn read_logs(
    client: &RigelClient,
    run: Uuid,
    after: &mut Option<i64>,
    mut each: impl FnMut(Vec<Log>) -> CliResult,
) -> CliResult {
    loop {
        let page = client.log_page(run, *after).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        *after = Some(last.id);
        each(page)?;
    }
}

/// A record as `rigel flow-run logs` prints it (on a terminal, with control characters escaped:
/// a flow's output must not be able to drive the user's terminal).
pub fn log_line(l: &Log) -> String {
    use std::io::IsTerminal;
    format!(
        "{} {:<8} {}",
        l.timestamp.format("%H:%M:%S%.3f"),
        rigel_common::log::level::name(l.level),
        output::terminal_safe(&l.message, std::io::stdout().is_terminal())
    )
}

/// Prints the run's logs, then the new ones as they arrive, until the run is in a terminal state.
/// With `-o json` each record is one JSON line; with `-o yaml` one YAML document.
pub async fn logs(client: &RigelClient, id: Uuid, format: Format) -> CliResult {
    let mut events = subscribe(client, id, &["flow_run.state", "log"]).await?;
    let mut out = LogPrinter {
        run: id,
        format,
        after: None,
    };
    out.catch_up(client).await?;
    let mut run = client.read_flow_run(id).await?;
    let mut connection = Connection::default();
    let mut poll = safety_poll();
    let mut live = true;
    while !run.state.kind.is_terminal() {
        tokio::select! {
            item = events.next(), if live => {
                connection.on_item(&item);
                match item {
                    Some(Ok(e)) => match e.kind {
                        EventKind::Log => out.catch_up(client).await?,
                        EventKind::FlowRunState => {
                            if let Some(s) = e.flow_run_state() {
                                run.state = s.state;
                            }
                        }
                        EventKind::Reset => {
                            out.catch_up(client).await?;
                            run = client.read_flow_run(id).await?;
                        }
                        _ => {}
                    },
                    Some(Err(_)) => {}
                    None => live = false,
                }
            }
            _ = poll.tick() => {
                out.catch_up(client).await?;
                run = client.read_flow_run(id).await?;
            }
        }
    }
    // the engine ships a run's last records before reporting its final state
    out.catch_up(client).await?;
    say!("Flow run '{}' is {}.", run.name, run.state.name);
    Ok(())
}

/// Prints each state of a run once: from its history, and then as events announce them.
#[derive(Default)]
struct StatePrinter {
    printed: HashSet<(i64, StateType, String)>,
}

impl StatePrinter {
    fn print(&mut self, s: &State) {
        let key = (s.timestamp.timestamp_micros(), s.kind, s.name.clone());
        if !self.printed.insert(key) {
            return;
        }
        let msg = s
            .message
            .as_deref()
            .map(|m| {
                use std::io::IsTerminal;
                format!(
                    ": {}",
                    output::terminal_safe(m, std::io::stderr().is_terminal())
                )
            })
            .unwrap_or_default();
        say!(
            "{} {}{msg}",
            output::time(Some(s.timestamp)),
            output::state_word(s.kind, &s.name)
        );
    }

    /// Prints the states of the history not printed yet; returns the run's latest state.
    async fn catch_up(&mut self, client: &RigelClient, id: Uuid) -> CliResult<Option<State>> {
        let history = client.flow_run_states(id).await?;
        for s in &history {
            self.print(s);
        }
        Ok(history.last().cloned())
    }
}

/// Prints each state change of a run as it happens, until it ends; Ok only when it completes.
/// While the run is still Scheduled it says what it is `waiting` for, so a run no agent takes
/// doesn't look like a hung command.
pub async fn watch(client: &RigelClient, run: &FlowRun, waiting: &str) -> CliResult {
    let mut events = subscribe(client, run.id, &["flow_run.state"]).await?;
    let mut states = StatePrinter::default();
    let mut latest = states.catch_up(client, run.id).await?;
    if latest
        .as_ref()
        .is_some_and(|s| s.kind == StateType::Scheduled)
    {
        say!("{waiting}");
    }
    let mut connection = Connection::default();
    let mut poll = safety_poll();
    let mut live = true;
    loop {
        if let Some(end) = latest.as_ref().filter(|s| s.kind.is_terminal()) {
            if end.kind == StateType::Completed {
                return Ok(());
            }
            return Err(CliError::failed(format!(
                "flow run '{}' ended {}",
                run.name, end.name
            )));
        }
        tokio::select! {
            item = events.next(), if live => {
                connection.on_item(&item);
                match item {
                    Some(Ok(e)) => match e.kind {
                        EventKind::FlowRunState => {
                            if let Some(s) = e.flow_run_state() {
                                states.print(&s.state);
                                latest = Some(s.state);
                            }
                        }
                        EventKind::Reset => latest = states.catch_up(client, run.id).await?,
                        _ => {}
                    },
                    Some(Err(_)) => {}
                    None => live = false,
                }
            }
            _ = poll.tick() => {
                let now = client.read_flow_run(run.id).await?;
                if latest.as_ref() != Some(&now.state) {
                    latest = states.catch_up(client, run.id).await?;
                }
            }
        }
    }
}
