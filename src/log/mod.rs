//! The log file: creating it with its header, appending records (with
//! rollback and group commit), and positional reads that verify every CRC.

mod appender;
mod file;
mod group_commit;
mod poison;
mod reader;

pub(crate) use appender::Appender;
pub(crate) use file::{
    create_log, find_current_log, new_header, read_header, write_fresh_header, CurrentLog,
    HeaderState,
};
pub(crate) use group_commit::{GroupCommit, IndexOp};
pub(crate) use poison::Poison;
pub(crate) use reader::verify_record;
