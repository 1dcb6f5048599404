//! The `sqlite_process` benchmark with mimalloc as the global allocator: the
//! handler's path allocates small JSON values on tokio's worker threads and
//! frees some on the SQLite writer thread, where glibc's malloc contends.
//!
//! `cargo bench -p workflow --bench sqlite_process_mimalloc [-- COUNT [TASKS]]`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "sqlite_process.rs"]
mod bench;

fn main() {
    bench::run_all("mimalloc");
}
