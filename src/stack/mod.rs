//! Standing a target up and down.

pub mod sim;
