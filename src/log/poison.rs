//! The sticky failure flag: once an fsync (or an unrecoverable write) fails,
//! the handle can no longer say what is on disk, so it refuses writes until
//! it is reopened. Reads keep working.

use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub(crate) struct Poison {
    flag: AtomicBool,
    cause: Mutex<Option<String>>,
}

impl Poison {
    /// Poisons the handle; the first cause is the one reported.
    pub(crate) fn set(&self, cause: String) {
        let mut c = self.cause.lock();
        if c.is_none() {
            *c = Some(cause);
        }
        self.flag.store(true, Ordering::Release);
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !self.flag.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(Error::Poisoned {
            cause: self.cause.lock().clone().unwrap_or_default(),
        })
    }
}
