//! The terminal loop: input on its own thread, network on background tasks, and this loop in
//! between — it waits for the next thing to happen, updates the app, and draws only if something
//! changed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ratatui::crossterm::event::{self, Event};
use ratatui::DefaultTerminal;
use rigel_common::client::RigelClient;
use tokio::sync::mpsc;

use crate::app::{App, AppEvent, Settings};
use crate::ui::theme::Theme;
use crate::{net, ui, Options, TuiError};

/// How often relative times ("3s ago") move on.
const TICK: Duration = Duration::from_secs(1);

/// Runs the terminal UI until the user quits. The terminal is restored on return and on panic.
pub async fn run(client: RigelClient, options: Options) -> Result<(), TuiError> {
    // installs a panic hook that restores the terminal before the panic message is printed
    let mut terminal = ratatui::try_init().map_err(TuiError::Terminal)?;
    let result = main_loop(&mut terminal, client, options).await;
    let restored = ratatui::try_restore().map_err(TuiError::Terminal);
    result.and(restored)
}

/// Reads terminal events on a plain thread (crossterm's reads block) and forwards them.
fn spawn_input(stop: Arc<AtomicBool>) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

async fn main_loop(
    terminal: &mut DefaultTerminal,
    client: RigelClient,
    options: Options,
) -> Result<(), TuiError> {
    let size = terminal.size().map_err(TuiError::Terminal)?;
    let mut app = App::new(Settings {
        api_url: client.base_url().to_string(),
        readonly: options.readonly,
        theme: Theme::from_env(),
        size: (size.width, size.height),
        now: Utc::now(),
    });
    let (news_tx, mut news) = mpsc::channel(256);
    let worker = net::spawn(client, options.refresh, news_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut input = spawn_input(stop.clone());
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    terminal
        .draw(|f| ui::draw(&app, f))
        .map_err(TuiError::Terminal)?;
    let outcome = loop {
        let ev = tokio::select! {
            ev = input.recv() => match ev {
                Some(Event::Key(key)) => AppEvent::Key(key),
                Some(Event::Resize(w, h)) => AppEvent::Resize(w, h),
                Some(_) => continue,
                None => break Err(TuiError::InputClosed),
            },
            Some(msg) = news.recv() => AppEvent::Msg(msg),
            _ = ticker.tick() => AppEvent::Tick(Utc::now()),
        };
        let mut redraw = app.update(ev);
        // a burst of news is drawn once
        while let Ok(msg) = news.try_recv() {
            redraw |= app.update(AppEvent::Msg(msg));
        }
        for request in app.take_requests() {
            if worker.requests.send(request).await.is_err() {
                break;
            }
        }
        if app.should_quit() {
            break Ok(());
        }
        if redraw {
            // ratatui compares with the previous frame and writes only the cells that changed
            terminal
                .draw(|f| ui::draw(&app, f))
                .map_err(TuiError::Terminal)?;
        }
    };
    stop.store(true, Ordering::Relaxed);
    drop(worker);
    outcome
}
