//! What the benchmarks measure with: the kernel's CPU clocks and memory counters read from
//! /proc (no libc, no unsafe), and order statistics of a set of samples.
//!
//! CPU time is the figure to trust on a shared machine: wall time includes waiting for a core
//! that another build holds, CPU time mostly does not (cache and frequency effects remain).

use std::path::PathBuf;
use std::time::Duration;

/// CPU time (user + system) the calling thread has used, in nanoseconds: the first field of
/// `/proc/thread-self/schedstat`, the scheduler's own nanosecond account.
pub fn thread_cpu_ns() -> Option<u64> {
    first_field(std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// CPU time of every live thread of process `pid`, in nanoseconds (sum of each
/// `/proc/<pid>/task/<tid>/schedstat`). Threads that already exited are not counted; see
/// [`process_user_sys`] for the kernel's tick-based total that keeps them.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let mut path: PathBuf = task.path();
        path.push("schedstat");
        if let Some(ns) = std::fs::read_to_string(path).ok().and_then(first_field) {
            total += ns;
        }
    }
    Some(total)
}

fn first_field(text: String) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// User and system CPU time of process `pid` (what getrusage reports for it), from the utime
/// and stime fields of `/proc/<pid>/stat`, converted from clock ticks.
pub fn process_user_sys(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let tick = clock_tick();
    Some((tick * utime as u32, tick * stime as u32))
}

/// The length of one clock tick (`getconf CLK_TCK`, 100 Hz on every Linux we run on).
pub fn clock_tick() -> Duration {
    static TICK: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        let hertz = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|hertz| *hertz > 0)
            .unwrap_or(100);
        Duration::from_nanos(1_000_000_000 / hertz)
    })
}

/// A `/proc/<pid>/status` memory line in KiB, e.g. `VmHWM` (peak resident set) or `VmRSS`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// Order statistics of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// How many samples.
    pub count: usize,
    /// The median (mean of the two middle samples for an even count).
    pub median: f64,
    /// The 95th percentile, nearest rank.
    pub p95: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Stats {
    /// The statistics of `samples`; None when there are none.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let median = if count % 2 == 1 {
            sorted[count / 2]
        } else {
            (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0
        };
        let rank = ((0.95 * count as f64).ceil() as usize).clamp(1, count);
        Some(Stats {
            count,
            median,
            p95: sorted[rank - 1],
            min: sorted[0],
            max: sorted[count - 1],
            mean: sorted.iter().sum::<f64>() / count as f64,
        })
    }
}

/// A duration in nanoseconds, shown with a unit that keeps 3 significant figures.
pub fn human_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else {
        format!("{:.2} s", ns / 1_000_000_000.0)
    }
}

/// A duration, shown like [`human_ns`].
pub fn human(duration: Duration) -> String {
    human_ns(duration.as_nanos() as f64)
}

/// KiB as MiB with one decimal.
pub fn human_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_nearest_rank_p95() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let stats = Stats::of(&samples).expect("samples");
        assert_eq!(
            (stats.median, stats.p95, stats.min, stats.max),
            (10.5, 19.0, 1.0, 20.0)
        );
        assert_eq!(
            Stats::of(&[3.0]).map(|stats| (stats.median, stats.p95)),
            Some((3.0, 3.0))
        );
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn reads_this_process_from_proc() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmHWM").is_some_and(|kib| kib > 0));
        assert!(thread_cpu_ns().is_some());
        assert!(process_cpu_ns(pid).is_some());
        assert!(process_user_sys(pid).is_some());
    }
}
