//! Fuzz targets for walstore. Each target's logic lives here, as a plain
//! function of the input bytes, so that the libFuzzer binaries in
//! `fuzz_targets/` are one line each and the logic can be read and reused
//! (the corpus generator in `examples/` uses the same decoding).

pub mod history;
pub mod logcheck;
pub mod observe;
pub mod util;

pub mod targets {
    pub mod api_ops;
    pub mod open_log;
    pub mod open_log_ops;
    pub mod open_snapshot;
}
