//! Behaviour of the custom-run form, the runs list, the run view and live data: keys and
//! messages fed to the app's update function.

mod common;

use chrono::Duration;
use common::*;
use ratatui::crossterm::event::KeyCode;
use rigel_common::event::FlowRunStateEvent;
use rigel_common::state::StateType;
use rigel_tui::app::{AppEvent, Conn, Overlay, View};
use rigel_tui::msg::{Change, Msg};
use serde_json::json;

#[test]
fn custom_run_checks_types_before_sending() {
    let mut app = app((80, 24), false);
    pick(&mut app, "nightly");
    app.update(ch('R'));
    assert_eq!(top(&app), "custom run");
    let Some(View::CustomRun(form)) = app.stack.last() else {
        panic!("no form")
    };
    let prefilled: Vec<&str> = form.fields.iter().map(|f| f.input.value()).collect();
    assert_eq!(
        prefilled,
        ["1000", "false", "delta"],
        "prefilled from the deployment"
    );

    // rows is an integer
    app.update(ctrl('u'));
    type_text(&mut app, "many");
    app.update(key(KeyCode::Enter));
    assert!(app.overlay.is_none(), "nothing to confirm");
    assert!(performed(&mut app).is_empty());
    let Some(View::CustomRun(form)) = app.stack.last() else {
        panic!("no form")
    };
    assert_eq!(
        form.fields[0].error.as_deref(),
        Some("'many' is not an integer")
    );

    // mode must be one of its values
    app.update(ctrl('u'));
    type_text(&mut app, "5000");
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    app.update(ctrl('u'));
    type_text(&mut app, "weekly");
    app.update(key(KeyCode::Enter));
    let Some(View::CustomRun(form)) = app.stack.last() else {
        panic!("no form")
    };
    assert!(form.fields[0].error.is_none());
    let mode_error = form.fields[2].error.clone().unwrap_or_default();
    assert!(
        mode_error.contains("not one of the allowed values"),
        "{mode_error}"
    );
    assert!(flash(&app).contains("nothing was sent"));

    // fixed: start in 10 minutes, two tags
    app.update(ctrl('u'));
    type_text(&mut app, "full");
    app.update(key(KeyCode::Tab));
    type_text(&mut app, "10m");
    app.update(key(KeyCode::Tab));
    type_text(&mut app, "adhoc, backfill");
    app.update(key(KeyCode::Enter));
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    app.update(ch('y'));
    let changes = performed(&mut app);
    let [Change::CustomRun { body, command, .. }] = changes.as_slice() else {
        panic!("expected one custom run, got {changes:?}")
    };
    assert_eq!(body.parameters["rows"], json!(5000));
    assert_eq!(body.parameters["mode"], json!("full"));
    assert!(
        !body.parameters.contains_key("dry_run"),
        "unchanged values are left to the deployment"
    );
    assert_eq!(body.tags, ["adhoc", "backfill"]);
    assert_eq!(
        body.scheduled_start_time,
        Some(now() + Duration::minutes(10))
    );
    assert_eq!(
        command,
        "rigel deployment run etl/nightly-load -p rows=5000 -p mode=full --start-in 10m --tag adhoc --tag backfill"
    );
    assert_eq!(
        top(&app),
        "deployments",
        "the form closes once the run is sent"
    );
}

#[test]
fn custom_run_command_quotes_what_the_shell_or_cli_would_misread() {
    let mut app = app((80, 24), false);
    pick(&mut app, "daily");
    app.update(ch('R'));
    app.update(ctrl('u'));
    type_text(&mut app, "42");
    let Some(View::CustomRun(form)) = app.stack.last() else {
        panic!("no form")
    };
    // a string parameter typed as 42 must stay a string for the CLI too
    assert_eq!(
        form.command(now()),
        r#"rigel deployment run hello-world/hello-world-daily -p 'name="42"'"#
    );
    app.update(ctrl('u'));
    type_text(&mut app, "Ford Prefect");
    let Some(View::CustomRun(form)) = app.stack.last() else {
        panic!("no form")
    };
    assert_eq!(
        form.command(now()),
        "rigel deployment run hello-world/hello-world-daily -p 'name=Ford Prefect'"
    );
    app.update(key(KeyCode::Esc));
    assert_eq!(top(&app), "deployments");
    assert!(performed(&mut app).is_empty());
}

#[test]
fn runs_filter_by_state_and_faults_and_cancel_asks() {
    let mut app = app((80, 24), false);
    app.update(ch('2'));
    assert_eq!(
        app.runs.visible.len(),
        11,
        "scheduled-later runs are hidden"
    );
    app.update(ch('u'));
    assert_eq!(app.runs.visible.len(), 13);
    app.update(ch('x'));
    let names: Vec<String> = app
        .runs
        .visible
        .iter()
        .map(|&i| app.store.runs[i as usize].name.to_string())
        .collect();
    assert_eq!(names, ["lucky-newt", "icy-magpie", "fuzzy-walrus"]);
    app.update(ch('x'));
    app.update(ch('f')); // Scheduled
    app.update(ch('f')); // Pending
    app.update(ch('f')); // Running
    assert_eq!(app.runs.visible.len(), 1);
    app.take_requests();
    app.update(ch('c'));
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    app.update(ch('y'));
    assert_eq!(
        performed(&mut app),
        vec![Change::CancelRun {
            run_id: id(0x405),
            run: "happy-vole".into()
        }]
    );
    app.update(ch('f')); // Completed
    app.update(ch('c'));
    assert!(app.overlay.is_none(), "a finished run can't be cancelled");
    assert!(flash(&app).contains("already finished"));
}

#[test]
fn stale_data_is_kept_and_marked_until_a_fetch_succeeds() {
    let mut app = app((80, 24), false);
    app.update(AppEvent::Msg(Msg::FetchFailed("refused".into())));
    let since = now() - Duration::seconds(2);
    assert_eq!(
        app.conn,
        Conn::Stale {
            since,
            error: "refused".into()
        }
    );
    app.update(AppEvent::Msg(Msg::FetchFailed("refused again".into())));
    assert!(
        matches!(app.conn, Conn::Stale { since: s, .. } if s == since),
        "since stays"
    );
    assert_eq!(app.store.deployments.len(), 6, "the data stays");
    assert!(render(&app).contains("stale since 11:59:58"));
    app.update(AppEvent::Msg(Msg::Snapshot(Box::new(store()))));
    assert_eq!(app.conn, Conn::Live);
}

#[test]
fn live_run_events_move_strips_and_lists() {
    let mut app = app((80, 24), false);
    app.update(ch('2'));
    app.update(ch('j'));
    let selected = app.runs.selected(&app.store);
    assert!(selected.is_some());
    let before = app.runs.visible.len();
    let mut st = state(StateType::Failed, "Failed", 5);
    st.message = Some("boom".into());
    let event = FlowRunStateEvent {
        flow_run_id: id(0x4fe),
        flow_id: id(0x10),
        deployment_id: Some(id(DAILY)),
        work_queue_id: Some(id(Q_DEFAULT)),
        agent_id: Some(id(AGENT_A)),
        name: "sudden-yeti".into(),
        state: st,
        new_run: true,
        start_time: Some(now()),
        end_time: Some(now() + Duration::seconds(5)),
        total_run_time: 5.0,
    };
    let event_copy = event.clone();
    app.update(AppEvent::Msg(Msg::RunEvents(vec![event])));
    assert_eq!(app.runs.visible.len(), before + 1);
    assert_eq!(
        app.runs.selected(&app.store),
        selected,
        "a run arriving above keeps the selection on the same run"
    );
    let facts = app.store.deployment(id(DAILY)).unwrap().1;
    let strip: Vec<StateType> = facts.strip.iter().map(|(s, _)| s).collect();
    assert_eq!(
        strip,
        [
            StateType::Completed,
            StateType::Completed,
            StateType::Completed,
            StateType::Failed
        ]
    );
    // an older event doesn't undo a newer state
    let stale = FlowRunStateEvent {
        state: state(StateType::Running, "Running", 1),
        new_run: false,
        end_time: None,
        ..event_copy
    };
    app.update(AppEvent::Msg(Msg::RunEvents(vec![stale])));
    assert_eq!(app.store.run(id(0x4fe)).unwrap().state, StateType::Failed);
}

#[test]
fn resizing_keeps_the_selection_on_screen() {
    let mut app = app((80, 24), false);
    app.update(ch('2'));
    app.update(key(KeyCode::End));
    app.update(AppEvent::Resize(80, 8));
    let rows = 8 - 4;
    let c = app.runs.cursor;
    assert!(
        c.selected >= c.offset && c.selected < c.offset + rows,
        "{c:?}"
    );
    assert!(render(&app).contains("keen-marten"), "{}", render(&app));
}

#[test]
fn logs_search_jumps_between_matches_and_toggles() {
    let mut app = app((80, 24), false);
    app.update(ch('2'));
    while app.runs.selected(&app.store) != Some(id(FAILED_RUN)) {
        app.update(ch('j'));
    }
    app.update(key(KeyCode::Enter));
    let (details, logs) = failed_run_details();
    app.update(AppEvent::Msg(details));
    app.update(AppEvent::Msg(logs));
    app.update(ch('/'));
    type_text(&mut app, "LOAD");
    app.update(key(KeyCode::Enter));
    let Some(View::Run(v)) = app.stack.last() else {
        panic!("no run view")
    };
    assert_eq!(v.logs.matches.len(), 4, "case-insensitive");
    assert_eq!(v.logs.current, Some(0));
    assert!(!v.logs.follow, "a search stops following");
    app.update(ch('N'));
    let Some(View::Run(v)) = app.stack.last() else {
        panic!("no run view")
    };
    assert_eq!(v.logs.current, Some(3), "N wraps to the last match");
    app.update(ch('w'));
    app.update(ch('G'));
    let Some(View::Run(v)) = app.stack.last() else {
        panic!("no run view")
    };
    assert!(v.logs.wrap && v.logs.follow);
    app.update(key(KeyCode::Esc));
    let Some(View::Run(v)) = app.stack.last() else {
        panic!("no run view")
    };
    assert!(v.logs.matches.is_empty(), "Esc clears the search first");
    app.update(key(KeyCode::Esc));
    assert_eq!(top(&app), "runs");
}

#[test]
fn a_run_scheduled_later_joins_the_list_when_it_is_due() {
    let mut app = app((80, 24), false);
    app.update(ch('2'));
    assert_eq!(app.runs.visible.len(), 11);
    let due = app
        .runs
        .next_reveal
        .expect("the hidden runs have start times");
    app.update(AppEvent::Tick(due - Duration::seconds(1)));
    assert_eq!(app.runs.visible.len(), 11, "not due yet");
    app.update(AppEvent::Tick(due));
    assert!(app.runs.visible.len() > 11, "the due run is listed");
    assert_eq!(app.runs.hidden_upcoming + app.runs.visible.len(), 13);
}
