//! Finding, creating and re-initialising log files.

use crate::error::{Error, Result};
use crate::format::names::{log_file_name, parse_log_file_name};
use crate::format::{FileHeader, HeaderError, FILE_HEADER_LEN};
use crate::vfs::{sys, OpenMode, Vfs, VfsFile};
use std::path::{Path, PathBuf};

/// The highest-numbered log file in `dir`, which is the current one.
pub(crate) fn find_current_log<V: Vfs>(vfs: &V, dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list", dir, None, e))?;
    Ok(names
        .iter()
        .filter_map(|n| parse_log_file_name(n))
        .max()
        .map(|g| (g, dir.join(log_file_name(g)))))
}

pub(crate) fn new_header(generation: u64) -> Result<FileHeader> {
    let mut id = [0u8; 8];
    sys::random_bytes(&mut id).map_err(|e| Error::io("getrandom", "", None, e))?;
    Ok(FileHeader {
        log_id: u64::from_le_bytes(id),
        generation,
        base_seq: 0,
    })
}

/// Writes a fresh header (a new identity) at offset 0 and makes the file
/// exactly that long, durably.
pub(crate) fn write_fresh_header<F: VfsFile>(
    file: &F,
    path: &Path,
    generation: u64,
) -> Result<FileHeader> {
    let h = new_header(generation)?;
    file.write_all_at(&h.encode(), 0)
        .map_err(|e| Error::io("write header of", path, Some(0), e))?;
    file.set_len(FILE_HEADER_LEN as u64)
        .map_err(|e| Error::io("truncate", path, Some(FILE_HEADER_LEN as u64), e))?;
    file.sync_all()
        .map_err(|e| Error::io("fsync", path, None, e))?;
    Ok(h)
}

/// Creates a new log file with its header, then fsyncs the directory so the
/// file's name survives a crash.
pub(crate) fn create_log<V: Vfs>(
    vfs: &V,
    dir: &Path,
    generation: u64,
) -> Result<(PathBuf, V::File, FileHeader)> {
    let path = dir.join(log_file_name(generation));
    let file = vfs
        .open(&path, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", &path, None, e))?;
    let h = write_fresh_header(&file, &path, generation)?;
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, None, e))?;
    Ok((path, file, h))
}

/// What the first bytes of an existing log say.
pub(crate) enum HeaderState {
    Valid(FileHeader),
    /// Empty, or a prefix of a header: a crash during creation, before any
    /// record could have been acknowledged.
    Unfinished,
}

pub(crate) fn read_header<F: VfsFile>(
    file: &F,
    path: &Path,
    file_len: u64,
    generation: u64,
) -> Result<HeaderState> {
    let n = file_len.min(FILE_HEADER_LEN as u64) as usize;
    let mut b = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut b[..n], 0)
        .map_err(|e| Error::io("read header of", path, Some(0), e))?;
    let incompatible = |e: HeaderError| Error::Incompatible {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    match FileHeader::decode(&b[..n]) {
        Ok(h) if h.generation == generation => Ok(HeaderState::Valid(h)),
        Ok(h) => Err(Error::corruption(
            path,
            24,
            format!(
                "header names generation {} but the file name says {generation}",
                h.generation
            ),
        )),
        Err(HeaderError::TooShort {
            prefix_agrees: true,
            ..
        }) => Ok(HeaderState::Unfinished),
        Err(e @ HeaderError::BadCrc { .. }) => Err(Error::corruption(path, 0, e.to_string())),
        Err(e) => Err(incompatible(e)),
    }
}
