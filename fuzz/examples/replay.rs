//! Runs one target on input files without libFuzzer, for debugging:
//! `cargo run --manifest-path fuzz/Cargo.toml --example replay -- TARGET FILE...`

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay TARGET FILE...");
    let run: fn(&[u8]) = match target.as_str() {
        "open_log" => walstore_fuzz::targets::open_log::run,
        "open_log_ops" => walstore_fuzz::targets::open_log_ops::run,
        "open_snapshot" => walstore_fuzz::targets::open_snapshot::run,
        "api_ops" => walstore_fuzz::targets::api_ops::run,
        t => panic!("unknown target {t}"),
    };
    for f in args {
        let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
        run(&data);
        println!("{f}: ok");
    }
}
