//! `seL4_MessageInfo_t` (x86_64 layout: label 20 bits at 12, capsUnwrapped
//! 3 at 9, extraCaps 2 at 7, length 7 at 0).

/// A message tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo(pub u64);

impl MessageInfo {
    /// `seL4_MessageInfo_new`. Out-of-range fields are truncated as the C
    /// bitfield code does.
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> Self {
        MessageInfo(
            ((label & 0xf_ffff) << 12)
                | ((caps_unwrapped & 0x7) << 9)
                | ((extra_caps & 0x3) << 7)
                | (length & 0x7f),
        )
    }
    pub const fn label(self) -> u64 {
        (self.0 >> 12) & 0xf_ffff
    }
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 0x7
    }
    pub const fn extra_caps(self) -> u64 {
        (self.0 >> 7) & 0x3
    }
    pub const fn length(self) -> u64 {
        self.0 & 0x7f
    }
}
