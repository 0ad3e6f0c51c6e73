//! Cutting a torn tail. The bytes are never simply thrown away: they are
//! copied to a side file, which is made durable (file and directory) before
//! the log is truncated, so a wrong verdict can still be undone by hand.

use crate::error::{Error, Result};
use crate::format::names::tail_cut_file_name;
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const COPY_CHUNK: u64 = 1 << 20;

/// Saves `[offset, file_len)` of the log to a new side file in `dir`, then
/// truncates the log to `offset`. Returns the side file's path. If saving
/// fails, the log is left untouched.
pub fn save_and_cut<V: Vfs>(
    vfs: &V,
    dir: &Path,
    log_path: &Path,
    log: &V::File,
    generation: u64,
    offset: u64,
    file_len: u64,
) -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let (side_path, side) = (0u32..)
        .map(|attempt| dir.join(tail_cut_file_name(generation, offset, nanos, attempt)))
        .find_map(|p| match vfs.open(&p, OpenMode::CreateNew) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
            r => Some(
                r.map(|f| (p.clone(), f))
                    .map_err(|e| Error::io("create", p, None, e)),
            ),
        })
        .expect("an unbounded range of names")?;

    let saved = copy_out(vfs, dir, log_path, log, &side, &side_path, offset, file_len);
    let cut = saved.and_then(|()| {
        log.set_len(offset)
            .map_err(|e| Error::io("truncate", log_path, Some(offset), e))
    });
    if let Err(e) = cut {
        // The log is untouched and the next open saves the tail again under
        // a new name; a copy left here would only mislead whoever looks.
        drop(side);
        let _ = vfs.remove_file(&side_path);
        return Err(e);
    }
    // fsync, not fdatasync: the shrunken size is the point.
    log.sync_all()
        .map_err(|e| Error::io("fsync", log_path, None, e))?;
    Ok(side_path)
}

/// Copies `[offset, file_len)` of the log into `side` and makes it durable,
/// name included.
#[allow(clippy::too_many_arguments)]
fn copy_out<V: Vfs>(
    vfs: &V,
    dir: &Path,
    log_path: &Path,
    log: &V::File,
    side: &V::File,
    side_path: &Path,
    offset: u64,
    file_len: u64,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut at = offset;
    while at < file_len {
        let n = (file_len - at).min(COPY_CHUNK) as usize;
        buf.resize(n, 0);
        log.read_exact_at(&mut buf, at)
            .map_err(|e| Error::io("read torn tail of", log_path, Some(at), e))?;
        side.write_all_at(&buf, at - offset)
            .map_err(|e| Error::io("write", side_path, Some(at - offset), e))?;
        at += n as u64;
    }
    side.sync_all()
        .map_err(|e| Error::io("fsync", side_path, None, e))?;
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, None, e))
}
