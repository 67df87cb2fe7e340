//! QEMU's fw_cfg device through I/O ports (selector 0x510, data 0x511, DMA
//! address 0x514/0x518), reached with an IOPort cap covering only those.
//! The standalone job pack is a fw_cfg file; it is read by DMA straight
//! into pool frames (whose physical addresses we know), not byte by byte.

use crate::pool::{Frame, Pool};
use alloc::vec::Vec;
use sel4::cap_type::IoPort;
use sel4::Cap;

const SELECTOR: u64 = 0x510;
const DATA: u16 = 0x511;
const DMA_HI: u64 = 0x514;
const DMA_LO: u64 = 0x518;
const SEL_SIGNATURE: u16 = 0x0000;
const SEL_ID: u16 = 0x0001;
const SEL_FILE_DIR: u16 = 0x0019;
const DMA_CTL_ERROR: u32 = 0x01;
const DMA_CTL_READ: u32 = 0x02;
const DMA_CTL_SELECT: u32 = 0x08;

/// Why a file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwCfgError {
    /// No fw_cfg device answers (not QEMU, or no port cap).
    NoDevice,
    /// The device has no DMA interface.
    NoDma,
    /// The file is not there.
    NotFound,
    /// Not enough contiguous pool memory for the file.
    NoMemory { bytes: u64 },
    /// The device reported a DMA error.
    DmaFailed,
}

impl core::fmt::Display for FwCfgError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FwCfgError::NoDevice => write!(f, "no fw_cfg device"),
            FwCfgError::NoDma => write!(f, "fw_cfg has no DMA interface"),
            FwCfgError::NotFound => write!(f, "no such fw_cfg file"),
            FwCfgError::NoMemory { bytes } => {
                write!(f, "no contiguous pool memory for {bytes} bytes")
            }
            FwCfgError::DmaFailed => write!(f, "fw_cfg DMA error"),
        }
    }
}

pub struct FwCfg {
    port: Cap<IoPort>,
}

impl FwCfg {
    /// Checks the signature and the DMA feature.
    pub fn open(port: Cap<IoPort>) -> Result<Self, FwCfgError> {
        let fw = FwCfg { port };
        fw.select(SEL_SIGNATURE)?;
        let mut sig = [0u8; 4];
        fw.read_bytes(&mut sig)?;
        if &sig != b"QEMU" {
            return Err(FwCfgError::NoDevice);
        }
        fw.select(SEL_ID)?;
        let mut id = [0u8; 4];
        fw.read_bytes(&mut id)?;
        if u32::from_le_bytes(id) & 2 == 0 {
            return Err(FwCfgError::NoDma);
        }
        Ok(fw)
    }

    fn select(&self, key: u16) -> Result<(), FwCfgError> {
        self.port
            .io_port_out16(SELECTOR, key as u64)
            .map_err(|_| FwCfgError::NoDevice)
    }

    fn read_bytes(&self, buf: &mut [u8]) -> Result<(), FwCfgError> {
        for b in buf {
            *b = self
                .port
                .io_port_in8(DATA)
                .map_err(|_| FwCfgError::NoDevice)?;
        }
        Ok(())
    }

    /// (selector, size) of the file `name`.
    pub fn find(&self, name: &str) -> Result<(u16, u32), FwCfgError> {
        self.select(SEL_FILE_DIR)?;
        let mut n = [0u8; 4];
        self.read_bytes(&mut n)?;
        for _ in 0..u32::from_be_bytes(n).min(4096) {
            let mut e = [0u8; 64];
            self.read_bytes(&mut e)?;
            let size = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let select = u16::from_be_bytes([e[4], e[5]]);
            let fname = &e[8..];
            let len = fname.iter().position(|&c| c == 0).unwrap_or(fname.len());
            if &fname[..len] == name.as_bytes() {
                return Ok((select, size));
            }
        }
        Err(FwCfgError::NotFound)
    }

    /// Reads the whole file into contiguous 2 MiB pool frames; returns the
    /// frames (the file starts at the first frame's direct-map address).
    pub fn read_file(&self, name: &str, pool: &mut Pool) -> Result<(Vec<Frame>, u32), FwCfgError> {
        let (select, size) = self.find(name)?;
        // One extra frame's tail holds the DMA descriptor.
        let n = (size as u64 + 64).div_ceil(1 << 21) as usize;
        let frames = pool
            .alloc_contiguous(21, n)
            .ok_or(FwCfgError::NoMemory { bytes: size as u64 })?;
        let base_paddr = frames[0].paddr;
        let base_vaddr = frames[0].vaddr();
        let desc_off = (n as u64) * (1 << 21) - 64;
        let desc = (base_vaddr + desc_off) as *mut u8;
        let control = (select as u32) << 16 | DMA_CTL_SELECT | DMA_CTL_READ;
        let mut d = [0u8; 16];
        d[0..4].copy_from_slice(&control.to_be_bytes());
        d[4..8].copy_from_slice(&size.to_be_bytes());
        d[8..16].copy_from_slice(&base_paddr.to_be_bytes());
        // SAFETY: `desc` is inside the frames just allocated, mapped
        // read-write in the direct map; 16 bytes fit before their end.
        unsafe { core::ptr::copy_nonoverlapping(d.as_ptr(), desc, 16) };
        let desc_paddr = base_paddr + desc_off;
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // The address register is big-endian: write it byte-swapped, high
        // half first; writing the low half starts the transfer.
        let hi = ((desc_paddr >> 32) as u32).swap_bytes();
        let lo = (desc_paddr as u32).swap_bytes();
        self.port
            .io_port_out32(DMA_HI, hi as u64)
            .map_err(|_| FwCfgError::NoDevice)?;
        self.port
            .io_port_out32(DMA_LO, lo as u64)
            .map_err(|_| FwCfgError::NoDevice)?;
        // QEMU completes the transfer synchronously; poll (bounded) anyway.
        for _ in 0..1_000_000 {
            // SAFETY: as above; volatile because the device writes it.
            let c = unsafe { core::ptr::read_volatile(desc as *const [u8; 4]) };
            let c = u32::from_be_bytes(c);
            if c & DMA_CTL_ERROR != 0 {
                return Err(FwCfgError::DmaFailed);
            }
            if c == 0 {
                return Ok((frames, size));
            }
            core::hint::spin_loop();
        }
        Err(FwCfgError::DmaFailed)
    }
}
