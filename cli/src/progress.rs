//! A one-line progress bar on stderr for `verify` of a large log, drawn only
//! when stderr is a terminal, so that pipes and log files get no control
//! characters.

use std::io::{IsTerminal, Write};

/// Logs shorter than this verify in a blink: no bar.
pub const MIN_BYTES: u64 = 16 << 20;
const BAR_WIDTH: usize = 30;
const MIB: f64 = (1u64 << 20) as f64;

pub struct Progress {
    enabled: bool,
    drawn: bool,
}

impl Progress {
    pub fn for_stderr() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// `done` of `total` log bytes checked.
    pub fn update(&mut self, done: u64, total: u64) {
        if !self.enabled || total < MIN_BYTES {
            return;
        }
        if done >= total {
            // The log is done; snapshots are quick.
            self.finish();
            return;
        }
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{}", render(done, total));
        let _ = e.flush();
        self.drawn = true;
    }

    /// Erases the bar, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

/// `verifying [#########.....................]  30%  3.0 of 10.0 MiB`
pub fn render(done: u64, total: u64) -> String {
    let done = done.min(total);
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((frac * BAR_WIDTH as f64) as usize).min(BAR_WIDTH);
    format!(
        "verifying [{}{}] {:>3}%  {:.1} of {:.1} MiB",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        (frac * 100.0) as u64,
        done as f64 / MIB,
        total as f64 / MIB,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_fraction_done() {
        assert_eq!(
            render(0, 10 << 20),
            "verifying [..............................]   0%  0.0 of 10.0 MiB"
        );
        assert_eq!(
            render(3 << 20, 10 << 20),
            "verifying [#########.....................]  30%  3.0 of 10.0 MiB"
        );
        assert_eq!(
            render(10 << 20, 10 << 20),
            "verifying [##############################] 100%  10.0 of 10.0 MiB"
        );
        assert_eq!(
            render(11 << 20, 10 << 20),
            "verifying [##############################] 100%  10.0 of 10.0 MiB"
        );
        assert_eq!(
            render(0, 0),
            "verifying [##############################] 100%  0.0 of 0.0 MiB"
        );
    }

    #[test]
    fn draws_nothing_when_disabled() {
        // Disabled (not a terminal): update and finish are silent no-ops.
        let mut p = Progress {
            enabled: false,
            drawn: false,
        };
        p.update(1 << 20, 100 << 20);
        assert!(!p.drawn);
        p.finish();
        assert!(!p.drawn);
    }
}
