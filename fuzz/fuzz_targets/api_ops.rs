#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| walstore_fuzz::targets::api_ops::run(data));
