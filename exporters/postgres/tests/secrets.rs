//! The password never appears in a log line, an error message, a metric or `--help`, for
//! every way of giving it: URI user info, `key=value`, `?password=`, `DATA_SOURCE_PASS`
//! and `DATA_SOURCE_PASS_FILE`; with the right password, a wrong one, and a malformed DSN.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use support::{Cluster, SECRET_PASSWORD, exporter, exporter_bin, primary};

const WRONG: &str = "Wr0ng-Pa55-Qx7";

fn db() -> &'static Cluster {
    static DB: OnceLock<Cluster> = OnceLock::new();
    DB.get_or_init(|| {
        let c = primary("secrets");
        c.stop_at_exit();
        c
    })
}

/// Every place a secret could leak to, for one configuration.
fn assert_never_shown(env: &[(&str, &str)], secret: &str, want_up: f64, format: &str) {
    let e = exporter(
        env,
        &["--log.level=debug", &format!("--log.format={format}")],
    );
    for _ in 0..2 {
        let r = e.get("/metrics");
        assert_eq!(r.status, 200);
        assert!(!r.body.contains(secret), "password in metrics");
        assert!(r.body.contains(&format!("pg_up {want_up}")), "{}", r.body);
    }
    assert!(!e.get("/").body.contains(secret));
    let log = e.log();
    assert!(!log.is_empty());
    assert!(!log.contains(secret), "password in logs:\n{log}");
    if want_up == 0.0 {
        // The failure is logged, with the server's reason.
        assert!(log.contains("Error opening connection"), "{log}");
        assert!(log.contains("password authentication failed"), "{log}");
    }
    drop(e);
    let help = Command::new(exporter_bin())
        .env_clear()
        .envs(env.iter().copied())
        .arg("--help")
        .output()
        .unwrap();
    let help_text =
        String::from_utf8_lossy(&help.stdout).into_owned() + &String::from_utf8_lossy(&help.stderr);
    assert!(help_text.contains("--web.listen-address"), "{help_text}");
    assert!(!help_text.contains(secret), "password in --help");
}

fn forms(
    password: &str,
    port: u16,
    pass_file: &std::path::Path,
) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        (
            "uri",
            vec![(
                "DATA_SOURCE_NAME",
                format!(
                    "postgresql://secretuser:{password}@127.0.0.1:{port}/postgres?sslmode=disable"
                ),
            )],
        ),
        (
            "key=value",
            vec![(
                "DATA_SOURCE_NAME",
                format!(
                    "host=127.0.0.1 port={port} user=secretuser password='{password}' dbname=postgres sslmode=disable"
                ),
            )],
        ),
        (
            "?password=",
            vec![(
                "DATA_SOURCE_NAME",
                format!(
                    "postgresql://secretuser@127.0.0.1:{port}/postgres?sslmode=disable&password={password}"
                ),
            )],
        ),
        (
            "DATA_SOURCE_PASS",
            vec![
                (
                    "DATA_SOURCE_URI",
                    format!("127.0.0.1:{port}/postgres?sslmode=disable"),
                ),
                ("DATA_SOURCE_USER", "secretuser".to_owned()),
                ("DATA_SOURCE_PASS", password.to_owned()),
            ],
        ),
        (
            "DATA_SOURCE_PASS_FILE",
            vec![
                (
                    "DATA_SOURCE_URI",
                    format!("127.0.0.1:{port}/postgres?sslmode=disable"),
                ),
                ("DATA_SOURCE_USER_FILE", {
                    let user = pass_file.with_extension("user");
                    std::fs::write(&user, "secretuser\n").unwrap();
                    user.display().to_string()
                }),
                ("DATA_SOURCE_PASS_FILE", {
                    std::fs::write(pass_file, format!("{password}\n")).unwrap();
                    pass_file.display().to_string()
                }),
            ],
        ),
    ]
}

fn check_all(password: &str, want_up: f64) {
    let c = db();
    let dir = aiplatform_testkit::TempDir::new("pgexp-secrets");
    for (i, (name, env)) in forms(password, c.port, &dir.join("pass"))
        .into_iter()
        .enumerate()
    {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let format = if i % 2 == 0 { "logfmt" } else { "json" };
        eprintln!("form {name} ({format})");
        assert_never_shown(&env, password, want_up, format);
    }
}

#[test]
fn right_password_in_every_form() {
    check_all(SECRET_PASSWORD, 1.0);
}

#[test]
fn wrong_password_in_every_form() {
    check_all(WRONG, 0.0);
}

#[test]
fn malformed_dsns_fail_without_showing_the_password() {
    let port = db().port;
    for dsn in [
        format!("postgresql://secretuser:{WRONG}@127.0.0.1:notaport/postgres"),
        format!("host=127.0.0.1 password={WRONG} stray"),
        format!("host=127.0.0.1 password='{WRONG}"),
        format!("postgresql://secretuser:{WRONG}@127.0.0.1:{port}/postgres?bogus_option={WRONG}"),
        format!("postgresql://secretuser:{WRONG}@127.0.0.1:{port}/postgres?sslmode=require"),
        format!("postgresql://secretuser:{WRONG}%zz@127.0.0.1:{port}/postgres"),
    ] {
        let out = Command::new(exporter_bin())
            .env_clear()
            .env("DATA_SOURCE_NAME", &dsn)
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{dsn}: should refuse to start");
        assert!(
            text.contains("data source") || text.contains("sslmode"),
            "{dsn}: {text}"
        );
        assert!(
            !text.contains(WRONG),
            "password in the error for {dsn}:\n{text}"
        );
    }
}
