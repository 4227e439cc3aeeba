"""Checks of Perfetto traces, shared by the tests that record them: decoding against
Perfetto's official schema (the `perfetto` PyPI package's perfetto_trace_pb2, and
`protoc --decode` with a descriptor set exported from it) with no unknown fields, and a
structural check (tracks declared before use, interned ids defined, slices balanced per
track, flows closed, timestamps rising per sequence)."""

import pathlib
import re
import shutil
import subprocess

from google.protobuf import descriptor_pb2
from google.protobuf.unknown_fields import UnknownFieldSet
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as perfetto

BEGIN, END, INSTANT, COUNTER = 1, 2, 3, 4


def no_unknown_fields(message, path="Trace"):
    assert not UnknownFieldSet(message), f"unknown fields in {path}"
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        values = value if field.is_repeated else [value]
        for item in values:
            no_unknown_fields(item, f"{path}.{field.name}")


def protoc_decode(path):
    """Decodes a trace with `protoc --decode` against a descriptor set exported from the
    perfetto package's schema; fails on a decode error or any field the schema does not
    know (protoc prints those by number)."""
    protoc = shutil.which("protoc")
    assert protoc, "protoc is missing: scripts/test.sh installs Debian's protobuf-compiler"
    files, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(file):  # dependencies first, as protoc wants them
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())

    add(perfetto.DESCRIPTOR)
    descriptors = pathlib.Path(path).with_suffix(".descriptors")
    descriptors.write_bytes(files.SerializeToString())
    with open(path, "rb") as trace:
        done = subprocess.run([protoc, "--decode=perfetto.protos.Trace",
                               f"--descriptor_set_in={descriptors}"],
                              stdin=trace, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    unknown = [line for line in done.stdout.splitlines() if re.match(r"\s*\d+[:\s{]", line)]
    assert not unknown, f"fields unknown to Perfetto's schema: {unknown[:5]}"
    assert "track_event {" in done.stdout
    return done.stdout


def load(path, flows_closed=True):
    """Decodes and checks a trace; returns its slices, instants and counters. Flows may
    go to other processes when ``flows_closed`` is false (one process's file)."""
    trace = perfetto.Trace()
    trace.ParseFromString(pathlib.Path(path).read_bytes())
    no_unknown_fields(trace)
    tracks, interned, open_slices, last_ts = {}, {}, {}, {}
    events, flows_started, flows_ended = [], [], []
    for packet in trace.packet:
        sequence = packet.trusted_packet_sequence_id
        assert sequence, "every packet names its sequence"
        if packet.HasField("interned_data"):
            assert packet.sequence_flags & 1, "interned data comes with a cleared state"
            names = interned.setdefault(sequence, {})
            for kind in ("event_names", "event_categories", "debug_annotation_names"):
                for entry in getattr(packet.interned_data, kind):
                    names[(kind, entry.iid)] = entry.name
        if packet.HasField("track_descriptor"):
            descriptor = packet.track_descriptor
            assert descriptor.uuid not in tracks, "a track is declared once"
            if descriptor.HasField("parent_uuid"):
                assert descriptor.parent_uuid in tracks, "parents are declared first"
            tracks[descriptor.uuid] = descriptor
        if not packet.HasField("track_event"):
            continue
        event = packet.track_event
        assert event.track_uuid in tracks, "events use declared tracks"
        assert packet.timestamp >= last_ts.get(sequence, 0), "timestamps rise"
        last_ts[sequence] = packet.timestamp
        names = interned[sequence]
        for iid in event.category_iids:
            assert ("event_categories", iid) in names
        name = names[("event_names", event.name_iid)] if event.name_iid else None
        args = {}
        for annotation in event.debug_annotations:
            key = names[("debug_annotation_names", annotation.name_iid)]
            args[key] = annotation.string_value or annotation.int_value
        flows_started.extend(event.flow_ids)
        flows_ended.extend(event.terminating_flow_ids)
        stack = open_slices.setdefault(event.track_uuid, [])
        if event.type == BEGIN:
            stack.append(name)
        elif event.type == END:
            assert stack, "an end closes an open slice"
            name = stack.pop()
        events.append((event.type, name, len(stack), args, event.track_uuid))
    assert all(not stack for stack in open_slices.values()), "every slice ends"
    if flows_closed:
        assert sorted(flows_started) == sorted(flows_ended), "every flow ends once"
    return tracks, events

