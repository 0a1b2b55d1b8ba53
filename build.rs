//! Links the `rigel` binary as a position-dependent executable on Linux. An agent starts one
//! engine (`rigel engine run`) per flow run; a position-independent binary of this size spends
//! ~1.3 ms and ~1.3 MB of private memory per start applying ~50,000 relocations to its tables
//! (docs/BENCHMARKS.md, "Agent"). The trade: the executable's own image is not placed at a random
//! address (its libraries, stack and heap still are).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
