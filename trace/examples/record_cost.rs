//! What recording one event costs: `cargo run --release -p pyopt-trace --example
//! record_cost` (run by `benches/trace_record_cost.sh`). Records begin/end pairs with a
//! timestamp each, on one thread and on two at once, and prints the best of several
//! repetitions in nanoseconds per event.

use std::time::Instant;

use pyopt_trace::{Arg, Event, EventKind, intern, now, record, set_capacity, set_enabled};

const EVENTS: u64 = 2_000_000;
const REPETITIONS: usize = 7;

fn record_pairs(name: u32, category: u32, key: u32) {
    for i in 0..EVENTS / 2 {
        record(Event {
            ts: now(),
            kind: EventKind::Begin,
            category,
            name,
            arg: Arg::Int(key, i as i64),
        });
        record(Event {
            ts: now(),
            kind: EventKind::End,
            category,
            name,
            arg: Arg::None,
        });
    }
}

fn best_ns_per_event(threads: usize) -> f64 {
    let (name, category, key) = (intern("span"), intern("bench"), intern("i"));
    (0..REPETITIONS)
        .map(|_| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| record_pairs(name, category, key));
                }
            });
            started.elapsed().as_nanos() as f64 / EVENTS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    set_capacity(1 << 16);
    set_enabled(false);
    let off = best_ns_per_event(1);
    set_enabled(true);
    let one = best_ns_per_event(1);
    let two = best_ns_per_event(2);
    println!("| recording | ns per event (with its timestamp), best of {REPETITIONS} |");
    println!("|---|---|");
    println!("| off (the check only, timestamp taken) | {off:.1} |");
    println!("| on, one thread | {one:.1} |");
    println!("| on, two threads at once (per thread) | {two:.1} |");
}
