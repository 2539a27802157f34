//! Settings as the server applies them: the real binary's one-line errors, page sizes.

use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error, with_settings};

/// Runs the binary with `args` and extra environment; returns its exit status and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_being-social"));
    command.args(args);
    // A clean slate: the variables of whoever runs the tests must not decide the outcome.
    for name in being_social::configuration::environment_variables() {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_value_stops_the_binary_with_one_line_and_status_2() {
    // Arguments, environment, the start of stderr.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 3] = [
        (
            &["migrate"],
            &[("DATABASE_POOL_SIZE", "abc")],
            "being-social: invalid value \"abc\" for DATABASE_POOL_SIZE: invalid digit found in string\n",
        ),
        (
            &["migrate", "--rate-limits", "sometimes"],
            &[],
            "being-social: invalid value \"sometimes\" for --rate-limits: expected on or off\n",
        ),
        (
            &["migrate", "--config", "/nonexistent/being-social.toml"],
            &[],
            "being-social: cannot read the config file /nonexistent/being-social.toml: ",
        ),
    ];
    for (args, env, expected) in cases {
        let (code, stderr) = run(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    // A file with a bad value and one with an unknown key.
    let dir = std::env::temp_dir().join(format!("being-social-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    for (text, expected) in [
        ("pool_size = \"abc\"\n", "invalid pool_size \"abc\" in "),
        (
            "pool_size = 3\npool_sise = 4\n",
            "unknown key \"pool_sise\" in ",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let (code, stderr) = run(&["migrate", "--config", file.to_str().unwrap()], &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!("being-social: {expected}{}", file.display())),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

on_both_backends!(
    page_sizes_come_from_the_settings,
    start: with_settings(|s| {
        s.default_page_size = 2;
        s.max_page_size = 3;
    })
);

async fn page_sizes_come_from_the_settings(app: TestApp) {
    let ann = app.user("ann").await;
    for name in ["bob", "cat", "dan", "eve"] {
        let fan = app.user(name).await;
        let (status, body) = app.as_(&fan).follow(&ann).await;
        assert!(status.is_success(), "{status} {body}");
    }
    let path = format!("/accounts/follower/{}/", ann.id);
    let (status, body) = app.get(&path, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 2, "{body}");
    assert!(body["next"].is_string(), "{body}");
    let (status, body) = app.get(&format!("{path}?limit=3"), Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 3, "{body}");
    let (status, body) = app.get(&format!("{path}?limit=4"), Some(&ann.token)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["errors"]["limit"][0], "Limit must be between 1 and 3.");
}
