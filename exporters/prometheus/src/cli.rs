//! Parsing an exporter's command line: the binary's own flags, the shared [`WebArgs`], the
//! generated collector flags, and Go-style `--version`.
//!
//! [`WebArgs`]: crate::WebArgs

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::collectors::CollectorSet;
use crate::flags::WebDefaults;
use crate::version::BuildInfo;

const VERSION_ID: &str = "version";

/// The outcome of parsing.
#[derive(Debug)]
pub enum Invocation<C> {
    /// Run with these arguments.
    Run(C),
    /// `--version` was given: print this and exit 0.
    Version(String),
}

/// How a binary's command line is put together; see the [crate docs](crate) for a `main`.
#[derive(Debug, Clone)]
pub struct ExporterCli {
    build: BuildInfo,
    defaults: WebDefaults,
    go_flag_syntax: bool,
}

impl ExporterCli {
    /// A command line for `build.program()` with these shared-flag defaults.
    pub fn new(build: BuildInfo, defaults: WebDefaults) -> ExporterCli {
        ExporterCli {
            build,
            defaults,
            go_flag_syntax: false,
        }
    }

    /// Also accept Go `flag`-package syntax, single dash (`-web.listen-address=:9121`,
    /// `-debug`), as redis_exporter users type it. Only arguments naming a known long flag
    /// are rewritten, so negative numbers and values are untouched.
    pub fn go_flag_syntax(mut self, on: bool) -> ExporterCli {
        self.go_flag_syntax = on;
        self
    }

    /// The full clap command: `C`'s arguments (flattening [`WebArgs`](crate::WebArgs)), the
    /// defaults, the collector flags and `--version`.
    pub fn command<C: CommandFactory>(&self, collectors: Option<&CollectorSet>) -> Command {
        let cmd = C::command()
            .name(self.build.program().to_owned())
            .disable_version_flag(true)
            .arg(
                Arg::new(VERSION_ID)
                    .long(VERSION_ID)
                    .action(ArgAction::SetTrue)
                    .help("Show application version."),
            );
        let cmd = self.defaults.apply(cmd);
        match collectors {
            Some(set) => set.augment_command(cmd),
            None => cmd,
        }
    }

    /// Parses `args` (the first is the program name); applies collector flags to
    /// `collectors`.
    pub fn try_parse_from<C, I, T>(
        &self,
        collectors: Option<&mut CollectorSet>,
        args: I,
    ) -> Result<Invocation<C>, clap::Error>
    where
        C: CommandFactory + FromArgMatches,
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let cmd = self.command::<C>(collectors.as_deref());
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let args = if self.go_flag_syntax {
            go_to_gnu(&cmd, args)
        } else {
            args
        };
        let matches: ArgMatches = cmd.try_get_matches_from(args)?;
        if matches.get_flag(VERSION_ID) {
            return Ok(Invocation::Version(self.build.version_text()));
        }
        let parsed = C::from_arg_matches(&matches)?;
        if let Some(set) = collectors {
            set.apply_matches(&matches);
        }
        Ok(Invocation::Run(parsed))
    }

    /// Parses the process's arguments; prints help, version or the error and exits as clap
    /// and kingpin do.
    pub fn parse<C>(&self, collectors: Option<&mut CollectorSet>) -> C
    where
        C: CommandFactory + FromArgMatches,
    {
        match self.try_parse_from(collectors, std::env::args_os()) {
            Ok(Invocation::Run(c)) => c,
            Ok(Invocation::Version(text)) => {
                print!("{text}");
                std::process::exit(0);
            }
            Err(e) => e.exit(),
        }
    }
}

/// Rewrites `-name[=v]` to `--name[=v]` where `name` is one of `cmd`'s long flags.
fn go_to_gnu(cmd: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let longs: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
    let mut out = Vec::with_capacity(args.len());
    let mut rest_positional = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_positional {
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            if s == "--" {
                rest_positional = true;
                return None;
            }
            let body = s.strip_prefix('-').filter(|b| !b.starts_with('-'))?;
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            longs
                .contains(&name)
                .then(|| OsString::from(format!("-{s}")))
        });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{WebArgs, WebFlag};
    use crate::{CollectError, DefaultState, ScrapeContext};
    use aiplatform_metrics::MetricFamily;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct RedisCli {
        #[command(flatten)]
        web: WebArgs,
        /// Address of the Redis instance.
        #[arg(long = "redis.addr", default_value = "redis://localhost:6379")]
        addr: String,
        /// A number that may be negative.
        #[arg(long = "offset", allow_negative_numbers = true, default_value_t = 0)]
        offset: i64,
    }

    fn noop(_: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        Ok(())
    }

    fn cli() -> ExporterCli {
        ExporterCli::new(
            BuildInfo::new("redis_exporter", "0.1.0"),
            WebDefaults::new(":9121").env(WebFlag::ListenAddress, "AIPLATFORM_TEST_UNSET_VAR"),
        )
    }

    #[test]
    fn binary_flags_shared_flags_and_collectors() {
        let mut set = CollectorSet::new("redis", "redis_exporter").unwrap();
        set.register_blocking("info", DefaultState::Enabled, noop)
            .unwrap();
        set.register_blocking("slowlog", DefaultState::Disabled, noop)
            .unwrap();
        let parsed = cli()
            .try_parse_from::<RedisCli, _, _>(
                Some(&mut set),
                [
                    "redis_exporter",
                    "--redis.addr=redis://db:6379",
                    "--collector.slowlog",
                ],
            )
            .unwrap();
        let Invocation::Run(c) = parsed else {
            panic!("expected a run")
        };
        assert_eq!(c.addr, "redis://db:6379");
        assert_eq!(c.web.listen_addresses, [":9121"]);
        assert_eq!(set.enabled().collect::<Vec<_>>(), ["info", "slowlog"]);
    }

    #[test]
    fn version_is_go_style() {
        let parsed = cli()
            .try_parse_from::<RedisCli, _, _>(None, ["redis_exporter", "--version"])
            .unwrap();
        let Invocation::Version(text) = parsed else {
            panic!("expected version")
        };
        assert!(text.starts_with("redis_exporter, version 0.1.0 (branch: , revision: )\n"));
    }

    #[test]
    fn go_flag_syntax_is_opt_in() {
        let args = [
            "redis_exporter",
            "-web.listen-address=:1",
            "-redis.addr",
            "x",
            "-offset",
            "-5",
        ];
        assert!(cli().try_parse_from::<RedisCli, _, _>(None, args).is_err());
        let Invocation::Run(c) = cli()
            .go_flag_syntax(true)
            .try_parse_from::<RedisCli, _, _>(None, args)
            .unwrap()
        else {
            panic!("expected a run")
        };
        assert_eq!(c.web.listen_addresses, [":1"]);
        assert_eq!(c.addr, "x");
        assert_eq!(c.offset, -5);
    }

    #[test]
    fn help_mentions_collectors_and_shared_flags() {
        let mut set = CollectorSet::new("node", "node_exporter").unwrap();
        set.register_blocking("cpu", DefaultState::Enabled, noop)
            .unwrap();
        let help = cli()
            .command::<RedisCli>(Some(&set))
            .render_long_help()
            .to_string();
        for want in [
            "--web.listen-address",
            "--web.telemetry-path",
            "--web.config.file",
            "--web.max-requests",
            "--web.disable-exporter-metrics",
            "--log.level",
            "--log.format",
            "--collector.cpu",
            "--collector.disable-defaults",
            "--version",
            "[default: :9121]",
        ] {
            assert!(help.contains(want), "{want} missing from:\n{help}");
        }
    }
}
