//! `verify`: check a store on disk without changing it, under a shared
//! lock, reporting every damaged region rather than stopping at the first.

use super::open::{file_len, take_lock};
use crate::error::{Error, Result};
use crate::format::FILE_HEADER_LEN;
use crate::log::{find_current_log, read_header, CurrentLog, HeaderState};
use crate::recovery::{verify_log, LogVerification};
use crate::snapshot;
use crate::vfs::{OpenMode, StdVfs, Vfs};
use std::path::{Path, PathBuf};

/// What `verify` found in a store directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVerification {
    pub log_path: PathBuf,
    /// Set when the file header itself is unusable (then the log is not
    /// walked): incompatible, damaged, or never completed.
    pub header_problem: Option<String>,
    pub log: LogVerification,
    /// Each snapshot file of the current log: its position, or why an open
    /// would not trust it.
    pub snapshots: Vec<(PathBuf, Result<u64, String>)>,
}

impl StoreVerification {
    /// True when nothing is damaged (a torn tail counts as damage: it is
    /// what a crash mid-append leaves, and a writable open will cut it).
    pub fn is_clean(&self) -> bool {
        self.header_problem.is_none()
            && self.log.damage.is_empty()
            && self.snapshots.iter().all(|(_, r)| r.is_ok())
    }
}

/// Verifies the store in `dir`: every record of the current log and every
/// snapshot. Takes the shared (read-only) lock, so it fails with `Locked`
/// rather than wait while a writer has the store open; writes nothing.
/// `progress` receives (bytes checked, log length).
pub fn verify(
    dir: impl AsRef<Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StoreVerification> {
    let (vfs, dir) = (StdVfs, dir.as_ref());
    let _lock = take_lock(&vfs, dir, true)?;
    let Some(CurrentLog {
        generation, path, ..
    }) = find_current_log(&vfs, dir)?
    else {
        return Err(Error::io(
            "verify",
            dir,
            None,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no walstore log in this directory",
            ),
        ));
    };
    let file = vfs
        .open(&path, OpenMode::ReadOnly)
        .map_err(|e| Error::io("open", &path, None, e))?;
    let len = file_len(&file, &path)?;
    let mut out = StoreVerification {
        log_path: path.clone(),
        header_problem: None,
        log: LogVerification {
            file_len: len,
            ..Default::default()
        },
        snapshots: Vec::new(),
    };
    let header = match read_header(&file, &path, len, generation) {
        Ok(HeaderState::Valid(h)) => h,
        Ok(HeaderState::Unfinished) => {
            out.header_problem =
                Some("the log never got its complete header (a crash while it was created)".into());
            return Ok(out);
        }
        Err(e @ (Error::Corruption { .. } | Error::Incompatible { .. })) => {
            out.header_problem = Some(e.to_string());
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    out.log = verify_log(&file, &path, len, &header, &mut |at| progress(at, len))?;
    let listing = snapshot::list(&vfs, dir, generation)?;
    for (_, p) in listing.ours {
        let r = snapshot::load(
            &vfs,
            &p,
            header.log_id,
            generation,
            FILE_HEADER_LEN as u64,
            len,
        )
        .map(|s| s.position);
        out.snapshots.push((p, r));
    }
    Ok(out)
}
