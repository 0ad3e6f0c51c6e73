#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| walstore_fuzz::targets::open_log::run(data));
