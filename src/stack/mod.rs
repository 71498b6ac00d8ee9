//! Standing a target up and down.

pub mod compose;
pub mod sim;
