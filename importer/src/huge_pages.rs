//! An allocator for the run-long user tables: large blocks ask the kernel for transparent huge
//! pages.
//!
//! The user map and the per-user state are read at random, millions of times in a large run,
//! and are far bigger than the CPU caches, so nearly every lookup also misses the TLB. With
//! 4 KiB pages each miss walks the page tables (twice over in a virtual machine); a 2 MiB page
//! covers 512 times as much. Most distributions enable transparent huge pages only for memory
//! that asks (`madvise`), which this allocator does for blocks of 4 MiB or more. Everything
//! else goes to the global allocator unchanged; where huge pages are off or unsupported the
//! advice is ignored.

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

/// Blocks from this size up are advised; smaller ones hold too few whole huge pages.
const ADVISED_FROM: usize = 4 << 20;

/// The size of a transparent huge page on x86-64 and most arm64 kernels.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HugePages;

// SAFETY: every block comes from `Global` and goes back to it with the same layout; the advice
// changes how the kernel backs the pages, never their contents or addresses.
unsafe impl Allocator for HugePages {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Global.allocate(layout).map(advise_if_large)
    }

    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Global.allocate_zeroed(layout).map(advise_if_large)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (so `Global`) made with `layout`.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

fn advise_if_large(block: NonNull<[u8]>) -> NonNull<[u8]> {
    if block.len() >= ADVISED_FROM {
        advise(block);
    }
    block
}

/// Ask for huge pages on the whole 2 MiB-aligned pages inside `block`.
#[cfg(target_os = "linux")]
fn advise(block: NonNull<[u8]>) {
    let start = block.cast::<u8>().as_ptr() as usize;
    let end = start + block.len();
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = end - end % HUGE_PAGE;
    if last > first {
        // SAFETY: [first, last) lies inside a live block this process owns; MADV_HUGEPAGE only
        // changes how the kernel may back those pages. A failure (no THP support) is harmless.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_block: NonNull<[u8]>) {}

#[cfg(test)]
mod tests {
    use super::HugePages;

    #[test]
    fn large_and_small_blocks_hold_their_contents() {
        let mut small = allocator_api2::vec::Vec::<u64, _>::with_capacity_in(16, HugePages);
        let mut large = allocator_api2::vec::Vec::<u64, _>::with_capacity_in(1 << 20, HugePages);
        for i in 0..(1u64 << 20) {
            large.push(i * 3);
        }
        small.extend(0..16u64);
        assert_eq!(large[12345], 12345 * 3);
        assert_eq!(large.len(), 1 << 20);
        assert_eq!(small.iter().sum::<u64>(), 120);
        // Growing moves the block to a new, again advised, one.
        large.extend(0..(1u64 << 20));
        assert_eq!(large[(1 << 20) + 7], 7);
    }
}
