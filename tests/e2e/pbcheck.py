#!/usr/bin/env python3
"""pbcheck.py FILE.pb.gz - check a pprof file at the wire level, strictly.

go tool pprof decodes leniently; Go's protobuf libraries (used by Parca,
Pyroscope) refuse a string that is not UTF-8.  So: the file is one gzip
member, it parses as protobuf to the end, every string_table entry (field 6)
and every nested length-delimited field is in bounds, string_table[0] is
"", and every string is valid UTF-8.  Prints "ok N strings"; exit 1 on the
first problem.
"""
import gzip
import sys


def varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("varint past the end")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i
        if shift > 63:
            raise ValueError("varint too long")


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
            yield field, wire, v
        elif wire == 2:
            n, i = varint(b, i)
            if i + n > len(b):
                raise ValueError(f"field {field}: length {n} past the end")
            yield field, wire, b[i:i + n]
            i += n
        else:
            raise ValueError(f"field {field}: wire type {wire} is not in profile.proto")


def main():
    data = gzip.open(sys.argv[1]).read()
    strings = []
    nested = {2, 3, 4, 5, 1, 11}  # sample, mapping, location, function, value types
    for field, wire, v in fields(data):
        if field == 6:
            strings.append(v.decode("utf-8"))  # raises on invalid UTF-8
        elif field in nested and wire == 2:
            for _ in fields(v):
                pass
    if not strings or strings[0] != "":
        raise ValueError("string_table[0] is not empty")
    print(f"ok {len(strings)} strings")


try:
    main()
except Exception as e:  # noqa: BLE001 - any failure is the test's failure
    print(f"pbcheck: {sys.argv[1]}: {e}", file=sys.stderr)
    sys.exit(1)
