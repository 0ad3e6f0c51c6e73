//! The system calls std does not wrap. This and `ffi` are the only modules
//! with `unsafe` code.

use std::io;
use std::os::fd::AsRawFd;

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
    fn random_bytes_are_not_all_zero() {
        let mut b = [0u8; 32];
        random_bytes(&mut b).unwrap();
        assert_ne!(b, [0u8; 32]);
    }
}
