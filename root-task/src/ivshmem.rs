//! The shared-buffer endpoint: QEMU's ivshmem-plain device (1af4:1110).
//! Its BAR2 is the shared memory; it lies inside a device untyped of the
//! bootinfo, which is split until one child covers exactly the BAR, and that
//! child is retyped into 2 MiB frames for the personality.

use crate::pci::{self, PciFunction};
use crate::RootTaskError;
use sel4::bootinfo::BootInfo;
use sel4::cap_type::{IoPort, Untyped};
use sel4::Context;
use sel4::{init_caps, Cap, ObjectType, Word};
use sel4_alloc::{ObjectAllocator, PageSize};

const VENDOR: u16 = 0x1af4;
const DEVICE: u16 = 0x1110;

/// The BAR2 window, once carved into frames.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub paddr: Word,
    pub bytes: Word,
    pub first_cap: Word,
    pub count: Word,
}

/// Why the device could not be used (the system boots without it).
#[derive(Debug, Clone, Copy)]
pub enum IvshmemProblem {
    NotPresent,
    /// BAR2 is not a memory BAR, is unassigned, or its size is not a power
    /// of two of at least 2 MiB.
    BadBar {
        bar: u64,
        size: u64,
    },
    /// No device untyped covers the BAR.
    NoUntyped {
        bar: u64,
    },
}

impl core::fmt::Display for IvshmemProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IvshmemProblem::NotPresent => write!(f, "no ivshmem device (1af4:1110) on PCI bus 0"),
            IvshmemProblem::BadBar { bar, size } => {
                write!(f, "unusable ivshmem BAR2 at {bar:#x} size {size:#x}")
            }
            IvshmemProblem::NoUntyped { bar } => {
                write!(f, "no device untyped covers ivshmem BAR2 at {bar:#x}")
            }
        }
    }
}

/// Finds the device and carves its BAR2 into frames.
pub fn carve(
    bi: &BootInfo,
    port: Cap<IoPort>,
    devices: &[PciFunction],
    slots: &mut ObjectAllocator,
) -> Result<Result<Window, IvshmemProblem>, RootTaskError> {
    let Some(dev) = devices
        .iter()
        .find(|d| d.vendor == VENDOR && d.device == DEVICE)
    else {
        return Ok(Err(IvshmemProblem::NotPresent));
    };
    let (bar, size) = bar2(port, dev);
    let min = PageSize::Large.bytes();
    if bar == 0 || size < min || !size.is_power_of_two() || bar % size != 0 {
        return Ok(Err(IvshmemProblem::BadBar { bar, size }));
    }
    let Some(ut) = bi
        .untyped_list()
        .find(|u| u.is_device && u.paddr <= bar && bar + size <= u.paddr + u.size())
    else {
        return Ok(Err(IvshmemProblem::NoUntyped { bar }));
    };
    // Halve until the untyped is the BAR: a child of an aligned untyped is
    // aligned, so the half holding the BAR still holds all of it.
    let (mut cap, mut paddr, mut bits) =
        (Cap::<Untyped>::from_bits(ut.cap), ut.paddr, ut.size_bits);
    let want = size.trailing_zeros() as u8;
    while bits > want {
        let first = slots.slots(2)?;
        cap.untyped_retype(
            ObjectType::Untyped as Word,
            (bits - 1) as Word,
            init_caps::CNODE,
            0,
            0,
            first,
            2,
        )
        .context("Untyped_Retype (split device untyped)")?;
        bits -= 1;
        let upper = bar >= paddr + (1 << bits);
        if upper {
            paddr += 1 << bits;
        }
        cap = Cap::from_bits(first + upper as Word);
    }
    let count = size / min;
    let first = slots.slots(count)?;
    cap.untyped_retype(
        ObjectType::LargePage as Word,
        0,
        init_caps::CNODE,
        0,
        0,
        first,
        count,
    )
    .context("Untyped_Retype (ivshmem frames)")?;
    Ok(Ok(Window {
        paddr: bar,
        bytes: size,
        first_cap: first,
        count,
    }))
}

/// Address and size of BAR2 (a 64-bit memory BAR on ivshmem), sized the
/// standard way: write all ones, read the mask back, restore.
fn bar2(port: Cap<IoPort>, d: &PciFunction) -> (u64, u64) {
    let reg = 0x18u8;
    let Some(lo) = pci::read32(port, d.bus, d.dev, d.func, reg) else {
        return (0, 0);
    };
    if lo & 1 != 0 {
        return (0, 0); // an I/O BAR
    }
    let is64 = (lo >> 1) & 3 == 2;
    let hi = if is64 {
        pci::read32(port, d.bus, d.dev, d.func, reg + 4).unwrap_or(0)
    } else {
        0
    };
    let addr = ((hi as u64) << 32) | (lo as u64 & !0xf);
    let _ = pci::write32(port, d.bus, d.dev, d.func, reg, 0xffff_ffff);
    let mask_lo = pci::read32(port, d.bus, d.dev, d.func, reg).unwrap_or(0);
    let _ = pci::write32(port, d.bus, d.dev, d.func, reg, lo);
    let mut mask = 0xffff_ffff_0000_0000u64 | (mask_lo as u64 & !0xf);
    if is64 {
        let _ = pci::write32(port, d.bus, d.dev, d.func, reg + 4, 0xffff_ffff);
        let mask_hi = pci::read32(port, d.bus, d.dev, d.func, reg + 4).unwrap_or(0);
        let _ = pci::write32(port, d.bus, d.dev, d.func, reg + 4, hi);
        mask = ((mask_hi as u64) << 32) | (mask_lo as u64 & !0xf);
    }
    (addr, (!mask).wrapping_add(1))
}
