//! The process's allocators (mimalloc for Rust, glibc's for the C libraries linked in) and how
//! they hand memory back to the system.

/// mimalloc instead of glibc's allocator: a feed page allocates and frees a few hundred small
/// strings and vectors, and glibc's `malloc`/`free` were about a tenth of the server's CPU there.
/// Its v2 series, which gives freed memory back to the system after 10 ms: v3 waits a second
/// (ten for whole arenas), and sixteen large uploads at once then peaked near 565 MiB instead of
/// about 420 (tests/process/memory.rs). Declared in the library, not the binary, so that the
/// HTTP suites, which start the application in their own process, run on it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns to the system, now, the memory the calling thread has freed.
///
/// mimalloc purges a thread's freed pages only when that thread next allocates: a blocking-pool
/// thread that has processed a 40-megapixel picture and then sits idle keeps its 200 MiB
/// resident, another thread takes the next picture, and sixteen worst-case uploads at once peaked
/// at 650-710 MiB with a picture budget of 256 (tests/process/memory.rs). Called at the end of
/// every picture job, on its thread, before the job gives its share of the budget back.
pub fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointer and has no precondition; it walks the calling
    // thread's own heap, which mimalloc creates on first use if the thread has none.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// Makes glibc's allocator, which the C libraries linked in use (libwebp's encoder), map every
/// block of 128 KiB or more on its own and unmap it when it is freed. By default glibc raises
/// that threshold to the largest block freed so far (up to 32 MiB), after which a WebP encoding's
/// 10-30 MiB buffers stay in per-thread arenas once freed: 120 MiB more at the peak of sixteen
/// worst-case uploads (tests/process/memory.rs). Called first thing in `main`.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a parameter of glibc's allocator; called before any other
    // thread exists, so no allocation races with it.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
