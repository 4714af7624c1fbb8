//! What the Redis exporter's integration tests share: real `redis-server` processes on free
//! ports in their own directories, and our exporter (or Debian's Go one) pointed at them
//! without the environment of the machine running the tests.
// Each test file uses part of this module.
#![allow(dead_code, unused_imports)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub use aiplatform_testkit::http::{Response, get_with as http_get};
pub use aiplatform_testkit::{Exporter, Scrape, TempDir, eventually, free_port, host};

pub const EXPORTER: &str = env!("CARGO_BIN_EXE_aiplatform-redis-exporter");
pub const MASTER_PASSWORD: &str = "m4ster-Secret-7f3a";
pub const ACL_USER: &str = "metrics";
pub const ACL_PASSWORD: &str = "acl-Secret-91bd";

/// The environment variables that configure redis_exporter (and ours): removed from the
/// exporter's environment, so the host's settings never leak into a test.
const EXPORTER_ENV: [&str; 7] = [
    "REDIS_ADDR",
    "REDIS_USER",
    "REDIS_PASSWORD",
    "REDIS_PASSWORD_FILE",
    "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
    "REDIS_EXPORTER_NAMESPACE",
    "REDIS_EXPORTER_DEBUG",
];

/// Our exporter with `args` and `env`.
pub fn exporter(args: &[&str], env: &[(&str, &str)]) -> Exporter {
    start(EXPORTER.into(), args, env)
}

/// Debian's Go redis_exporter with `args` and `env`.
pub fn go_exporter(args: &[&str], env: &[(&str, &str)]) -> Exporter {
    start(host::go_exporter("redis"), args, env)
}

fn start(bin: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Exporter {
    Exporter::start(bin, args, |cmd| {
        for var in EXPORTER_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
    })
}

/// A `redis-server` this test started; killed on drop, its directory removed.
pub struct RedisServer {
    pub port: u16,
    pub dir: TempDir,
    pub password: Option<String>,
    config: PathBuf,
    process: Option<aiplatform_testkit::Process>,
}

impl RedisServer {
    /// Starts a server with these extra config lines (`--save ""`, no AOF, own dir).
    pub fn start(tag: &str, extra: &[String], password: Option<&str>) -> RedisServer {
        let dir = TempDir::new(&format!("redis-{tag}"));
        let port = free_port();
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\ndaemonize no\n",
            dir.path().display(),
        );
        if let Some(pw) = password {
            conf.push_str(&format!("requirepass {pw}\n"));
        }
        for line in extra {
            conf.push_str(line);
            conf.push('\n');
        }
        let config = dir.write("redis.conf", conf);
        let mut s = RedisServer {
            port,
            dir,
            password: password.map(str::to_owned),
            config,
            process: None,
        };
        s.spawn();
        s
    }

    /// A master with a password and an ACL user.
    pub fn master() -> RedisServer {
        RedisServer::start(
            "master",
            &[format!("user {ACL_USER} on >{ACL_PASSWORD} ~* &* +@all")],
            Some(MASTER_PASSWORD),
        )
    }

    /// A replica of `master`.
    pub fn replica_of(master: &RedisServer) -> RedisServer {
        let mut extra = vec![format!("replicaof 127.0.0.1 {}", master.port)];
        if let Some(pw) = &master.password {
            extra.push(format!("masterauth {pw}"));
        }
        RedisServer::start("replica", &extra, None)
    }

    /// A server with `CONFIG` renamed away.
    pub fn config_renamed() -> RedisServer {
        RedisServer::start("noconfig", &["rename-command CONFIG \"\"".to_owned()], None)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(host::redis_server());
        cmd.arg(&self.config);
        self.process = Some(aiplatform_testkit::Process::spawn("redis-server", cmd));
        let port = self.port;
        let log = || self.process.as_ref().map(|p| p.log()).unwrap_or_default();
        assert!(
            aiplatform_testkit::poll(Duration::from_secs(10), || {
                self.try_cmd(&["PING"])
                    .is_ok_and(|r| r.contains("PONG") || r.starts_with('-'))
            }),
            "redis-server on {port} did not start:\n{}",
            log()
        );
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs one command (authenticated as the default user) and returns the raw reply.
    pub fn try_cmd(&self, args: &[&str]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut wire = Vec::new();
        let mut push = |args: &[&str]| {
            wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                wire.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        };
        let authed = self.password.is_some();
        if let Some(pw) = &self.password {
            push(&["AUTH", pw]);
        }
        push(args);
        push(&["QUIT"]);
        s.write_all(&wire)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if authed {
            // Drop the +OK of AUTH.
            if let Some(rest) = out.strip_prefix("+OK\r\n") {
                out = rest.to_owned();
            }
        }
        Ok(out.trim_end_matches("+OK\r\n").to_owned())
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        self.try_cmd(args).expect("redis command")
    }

    pub fn stop(&mut self) {
        self.process = None;
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Waits up to 15 s until `f` holds for this server.
    pub fn wait_until(&self, what: &str, f: impl Fn(&RedisServer) -> bool) {
        eventually(Duration::from_secs(15), what, || f(self));
    }
}
