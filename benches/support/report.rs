//! What every benchmark prints about the machine it ran on.

// Measured with the allocator (and settings) the shipped binaries use: the import function's
// (functions/csv-import/src/main.rs), since the benchmarks' heaviest scenario is its import.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[unsafe(export_name = "_rjem_malloc_conf")]
pub static IMPORT_MALLOC_CONF: &u8 = &b"narenas:2,dirty_decay_ms:500,muzzy_decay_ms:0\0"[0];

/// CPU model and core count, e.g. "AMD EPYC, 2 cores".
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

/// This process's peak resident set size (VmHWM), in MiB.
#[allow(dead_code, reason = "not every benchmark measures memory")]
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// This process's resident set size now (VmRSS), in MiB.
#[allow(dead_code, reason = "not every benchmark measures memory")]
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// Resets the peak resident set size to the current one (Linux: `clear_refs` 5), so the
/// next reading of [`peak_rss_mib`] is the peak of what runs from now.
#[allow(dead_code, reason = "not every benchmark measures memory")]
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time (user + system) this process has used so far, in seconds.
#[allow(dead_code, reason = "not every benchmark measures CPU")]
pub fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on Linux), after the
    // command name, which may hold spaces but ends at the last ')'.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(0.0)
}
