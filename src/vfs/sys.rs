//! The system calls std does not wrap. This and `ffi` are the only modules
//! with `unsafe` code.

use std::io;
use std::os::fd::AsRawFd;
use std::ptr::{self, NonNull};

/// Non-blocking `flock`. `Ok(false)` means another open file description holds
/// a conflicting lock (this process or another).
pub(crate) fn try_flock(fd: &impl AsRawFd, exclusive: bool) -> io::Result<bool> {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    loop {
        // SAFETY: flock takes a descriptor and an integer; the descriptor is
        // borrowed from a live File, so it is open for the whole call.
        let rc = unsafe { libc::flock(fd.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// One `preadv` into two buffers; returns the bytes read.
pub(crate) fn preadv2(
    fd: &impl AsRawFd,
    a: &mut [u8],
    b: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        },
    ];
    let off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
    // SAFETY: both iovecs point into live, exclusively borrowed slices of the
    // stated lengths, and the descriptor belongs to a live File.
    let n = unsafe { libc::preadv(fd.as_raw_fd(), iov.as_ptr(), 2, off) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A read-only, shared memory map of the start of a file (`mmap` with
/// `PROT_READ` and `MAP_SHARED`, so bytes written to the file later with
/// `pwrite` show through the same page cache), unmapped on drop.
///
/// It may be longer than the file: mapping past the end is allowed, and only
/// touching a page that lies wholly past the end of the file faults. That
/// fault is SIGBUS, which kills the process, so [`Mmap::copy_at`] must only
/// be asked for bytes the file holds and keeps holding while they are
/// copied. `store::map` asks only below a watermark that the engine never
/// truncates. Another process that truncates the file (ignoring the store's
/// lock) would crash this one on its next read there: the one hazard a
/// mapped read has that a `pread` has not.
///
/// No Rust reference into the mapping is ever made: bytes are copied out
/// through a raw pointer into the caller's buffers, which are then checked
/// (CRC) like bytes from `pread`. A slice would promise the compiler that
/// the memory is readable for its whole length and does not change, which
/// a shared file mapping cannot promise.
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is memory owned by this value alone; it is only read
// through it (PROT_READ), so concurrent `copy_at` calls from several threads
// are concurrent reads, and `munmap` in `drop` may run on any thread.
unsafe impl Send for Mmap {}
// SAFETY: as for Send: `&Mmap` only reads.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Maps the first `len` bytes of the file (`len` may exceed its length).
    /// Fails, and the caller reads with `pread` instead, when `len` does not
    /// fit the address space (a 32-bit process, which is not a target) or
    /// the kernel refuses (`ENOMEM`, a file system without mmap).
    pub(crate) fn map_shared_read_only(fd: &impl AsRawFd, len: u64) -> io::Result<Mmap> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l > 0 && l <= isize::MAX as usize)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot map {len} bytes in this address space"),
                )
            })?;
        // SAFETY: with a null hint and no MAP_FIXED the kernel picks fresh
        // address space, so the mapping cannot overlap memory that Rust
        // owns. The descriptor is borrowed from a live File for the call;
        // the mapping holds its own reference to the file afterwards.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mmap { ptr, len })
    }

    /// Bytes of address space mapped.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies the `a.len() + b.len()` bytes at `offset` into `a`, then `b`
    /// (a record's header and payload). Returns false, copying nothing,
    /// when they do not lie wholly inside the mapping.
    ///
    /// The caller must know that the file holds these bytes and will not be
    /// truncated below them during the call: a byte past the end of the
    /// file raises SIGBUS (see the type's documentation).
    pub(crate) fn copy_at(&self, offset: u64, a: &mut [u8], b: &mut [u8]) -> bool {
        let inside = usize::try_from(offset)
            .ok()
            .and_then(|start| Some((start, start.checked_add(a.len())?.checked_add(b.len())?)))
            .filter(|&(_, end)| end <= self.len);
        let Some((start, _)) = inside else {
            return false;
        };
        // SAFETY: `start + a.len() + b.len() <= self.len` (checked above), so
        // both source ranges lie inside the live mapping, which `&self`
        // keeps mapped for the call; the pages are readable (PROT_READ) and,
        // by this function's contract, backed by the file (no SIGBUS). The
        // destinations are distinct, exclusively borrowed slices of the
        // stated lengths and cannot overlap the mapping, which Rust never
        // hands out. The source may be changed meanwhile by another process
        // writing the file; the copy is then a mix, which the caller's CRC
        // check rejects, and no reference to the mapped bytes exists to be
        // invalidated.
        unsafe {
            let src = self.ptr.as_ptr().add(start);
            ptr::copy_nonoverlapping(src, a.as_mut_ptr(), a.len());
            ptr::copy_nonoverlapping(src.add(a.len()), b.as_mut_ptr(), b.len());
        }
        true
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what `mmap` returned, and no
        // pointer into the mapping outlives a `copy_at` call, which borrows
        // `self`. munmap can only fail on bad arguments, which these are not.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for Mmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmap").field("len", &self.len).finish()
    }
}

/// Asks the processor to start loading the cache lines `r` lies on. A hint:
/// it changes no state a program can observe, and costs a few cycles. The
/// index uses it so that the cache miss of an insert overlaps the record's
/// encoding instead of following it.
#[inline]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let first = ptr::from_ref(r).cast::<i8>();
        let last = first.wrapping_add(std::mem::size_of::<T>().max(1) - 1);
        // SAFETY: a prefetch never faults and reads nothing the program
        // sees; both addresses lie inside the referenced value, and SSE is
        // part of the x86_64 baseline.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Asks the kernel to fault in, writable, the whole pages that `mem` covers,
/// in one call instead of one page fault per page. The contents stay as
/// they are (zero for fresh pages). Best effort: an older kernel refuses
/// (`EINVAL`), and the pages then fault in on first touch as usual.
pub(crate) fn populate<T>(mem: &mut [T]) {
    // SAFETY: sysconf takes an integer and reads no memory of ours.
    let Ok(page) = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) else {
        return;
    };
    if page == 0 {
        return;
    }
    let start = mem.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let (first, last) = (start.next_multiple_of(page), end / page * page);
    if last > first {
        // SAFETY: [first, last) lies inside `mem`, which this call borrows
        // exclusively; MADV_POPULATE_WRITE maps pages in without changing
        // what they hold, and an error leaves the memory as it was.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
}

/// `fallocate(2)` in its default mode: allocates `len` bytes at `offset`,
/// growing the file when they end past it; the new bytes read as zeros.
pub(crate) fn fallocate(fd: &impl AsRawFd, offset: u64, len: u64) -> io::Result<()> {
    let (off, len) = match (libc::off_t::try_from(offset), libc::off_t::try_from(len)) {
        (Ok(o), Ok(l)) => (o, l),
        _ => return Err(io::ErrorKind::InvalidInput.into()),
    };
    loop {
        // SAFETY: fallocate takes a descriptor and three integers; the
        // descriptor is borrowed from a live File, so it is open for the
        // whole call.
        let rc = unsafe { libc::fallocate(fd.as_raw_fd(), 0, off, len) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Fills `buf` from the kernel's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe the unfilled, exclusively
        // borrowed part of `buf`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn flock_conflicts_between_descriptions_of_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        let a = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .unwrap();
        let b = OpenOptions::new().read(true).open(&p).unwrap();
        let c = OpenOptions::new().read(true).open(&p).unwrap();
        assert!(try_flock(&b, false).unwrap());
        assert!(try_flock(&c, false).unwrap());
        assert!(!try_flock(&a, true).unwrap());
        drop(b);
        drop(c);
        assert!(try_flock(&a, true).unwrap());
    }

    /// `fallocate` grows a file with zeros and keeps what it held; a range
    /// inside the file changes neither its size nor its bytes; an offset
    /// past `off_t` is refused before the call.
    #[test]
    fn fallocate_grows_with_zeros_and_keeps_bytes() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("f"))
            .unwrap();
        f.write_all_at(b"kept", 0).unwrap();
        fallocate(&f, 4, 8188).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 8192);
        fallocate(&f, 0, 100).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 8192);
        let mut b = vec![1u8; 8192];
        f.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b[..4], b"kept");
        assert!(b[4..].iter().all(|&x| x == 0));
        let e = fallocate(&f, u64::MAX, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    /// Populating maps pages in and changes no byte: fresh zeroed memory
    /// stays zero, written memory keeps what was written, and a slice that
    /// starts and ends inside pages (or covers no whole page) is fine.
    #[test]
    fn populate_keeps_what_memory_holds() {
        let mut fresh = vec![0u32; 3 << 18];
        populate(&mut fresh);
        assert!(fresh.iter().all(|&w| w == 0));
        let mut written: Vec<u32> = (0..3u32 << 18)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let want = written.clone();
        populate(&mut written[3..]);
        populate(&mut written[5..9]);
        populate(&mut written[..0]);
        assert_eq!(written, want);
    }

    #[test]
    fn preadv_fills_both_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let (mut a, mut b) = ([0u8; 3], [0u8; 4]);
        assert_eq!(preadv2(&f, &mut a, &mut b, 2).unwrap(), 7);
        assert_eq!((&a, &b), (b"234", b"5678"));
    }

    #[test]
    fn a_mapping_longer_than_the_file_copies_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = OpenOptions::new().read(true).write(true).open(&p).unwrap();
        let m = Mmap::map_shared_read_only(&f, 1 << 20).unwrap();
        assert_eq!(m.len(), 1 << 20);
        let (mut a, mut b) = ([0u8; 3], [0u8; 4]);
        assert!(m.copy_at(2, &mut a, &mut b));
        assert_eq!((&a, &b), (b"234", b"5678"));
        // Written after mapping: visible through the shared mapping.
        std::os::unix::fs::FileExt::write_at(&f, b"abcdefghij", 10).unwrap();
        assert!(m.copy_at(9, &mut a, &mut b));
        assert_eq!((&a, &b), (b"9ab", b"cdef"));
        // Outside the mapping: refused, nothing copied.
        let (mut a, mut b) = ([7u8; 3], [7u8; 4]);
        assert!(!m.copy_at((1 << 20) - 6, &mut a, &mut b));
        assert!(!m.copy_at(u64::MAX - 2, &mut a, &mut b));
        assert_eq!((a, b), ([7; 3], [7; 4]));
        assert!(Mmap::map_shared_read_only(&f, 0).is_err());
    }

    #[test]
    fn random_bytes_are_not_all_zero() {
        let mut b = [0u8; 32];
        random_bytes(&mut b).unwrap();
        assert_ne!(b, [0u8; 32]);
    }
}
