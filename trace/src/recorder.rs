//! The recording path: each thread appends fixed-size events to its own ring.
//!
//! A ring is written only by its thread (no lock: a store per word and one release
//! store publishing the count) and read by [`snapshot`], which copies the published
//! events and then drops any the writer may have overwritten meanwhile (a ring that
//! wraps keeps the newest events; the older ones are counted as dropped). Slots are
//! atomics, so a read racing a write is never undefined behaviour, only discarded.
//! Recording is off until [`set_enabled`]; off, [`record`] costs one relaxed load.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::strings::StrId;

/// What an event marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A slice starts on the thread's track (slices nest).
    Begin,
    /// The innermost open slice ends.
    End,
    /// A point in time.
    Instant,
    /// A counter's new value (in the annotation).
    Counter,
    /// A flow (an arrow to a later event, in this process or another) starts here; its
    /// id is the annotation's integer.
    FlowStart,
    /// The flow with the annotation's id ends here.
    FlowEnd,
}

impl EventKind {
    const ALL: [EventKind; 6] = [
        EventKind::Begin,
        EventKind::End,
        EventKind::Instant,
        EventKind::Counter,
        EventKind::FlowStart,
        EventKind::FlowEnd,
    ];

    fn code(self) -> u64 {
        self as u64 + 1
    }

    fn from_code(code: u64) -> Option<EventKind> {
        EventKind::ALL.get((code as usize).checked_sub(1)?).copied()
    }
}

/// An event's one annotation: a key and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    None,
    Int(StrId, i64),
    Float(StrId, f64),
    Str(StrId, StrId),
}

/// One recorded event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// When: ticks of [`crate::clock::now`] while recorded, monotonic nanoseconds in a
    /// [`snapshot`].
    pub ts: u64,
    pub kind: EventKind,
    pub category: StrId,
    pub name: StrId,
    pub arg: Arg,
}

/// An event as four machine words:
/// `ts`, `kind << 56 | arg tag << 48 | category`, `name << 32 | arg key`, `arg value`.
type Words = [u64; 4];

impl Event {
    fn pack(&self) -> Words {
        let (tag, key, value) = match self.arg {
            Arg::None => (0, 0, 0),
            Arg::Int(key, v) => (1, key, v as u64),
            Arg::Float(key, v) => (2, key, v.to_bits()),
            Arg::Str(key, v) => (3, key, u64::from(v)),
        };
        [
            self.ts,
            self.kind.code() << 56 | tag << 48 | u64::from(self.category),
            u64::from(self.name) << 32 | u64::from(key),
            value,
        ]
    }

    fn unpack(words: Words) -> Option<Event> {
        let key = words[2] as u32;
        let arg = match words[1] >> 48 & 0xff {
            0 => Arg::None,
            1 => Arg::Int(key, words[3] as i64),
            2 => Arg::Float(key, f64::from_bits(words[3])),
            3 => Arg::Str(key, words[3] as u32),
            _ => return None,
        };
        Some(Event {
            ts: words[0],
            kind: EventKind::from_code(words[1] >> 56)?,
            category: words[1] as u32,
            name: (words[2] >> 32) as u32,
            arg,
        })
    }
}

/// One thread's ring. Rings are never freed (a thread that ended keeps its events for
/// the trace), so a thread can hold a plain pointer to its own.
struct Ring {
    /// A power of two of slots.
    slots: Box<[[AtomicU64; 4]]>,
    /// Events ever written; slot `n % len` holds event `n`.
    written: AtomicU64,
    tid: u64,
    name: Mutex<String>,
}

/// Events per thread ring (32 bytes each).
static CAPACITY: AtomicUsize = AtomicUsize::new(1 << 16);
static ENABLED: AtomicBool = AtomicBool::new(false);
static RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's ring (null until it first records): a constant-initialized cell,
    /// so reaching it is one thread-local load.
    static LOCAL: Cell<*const Ring> = const { Cell::new(std::ptr::null()) };
}

/// Sets the ring size of threads that have not recorded yet: at least 16 events,
/// rounded up to a power of two.
pub fn set_capacity(events: usize) {
    CAPACITY.store(
        events.clamp(16, 1 << 40).next_power_of_two(),
        Ordering::Relaxed,
    );
}

pub fn capacity() -> usize {
    CAPACITY.load(Ordering::Relaxed)
}

/// Switches recording on or off for every thread.
pub fn set_enabled(on: bool) {
    crate::clock::start();
    ENABLED.store(on, Ordering::Release);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn this_thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u64
}

fn new_ring() -> Arc<Ring> {
    // A power of two, so the slot of event `n` is `n & (len - 1)`.
    // Zeroed by the allocator (fresh pages from the OS for a large ring), so a ring
    // costs memory only as far as it is written.
    let slots = Box::<[[AtomicU64; 4]]>::new_zeroed_slice(capacity());
    // SAFETY: an all-zero AtomicU64 is a valid atomic holding 0.
    let slots = unsafe { slots.assume_init() };
    advise_huge_pages(&slots);
    let ring = Arc::new(Ring {
        slots,
        written: AtomicU64::new(0),
        tid: this_thread_id(),
        name: Mutex::new(std::thread::current().name().unwrap_or("").to_owned()),
    });
    RINGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ring.clone());
    ring
}

/// Asks for transparent huge pages under a large ring: a call trace writes tens of
/// megabytes, and faulting them in 4 KiB at a time cost more than recording did.
fn advise_huge_pages(slots: &[[AtomicU64; 4]]) {
    const HUGE: usize = 2 << 20;
    if std::mem::size_of_val(slots) < 8 * HUGE {
        return; // a small ring's whole huge page would cost more than it saves
    }
    let start = slots.as_ptr() as usize;
    let end = start + std::mem::size_of_val(slots);
    let (first, last) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if first < last {
        // SAFETY: advice only, on whole pages inside this allocation, which stays
        // mapped for the life of the process (rings are never freed).
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            )
        };
    }
}

/// This thread's ring, made at its first use (`None` while the thread is exiting).
#[inline]
fn my_ring() -> Option<&'static Ring> {
    let ring = LOCAL.try_with(Cell::get).ok()?;
    if !ring.is_null() {
        // SAFETY: rings are never freed (RINGS holds them; `forget_after_fork` leaks
        // the ones it forgets), and only this thread's ring is stored in its cell.
        return Some(unsafe { &*ring });
    }
    let ring = Arc::into_raw(new_ring()); // RINGS keeps another reference
    LOCAL.try_with(|local| local.set(ring)).ok()?;
    // SAFETY: as above.
    Some(unsafe { &*ring })
}

/// Records `event` on this thread's track (nothing when recording is off).
#[inline]
pub fn record(event: Event) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(ring) = my_ring() else { return };
    let n = ring.written.load(Ordering::Relaxed);
    let slot = &ring.slots[n as usize & (ring.slots.len() - 1)];
    for (word, value) in slot.iter().zip(event.pack()) {
        word.store(value, Ordering::Relaxed);
    }
    ring.written.store(n + 1, Ordering::Release);
}

/// Names this thread's track (a Python thread's name, say).
pub fn set_thread_name(name: &str) {
    if let Some(ring) = my_ring() {
        *ring.name.lock().unwrap_or_else(|p| p.into_inner()) = name.to_owned();
    }
}

/// In a forked child: forgets the parent's threads and events (the child records its
/// own from here, on a new ring for the thread that forked). Safe as a `pthread_atfork`
/// child handler: it never waits for a lock another thread of the parent held when it
/// forked (the parent's events then stay in the child's trace).
pub fn forget_after_fork() {
    if let Ok(mut rings) = RINGS.try_lock() {
        let _ = LOCAL.try_with(|local| local.set(std::ptr::null()));
        // Leaked, not freed: a pointer to one may remain (see `my_ring`).
        std::mem::forget(std::mem::take(&mut *rings));
    }
}

/// One thread's events, oldest first.
#[derive(Debug, Clone)]
pub struct ThreadEvents {
    pub tid: u64,
    pub name: String,
    pub events: Vec<Event>,
    /// Events the ring no longer holds (overwritten by newer ones).
    pub dropped: u64,
}

/// Every thread's recorded events so far (threads that ended included), with
/// timestamps in monotonic nanoseconds.
pub fn snapshot() -> Vec<ThreadEvents> {
    let clock = crate::clock::Calibration::now();
    let rings: Vec<Arc<Ring>> = RINGS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    rings
        .iter()
        .map(|ring| {
            let len = ring.slots.len() as u64;
            let end = ring.written.load(Ordering::Acquire);
            let start = end.saturating_sub(len);
            let words: Vec<Words> = (start..end)
                .map(|n| {
                    let slot = &ring.slots[(n & (len - 1)) as usize];
                    std::array::from_fn(|i| slot[i].load(Ordering::Relaxed))
                })
                .collect();
            // Events the writer may have overwritten while they were copied.
            let now = ring.written.load(Ordering::Acquire);
            let first_intact = now.saturating_sub(len).max(start);
            let events = words
                .into_iter()
                .skip((first_intact - start) as usize)
                .filter_map(Event::unpack)
                .map(|event| Event {
                    ts: clock.to_ns(event.ts),
                    ..event
                })
                .collect();
            ThreadEvents {
                tid: ring.tid,
                name: ring.name.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                events,
                dropped: first_intact,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strings::intern;

    // The recorder is process-wide: one test drives it through its states.
    #[test]
    fn threads_record_their_own_events_and_full_rings_keep_the_newest() {
        let name = intern("span");
        let key = intern("n");
        let event = move |ts, kind, arg| Event {
            ts,
            kind,
            category: intern("test"),
            name,
            arg,
        };
        // Off: nothing is kept.
        record(event(1, EventKind::Instant, Arg::None));
        set_enabled(true);
        set_capacity(16);
        let worker = std::thread::Builder::new()
            .name("worker".to_owned())
            .spawn(move || {
                for i in 0..40 {
                    record(event(100 + i, EventKind::Counter, Arg::Int(key, i as i64)));
                }
            })
            .unwrap();
        worker.join().unwrap();
        record(event(5, EventKind::Begin, Arg::Str(key, name)));
        record(event(6, EventKind::Counter, Arg::Float(key, 2.5)));
        record(event(7, EventKind::End, Arg::None));
        let threads = snapshot();
        let worker = threads.iter().find(|t| t.name == "worker").unwrap();
        assert_eq!(worker.dropped, 24);
        assert_eq!(worker.events.len(), 16);
        assert_eq!(worker.events[0].arg, Arg::Int(key, 24));
        assert_eq!(worker.events[15].arg, Arg::Int(key, 39));
        let me = threads.iter().find(|t| t.tid == this_thread_id()).unwrap();
        assert_eq!(
            me.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Begin, EventKind::Counter, EventKind::End]
        );
        assert_eq!(me.events[0].arg, Arg::Str(key, name));
        assert_eq!(me.events[1].arg, Arg::Float(key, 2.5));
        set_thread_name("main thread");
        assert!(snapshot().iter().any(|t| t.name == "main thread"));
        forget_after_fork();
        assert!(snapshot().is_empty());
        record(event(8, EventKind::Instant, Arg::None));
        let threads = snapshot();
        assert_eq!(threads.len(), 1);
        assert_eq!(threads[0].events.len(), 1);
        set_enabled(false);
    }
}
