//! Process exit codes, in one place. Scripts and CI read these.

/// Every check passed (skipped checks do not count against a run).
pub const OK: u8 = 0;
/// A check failed: the stack is wrong.
pub const CHECK_FAILED: u8 = 1;
/// Usage or configuration error: a bad flag, target file, sim fault or
/// report path. Nothing was checked.
pub const USAGE: u8 = 2;
/// The target could not be reached, so pillars could not decide.
pub const UNREACHABLE: u8 = 3;
/// Ctrl-C stopped the run; a partial report was written.
pub const INTERRUPTED: u8 = 130;
/// SIGTERM stopped the run; a partial report was written.
pub const TERMINATED: u8 = 143;
