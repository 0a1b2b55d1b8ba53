//! Behaviour with API keys: a key whose role only reads (monitor, agent) makes the TUI
//! read-only on its own; a refused key and a refused action say why in the server's words.

mod common;

use common::*;
use ratatui::crossterm::event::KeyCode;
use rigel_common::api_key::Role;
use rigel_tui::access::Access;
use rigel_tui::app::{Action, App, AppEvent, Conn, Overlay};
use rigel_tui::msg::{Change, Msg, Outcome};

/// The fixture app, after the server said who it takes the TUI for.
fn app_as(role: Role, key: &str) -> App {
    let mut app = app((80, 24), false);
    app.update(AppEvent::Msg(Msg::Access(Access {
        role,
        key_name: Some(key.into()),
    })));
    app
}

/// The screen's last row.
fn footer(app: &App) -> String {
    render(app).lines().last().unwrap_or_default().to_string()
}

fn header(app: &App) -> String {
    render(app).lines().next().unwrap_or_default().to_string()
}

/// Presses `k` and checks the change was refused with the key's role, without a dialog.
fn refused(app: &mut App, k: char, words: &str) {
    app.update(ch(k));
    assert!(app.overlay.is_none(), "{k} opened a dialog");
    let text = flash(app);
    assert!(
        text.starts_with("READ-ONLY: ") && text.contains(words),
        "{k}: {text}"
    );
    assert!(
        text.contains("the key 'dash' has the monitor role"),
        "{k}: {text}"
    );
    assert!(performed(app).is_empty(), "{k} sent a change");
}

#[test]
fn a_monitor_key_refuses_every_change_and_says_why() {
    let mut app = app_as(Role::Monitor, "dash");
    assert!(!app.may_change());
    pick(&mut app, "daily");
    app.take_requests();
    refused(&mut app, 'r', "starting runs");
    refused(&mut app, 'R', "starting runs");
    assert_eq!(top(&app), "deployments", "no custom run form");
    refused(&mut app, 'p', "pausing or resuming schedules");

    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "deployment");
    refused(&mut app, 'r', "starting runs");
    refused(&mut app, 'R', "starting runs");
    refused(&mut app, 'p', "pausing or resuming schedules");

    app.update(ch('2'));
    refused(&mut app, 'c', "cancelling runs");
    app.update(key(KeyCode::Enter));
    assert_eq!(top(&app), "run");
    refused(&mut app, 'c', "cancelling runs");

    app.update(ch('3'));
    refused(&mut app, 'p', "pausing or resuming work queues");

    // a change that reaches the dispatcher some other way is refused too
    for change in [
        Change::QuickRun {
            deployment_id: id(DAILY),
            deployment: "hello-world/hello-world-daily".into(),
        },
        Change::CancelRun {
            run_id: id(FAILED_RUN),
            run: "x".into(),
        },
        Change::SetScheduleActive {
            deployment_id: id(DAILY),
            deployment: "d".into(),
            active: false,
        },
        Change::SetQueuePaused {
            queue_id: id(Q_DEFAULT),
            queue: "default".into(),
            paused: true,
        },
    ] {
        app.dispatch(Action::Confirm(change.clone()));
        assert!(performed(&mut app).is_empty(), "{change:?} was sent");
    }
    app.dispatch(Action::OpenCustomRun(id(DAILY)));
    assert_ne!(top(&app), "custom run");
}

#[test]
fn a_monitor_key_hides_the_keys_that_change_things_and_shows_the_mode() {
    let mut app = app_as(Role::Monitor, "dash");
    let head = header(&app);
    assert!(head.contains("READ-ONLY (monitor) · key 'dash'"), "{head}");
    let foot = footer(&app);
    for hint in [" r run", " R custom", " p pause"] {
        assert!(!foot.contains(hint), "{hint} offered: {foot}");
    }
    assert!(
        foot.contains(" l runs") && foot.contains(" / filter"),
        "{foot}"
    );

    app.update(ch('?'));
    let help = render(&app);
    assert!(
        help.contains("READ-ONLY: the key 'dash' has the monitor role"),
        "{help}"
    );
    assert!(!help.contains("run now"), "{help}");
    assert!(!help.contains("custom run"), "{help}");
    assert!(help.contains("the deployment's runs"), "{help}");
    app.update(ch('x'));

    app.update(ch('2'));
    let foot = footer(&app);
    assert!(!foot.contains("cancel"), "{foot}");
    assert!(foot.contains(" x faults"), "{foot}");
    app.update(ch('3'));
    let foot = footer(&app);
    assert!(!foot.contains("pause"), "{foot}");
}

#[test]
fn an_agent_key_is_read_only_too() {
    let mut app = app_as(Role::Agent, "worker-1");
    app.update(ch('r'));
    assert!(app.overlay.is_none());
    assert!(
        flash(&app).contains("the key 'worker-1' has the agent role"),
        "{}",
        flash(&app)
    );
    assert!(performed(&mut app).is_empty());
    assert!(header(&app).contains("READ-ONLY (agent)"));
}

#[test]
fn operator_deployer_and_admin_keys_keep_every_action() {
    for role in [Role::Operator, Role::Deployer, Role::Admin] {
        let mut app = app_as(role, "ops");
        assert!(app.may_change(), "{role}");
        pick(&mut app, "daily");
        app.take_requests();
        app.update(ch('r'));
        assert!(matches!(app.overlay, Some(Overlay::Confirm(_))), "{role}");
        app.update(ch('y'));
        assert_eq!(performed(&mut app).len(), 1, "{role}: the run is sent");
        app.update(AppEvent::Tick(now() + chrono::Duration::seconds(60)));
        let foot = footer(&app);
        assert!(
            foot.contains(" r run") && foot.contains(" p pause"),
            "{foot}"
        );
        let head = header(&app);
        assert!(head.contains(&format!("key 'ops' ({role})")), "{head}");
        assert!(!head.contains("READ-ONLY"), "{head}");
        app.update(ch('2'));
        app.update(ch('c'));
        assert!(matches!(app.overlay, Some(Overlay::Confirm(_))), "{role}");
    }
}

#[test]
fn a_server_without_keys_changes_nothing() {
    let mut app = app((80, 24), false);
    app.update(AppEvent::Msg(Msg::Access(Access::default())));
    assert!(app.may_change());
    let head = header(&app);
    assert!(
        !head.contains("READ-ONLY") && !head.contains("key '"),
        "{head}"
    );
    app.update(ch('r'));
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
}

#[test]
fn learning_the_role_closes_a_confirm_dialog() {
    let mut app = app((80, 24), false);
    app.update(ch('r'));
    assert!(app.overlay.is_some());
    app.update(AppEvent::Msg(Msg::Access(Access {
        role: Role::Monitor,
        key_name: Some("dash".into()),
    })));
    assert!(app.overlay.is_none());
    app.update(ch('y'));
    assert!(performed(&mut app).is_empty());
}

#[test]
fn a_refused_key_shows_the_servers_message() {
    let mut app = app((80, 24), false);
    let message =
        "the API key is not known to this server (mistyped, revoked, or for another server)";
    app.update(AppEvent::Msg(Msg::KeyRefused(message.into())));
    assert!(matches!(&app.conn, Conn::KeyRefused { message: m, .. } if m == message));
    let screen = render(&app);
    assert!(screen.contains("✕ API key refused"), "{screen}");
    assert!(!screen.contains("reconnecting"), "{screen}");
    // the whole message, wrapped over the last rows
    assert!(
        screen.contains("The server refused the API key (RIGEL_API_KEY): the API key is"),
        "{screen}"
    );
    assert!(screen.contains("or for another server)"), "{screen}");
    // the data is back once a refetch works
    app.set_store(store());
    assert_eq!(app.conn, Conn::Live);
    assert!(!render(&app).contains("refused"));
}

#[test]
fn a_refused_action_shows_the_servers_whole_message() {
    let mut app = app((80, 24), false);
    let message = format!(
        "Cannot run 'hello-world/hello-world-daily': POST /api/deployments/{}/create_flow_run \
         needs the role operator, deployer or admin; the key 'dash' has the monitor role",
        id(DAILY)
    );
    app.update(AppEvent::Msg(Msg::Done(Outcome::Failed(message))));
    let screen = render(&app);
    assert!(
        screen.contains("✗ Cannot run 'hello-world/hello-world-daily'"),
        "{screen}"
    );
    assert!(
        screen.contains("role operator, deployer or admin;"),
        "{screen}"
    );
    assert!(
        screen.contains("the key 'dash' has the monitor role"),
        "{screen}"
    );
}
