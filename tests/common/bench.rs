//! The arguments of a benchmark (benches/*.rs, `harness = false`).
//!
//! `cargo bench` passes `--bench`; `cargo test --all-targets` (the test
//! suite) runs the same binaries without it: then each takes its small
//! sizes, so that the suite proves the benchmark still works, in seconds,
//! instead of timing it at full size in a debug build.

/// The numbers given on the command line, position by position; where one
/// is missing, `full`'s under `cargo bench`, `smoke`'s under `cargo test`.
pub fn bench_sizes<const N: usize>(full: [u64; N], smoke: [u64; N]) -> [u64; N] {
    let benching = std::env::args().any(|a| a == "--bench");
    let given: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mut sizes = if benching { full } else { smoke };
    for (size, given) in sizes.iter_mut().zip(given) {
        *size = given;
    }
    sizes
}
