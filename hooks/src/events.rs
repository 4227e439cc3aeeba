//! What the JIT and the cache record in the trace (`pyopt-trace`): compile slices with
//! their phases, cache hits and misses, deoptimizations and refusals, and the compiled
//! functions counter. Every helper returns at once when tracing is off.

use std::sync::atomic::{AtomicU64, Ordering};

use pyopt_trace::{Arg, Event, EventKind, intern, now, record};

pub use pyopt_trace::enabled;

const JIT: &str = "jit";
const CACHE: &str = "cache";

fn emit(ts: u64, kind: EventKind, category: &str, name: &str, arg: Option<(&str, &str)>) {
    let arg = match arg {
        Some((key, value)) => Arg::Str(intern(key), intern(value)),
        None => Arg::None,
    };
    record(Event {
        ts,
        kind,
        category: intern(category),
        name: intern(name),
        arg,
    });
}

/// A slice on this thread's track from now until the value is dropped.
pub struct Span {
    category: &'static str,
    name: String,
    on: bool,
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.on {
            emit(now(), EventKind::End, self.category, &self.name, None);
        }
    }
}

fn span(category: &'static str, name: String, arg: Option<(&str, &str)>) -> Span {
    let on = enabled();
    if on {
        emit(now(), EventKind::Begin, category, &name, arg);
    }
    Span { category, name, on }
}

/// The whole compile of `function` for `signature`.
pub fn compile(function: &str, signature: &str) -> Span {
    if !enabled() {
        return Span {
            category: JIT,
            name: String::new(),
            on: false,
        };
    }
    span(
        JIT,
        format!("compile {function}"),
        Some(("signature", signature)),
    )
}

/// One phase of a compile (front end, link), as it runs.
pub fn phase(name: &'static str) -> Span {
    span(JIT, name.to_owned(), None)
}

/// Phases that ran back to back from `start` (a timestamp, [`now`]), as (name,
/// nanoseconds) pairs: recorded after the fact, nested in the current slice.
pub fn phases_since(start: u64, phases: &[(&str, u64)]) {
    if !enabled() {
        return;
    }
    let clock = pyopt_trace::clock::Calibration::now();
    let mut at = start;
    for (name, nanos) in phases {
        emit(at, EventKind::Begin, JIT, name, None);
        at += clock.ticks_for(*nanos);
        emit(at, EventKind::End, JIT, name, None);
    }
}

/// An instant on this thread's track with one text annotation.
fn instant(category: &str, name: &str, key: &str, value: &str) {
    if enabled() {
        emit(
            now(),
            EventKind::Instant,
            category,
            name,
            Some((key, value)),
        );
    }
}

/// A cache lookup's outcome: "cache hit", "cache miss", "cache entry skipped".
pub fn cache(outcome: &str, detail: &str) {
    instant(CACHE, outcome, "unit", detail);
}

/// Compiled code handed over to the interpreter.
pub fn deopt(function: &str, where_and_why: &str) {
    if enabled() {
        instant(JIT, &format!("deopt {function}"), "reason", where_and_why);
    }
}

/// A function (or signature) the JIT does not compile.
pub fn refusal(function: &str, reason: &str) {
    if enabled() {
        instant(JIT, &format!("not compiled {function}"), "reason", reason);
    }
}

/// A new value on the counter track `name`.
pub fn counter(name: &str, value: f64) {
    if enabled() {
        record_counter(name, Arg::Float(intern("value"), value));
    }
}

/// Counts a new specialization on the "compiled functions" counter track.
pub fn compiled() {
    static COMPILED: AtomicU64 = AtomicU64::new(0);
    let count = COMPILED.fetch_add(1, Ordering::Relaxed) + 1;
    if enabled() {
        record_counter(
            "compiled functions",
            Arg::Int(intern("count"), count as i64),
        );
    }
}

fn record_counter(name: &str, arg: Arg) {
    record(Event {
        ts: now(),
        kind: EventKind::Counter,
        category: intern(JIT),
        name: intern(name),
        arg,
    });
}
