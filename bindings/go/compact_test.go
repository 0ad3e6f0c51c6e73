package walstore

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func stats(t *testing.T, s *Store) Stats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// waitStats polls Stats every millisecond, for at most 30 s, until done.
func waitStats(t *testing.T, s *Store, done func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	st := stats(t, s)
	for !done(st) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		st = stats(t, s)
	}
	if !done(st) {
		t.Fatalf("timed out; stats %+v", st)
	}
	return st
}

// readAll drains an iterator into a map, checking id order.
func readAll(t *testing.T, it *Iter) map[uint64][]byte {
	t.Helper()
	got := map[uint64][]byte{}
	var last uint64
	for {
		e, ok, err := it.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if !ok {
			return got
		}
		if len(got) > 0 && e.ID <= last {
			t.Fatalf("Next: id %d after %d", e.ID, last)
		}
		if e.Data == nil {
			t.Fatalf("Next: nil payload for id %d", e.ID)
		}
		last = e.ID
		got[e.ID] = e.Data
	}
}

func value(id uint64, version, n int) []byte {
	return bytes.Repeat([]byte{byte(int(id)*10 + version)}, n)
}

func TestStatsOfANewStore(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if st, want := stats(t, s), (Stats{LogBytes: fileHeader, Generation: 1}); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	mustStore(t, s, 1, make([]byte, 10)) // 42 bytes, dead once replaced
	mustStore(t, s, 1, make([]byte, 5))  // 37 bytes
	want := Stats{LiveIDs: 1, LiveBytes: 5, LogBytes: 64 + 42 + 37, DeadBytes: 42, DeadRatio: 42.0 / 79.0, Generation: 1}
	if st := stats(t, s); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ids 1..10 written twice (100 bytes: 132 on disk), 9 and 10 deleted
	// (32 each): sequence numbers 1..22.
	want := map[uint64][]byte{}
	for version := 1; version <= 2; version++ {
		for id := uint64(1); id <= 10; id++ {
			mustStore(t, s, id, value(id, version, 100))
			want[id] = value(id, version, 100)
		}
	}
	for _, id := range []uint64{9, 10} {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
		delete(want, id)
	}
	before := Stats{LiveIDs: 8, LiveBytes: 800, LogBytes: 64 + 20*132 + 2*32, DeadBytes: 12*132 + 2*32, Generation: 1}
	before.DeadRatio = float64(before.DeadBytes) / float64(before.LogBytes-64)
	if st := stats(t, s); st != before {
		t.Fatalf("Stats before = %+v, want %+v", st, before)
	}
	old, err := s.Iter() // opened before: reads its point in time after
	if err != nil {
		t.Fatal(err)
	}
	if old.Seq() != 22 {
		t.Fatalf("Seq = %d, want 22", old.Seq())
	}

	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after := Stats{LiveIDs: 8, LiveBytes: 800, LogBytes: 64 + 8*132, Generation: 2}
	if st := stats(t, s); st != after {
		t.Fatalf("Stats after = %+v, want %+v", st, after)
	}
	if _, err := os.Stat(filepath.Join(dir, logName)); !os.IsNotExist(err) {
		t.Fatalf("generation 1 is still there: %v", err)
	}
	if n := fileSize(t, filepath.Join(dir, "wal-0000000000000002.log")); n != 64+8*132 {
		t.Fatalf("generation 2 is %d bytes, want %d", n, 64+8*132)
	}
	check := func(s *Store) {
		t.Helper()
		for id := uint64(1); id <= 8; id++ {
			wantPayload(t, s, id, want[id])
		}
		wantNotFound(t, s, 9)
		wantNotFound(t, s, 10)
	}
	check(s)
	if got := readAll(t, old); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the iterator from before the compaction read %v", got)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	if it.Seq() != 22 {
		t.Fatalf("Seq after the compaction = %d, want 22 (numbering is kept)", it.Seq())
	}
	it.Close()
	mustStore(t, s, 11, []byte("eleven"))
	want[11] = []byte("eleven")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	if r := s.OpenReport(); r.RecordsReplayed != 9 {
		t.Fatalf("RecordsReplayed = %d, want 9", r.RecordsReplayed)
	}
	check(s)
	wantPayload(t, s, 11, []byte("eleven"))
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s); st.Generation != 3 || st.LogBytes != 64+8*132+38 || st.DeadBytes != 0 {
		t.Fatalf("Stats after the second compaction = %+v", st)
	}
	it, err = s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	if it.Seq() != 23 {
		t.Fatalf("Seq = %d, want 23", it.Seq())
	}
	if got := readAll(t, it); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Iter read %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro := open(t, dir, &Options{ReadOnly: true})
	err = ro.Compact()
	wantErr(t, err, ErrInvalidArgument, "Compact")
	if msg := err.(*Error).Message; msg != "wal_compact: invalid argument: compact refused: the store in "+dir+" was opened read-only" {
		t.Fatalf("Message = %q", msg)
	}
	if st := stats(t, ro); st.Generation != 3 || st.AutoCompactions != 0 || st.LastAutoCompactionError != "" {
		t.Fatalf("Stats on the read-only store = %+v", st)
	}
}

func TestIter(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	empty, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := empty.Next(); ok || err != nil || empty.Seq() != 0 {
		t.Fatalf("Next on an empty store: %v, %v; Seq %d", ok, err, empty.Seq())
	}
	mustStore(t, s, 5, []byte("five"))
	mustStore(t, s, 1, []byte("one"))
	mustStore(t, s, 3, nil)
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 2, []byte("two")) // later writes do not show
	if err := s.Delete(5); err != nil {
		t.Fatal(err)
	}
	if it.Seq() != 3 {
		t.Fatalf("Seq = %d, want 3", it.Seq())
	}
	want := []Entry{{1, []byte("one")}, {3, []byte{}}, {5, []byte("five")}}
	for _, w := range want {
		e, ok, err := it.Next()
		if err != nil || !ok || e.ID != w.ID || !bytes.Equal(e.Data, w.Data) || e.Data == nil {
			t.Fatalf("Next = %+v, %v, %v; want %+v", e, ok, err, w)
		}
	}
	if _, ok, err := it.Next(); ok || err != nil {
		t.Fatalf("Next at the end: %v, %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		if err := it.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, _, err := it.Next(); err != ErrClosed {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if it.Seq() != 3 {
		t.Fatalf("Seq after Close = %d", it.Seq())
	}
	var nilIter *Iter
	if _, _, err := nilIter.Next(); err != ErrClosed || nilIter.Close() != nil || nilIter.Seq() != 0 {
		t.Fatal("a nil *Iter is not a closed one")
	}

	// Store.Close frees the iterators still open (empty, here): no leak,
	// no use after free, and Next says ErrClosed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := empty.Next(); err != ErrClosed {
		t.Fatalf("Next after Store.Close: %v, want ErrClosed", err)
	}
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Iter(); err != ErrClosed {
		t.Fatalf("Iter after Close: %v", err)
	}
	if err := s.Compact(); err != ErrClosed {
		t.Fatalf("Compact after Close: %v", err)
	}
	if _, err := s.Stats(); err != ErrClosed {
		t.Fatalf("Stats after Close: %v", err)
	}
}

func TestAutoCompactOption(t *testing.T) {
	for _, c := range []struct {
		ratio float64
		shown string
	}{{-0.5, "-0.5"}, {1, "1"}, {1.5, "1.5"}, {math.NaN(), "NaN"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}} {
		_, err := Open(t.TempDir(), &Options{AutoCompact: &AutoCompact{DeadRatio: c.ratio}})
		wantErr(t, err, ErrInvalidArgument, "Open")
		want := "wal_options_set_auto_compact: invalid argument: dead-byte ratio " + c.shown +
			" for automatic compaction is outside [0, 1)"
		if msg := err.(*Error).Message; msg != want {
			t.Fatalf("Message = %q, want %q", msg, want)
		}
	}

	// Six rounds of 200 payloads of 1000 bytes: 1.24 MB, 83% dead. The
	// ratio is looked at once per MiB of log growth.
	rounds := func(s *Store) {
		for version := 1; version <= 6; version++ {
			for id := uint64(0); id < 200; id++ {
				mustStore(t, s, id, value(id, version, 1000))
			}
		}
	}
	on := open(t, t.TempDir(), &Options{Durability: DurabilityFlush, AutoCompact: &AutoCompact{DeadRatio: 0.5, MinLogBytes: 256 << 10}})
	rounds(on)
	st := waitStats(t, on, func(s Stats) bool { return s.AutoCompactions >= 1 })
	if st.Generation != 1+st.AutoCompactions || st.AutoCompactionFailures != 0 || st.LastAutoCompactionError != "" || st.LogBytes >= 1<<20 {
		t.Fatalf("Stats = %+v", st)
	}
	for id := uint64(0); id < 200; id++ {
		wantPayload(t, on, id, value(id, 6, 1000))
	}

	off := open(t, t.TempDir(), &Options{Durability: DurabilityFlush, AutoCompact: &AutoCompact{}})
	rounds(off)
	if st := stats(t, off); st.Generation != 1 || st.AutoCompactions != 0 || st.LogBytes != 64+6*200*1032 {
		t.Fatalf("Stats with automatic compaction off = %+v", st)
	}
}

// eisdir is the library's message for a failed removal of path, a
// directory: Rust shows the C library's strerror (Go's own text for EISDIR
// is lower-case).
func eisdir(path string) string {
	return fmt.Sprintf("remove %s: Is a directory (os error %d)", path, int(syscall.EISDIR))
}

// A directory where a compaction's temporary log (or a snapshot's
// temporary file) goes makes it fail, even for root: unlinking a directory
// gives EISDIR. The failure is counted, its message kept.
func TestAutomaticFailuresAndTheirMessages(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "wal-0000000000000002.log.tmp")
	cause := eisdir(blocker)
	s := open(t, dir, &Options{Durability: DurabilityFlush, SnapshotThreshold: SnapshotThresholdNever,
		AutoCompact: &AutoCompact{DeadRatio: 0.5, MinLogBytes: 256 << 10}})
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 0, []byte("zero"))
	err := s.Compact()
	wantErr(t, err, ErrIO, "Compact")
	if msg := err.(*Error).Message; msg != "wal_compact: "+cause {
		t.Fatalf("Message = %q, want %q", msg, "wal_compact: "+cause)
	}
	if st := stats(t, s); st.AutoCompactionFailures != 0 || st.LastAutoCompactionError != "" {
		t.Fatalf("a manual compaction was counted: %+v", st)
	}
	for version := 1; version <= 6; version++ {
		for id := uint64(0); id < 200; id++ {
			mustStore(t, s, id, value(id, version, 1000))
		}
	}
	st := waitStats(t, s, func(s Stats) bool { return s.AutoCompactionFailures >= 1 })
	if st.AutoCompactions != 0 || st.Generation != 1 || st.LastAutoCompactionError != cause || st.LastAutoSnapshotError != "" {
		t.Fatalf("Stats = %+v, want the failure %q", st, cause)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s); st.Generation != 2 || st.LogBytes != 64+200*1032 || st.LastAutoCompactionError != cause {
		t.Fatalf("Stats after a compaction = %+v", st)
	}

	// A snapshot threshold of 100: the first 68-byte store, which ends at
	// 0xa4, starts an automatic snapshot for that position.
	dir = t.TempDir()
	blocker = filepath.Join(dir, "snapshot-0000000000000001-00000000000000a4.snap.tmp")
	cause = eisdir(blocker)
	s = open(t, dir, &Options{SnapshotThreshold: 100})
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 1, make([]byte, 68))
	st = waitStats(t, s, func(s Stats) bool { return s.AutoSnapshotFailures >= 1 })
	if st.AutoSnapshotFailures != 1 || st.AutoSnapshots != 0 || st.LastAutoSnapshotError != cause || st.LastAutoCompactionError != "" {
		t.Fatalf("Stats = %+v, want the failure %q", st, cause)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
}
