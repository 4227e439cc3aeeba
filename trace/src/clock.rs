//! Event timestamps: cheap to take while recording, monotonic nanoseconds when read out.
//!
//! Where the kernel itself keeps time with the TSC (its clocksource is `tsc`, which it
//! only keeps when the counter is invariant and synchronized across CPUs), events are
//! stamped with `rdtsc` (about 10 ns here, against 23 ns for `clock_gettime`) and
//! converted to CLOCK_MONOTONIC nanoseconds when read out, by the rate measured between
//! the first timestamp and the read-out. Elsewhere the ticks are CLOCK_MONOTONIC
//! nanoseconds.

use std::sync::OnceLock;

/// The shortest span the TSC rate is measured over.
const MIN_CALIBRATION_NS: u64 = 2_000_000;

/// Nanoseconds on the monotonic clock.
pub fn now_ns() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; CLOCK_MONOTONIC always
    // exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

fn uses_tsc() -> bool {
    static TSC: OnceLock<bool> = OnceLock::new();
    *TSC.get_or_init(|| {
        cfg!(target_arch = "x86_64")
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|source| source.trim() == "tsc")
    })
}

#[cfg(target_arch = "x86_64")]
fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc() -> u64 {
    now_ns()
}

/// Both clocks at one moment (the calibration's start), taken at the first timestamp.
fn anchor() -> (u64, u64) {
    static ANCHOR: OnceLock<(u64, u64)> = OnceLock::new();
    *ANCHOR.get_or_init(|| (tsc(), now_ns()))
}

/// An event timestamp, in ticks (see the module doc); [`Calibration`] turns ticks into
/// nanoseconds.
#[inline]
pub fn now() -> u64 {
    if uses_tsc() { tsc() } else { now_ns() }
}

/// Starts the calibration (recording start-up calls it, so read-outs are exact).
pub fn start() {
    let _ = uses_tsc();
    let _ = anchor();
}

/// How ticks taken so far convert to monotonic nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    ticks: u64,
    ns: u64,
    ns_per_tick: f64,
}

impl Calibration {
    /// Measures the rate from the first timestamp until now (at least 2 ms: a read-out
    /// that early waits for the rest once).
    pub fn now() -> Calibration {
        let (ticks, ns) = anchor();
        if !uses_tsc() {
            return Calibration {
                ticks,
                ns,
                ns_per_tick: 1.0,
            };
        }
        while now_ns().saturating_sub(ns) < MIN_CALIBRATION_NS {
            std::hint::spin_loop();
        }
        let (ticks_now, ns_now) = (tsc(), now_ns());
        Calibration {
            ticks,
            ns,
            ns_per_tick: (ns_now - ns) as f64 / ticks_now.saturating_sub(ticks).max(1) as f64,
        }
    }

    /// The monotonic nanoseconds of a timestamp taken by [`now`].
    pub fn to_ns(&self, ticks: u64) -> u64 {
        let offset = ticks as i128 - self.ticks as i128;
        let ns = self.ns as i128 + (offset as f64 * self.ns_per_tick) as i128;
        ns.max(0) as u64
    }

    /// A duration in ticks.
    pub fn ticks_for(&self, ns: u64) -> u64 {
        (ns as f64 / self.ns_per_tick) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_out_as_monotonic_nanoseconds() {
        start();
        let before = now_ns();
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = now();
        let after = now_ns();
        let clock = Calibration::now();
        let (a, b) = (clock.to_ns(a), clock.to_ns(b));
        // Within 50 us of the monotonic clock, and 5 ms apart.
        assert!(a + 50_000 >= before && a <= before + 50_000, "{a} {before}");
        assert!(b + 50_000 >= after && b <= after + 50_000, "{b} {after}");
        assert!(b - a >= 4_900_000 && b - a < 1_000_000_000, "{a} {b}");
        let tick_ms = clock.ticks_for(1_000_000);
        assert!(tick_ms > 0);
        assert!(clock.to_ns(now() + tick_ms) - clock.to_ns(now()) <= 1_100_000);
    }
}
