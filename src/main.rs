/// mimalloc rather than the system allocator: a job and a read allocate and free many short-lived
/// buffers across threads (request bodies, records, SQLite pages), where glibc's allocator spent
/// a tenth of a cached read's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    apiary::cli::main()
}
