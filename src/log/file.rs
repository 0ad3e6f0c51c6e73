//! Finding, creating and re-initialising log files.

use crate::error::{Error, Result};
use crate::format::names::{log_file_name, parse_log_file_name};
use crate::format::{FileHeader, HeaderError, FILE_HEADER_LEN};
use crate::vfs::{sys, OpenMode, Vfs, VfsFile};
use std::path::{Path, PathBuf};

/// The current log of a store: the highest-numbered log file.
pub(crate) struct CurrentLog {
    pub(crate) generation: u64,
    pub(crate) path: PathBuf,
    /// The next lower generation, if one is still there.
    pub(crate) older: Option<u64>,
}

pub(crate) fn find_current_log<V: Vfs>(vfs: &V, dir: &Path) -> Result<Option<CurrentLog>> {
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list", dir, None, e))?;
    let mut gens: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_log_file_name(n))
        .collect();
    gens.sort_unstable();
    Ok(gens.pop().map(|generation| CurrentLog {
        generation,
        path: dir.join(log_file_name(generation)),
        older: gens.pop(),
    }))
}

/// A header with a fresh random identity; `folded_seq` is 0 except for a
/// log written by compaction. Every log created now may be preallocated.
pub(crate) fn new_header(generation: u64, folded_seq: u64) -> Result<FileHeader> {
    let mut id = [0u8; 8];
    sys::random_bytes(&mut id).map_err(|e| Error::io("getrandom", "", None, e))?;
    Ok(FileHeader {
        log_id: u64::from_le_bytes(id),
        generation,
        base_seq: 0,
        folded_seq,
        preallocated: true,
    })
}

/// Writes a fresh header (a new identity) at offset 0 and makes the file
/// exactly that long, durably.
pub(crate) fn write_fresh_header<F: VfsFile>(
    file: &F,
    path: &Path,
    generation: u64,
) -> Result<FileHeader> {
    let h = new_header(generation, 0)?;
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
    /// Empty, a prefix of a header, or all zeros: a crash during creation,
    /// before any record could have been acknowledged.
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
    // Zeros where the header belongs. Creation writes just the header and
    // fsyncs it before any record: a file of at most that size holding only
    // zeros is a creation whose size reached the disk before its bytes
    // (delayed allocation). A longer one lost acknowledged records.
    if b[..n].iter().all(|&x| x == 0) {
        if file_len <= FILE_HEADER_LEN as u64 {
            return Ok(HeaderState::Unfinished);
        }
        if all_zero(file, path, file_len)? {
            return Err(Error::corruption(
                path,
                0,
                format!(
                    "the whole log ({file_len} bytes) reads as zeros; its header was \
                     durable before any record was written, so this is damage"
                ),
            ));
        }
    }
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

fn all_zero<F: VfsFile>(file: &F, path: &Path, file_len: u64) -> Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0;
    while at < file_len {
        let n = (file_len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Error::io("read", path, Some(at), e))?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}
