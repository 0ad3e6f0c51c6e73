//! The example key-value cluster with walstore as the Raft log.
//!
//! ```text
//! walstore-raft node --id N --addr 127.0.0.1:PORT --dir DIR [--exit-on-stdin-eof]
//! walstore-raft cluster --dir DIR [--port 21001]     # three nodes, initialised
//! walstore-raft set --addr A KEY VALUE
//! walstore-raft get --addr A KEY
//! walstore-raft status --addr A
//! ```
//!
//! `node` prints `LISTENING <addr>` on stdout once its port is bound (with
//! `--addr 127.0.0.1:0` the system picks the port), so that whoever started
//! it learns the address.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;
use walstore_openraft::client::Client;
use walstore_openraft::node::start_wal_node;
use walstore_openraft::types::Node;

const USAGE: &str = "usage:
  walstore-raft node --id N --addr HOST:PORT --dir DIR [--exit-on-stdin-eof]
  walstore-raft cluster --dir DIR [--port FIRST_PORT]
  walstore-raft set --addr HOST:PORT KEY VALUE
  walstore-raft get --addr HOST:PORT KEY
  walstore-raft status --addr HOST:PORT";

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `--name value` options and the remaining positional words.
struct Args {
    opts: BTreeMap<String, String>,
    flags: Vec<String>,
    words: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> AnyResult<Args> {
        let mut a = Args {
            opts: BTreeMap::new(),
            flags: Vec::new(),
            words: Vec::new(),
        };
        let mut it = args.peekable();
        while let Some(w) = it.next() {
            match w.strip_prefix("--") {
                Some(flag @ "exit-on-stdin-eof") => a.flags.push(flag.to_owned()),
                Some(name) => {
                    let v = it.next().ok_or(format!("--{name} needs a value"))?;
                    a.opts.insert(name.to_owned(), v);
                }
                None => a.words.push(w),
            }
        }
        Ok(a)
    }

    fn get(&self, name: &str) -> AnyResult<&str> {
        Ok(self.opts.get(name).ok_or(format!("--{name} is required"))?)
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(cmd) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = Args::parse(argv).and_then(|args| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(run(&cmd, args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walstore-raft {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: &str, args: Args) -> AnyResult<()> {
    match cmd {
        "node" => run_node(&args).await,
        "cluster" => run_cluster(&args).await,
        "set" => {
            let [key, value] = args.words.as_slice() else {
                return Err("set needs KEY VALUE".into());
            };
            let index = Client::new(args.get("addr")?).set(key, value).await?;
            println!("committed at log index {index}");
            Ok(())
        }
        "get" => {
            let [key] = args.words.as_slice() else {
                return Err("get needs KEY".into());
            };
            match Client::new(args.get("addr")?).get(key).await? {
                Some(v) => println!("{v}"),
                None => println!("(not set)"),
            }
            Ok(())
        }
        "status" => {
            println!("{:?}", Client::new(args.get("addr")?).status().await?);
            Ok(())
        }
        _ => Err(format!("unknown command {cmd:?}\n{USAGE}").into()),
    }
}

async fn run_node(args: &Args) -> AnyResult<()> {
    let id: u64 = args.get("id")?.parse()?;
    let listener = tokio::net::TcpListener::bind(args.get("addr")?).await?;
    let node = start_wal_node(id, listener, Path::new(args.get("dir")?)).await?;
    println!("LISTENING {}", node.addr);
    std::io::stdout().flush()?;
    if args.flags.iter().any(|f| f == "exit-on-stdin-eof") {
        // The parent holds our stdin: when it goes away, so do we.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await?;
        node.shutdown().await;
        return Ok(());
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Starts three nodes as child processes on consecutive ports, makes node
/// 1 initialise the cluster with all three, and waits for Ctrl-C.
async fn run_cluster(args: &Args) -> AnyResult<()> {
    let dir = PathBuf::from(args.get("dir")?);
    let first_port: u16 = args.opts.get("port").map_or(Ok(21001), |p| p.parse())?;
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let addr = format!("127.0.0.1:{}", first_port + id as u16 - 1);
        let mut child = Command::new(&exe)
            .args([
                "node",
                "--id",
                &id.to_string(),
                "--addr",
                &addr,
                "--exit-on-stdin-eof",
                "--dir",
            ])
            .arg(dir.join(format!("node{id}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .ok_or(format!("node {id} failed to start: {line:?}"))?;
        println!(
            "node {id}: {addr}, log in {}",
            dir.join(format!("node{id}/log")).display()
        );
        members.insert(id, Node::new(addr));
        children.push(child);
    }
    let mut leader = Client::new(members[&1].addr.clone());
    // A cluster that was started before keeps its membership.
    if leader.status().await?.voters.is_empty() {
        leader.init(members.clone()).await?;
    }
    for _ in 0..100 {
        if let Some(l) = leader.status().await?.leader {
            println!("leader: node {l} at {}", members[&l].addr);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "try: walstore-raft set --addr {} greeting hello",
        members[&1].addr
    );
    println!(
        "Ctrl-C stops the cluster; the same command restarts it from {}",
        dir.display()
    );
    tokio::signal::ctrl_c().await?;
    // Dropping stdin ends each node (--exit-on-stdin-eof).
    for mut c in children {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    Ok(())
}
