//! The shared mapping, and the only place that turns addresses into
//! references.
//!
//! The region is held as a slice of `AtomicU64` words covering
//! [`REGION_SIZE`] bytes. Data areas are sub-slices of it (plain, checked
//! slicing); the `#[repr(C)]` structures of [`wire`](crate::wire) are typed
//! views at fixed offsets, made by [`Region::view`] and [`Region::view_slice`],
//! which check bounds and alignment unconditionally. Offsets handed to them
//! come from the compile-time layout and from indices masked by a power-of-two
//! slot count, never from the peer, so those checks can only fail on a bug in
//! this crate (and then panic instead of touching memory outside the region).
//!
//! Everything in the region is accessed through atomics only. That keeps a
//! racing or hostile peer (a thread in tests, another VM in production) from
//! causing a data race in the Rust sense: at worst it makes us read values
//! that the validating code then refuses.

use core::mem::{align_of, size_of};
use core::sync::atomic::AtomicU64;

use crate::error::ChannelError;
use crate::wire::{RegionHeader, RequestSlot, ResponseSlot, REGION_SIZE};

/// A type that may be viewed in place inside the region.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, consist of atomics only (so shared
/// mutation through `&` is sound and every bit pattern is valid), contain no
/// padding, and have an alignment of at most 8.
pub(crate) unsafe trait Shared: Sized {}

// SAFETY: each type is `#[repr(C)]`, made only of atomics, has alignment 8 or
// less and no padding (`wire` asserts the sizes that prove it).
unsafe impl Shared for RegionHeader {}
// SAFETY: as above.
unsafe impl Shared for RequestSlot {}
// SAFETY: as above.
unsafe impl Shared for ResponseSlot {}

/// The shared region: [`REGION_SIZE`] bytes of memory that both sides map.
///
/// A `Region` is a cheap copyable handle; every structure inside is reached
/// through it.
#[derive(Clone, Copy)]
pub struct Region<'a> {
    words: &'a [AtomicU64],
}

impl<'a> Region<'a> {
    /// Views the mapping at `base`, `len` bytes long. Only the first
    /// [`REGION_SIZE`] bytes are used; page alignment is recommended (the
    /// layout keeps hot words on separate cache lines) and 8 is required.
    ///
    /// # Safety
    /// `base..base + len` must be mapped, readable and writable for `'a`, and
    /// while `'a` lasts it must be accessed only through this crate, from any
    /// number of threads, processes or machines, or by other means that do
    /// not create Rust references to it.
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Self, ChannelError> {
        let addr = base as usize;
        if base.is_null() || !addr.is_multiple_of(align_of::<AtomicU64>()) {
            return Err(ChannelError::Misaligned { addr });
        }
        if len < REGION_SIZE {
            return Err(ChannelError::RegionTooSmall { len });
        }
        // SAFETY: `base` is non-null and aligned for `AtomicU64`; the caller
        // guarantees REGION_SIZE <= len bytes from it are valid for reads and
        // writes for 'a and accessed only atomically, which is exactly what a
        // shared slice of atomics requires (their `UnsafeCell`s permit the
        // concurrent mutation).
        let words = unsafe {
            core::slice::from_raw_parts(base.cast::<AtomicU64>(), REGION_SIZE / size_of::<u64>())
        };
        Ok(Self { words })
    }

    /// Views memory the caller already holds as atomics, such as a heap buffer
    /// in tests or a static. Needs at least [`REGION_SIZE`] bytes.
    pub fn from_words(words: &'a [AtomicU64]) -> Result<Self, ChannelError> {
        let len = words.len().saturating_mul(size_of::<u64>());
        let words = words
            .get(..REGION_SIZE / size_of::<u64>())
            .ok_or(ChannelError::RegionTooSmall { len })?;
        Ok(Self { words })
    }

    /// The words of the region, for data areas.
    pub(crate) fn words(&self, offset: usize, count: usize) -> &'a [AtomicU64] {
        assert!(
            offset.is_multiple_of(size_of::<u64>()),
            "unaligned data area"
        );
        let start = offset / size_of::<u64>();
        &self.words[start..start + count]
    }

    /// A typed view of the structure at `offset`.
    pub(crate) fn view<T: Shared>(&self, offset: usize) -> &'a T {
        &self.view_slice::<T>(offset, 1)[0]
    }

    /// A typed view of `count` consecutive structures starting at `offset`.
    pub(crate) fn view_slice<T: Shared>(&self, offset: usize, count: usize) -> &'a [T] {
        let bytes = size_of::<T>().checked_mul(count);
        let end = bytes.and_then(|b| offset.checked_add(b));
        assert!(
            align_of::<T>() <= align_of::<AtomicU64>()
                && offset.is_multiple_of(align_of::<T>())
                && end.is_some_and(|end| end <= REGION_SIZE),
            "view outside the region"
        );
        // SAFETY: the pointer is derived from `self.words`, whose provenance
        // covers the whole region, so adding `offset` stays inside the same
        // allocation; `offset + count * size_of::<T>() <= REGION_SIZE` was
        // checked above. The base is 8-aligned and `offset` is a multiple of
        // T's alignment (at most 8), so the view is aligned. `T: Shared`
        // consists of atomics only: any bit pattern is valid, and concurrent
        // mutation through shared references is sound. The lifetime is that
        // of `self.words`.
        unsafe {
            let first = self.words.as_ptr().cast::<u8>().add(offset).cast::<T>();
            core::slice::from_raw_parts(first, count)
        }
    }
}

impl core::fmt::Debug for Region<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("base", &self.words.as_ptr())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{RegionHeader, PAGE_SIZE};

    #[test]
    fn constructors_check_length_and_alignment() {
        let small: std::vec::Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
        assert!(matches!(
            Region::from_words(&small),
            Err(ChannelError::RegionTooSmall { len: 128 })
        ));
        let mut buf = [0u64; 4];
        let odd = buf.as_mut_ptr().cast::<u8>().wrapping_add(1);
        // SAFETY: rejected before any access.
        assert!(matches!(
            unsafe { Region::new(odd, REGION_SIZE) },
            Err(ChannelError::Misaligned { .. })
        ));
        // SAFETY: rejected before any access.
        let short = unsafe { Region::new(buf.as_mut_ptr().cast(), 32) };
        assert!(matches!(
            short,
            Err(ChannelError::RegionTooSmall { len: 32 })
        ));
    }

    #[test]
    #[should_panic(expected = "view outside the region")]
    fn views_past_the_end_panic_rather_than_escape() {
        let words: std::vec::Vec<AtomicU64> =
            (0..REGION_SIZE / 8).map(|_| AtomicU64::new(0)).collect();
        let region = Region::from_words(&words).unwrap();
        let _ = region.view::<RegionHeader>(REGION_SIZE - PAGE_SIZE + 8);
    }
}
