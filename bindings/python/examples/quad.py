"""quad.py: one small walstore program, written the same way in C
(examples-c/quad.c), C++ (examples-cpp/quad.cpp), Go (bindings/go/cmd/quad)
and Python. All four print exactly examples-c/quad.expected; `make quad`
checks that (README.md).

Usage: python3 quad.py DIR (a directory that does not exist yet, or a new
store).
"""

import sys

import walstore


def main(path):
    with walstore.Store(path) as s:  # closes on the way out, even after an error
        # Three ids in one batch: one write, all or nothing after a crash.
        s.store_batch([(1, b"one"), (2, b"two"), (3, b"three")])
        print("stored ids 1, 2, 3 in one batch")

        print(f'id 2 reads "{s.retrieve(2).decode()}"')

        s.delete(1)
        print("deleted id 1")

        with s.items() as cursor:
            for id, payload in cursor:
                print(f"live id {id}: {len(payload)} bytes")

        st = s.stats()
        print(f"stats: {st.live_ids} live ids, {st.log_bytes} log bytes")

        s.compact()
        st = s.stats()
        print(f"compacted: generation {st.generation}, {st.live_ids} live ids, {st.log_bytes} log bytes")
    print("closed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DIR")
    try:
        main(sys.argv[1])
    except walstore.Error as e:
        sys.exit(f"{type(e).__name__}: {e.message}")
