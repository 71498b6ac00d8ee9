//! Step definitions, grouped by domain. Each step is a line or three: one
//! call into the World (which runs a catalog check) and an assertion.

mod canary;
mod lint;
mod load;
mod stack;
mod traces;
