//! Every view drawn against fixed data at 80×24 and at a wide size, compared with the
//! snapshots in `tests/snapshots/` (review changes with `cargo insta review`).

mod common;

use common::*;
use ratatui::crossterm::event::KeyCode;
use rigel_tui::app::{App, AppEvent};
use rigel_tui::msg::Msg;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 45)];

fn check(name: &str, setup: impl Fn(&mut App)) {
    for size in SIZES {
        let mut app = app(size, false);
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), render(&app));
    }
}

#[test]
fn deployments() {
    check("deployments", |_| {});
}

#[test]
fn deployments_filtered_and_sorted_by_next_run() {
    check("deployments_filtered", |app| {
        app.update(ch('/'));
        type_text(app, "hello");
        app.update(key(KeyCode::Enter));
        app.update(ch('s'));
    });
}

#[test]
fn deployment_detail() {
    check("deployment_detail", |app| {
        // etl/nightly-load: declared parameters, paused cron schedule in a time zone
        app.update(ch('/'));
        type_text(app, "nightly");
        app.update(key(KeyCode::Enter));
        app.update(key(KeyCode::Enter));
    });
}

#[test]
fn quick_run_confirm_dialog() {
    check("quick_run_dialog", |app| {
        app.update(ch('r'));
    });
}

#[test]
fn custom_run_form_with_errors() {
    check("custom_run", |app| {
        app.update(ch('/'));
        type_text(app, "nightly");
        app.update(key(KeyCode::Enter));
        app.update(ch('R'));
        // rows: not an integer; start: not a time
        app.update(ctrl('u'));
        type_text(app, "lots");
        app.update(key(KeyCode::Tab));
        app.update(key(KeyCode::Tab));
        app.update(key(KeyCode::Tab));
        type_text(app, "soon");
        app.update(key(KeyCode::Enter));
    });
}

#[test]
fn flow_runs() {
    check("runs", |app| {
        app.update(ch('2'));
    });
}

#[test]
fn flow_runs_faults_with_upcoming() {
    check("runs_faults", |app| {
        app.update(ch('2'));
        app.update(ch('u'));
        app.update(ch('x'));
    });
}

fn open_failed_run(app: &mut App) {
    app.update(ch('2'));
    while app.runs.selected(&app.store) != Some(id(FAILED_RUN)) {
        app.update(ch('j'));
    }
    app.update(key(KeyCode::Enter));
    let (details, logs) = failed_run_details();
    app.update(AppEvent::Msg(details));
    app.update(AppEvent::Msg(logs));
}

#[test]
fn run_detail() {
    check("run_detail", open_failed_run);
}

#[test]
fn run_detail_search_matches_only() {
    check("run_search", |app| {
        open_failed_run(app);
        app.update(ch('/'));
        type_text(app, "load");
        app.update(key(KeyCode::Enter));
        app.update(ch('n'));
        app.update(ch('m'));
        app.update(ch('t'));
    });
}

#[test]
fn work_queues() {
    check("queues", |app| {
        app.update(ch('3'));
    });
}

#[test]
fn agents() {
    check("agents", |app| {
        app.update(ch(':'));
        type_text(app, "agents");
        app.update(key(KeyCode::Enter));
    });
}

#[test]
fn help_lists_the_views_keys() {
    check("help_runs", |app| {
        app.update(ch('2'));
        app.update(ch('?'));
    });
}

#[test]
fn stale_data_and_read_only_header() {
    for size in SIZES {
        let mut app = app(size, true);
        app.update(AppEvent::Msg(Msg::FetchFailed("connection refused".into())));
        insta::assert_snapshot!(
            format!("stale_readonly_{}x{}", size.0, size.1),
            render(&app)
        );
    }
}

#[test]
fn monitor_key_read_only_header_and_footer() {
    check("monitor_key", |app| {
        app.update(AppEvent::Msg(Msg::Access(rigel_tui::access::Access {
            role: rigel_common::api_key::Role::Monitor,
            key_name: Some("dash".into()),
        })));
    });
}

#[test]
fn refused_key() {
    check("key_refused", |app| {
        app.update(AppEvent::Msg(Msg::KeyRefused(
            "the API key 'dash' expired at 2026-05-01T11:00:00+00:00; ask an admin for a new one"
                .into(),
        )));
    });
}
