//! The run-time version, to compare with the header's `WAL_VERSION_*`
//! macros (which cbindgen.toml writes).

use super::boundary::guard_value;
use std::ffi::{c_char, c_int};

/// The library's version, as "MAJOR.MINOR.PATCH" (a static string: do not
/// free it). Each non-NULL argument receives one number. Compare with the
/// `WAL_VERSION_*` macros to check that the header matches the library.
///
/// # Safety
/// Each argument is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_version(
    major: *mut c_int,
    minor: *mut c_int,
    patch: *mut c_int,
) -> *const c_char {
    guard_value("wal_version", VERSION_CSTR.as_ptr(), || {
        for (p, v) in [
            (major, crate::VERSION_MAJOR),
            (minor, crate::VERSION_MINOR),
            (patch, crate::VERSION_PATCH),
        ] {
            if !p.is_null() {
                // SAFETY: non-NULL and writable by contract.
                unsafe { p.write(v as c_int) };
            }
        }
        VERSION_CSTR.as_ptr()
    })
}

const VERSION_CSTR: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(c) => c,
    Err(_) => panic!("the package version holds a NUL"),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's macros come from cbindgen.toml; they must name the
    /// version Cargo.toml builds.
    #[test]
    fn header_macros_match_the_library() {
        let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/walstore.h"))
            .unwrap();
        for (name, v) in [
            ("MAJOR", crate::VERSION_MAJOR.to_string()),
            ("MINOR", crate::VERSION_MINOR.to_string()),
            ("PATCH", crate::VERSION_PATCH.to_string()),
            ("STRING", format!("\"{}\"", crate::VERSION_STRING)),
        ] {
            let line = format!("#define WAL_VERSION_{name} {v}\n");
            assert!(h.contains(&line), "walstore.h lacks {line:?}");
        }
        assert_eq!(VERSION_CSTR.to_str().unwrap(), crate::VERSION_STRING);
    }
}
