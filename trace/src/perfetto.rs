//! Perfetto protobuf output: a snapshot of every thread's events as a `Trace` that opens
//! in ui.perfetto.dev.
//!
//! Layout: a track for the process, one per thread under it (slices and instants), one
//! per counter name. Each thread's events are their own packet sequence, so timestamps
//! rise within every sequence; its first packet clears the incremental state and
//! interns every name, category and annotation key the trace uses. A ring that
//! overflowed lost its oldest events: its sequence starts with an instant saying how
//! many, ends that lost their begin are left out, and slices still open at the end are
//! closed at the thread's last timestamp, so begins and ends balance on every track.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use crate::recorder::{Arg, Event, EventKind, ThreadEvents};
use crate::strings::{StrId, intern, resolve};

/// The generated types of `proto/perfetto_subset.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/perfetto.protos.rs"));
}

use proto::track_event::Type;

const INCREMENTAL_STATE_CLEARED: u32 = 1;
const NEEDS_INCREMENTAL_STATE: u32 = 2;

/// The process a trace describes.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub name: String,
    pub cmdline: Vec<String>,
}

/// Interned ids are the string ids plus one (0 means "none" in Perfetto).
fn iid(id: StrId) -> u64 {
    u64::from(id) + 1
}

fn process_uuid(pid: i32) -> u64 {
    // Distinct per process, so traces of several processes merge without clashes.
    0x7079_6f70_0000_0000 | u64::from(pid as u32)
}

fn thread_uuid(pid: i32, tid: u64) -> u64 {
    process_uuid(pid) ^ (tid << 24) ^ 0x1
}

fn counter_uuid(pid: i32, name: StrId) -> u64 {
    process_uuid(pid) ^ (u64::from(name) << 40) ^ 0x2
}

fn annotation(arg: Arg) -> Option<proto::DebugAnnotation> {
    let mut annotation = proto::DebugAnnotation::default();
    match arg {
        Arg::None => return None,
        Arg::Int(key, value) => {
            annotation.name_iid = Some(iid(key));
            annotation.int_value = Some(value);
        }
        Arg::Float(key, value) => {
            annotation.name_iid = Some(iid(key));
            annotation.double_value = Some(value);
        }
        Arg::Str(key, value) => {
            annotation.name_iid = Some(iid(key));
            annotation.string_value = Some(resolve(value));
        }
    }
    Some(annotation)
}

/// A thread's events with every end matched to a begin (unmatched ends dropped, open
/// slices closed at the last timestamp).
fn balanced(events: &[Event]) -> Vec<Event> {
    let mut out = Vec::with_capacity(events.len());
    let mut open = Vec::new();
    for event in events {
        match event.kind {
            EventKind::Begin => open.push(*event),
            EventKind::End if open.pop().is_none() => continue,
            _ => {}
        }
        out.push(*event);
    }
    let last = events.last().map_or(0, |e| e.ts);
    while let Some(begin) = open.pop() {
        out.push(Event {
            ts: last,
            kind: EventKind::End,
            arg: Arg::None,
            ..begin
        });
    }
    out
}

fn packet(sequence: u32) -> proto::TracePacket {
    proto::TracePacket {
        trusted_packet_sequence_id: Some(sequence),
        ..Default::default()
    }
}

/// The name of this process's track (a rank's, say), "pyopt-python" until set.
static PROCESS_NAME: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Names this process's track (the distribution work names each rank's and worker's).
pub fn set_process_name(name: &str) {
    *PROCESS_NAME.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_owned());
}

/// This process's trace so far: everything recorded, encoded.
pub fn encode_this_process() -> Vec<u8> {
    let name = PROCESS_NAME
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let process = Process {
        pid: std::process::id() as i32,
        name: name.unwrap_or_else(|| "pyopt-python".to_owned()),
        cmdline: std::env::args().collect(),
    };
    encode(&process, &crate::snapshot())
}

/// Encodes `threads` (from [`crate::snapshot`]) of `process` as a Perfetto trace.
pub fn encode(process: &Process, threads: &[ThreadEvents]) -> Vec<u8> {
    let dropped_name = intern("pyopt: events lost (trace buffer full)");
    let dropped_key = intern("events");
    let category = intern("pyopt");
    // Every string the events use, interned once per sequence.
    let mut strings = BTreeSet::from([dropped_name, dropped_key, category]);
    let mut counters = BTreeSet::new();
    for thread in threads {
        for event in &thread.events {
            strings.extend([event.name, event.category]);
            if let Arg::Int(key, _) | Arg::Float(key, _) | Arg::Str(key, _) = event.arg {
                strings.insert(key);
            }
            if event.kind == EventKind::Counter {
                counters.insert(event.name);
            }
        }
    }
    let texts: BTreeMap<StrId, String> = strings.iter().map(|&id| (id, resolve(id))).collect();
    // Every string under each of the three interned kinds (a name, a category or an
    // annotation key may be any of them).
    fn list<T>(
        texts: &BTreeMap<StrId, String>,
        make: fn(Option<u64>, Option<String>) -> T,
    ) -> Vec<T> {
        texts
            .iter()
            .map(|(&id, name)| make(Some(iid(id)), Some(name.clone())))
            .collect()
    }
    let interned = || proto::InternedData {
        event_categories: list(&texts, |iid, name| proto::EventCategory { iid, name }),
        event_names: list(&texts, |iid, name| proto::EventName { iid, name }),
        debug_annotation_names: list(&texts, |iid, name| proto::DebugAnnotationName { iid, name }),
    };

    let mut trace = proto::Trace::default();
    // Sequence 1: the process's and the counters' tracks.
    let mut descriptor = packet(1);
    descriptor.first_packet_on_sequence = Some(true);
    descriptor.track_descriptor = Some(proto::TrackDescriptor {
        uuid: Some(process_uuid(process.pid)),
        name: Some(process.name.clone()),
        process: Some(proto::ProcessDescriptor {
            pid: Some(process.pid),
            cmdline: process.cmdline.clone(),
            process_name: Some(process.name.clone()),
        }),
        ..Default::default()
    });
    trace.packet.push(descriptor);
    for &name in &counters {
        let mut counter = packet(1);
        counter.track_descriptor = Some(proto::TrackDescriptor {
            uuid: Some(counter_uuid(process.pid, name)),
            parent_uuid: Some(process_uuid(process.pid)),
            name: texts.get(&name).cloned(),
            counter: Some(proto::CounterDescriptor::default()),
            ..Default::default()
        });
        trace.packet.push(counter);
    }
    // One sequence per thread.
    for (index, thread) in threads.iter().enumerate() {
        if thread.events.is_empty() && thread.dropped == 0 {
            continue;
        }
        let sequence = index as u32 + 2;
        let track = thread_uuid(process.pid, thread.tid);
        let mut first = packet(sequence);
        first.first_packet_on_sequence = Some(true);
        first.sequence_flags = Some(INCREMENTAL_STATE_CLEARED);
        first.interned_data = Some(interned());
        first.track_descriptor = Some(proto::TrackDescriptor {
            uuid: Some(track),
            parent_uuid: Some(process_uuid(process.pid)),
            thread: Some(proto::ThreadDescriptor {
                pid: Some(process.pid),
                tid: Some(thread.tid as i64),
                thread_name: (!thread.name.is_empty()).then(|| thread.name.clone()),
            }),
            ..Default::default()
        });
        trace.packet.push(first);
        let mut events = balanced(&thread.events);
        if thread.dropped > 0 {
            events.insert(
                0,
                Event {
                    ts: events.first().map_or(0, |e| e.ts),
                    kind: EventKind::Instant,
                    category,
                    name: dropped_name,
                    arg: Arg::Int(dropped_key, thread.dropped as i64),
                },
            );
        }
        for event in events {
            let mut track_event = proto::TrackEvent {
                category_iids: vec![iid(event.category)],
                track_uuid: Some(track),
                ..Default::default()
            };
            match event.kind {
                EventKind::Begin => {
                    track_event.set_type(Type::SliceBegin);
                    track_event.name_iid = Some(iid(event.name));
                }
                EventKind::End => track_event.set_type(Type::SliceEnd),
                EventKind::Instant => {
                    track_event.set_type(Type::Instant);
                    track_event.name_iid = Some(iid(event.name));
                }
                // A flow's ends are instants carrying its id; Perfetto draws the arrow.
                EventKind::FlowStart | EventKind::FlowEnd => {
                    let Arg::Int(_, id) = event.arg else { continue };
                    track_event.set_type(Type::Instant);
                    track_event.name_iid = Some(iid(event.name));
                    if event.kind == EventKind::FlowStart {
                        track_event.flow_ids.push(id as u64);
                    } else {
                        track_event.terminating_flow_ids.push(id as u64);
                    }
                }
                EventKind::Counter => {
                    track_event.set_type(Type::Counter);
                    track_event.track_uuid = Some(counter_uuid(process.pid, event.name));
                    track_event.category_iids.clear();
                    match event.arg {
                        Arg::Int(_, value) => track_event.counter_value = Some(value),
                        Arg::Float(_, value) => track_event.double_counter_value = Some(value),
                        _ => continue,
                    }
                }
            }
            if event.kind != EventKind::Counter {
                track_event.debug_annotations.extend(annotation(event.arg));
            }
            let mut packet = packet(sequence);
            packet.timestamp = Some(event.ts);
            packet.sequence_flags = Some(NEEDS_INCREMENTAL_STATE);
            packet.track_event = Some(track_event);
            trace.packet.push(packet);
        }
    }
    trace.encode_to_vec()
}

/// Joins traces of several processes (each `(name, bytes)`, as pyopt writes them) into
/// one: packets kept in order, each input's packet sequences renumbered so no two
/// inputs share one. Refuses a file that is not such a trace (it does not decode, or
/// holds fields this schema does not know, which would be lost) and two files of one
/// process (their tracks would clash).
pub fn merge(traces: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut merged = proto::Trace::default();
    let mut next_sequence = 1u32;
    let mut processes = BTreeMap::new();
    for (name, bytes) in traces {
        let trace = proto::Trace::decode(&bytes[..])
            .map_err(|e| format!("{name}: not a Perfetto trace ({e})"))?;
        if trace.encoded_len() != bytes.len() {
            return Err(format!(
                "{name}: not a trace pyopt wrote (it has fields pyopt's schema does not know)"
            ));
        }
        for packet in &trace.packet {
            if let Some(pid) = packet
                .track_descriptor
                .as_ref()
                .and_then(|t| t.process.as_ref())
                .and_then(|p| p.pid)
                && let Some(other) = processes.insert(pid, name.clone())
            {
                return Err(format!(
                    "{other} and {name} are traces of the same process ({pid})"
                ));
            }
        }
        let mut renumbered = BTreeMap::new();
        for mut packet in trace.packet {
            if let Some(sequence) = packet.trusted_packet_sequence_id {
                let new = *renumbered.entry(sequence).or_insert_with(|| {
                    next_sequence += 1;
                    next_sequence - 1
                });
                packet.trusted_packet_sequence_id = Some(new);
            }
            merged.packet.push(packet);
        }
    }
    Ok(merged.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: u64, kind: EventKind, name: &str, arg: Arg) -> Event {
        Event {
            ts,
            kind,
            category: intern("jit"),
            name: intern(name),
            arg,
        }
    }

    #[test]
    fn merged_traces_keep_every_process_on_sequences_of_its_own() {
        let thread = |tid| ThreadEvents {
            tid,
            name: "main".to_owned(),
            events: vec![
                event(1, EventKind::Begin, "work", Arg::None),
                event(2, EventKind::FlowStart, "send", Arg::Int(intern("flow"), 9)),
                event(3, EventKind::End, "work", Arg::None),
            ],
            dropped: 0,
        };
        let process = |pid| Process {
            pid,
            name: format!("rank {pid}"),
            cmdline: vec![],
        };
        let a = encode(&process(1), &[thread(11)]);
        let b = encode(&process(2), &[thread(21)]);
        let merged = merge(&[("a".to_owned(), a.clone()), ("b".to_owned(), b)]).unwrap();
        let trace = proto::Trace::decode(&merged[..]).unwrap();
        let sequences: BTreeSet<u32> = trace
            .packet
            .iter()
            .filter_map(|p| p.trusted_packet_sequence_id)
            .collect();
        assert_eq!(sequences.len(), 4, "two per process, none shared");
        let flows: Vec<_> = trace
            .packet
            .iter()
            .filter_map(|p| p.track_event.as_ref())
            .filter(|e| !e.flow_ids.is_empty())
            .collect();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].flow_ids, [9]);
        let names: Vec<_> = trace
            .packet
            .iter()
            .filter_map(|p| {
                p.track_descriptor
                    .as_ref()?
                    .process
                    .as_ref()?
                    .process_name
                    .clone()
            })
            .collect();
        assert_eq!(names, ["rank 1", "rank 2"]);
        // The same process twice, and a file that is no trace, are refused.
        let twice = merge(&[("a".to_owned(), a.clone()), ("c".to_owned(), a)]).unwrap_err();
        assert!(twice.contains("same process"), "{twice}");
        let junk = merge(&[("j".to_owned(), vec![0xff, 0xff, 0xff])]).unwrap_err();
        assert!(junk.starts_with("j: "), "{junk}");
    }

    #[test]
    fn threads_become_tracks_with_balanced_slices_interned_names_and_counters() {
        let key = intern("signature");
        let threads = [
            ThreadEvents {
                tid: 101,
                name: "MainThread".to_owned(),
                events: vec![
                    event(5, EventKind::End, "lost begin", Arg::None),
                    event(
                        10,
                        EventKind::Begin,
                        "compile",
                        Arg::Str(key, intern("(int)")),
                    ),
                    event(12, EventKind::Begin, "optimize", Arg::None),
                    event(20, EventKind::End, "optimize", Arg::None),
                    event(
                        25,
                        EventKind::Counter,
                        "compiled functions",
                        Arg::Int(key, 3),
                    ),
                    event(30, EventKind::Instant, "deopt", Arg::Float(key, 1.5)),
                ],
                dropped: 7,
            },
            ThreadEvents {
                tid: 102,
                name: String::new(),
                events: vec![],
                dropped: 0,
            },
        ];
        let process = Process {
            pid: 4242,
            name: "pyopt-python".to_owned(),
            cmdline: vec!["pyopt-python".to_owned(), "script.py".to_owned()],
        };
        let trace = proto::Trace::decode(&encode(&process, &threads)[..]).unwrap();
        let descriptors: Vec<_> = trace
            .packet
            .iter()
            .filter_map(|p| p.track_descriptor.as_ref())
            .collect();
        // The process, the counter, the one thread with events.
        assert_eq!(descriptors.len(), 3);
        assert_eq!(descriptors[0].process.as_ref().unwrap().pid, Some(4242));
        let thread = descriptors[2].thread.as_ref().unwrap();
        assert_eq!(
            (thread.tid, thread.thread_name.as_deref()),
            (Some(101), Some("MainThread"))
        );
        let events: Vec<_> = trace
            .packet
            .iter()
            .filter_map(|p| p.track_event.as_ref().map(|e| (p.timestamp.unwrap(), e)))
            .collect();
        let kinds: Vec<_> = events.iter().map(|(_, e)| e.r#type()).collect();
        assert_eq!(
            kinds,
            [
                Type::Instant, // the lost events
                Type::SliceBegin,
                Type::SliceBegin,
                Type::SliceEnd,
                Type::Counter,
                Type::Instant,
                Type::SliceEnd, // "compile", closed at the end
            ]
        );
        assert_eq!(events[0].1.debug_annotations[0].int_value, Some(7));
        assert_eq!(events[4].1.counter_value, Some(3));
        assert_eq!(events[6].0, 30);
        let names = &trace.packet[2].interned_data.as_ref().unwrap().event_names;
        let compile = names
            .iter()
            .find(|n| n.name.as_deref() == Some("compile"))
            .unwrap();
        assert_eq!(events[1].1.name_iid, compile.iid);
        assert_eq!(
            events[1].1.debug_annotations[0].string_value.as_deref(),
            Some("(int)")
        );
        let timestamps: Vec<u64> = events.iter().map(|(ts, _)| *ts).collect();
        assert!(
            timestamps.windows(2).all(|w| w[0] <= w[1]),
            "{timestamps:?}"
        );
    }
}
