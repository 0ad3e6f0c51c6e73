//! `open_log`: the input, byte for byte, is the log file of a store
//! directory (beside an empty LOCK file). It is opened in every recovery
//! mode, writable and read-only, and everything `logcheck` lists must hold.

pub fn run(data: &[u8]) {
    crate::logcheck::examine(data);
}
