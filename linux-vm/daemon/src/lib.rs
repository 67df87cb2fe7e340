//! The part of the daemon the host shares: the launch channel's framing
//! (`cargo xtask run` speaks it from the other end).

pub mod launch_wire;
