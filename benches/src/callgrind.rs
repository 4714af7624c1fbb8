//! The driver the instruction-count programs share: run this same executable once per case
//! under callgrind with N and 2N operations, and report the difference per operation, so the
//! set-up's instructions cancel out and the figure does not move with the machine's load.

use std::path::Path;
use std::process::Command;

/// What a program was asked to do: drive every case (no `--case`), or, in the child that
/// callgrind runs, one `case` with `ops` operations.
#[derive(Debug, Default)]
pub struct Args {
    /// The one case to run (set in the child).
    pub case: Option<String>,
    /// Operations for that case.
    pub ops: u64,
    /// Substrings selecting the cases to drive; empty for all.
    pub only: Vec<String>,
}

impl Args {
    /// Reads `--case NAME --ops N` and case filters from the command line (`--bench`, which
    /// `cargo bench` passes, is ignored).
    pub fn parse() -> Args {
        let mut args = std::env::args().skip(1);
        let mut parsed = Args::default();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--case" => parsed.case = args.next(),
                "--ops" => parsed.ops = args.next().and_then(|n| n.parse().ok()).expect("--ops N"),
                "--bench" => {}
                name => parsed.only.push(name.to_owned()),
            }
        }
        parsed
    }

    /// Whether the case `name` is among those asked for.
    pub fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
}

/// Which instructions count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Every thread of the process.
    All,
    /// The main thread only (the application thread, when others do background work).
    Main,
}

/// Instructions per operation of `case`: the runs with `n` and `2 n` operations, differenced.
pub fn per_op(case: &str, n: u64, threads: Threads) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let a = instructions(&exe, case, n, threads);
    let b = instructions(&exe, case, 2 * n, threads);
    (b as f64 - a as f64) / n as f64
}

/// Total instructions callgrind counts for one run of `case` with `ops` operations.
fn instructions(exe: &Path, case: &str, ops: u64, threads: Threads) -> u64 {
    let dir = std::env::temp_dir().join(format!("aiplatform-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cg.out");
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--fair-sched=yes"])
        .arg(format!("--callgrind-out-file={}", file.display()));
    if threads == Threads::Main {
        cmd.arg("--separate-threads=yes");
    }
    let out = cmd
        .arg(exe)
        .args(["--case", case, "--ops", &ops.to_string()])
        .output()
        .unwrap_or_else(|e| {
            panic!("valgrind is needed for this program (apt-get install valgrind): {e}")
        });
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{case} failed under valgrind:\n{log}");
    let count = match threads {
        Threads::All => log
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse().ok()),
        Threads::Main => std::fs::read_to_string(dir.join("cg.out-01"))
            .ok()
            .and_then(|main| {
                main.lines()
                    .find_map(|l| {
                        l.strip_prefix("summary:")
                            .or_else(|| l.strip_prefix("totals:"))
                    })
                    .and_then(|n| n.split_whitespace().next()?.parse().ok())
            }),
    };
    let _ = std::fs::remove_dir_all(&dir);
    count.unwrap_or_else(|| panic!("no instruction count in callgrind's output for {case}:\n{log}"))
}
