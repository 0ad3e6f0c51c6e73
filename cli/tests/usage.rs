//! The command line itself: help (with the exit codes), version, and usage
//! errors, which exit with 2.

#[allow(dead_code)]
mod common;

use common::*;

const HELP: &str = "\
Inspect, verify and compact a walstore directory

Usage: walstore <COMMAND>

Commands:
  verify   Check every record and every snapshot; list each damaged region
  stats    Open read-only and print counts, positions and what the open found
  get      Write the payload of ID to stdout, byte for byte
  dump     List every id and its payload length, sorted by id
  compact  Rewrite the live records into a new log generation, reclaiming space
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help
  -V, --version  Print version

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
stays in place.
";

#[test]
fn help_lists_the_commands_and_the_exit_codes() {
    let run = walstore_anywhere(&["--help"]);
    assert_eq!(
        run,
        Run {
            code: 0,
            stdout: HELP.as_bytes().to_vec(),
            stderr: String::new(),
        }
    );
}

#[test]
fn every_command_help_ends_with_the_exit_codes() {
    let codes = &HELP[HELP.find("Exit codes:").unwrap()..];
    for command in ["verify", "stats", "get", "dump", "compact"] {
        let run = walstore_anywhere(&[command, "-h"]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{command}");
        let text = run.stdout_text();
        assert!(text.ends_with(codes), "{command} -h: {text}");
    }
    assert_eq!(
        walstore_anywhere(&["get", "-h"]).stdout_text(),
        format!(
            "Write the payload of ID to stdout, byte for byte\n\
             \n\
             Usage: walstore get [OPTIONS] <DIR> <ID>\n\
             \n\
             Arguments:\n  \
               <DIR>  The store directory\n  \
               <ID>   The id: decimal, or hexadecimal with a 0x prefix\n\
             \n\
             Options:\n      \
                   --salvage  Open with SALVAGE recovery, to read the intact ids of a damaged store\n  \
               -h, --help     Print help (see more with '--help')\n\
             \n\
             {codes}"
        )
    );
}

#[test]
fn version() {
    assert_eq!(
        walstore_anywhere(&["--version"]),
        Run {
            code: 0,
            stdout: b"walstore 0.2.0\n".to_vec(),
            stderr: String::new(),
        }
    );
}

#[test]
fn no_command_prints_the_help_to_stderr_and_exits_2() {
    let no_args: [&str; 0] = [];
    assert_eq!(
        walstore_anywhere(&no_args),
        Run {
            code: 2,
            stdout: Vec::new(),
            stderr: HELP.to_owned(),
        }
    );
}

#[test]
fn usage_errors_exit_2() {
    let usage = |stderr: &str| Run {
        code: 2,
        stdout: Vec::new(),
        stderr: stderr.to_owned(),
    };
    assert_eq!(
        walstore_anywhere(&["frobnicate"]),
        usage(
            "error: unrecognized subcommand 'frobnicate'\n\
             \n\
             Usage: walstore <COMMAND>\n\
             \n\
             For more information, try '--help'.\n"
        )
    );
    assert_eq!(
        walstore_anywhere(&["get", "/nowhere"]),
        usage(
            "error: the following required arguments were not provided:\n  \
               <ID>\n\
             \n\
             Usage: walstore get <DIR> <ID>\n\
             \n\
             For more information, try '--help'.\n"
        )
    );
    for bad in ["1x", "-1", "18446744073709551616", "0x"] {
        assert_eq!(
            walstore_anywhere(&["get", "/nowhere", "--", bad]),
            usage(&format!(
                "error: invalid value '{bad}' for '<ID>': expected a number from 0 to \
                 18446744073709551615, in decimal or with a 0x prefix in hexadecimal\n\
                 \n\
                 For more information, try '--help'.\n"
            ))
        );
    }
    assert_eq!(
        walstore_anywhere(&["verify", "/a", "/b"]),
        usage(
            "error: unexpected argument '/b' found\n\
             \n\
             Usage: walstore verify <DIR>\n\
             \n\
             For more information, try '--help'.\n"
        )
    );
    assert_eq!(
        walstore_anywhere(&["dump", "--bogus", "/a"]),
        usage(
            "error: unexpected argument '--bogus' found\n\
             \n  \
               tip: to pass '--bogus' as a value, use '-- --bogus'\n\
             \n\
             Usage: walstore dump [OPTIONS] <DIR>\n\
             \n\
             For more information, try '--help'.\n"
        )
    );
}
