//! What the end-to-end benchmarks share: the real `rigel` processes (from the end-to-end test
//! support), reading a process's memory and CPU time, and percentiles.

#![allow(dead_code, unused_imports)]

#[path = "../../tests/support/mod.rs"]
mod processes;

use std::time::Duration;

pub use processes::{rigel_bin, AgentProcess, ServerProcess};

/// A field of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`); 0 when the process is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    kib_field(&format!("/proc/{pid}/status"), field)
}

/// The process's proportional set size in KiB: its private memory plus its share of pages
/// other processes map too (the binary's code, shared by every engine).
pub fn pss_kib(pid: u32) -> u64 {
    kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// The number after `field` in a `/proc` file of `Field:  N kB` lines; 0 when unreadable.
fn kib_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    stat_ticks(pid, [11, 12])
}

/// CPU time (user + system) of the process's children it has waited for, and of theirs.
pub fn children_cpu_time(pid: u32) -> Duration {
    stat_ticks(pid, [13, 14])
}

/// The sum of two clock-tick fields of `/proc/<pid>/stat`, counted after the command name.
fn stat_ticks(pid: u32, which: [usize; 2]) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the command name, which is in parentheses and may contain spaces
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = which
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // clock ticks are 1/100 s on Linux
    Duration::from_millis(ticks * 10)
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
