//! Loads an ELF image (the personality server, embedded in the root task)
//! into a new VSpace: one fresh 4 KiB frame per page, filled through a
//! temporary mapping in the root task's own VSpace, then mapped at its
//! place with the segment's rights.

use crate::record::Record;
use crate::RootTaskError;
use lwk_personality::loader::elf;
use sel4::cap_type::Page;
use sel4::Context;
use sel4::{init_caps, sizes, Cap, CapRights, ObjectType, Word};
use sel4_alloc::{ObjectAllocator, PageSize, VSpace};

/// Where the root task maps a frame to fill it (below 4 GiB, far from its
/// own image at 4 MiB).
pub const SCRATCH_VADDR: Word = 0x7000_0000;
const PAGE: Word = 1 << sizes::PAGE_BITS;

/// What was loaded.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub entry: Word,
    pub pages: Word,
}

/// Maps `frame` at the scratch address, runs `fill` on its bytes, unmaps.
pub fn fill_frame(
    frame: Cap<Page>,
    alloc: &mut ObjectAllocator,
    rec: &mut Record,
    fill: impl FnOnce(&mut [u8]),
) -> Result<(), RootTaskError> {
    let own = VSpace::new(init_caps::VSPACE);
    own.map(
        frame,
        SCRATCH_VADDR,
        PageSize::Small,
        CapRights::read_write(),
        alloc,
        rec,
    )?;
    // SAFETY: the frame was just mapped read-write at SCRATCH_VADDR, 4 KiB,
    // and nothing else uses that address; the slice dies before the unmap.
    let bytes = unsafe { core::slice::from_raw_parts_mut(SCRATCH_VADDR as *mut u8, PAGE as usize) };
    fill(bytes);
    Ok(frame.page_unmap().context("Page_Unmap (scratch)")?)
}

/// Loads `file` into `vspace` (whose caps and frames are recorded under
/// `owner`).
pub fn load(
    file: &[u8],
    vspace: VSpace,
    alloc: &mut ObjectAllocator,
    rec: &mut Record,
    owner: &'static str,
) -> Result<Loaded, RootTaskError> {
    let plan = elf::parse(file).map_err(RootTaskError::Elf)?;
    let mut pages = 0;
    let mut last_page = 0;
    for seg in &plan.segments {
        let range = seg.page_range();
        if range.start < last_page {
            return Err(RootTaskError::ImageLayout("segments share a page"));
        }
        last_page = range.end;
        let data = seg.file_bytes(file);
        let rights = if seg.perms.write {
            CapRights::read_write()
        } else {
            CapRights::read_only()
        };
        let mut page = range.start;
        while page < range.end {
            let frame: Cap<Page> =
                alloc.create(ObjectType::SmallPage, sizes::PAGE_BITS as u8, rec)?;
            // Bytes of the file that land in this page.
            fill_frame(frame, alloc, rec, |bytes| {
                let lo = page.max(seg.vaddr);
                let hi = (page + PAGE).min(seg.vaddr + data.len() as Word);
                if lo < hi {
                    let src = &data[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize];
                    bytes[(lo - page) as usize..(hi - page) as usize].copy_from_slice(src);
                }
            })?;
            vspace.map(frame, page, PageSize::Small, rights, alloc, rec)?;
            rec.mapping(owner, frame.bits(), page, PageSize::Small, rights);
            pages += 1;
            page += PAGE;
        }
    }
    Ok(Loaded {
        entry: plan.entry,
        pages,
    })
}
