//! The bootinfo frame the kernel hands the root task (`seL4_BootInfo`).
//!
//! The C struct is packed (a one-byte field puts later words at odd
//! offsets), so it is read field by field from bytes at fixed offsets
//! rather than through a `#[repr(C)]` mirror; the parser works on any byte
//! slice, which makes it testable on the host.

use crate::Word;

/// Byte offsets inside `seL4_BootInfo` (5.0.0, x86_64, packed).
mod off {
    pub const NODE_ID: usize = 8;
    pub const NUM_NODES: usize = 16;
    pub const NUM_IOPT_LEVELS: usize = 24;
    pub const IPC_BUFFER: usize = 32;
    pub const EMPTY: usize = 40;
    pub const SHARED_FRAMES: usize = 56;
    pub const USER_IMAGE_FRAMES: usize = 72;
    pub const USER_IMAGE_PAGING: usize = 88;
    pub const IO_SPACE_CAPS: usize = 104;
    pub const EXTRA_BI_PAGES: usize = 120;
    pub const CNODE_SIZE_BITS: usize = 136;
    pub const DOMAIN: usize = 137;
    pub const ARCH_INFO: usize = 145;
    pub const UNTYPED: usize = 153;
    pub const UNTYPED_LIST: usize = 169;
    /// `seL4_UntypedDesc` is packed: paddr (8), two padding bytes, size_bits, is_device.
    pub const UNTYPED_DESC_SIZE: usize = 12;
}

/// Size of the bootinfo frame; extra bootinfo starts right after it.
pub const FRAME_SIZE: usize = 4096;

/// A range of slots `[start, end)` in the root CNode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRegion {
    pub start: Word,
    pub end: Word,
}

impl SlotRegion {
    pub fn len(&self) -> Word {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One untyped memory region handed to the root task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntypedDesc {
    /// CSpace slot of the untyped cap.
    pub cap: Word,
    pub paddr: Word,
    pub size_bits: u8,
    /// Device memory (MMIO, not RAM): may only be retyped into frames.
    pub is_device: bool,
}

impl UntypedDesc {
    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.size_bits as u32).unwrap_or(0)
    }
}

/// Why a bootinfo could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// Fewer bytes than the fixed part needs.
    Truncated,
    /// More untypeds than the struct's array can hold.
    TooManyUntypeds(Word),
    /// An extra-bootinfo chunk runs past the end.
    BadExtraChunk,
}

/// A validated view of the bootinfo.
#[derive(Debug, Clone, Copy)]
pub struct BootInfo<'a> {
    bytes: &'a [u8],
}

impl<'a> BootInfo<'a> {
    /// Parses `bytes` (the frame, followed by `extraLen` bytes of extra
    /// bootinfo if present). `max_untypeds` is
    /// `CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS`.
    pub fn parse(bytes: &'a [u8], max_untypeds: usize) -> Result<Self, BootInfoError> {
        let bi = BootInfo { bytes };
        if bytes.len() < off::UNTYPED_LIST + max_untypeds * off::UNTYPED_DESC_SIZE {
            return Err(BootInfoError::Truncated);
        }
        let n = bi.untyped().len();
        if n > max_untypeds as Word {
            return Err(BootInfoError::TooManyUntypeds(n));
        }
        if bi.extra_len() > 0 && bytes.len() < FRAME_SIZE + bi.extra_len() {
            return Err(BootInfoError::BadExtraChunk);
        }
        Ok(bi)
    }

    /// Views the kernel's bootinfo frame at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be the bootinfo pointer the kernel passed to the root task
    /// (mapped, readable, 4 KiB plus `extraLen` bytes, never written).
    pub unsafe fn from_ptr(ptr: *const u8) -> Result<BootInfo<'static>, BootInfoError> {
        // SAFETY: the caller guarantees the first frame is mapped.
        let first = unsafe { core::slice::from_raw_parts(ptr, FRAME_SIZE) };
        let extra = word_at(first, 0) as usize;
        // SAFETY: the kernel maps extraLen bytes after the frame.
        let all = unsafe { core::slice::from_raw_parts(ptr, FRAME_SIZE + extra) };
        BootInfo::parse(all, crate::config::MAX_NUM_BOOTINFO_UNTYPED_CAPS)
    }

    fn word(&self, o: usize) -> Word {
        word_at(self.bytes, o)
    }
    fn region(&self, o: usize) -> SlotRegion {
        SlotRegion {
            start: self.word(o),
            end: self.word(o + 8),
        }
    }

    pub fn extra_len(&self) -> usize {
        self.word(0) as usize
    }
    /// This node's id (0 on uniprocessor kernels).
    pub fn node_id(&self) -> Word {
        self.word(off::NODE_ID)
    }
    /// Number of nodes (cores) the kernel brought up.
    pub fn num_nodes(&self) -> Word {
        self.word(off::NUM_NODES)
    }
    pub fn num_iopt_levels(&self) -> Word {
        self.word(off::NUM_IOPT_LEVELS)
    }
    /// Virtual address of the root task's IPC buffer.
    pub fn ipc_buffer(&self) -> Word {
        self.word(off::IPC_BUFFER)
    }
    /// Free slots of the root CNode.
    pub fn empty(&self) -> SlotRegion {
        self.region(off::EMPTY)
    }
    pub fn shared_frames(&self) -> SlotRegion {
        self.region(off::SHARED_FRAMES)
    }
    /// Caps to the frames of the root task's own image.
    pub fn user_image_frames(&self) -> SlotRegion {
        self.region(off::USER_IMAGE_FRAMES)
    }
    /// Caps to the paging structures of the root task's image.
    pub fn user_image_paging(&self) -> SlotRegion {
        self.region(off::USER_IMAGE_PAGING)
    }
    pub fn io_space_caps(&self) -> SlotRegion {
        self.region(off::IO_SPACE_CAPS)
    }
    pub fn extra_bi_pages(&self) -> SlotRegion {
        self.region(off::EXTRA_BI_PAGES)
    }
    pub fn init_thread_cnode_size_bits(&self) -> u8 {
        self.bytes[off::CNODE_SIZE_BITS]
    }
    pub fn init_thread_domain(&self) -> Word {
        self.word(off::DOMAIN)
    }
    /// TSC frequency in MHz (x86 `archInfo`, measured by the kernel at boot).
    pub fn tsc_mhz(&self) -> Word {
        self.word(off::ARCH_INFO)
    }
    /// Slots holding the untyped caps.
    pub fn untyped(&self) -> SlotRegion {
        self.region(off::UNTYPED)
    }
    /// Every untyped, with its slot.
    pub fn untyped_list(&self) -> impl Iterator<Item = UntypedDesc> + '_ {
        let r = self.untyped();
        (0..r.len() as usize).map(move |i| {
            let o = off::UNTYPED_LIST + i * off::UNTYPED_DESC_SIZE;
            UntypedDesc {
                cap: r.start + i as Word,
                paddr: self.word(o),
                size_bits: self.bytes[o + 10],
                is_device: self.bytes[o + 11] != 0,
            }
        })
    }
    /// Extra bootinfo chunks as (id, payload after the 16-byte header).
    pub fn extra_chunks(&self) -> impl Iterator<Item = (Word, &'a [u8])> + '_ {
        let bytes = self.bytes;
        let end = FRAME_SIZE + self.extra_len();
        let mut pos = FRAME_SIZE;
        core::iter::from_fn(move || {
            if pos + 16 > end {
                return None;
            }
            let id = word_at(bytes, pos);
            let len = word_at(bytes, pos + 8) as usize;
            if len < 16 || pos + len > end {
                return None;
            }
            let chunk = &bytes[pos + 16..pos + len];
            pos += len;
            Some((id, chunk))
        })
    }
}

fn word_at(b: &[u8], o: usize) -> Word {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[o..o + 8]);
    Word::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(b: &mut [u8], o: usize, v: u64) {
        b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn sample() -> [u8; FRAME_SIZE] {
        let mut b = [0u8; FRAME_SIZE];
        put(&mut b, off::NUM_NODES, 4);
        put(&mut b, off::IPC_BUFFER, 0x50_0000);
        put(&mut b, off::EMPTY, 300);
        put(&mut b, off::EMPTY + 8, 4096);
        b[off::CNODE_SIZE_BITS] = 12;
        put(&mut b, off::DOMAIN, 0);
        put(&mut b, off::ARCH_INFO, 2992);
        put(&mut b, off::UNTYPED, 100);
        put(&mut b, off::UNTYPED + 8, 102);
        let u = off::UNTYPED_LIST;
        put(&mut b, u, 0x10_0000);
        b[u + 10] = 20;
        put(&mut b, u + 12, 0xfd00_0000);
        b[u + 12 + 10] = 24;
        b[u + 12 + 11] = 1;
        b
    }

    #[test]
    fn parses_packed_fields() {
        let b = sample();
        let bi = BootInfo::parse(&b, 167).unwrap();
        assert_eq!(bi.num_nodes(), 4);
        assert_eq!(bi.tsc_mhz(), 2992);
        assert_eq!(bi.init_thread_cnode_size_bits(), 12);
        assert_eq!(
            bi.empty(),
            SlotRegion {
                start: 300,
                end: 4096
            }
        );
        let u: Vec<_> = bi.untyped_list().collect();
        assert_eq!(u.len(), 2);
        assert_eq!(
            u[0],
            UntypedDesc {
                cap: 100,
                paddr: 0x10_0000,
                size_bits: 20,
                is_device: false
            }
        );
        assert!(u[1].is_device && u[1].size() == 1 << 24 && u[1].cap == 101);
    }

    #[test]
    fn rejects_bad_input() {
        let b = sample();
        assert_eq!(
            BootInfo::parse(&b[..100], 167).unwrap_err(),
            BootInfoError::Truncated
        );
        let mut c = sample();
        put(&mut c, off::UNTYPED + 8, 100 + 500);
        assert_eq!(
            BootInfo::parse(&c, 167).unwrap_err(),
            BootInfoError::TooManyUntypeds(500)
        );
        let mut d = sample();
        put(&mut d, 0, 64);
        assert_eq!(
            BootInfo::parse(&d, 167).unwrap_err(),
            BootInfoError::BadExtraChunk
        );
    }

    #[test]
    fn walks_extra_chunks() {
        let mut b = vec![0u8; FRAME_SIZE + 48];
        b[..FRAME_SIZE].copy_from_slice(&sample());
        put(&mut b, 0, 48);
        put(&mut b, FRAME_SIZE, 1);
        put(&mut b, FRAME_SIZE + 8, 24);
        put(&mut b, FRAME_SIZE + 24, 0);
        put(&mut b, FRAME_SIZE + 32, 9999); // runs past the end: ignored
        let bi = BootInfo::parse(&b, 167).unwrap();
        let chunks: Vec<_> = bi.extra_chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].0, 1);
        assert_eq!(chunks[0].1.len(), 8);
    }
}
