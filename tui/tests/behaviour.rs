//! Behaviour of the deployments, navigation and read-only mode: keys fed to the app's update
//! function, checked against its state and the requests it hands to the background tasks.

mod common;

use chrono::Duration;
use common::*;
use ratatui::crossterm::event::KeyCode;
use rigel_common::state::StateType;
use rigel_tui::app::{AppEvent, Overlay};
use rigel_tui::msg::{Change, Msg, Outcome, Request};

#[test]
fn filter_narrows_as_you_type_and_esc_clears_it() {
    let mut app = app((80, 24), false);
    assert_eq!(app.deployments.visible.len(), 6);
    app.update(ch('/'));
    type_text(&mut app, "hel");
    assert_eq!(app.deployments.visible.len(), 4);
    type_text(&mut app, "lo mar");
    assert_eq!(app.deployments.visible.len(), 1, "every word must match");
    assert_eq!(selected_name(&app), "hello-world/hello-marvin");
    // tags match too
    app.update(ctrl('u'));
    type_text(&mut app, "prod");
    assert_eq!(selected_name(&app), "etl/nightly-load");
    app.update(key(KeyCode::Esc));
    assert!(!app.deployments.editing);
    assert_eq!(app.deployments.filter.value(), "");
    assert_eq!(app.deployments.visible.len(), 6);
    assert_eq!(
        selected_name(&app),
        "etl/nightly-load",
        "the selection survives clearing the filter"
    );
}

#[test]
fn sort_keys_cycle_and_reverse() {
    let mut app = app((80, 24), false);
    app.update(ch('s')); // next run
    assert_eq!(selected_name(&app), "etl/nightly-load", "selection kept");
    app.update(key(KeyCode::Home));
    assert_eq!(
        selected_name(&app),
        "reports/weekly-summary",
        "the late run is the soonest"
    );
    app.update(ch('s')); // last run: failures first
    app.update(key(KeyCode::Home));
    assert_eq!(selected_name(&app), "etl/nightly-load");
    app.update(ch('S'));
    app.update(key(KeyCode::Home));
    assert_eq!(selected_name(&app), "reports/weekly-summary");
}

#[test]
fn quick_run_asks_first_and_cancel_is_the_default() {
    let mut app = app((80, 24), false);
    pick(&mut app, "daily");
    app.take_requests();
    app.update(ch('r'));
    assert!(matches!(&app.overlay, Some(Overlay::Confirm(d)) if !d.yes));
    app.update(key(KeyCode::Enter));
    assert!(app.overlay.is_none());
    assert!(
        performed(&mut app).is_empty(),
        "Enter on Cancel changes nothing"
    );
    assert!(flash(&app).contains("nothing was changed"));

    app.update(ch('r'));
    app.update(key(KeyCode::Esc));
    assert!(performed(&mut app).is_empty());

    app.update(ch('r'));
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Enter));
    assert_eq!(
        performed(&mut app),
        vec![Change::QuickRun {
            deployment_id: id(DAILY),
            deployment: "hello-world/hello-world-daily".into(),
        }]
    );

    app.update(ch('r'));
    app.update(ch('y'));
    assert_eq!(performed(&mut app).len(), 1, "y confirms at once");
}

#[test]
fn a_created_run_is_announced_and_o_opens_it() {
    let mut app = app((80, 24), false);
    let run = flow_run(&RunSpec {
        n: 0x4ff,
        name: "quick-quokka",
        deployment: DAILY,
        kind: StateType::Scheduled,
        state_name: "Scheduled",
        at: 0,
        ran: 0.0,
    });
    app.update(AppEvent::Msg(Msg::Done(Outcome::RunCreated {
        run: Box::new(run),
        deployment: "hello-world/hello-world-daily".into(),
    })));
    assert!(flash(&app).contains("quick-quokka"), "{}", flash(&app));
    assert!(
        app.store.run(id(0x4ff)).is_some(),
        "shown before the next refetch"
    );
    app.take_requests();
    app.update(ch('o'));
    assert_eq!(top(&app), "run");
    assert_eq!(app.take_requests(), vec![Request::Follow(Some(id(0x4ff)))]);
    app.update(key(KeyCode::Esc));
    assert_eq!(top(&app), "deployments");
    assert_eq!(app.take_requests(), vec![Request::Follow(None)]);
    // once the message has gone, o does nothing
    app.update(AppEvent::Tick(now() + Duration::seconds(60)));
    app.update(ch('o'));
    assert_eq!(top(&app), "deployments");
}

#[test]
fn read_only_refuses_every_change_in_one_place() {
    let mut app = app((80, 24), true);
    for k in ['r', 'R', 'p'] {
        app.update(ch(k));
        assert!(app.overlay.is_none(), "{k} opened something");
        assert_eq!(top(&app), "deployments");
        assert!(flash(&app).starts_with("READ-ONLY"), "{k}: {}", flash(&app));
    }
    app.update(ch('2'));
    app.update(ch('c'));
    assert!(app.overlay.is_none());
    assert!(flash(&app).contains("cancelling runs"));
    app.update(ch('3'));
    app.update(ch('p'));
    assert!(flash(&app).contains("work queues"));
    // a change that reaches the dispatcher some other way is refused too
    app.dispatch(rigel_tui::app::Action::Confirm(Change::QuickRun {
        deployment_id: id(DAILY),
        deployment: "hello-world/hello-world-daily".into(),
    }));
    assert!(performed(&mut app).is_empty());
    assert!(render(&app).contains("READ-ONLY"));
}

#[test]
fn back_navigation_and_quit() {
    let mut app = app((80, 24), false);
    pick(&mut app, "nightly");
    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "deployment");
    assert!(app
        .take_requests()
        .contains(&Request::LoadDeployment(id(NIGHTLY))));
    app.update(ch('l'));
    assert_eq!(top(&app), "runs");
    assert_eq!(app.runs.visible.len(), 2, "only this deployment's runs");
    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "run");
    app.update(ch('d'));
    assert_eq!(top(&app), "deployment");
    app.update(key(KeyCode::Esc));
    assert_eq!(top(&app), "run");
    app.update(ch('q'));
    assert_eq!(top(&app), "runs");
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Esc));
    assert_eq!(top(&app), "deployments");
    app.update(key(KeyCode::Esc));
    assert!(!app.should_quit(), "Esc on the start view stays");
    app.update(ch('q'));
    assert!(app.should_quit());
}

#[test]
fn command_mode_switches_views() {
    let mut app = app((80, 24), false);
    app.update(ch(':'));
    type_text(&mut app, "ru");
    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "runs");
    app.update(ch(':'));
    type_text(&mut app, "qu");
    app.update(key(KeyCode::Tab));
    assert!(matches!(&app.overlay, Some(Overlay::Command(i)) if i.value() == "queues"));
    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "queues");
    app.update(ch(':'));
    type_text(&mut app, "nope");
    app.update(key(KeyCode::Enter));
    assert!(flash(&app).contains("Unknown command"));
    assert_eq!(top(&app), "queues");
    app.update(key(KeyCode::Esc));
    assert_eq!(
        top(&app),
        "deployments",
        "top-level views sit on the start view"
    );
    app.update(ctrl('c'));
    assert!(app.should_quit());
}
