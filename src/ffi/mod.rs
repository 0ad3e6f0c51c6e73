//! The C ABI: the only `extern "C"` code. Each function checks its
//! arguments, runs inside the panic boundary, maps errors to a fixed status
//! and records the last-error message. No storage logic lives here.
//! `include/walstore.h` is generated from this module by cbindgen.

mod batch;
mod boundary;
mod changes;
mod compact;
mod handle;
mod iter;
mod options;
mod stats;
mod status;
mod version;

pub use batch::*;
pub use changes::*;
pub use compact::*;
pub use handle::*;
pub use iter::*;
pub use options::*;
pub use stats::*;
pub use status::*;
pub use version::*;

use std::ffi::c_char;

/// The message of the last failed walstore call on this thread: what
/// failed and where (path, offset, and expected and actual CRC for
/// corruption). Only failures set it; it is "" when no call on this thread
/// has failed. Never NULL. The string belongs to walstore and stays valid
/// until the next walstore call on this thread: copy it if you need it
/// longer. Go callers must read it within the same cgo call as the failing
/// function, since goroutines move between threads.
#[no_mangle]
pub extern "C" fn wal_last_error() -> *const c_char {
    boundary::last_error_ptr()
}
