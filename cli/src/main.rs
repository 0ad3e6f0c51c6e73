//! `walstore`: the command-line tool to look inside a walstore directory when
//! something looks wrong. Only `compact` changes a store: every other command
//! uses a read-only open or `walstore::verify`, which take the shared lock and
//! write nothing. When a writer holds the store, it says so and exits with
//! code 3 instead of waiting.

mod commands;
mod progress;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, the same for every command.
pub mod code {
    /// Success; for `verify`, the store is clean.
    pub const OK: u8 = 0;
    /// The store is damaged, or `get` did not find the id.
    pub const DAMAGED_OR_NOT_FOUND: u8 = 1;
    /// Bad arguments (clap exits with 2 for these).
    pub const USAGE: u8 = 2;
    /// A writer holds the store.
    pub const LOCKED: u8 = 3;
    /// Anything else.
    pub const ERROR: u8 = 4;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success; for verify: the store is clean
  1  damage: verify found some, or an open or a read met corruption;
     also for get: the id is not in the store
  2  usage error
  3  the store is locked by a writer (walstore never waits for one)
  4  any other error: I/O, not a walstore directory, a log this version
     cannot read

Only compact changes a store. Every other command opens it read-only, under
the shared lock that read-only opens take, and writes nothing; a torn tail
stays in place.";

#[derive(Debug, Parser)]
#[command(
    name = "walstore",
    version,
    about = "Inspect, verify and compact a walstore directory",
    after_help = EXIT_CODES,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every record and every snapshot; list each damaged region
    ///
    /// Walks the whole log and reads every snapshot, under the shared lock,
    /// and reports every damaged region (not only the first) with its
    /// offset, length, id when known, and expected and actual CRC. Shows a
    /// progress bar on stderr for a large log when stderr is a terminal.
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// The store directory
        dir: PathBuf,
    },
    /// Open read-only and print counts, positions and what the open found
    ///
    /// A STRICT open (the default) refuses a log with damage before its last
    /// valid record; --salvage opens it with the damaged ids marked. A torn
    /// tail is reported and left in place.
    #[command(after_help = EXIT_CODES)]
    Stats {
        /// The store directory
        dir: PathBuf,
        /// Open with SALVAGE recovery: damaged records with an intact header
        /// are marked instead of failing the open
        #[arg(long)]
        salvage: bool,
    },
    /// Write the payload of ID to stdout, byte for byte
    ///
    /// Nothing else goes to stdout: an empty payload writes nothing. A
    /// missing id or a payload that fails its CRC exits with 1.
    #[command(after_help = EXIT_CODES)]
    Get {
        /// The store directory
        dir: PathBuf,
        /// The id: decimal, or hexadecimal with a 0x prefix
        #[arg(value_parser = parse_id)]
        id: u64,
        /// Open with SALVAGE recovery, to read the intact ids of a damaged
        /// store
        #[arg(long)]
        salvage: bool,
    },
    /// List every id and its payload length, sorted by id
    ///
    /// Every payload is read and CRC-checked. Intact entries go to stdout,
    /// one line each; an entry that cannot be read goes to stderr, and the
    /// exit code is then 1.
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// The store directory
        dir: PathBuf,
        /// Also print each payload in hexadecimal
        #[arg(long)]
        hex: bool,
        /// Open with SALVAGE recovery, to list the intact ids of a damaged
        /// store
        #[arg(long)]
        salvage: bool,
    },
    /// Rewrite the live records into a new log generation, reclaiming space
    ///
    /// The one command that changes the store: it takes the writer's lock
    /// (exit 3 if a writer holds it), opens the store (STRICT unless
    /// --salvage; an open cuts a torn tail as any writable open does),
    /// compacts it and prints what was reclaimed. A crash at any point
    /// leaves the old generation or the new one, whole.
    #[command(after_help = EXIT_CODES)]
    Compact {
        /// The store directory (it must exist and hold a store)
        dir: PathBuf,
        /// Open with SALVAGE recovery; ids found damaged stay damaged in
        /// the new generation
        #[arg(long)]
        salvage: bool,
    },
}

/// Why a command stopped: its exit code and the lines for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn new(code: u8, line: impl Into<String>) -> Failure {
        Failure {
            code,
            lines: vec![line.into()],
        }
    }

    pub fn with(mut self, line: impl Into<String>) -> Failure {
        self.lines.push(line.into());
        self
    }
}

fn parse_id(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    parsed.map_err(|_| {
        "expected a number from 0 to 18446744073709551615, in decimal or with a 0x prefix in hexadecimal".to_owned()
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version print to stdout; usage errors to stderr.
            return ExitCode::from(if e.use_stderr() {
                code::USAGE
            } else {
                code::OK
            });
        }
    };
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Verify { dir } => commands::verify(&dir, &mut stdout),
        Command::Stats { dir, salvage } => commands::stats(&dir, salvage, &mut stdout),
        Command::Get { dir, id, salvage } => commands::get(&dir, id, salvage, &mut stdout),
        Command::Dump { dir, hex, salvage } => commands::dump(&dir, hex, salvage, &mut stdout),
        Command::Compact { dir, salvage } => commands::compact(&dir, salvage, &mut stdout),
    };
    let result = result.and_then(|code| match stdout.flush() {
        Ok(()) => Ok(code),
        Err(e) => Err(commands::stdout_failure(e)),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            let mut stderr = std::io::stderr().lock();
            for line in &f.lines {
                let _ = writeln!(stderr, "walstore: {line}");
            }
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ids_parse_in_decimal_and_hex() {
        assert_eq!(parse_id("0"), Ok(0));
        assert_eq!(parse_id("42"), Ok(42));
        assert_eq!(parse_id("0x2a"), Ok(42));
        assert_eq!(parse_id("0X2A"), Ok(42));
        assert_eq!(parse_id("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_id("0xffffffffffffffff"), Ok(u64::MAX));
        for bad in ["", "-1", "18446744073709551616", "0x", "0x1g", "1.0", " 1"] {
            assert!(parse_id(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn usage_code_matches_clap() {
        let e = Cli::try_parse_from(["walstore", "frobnicate"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(code::USAGE));
    }
}
