package walstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The log of a store created by this version, and where its records start:
// a 64-byte file header, then records of a 32-byte header and the payload
// (docs/FORMAT.md).
const (
	logName      = "wal-0000000000000001.log"
	fileHeader   = 64
	recordHeader = 32
	// The first byte of the first record's payload.
	firstPayload = fileHeader + recordHeader
)

var sentinels = []struct {
	name   string
	err    *Error
	status int
	text   string
}{
	{"ErrNotFound", ErrNotFound, 1, "not found"},
	{"ErrInvalidArgument", ErrInvalidArgument, 2, "invalid argument"},
	{"ErrBufferTooSmall", ErrBufferTooSmall, 3, "buffer too small"},
	{"ErrIO", ErrIO, 4, "I/O error"},
	{"ErrNoSpace", ErrNoSpace, 5, "no space left on device"},
	{"ErrCorruption", ErrCorruption, 6, "corruption"},
	{"ErrLocked", ErrLocked, 7, "store is locked by another open"},
	{"ErrIncompatible", ErrIncompatible, 8, "incompatible file or format version"},
	{"ErrPoisoned", ErrPoisoned, 9, "handle poisoned by an earlier failure; reopen the store"},
	{"ErrPanic", ErrPanic, 10, "panic inside walstore"},
	{"ErrCompacted", ErrCompacted, 11, "sequence number folded away by compaction"},
}

// wantErr checks that err is an *Error from op with exactly the status of
// want, that errors.Is matches want and no other sentinel, and that the
// library supplied a message.
func wantErr(t *testing.T, err error, want *Error, op string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v (%T), want an *Error with status %d", op, err, err, want.Status)
	}
	if e.Status != want.Status || e.Op != op {
		t.Fatalf("got status %d op %q (%v), want status %d op %q", e.Status, e.Op, err, want.Status, op)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s.err); got != (s.err == want) {
			t.Fatalf("errors.Is(%v, %s) = %v", err, s.name, got)
		}
	}
	if errors.Is(err, ErrClosed) {
		t.Fatalf("errors.Is(%v, ErrClosed) = true", err)
	}
	if e.Message == "" {
		t.Fatalf("%s: status %d without a message from wal_last_error", op, e.Status)
	}
}

func open(t *testing.T, dir string, opts *Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustStore(t *testing.T, s *Store, id uint64, data []byte) {
	t.Helper()
	if err := s.Store(id, data); err != nil {
		t.Fatalf("Store(%d): %v", id, err)
	}
}

func wantPayload(t *testing.T, s *Store, id uint64, want []byte) {
	t.Helper()
	got, err := s.Retrieve(id)
	if err != nil {
		t.Fatalf("Retrieve(%d): %v", id, err)
	}
	if got == nil || !bytes.Equal(got, want) {
		t.Fatalf("Retrieve(%d) = %q (nil: %v), want %q", id, got, got == nil, want)
	}
}

func wantNotFound(t *testing.T, s *Store, id uint64) {
	t.Helper()
	got, err := s.Retrieve(id)
	wantErr(t, err, ErrNotFound, "Retrieve")
	if got != nil {
		t.Fatalf("Retrieve(%d) returned %q with its error", id, got)
	}
}

func logPosition(t *testing.T, s *Store) uint64 {
	t.Helper()
	p, err := s.LogPosition()
	if err != nil {
		t.Fatalf("LogPosition: %v", err)
	}
	return p
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// writtenSize is the size of the file up to its last non-zero byte. An open
// store's log runs a preallocation step (1 MiB) ahead of its records, in
// zeros; the records written here all end with a non-zero byte.
func writtenSize(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(bytes.TrimRight(b, "\x00")))
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestVersion(t *testing.T) {
	v, major, minor, patch := Version()
	if major != HeaderVersionMajor || minor != HeaderVersionMinor || patch != HeaderVersionPatch {
		t.Fatalf("library %d.%d.%d, header %d.%d.%d", major, minor, patch,
			HeaderVersionMajor, HeaderVersionMinor, HeaderVersionPatch)
	}
	if want := fmt.Sprintf("%d.%d.%d", major, minor, patch); v != want {
		t.Fatalf("Version() = %q, want %q", v, want)
	}
}

func TestStatusText(t *testing.T) {
	if got := StatusText(StatusOK); got != "ok" {
		t.Fatalf("StatusText(0) = %q", got)
	}
	for _, s := range sentinels {
		if got := StatusText(s.status); got != s.text {
			t.Errorf("StatusText(%d) = %q, want %q", s.status, got, s.text)
		}
	}
	for _, st := range []int{12, -1, 1 << 40} {
		if got := StatusText(st); got != "unknown status" {
			t.Errorf("StatusText(%d) = %q, want %q", st, got, "unknown status")
		}
	}
}

func TestErrorValues(t *testing.T) {
	for _, s := range sentinels {
		if s.err.Status != s.status {
			t.Fatalf("%s.Status = %d, want %d", s.name, s.err.Status, s.status)
		}
		if got, want := s.err.Error(), "walstore: "+s.text; got != want {
			t.Fatalf("%s.Error() = %q, want %q", s.name, got, want)
		}
		e := &Error{Status: s.status, Op: "Store", Message: "wal_store: details"}
		if got, want := e.Error(), "walstore: Store: "+s.text+": wal_store: details"; got != want {
			t.Fatalf("Error() = %q, want %q", got, want)
		}
		wrapped := fmt.Errorf("context: %w", e)
		for _, o := range sentinels {
			if got := errors.Is(wrapped, o.err); got != (o.status == s.status) {
				t.Fatalf("errors.Is(%v, %s) = %v", wrapped, o.name, got)
			}
		}
		if errors.Is(e, ErrClosed) {
			t.Fatalf("errors.Is(%v, ErrClosed)", e)
		}
		// Only sentinels match by status: two detailed errors do not.
		if errors.Is(e, &Error{Status: s.status, Op: "Delete", Message: "x"}) {
			t.Fatalf("a detailed error matched another detailed error")
		}
	}
	if errors.Is(ErrClosed, ErrNotFound) {
		t.Fatal("errors.Is(ErrClosed, ErrNotFound)")
	}
	var nilErr *Error
	if (&Error{Status: 1}).Is(nilErr) {
		t.Fatal("an *Error matched a nil *Error")
	}
}

func TestStoreRetrieveDelete(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if got := logPosition(t, s); got != fileHeader {
		t.Fatalf("new store: LogPosition = %d, want %d", got, fileHeader)
	}
	mustStore(t, s, 1, []byte("hello"))
	if got := logPosition(t, s); got != fileHeader+recordHeader+5 {
		t.Fatalf("LogPosition = %d, want %d", got, fileHeader+recordHeader+5)
	}
	mustStore(t, s, 0, []byte("id zero"))
	mustStore(t, s, math.MaxUint64, []byte("id max"))
	wantPayload(t, s, 1, []byte("hello"))
	wantPayload(t, s, 0, []byte("id zero"))
	wantPayload(t, s, math.MaxUint64, []byte("id max"))
	wantNotFound(t, s, 2)

	// Replacing.
	mustStore(t, s, 1, []byte("hello, again"))
	wantPayload(t, s, 1, []byte("hello, again"))

	// The store copies the caller's bytes before returning.
	buf := []byte("original")
	mustStore(t, s, 3, buf)
	copy(buf, "XXXXXXXX")
	wantPayload(t, s, 3, []byte("original"))

	// Retrieve returns a fresh copy each time.
	got, _ := s.Retrieve(3)
	got[0] = 'Z'
	wantPayload(t, s, 3, []byte("original"))

	// Delete writes a 32-byte tombstone; deleting a missing id writes nothing.
	before := logPosition(t, s)
	if err := s.Delete(1); err != nil {
		t.Fatalf("Delete(1): %v", err)
	}
	if got := logPosition(t, s); got != before+recordHeader {
		t.Fatalf("after Delete: LogPosition = %d, want %d", got, before+recordHeader)
	}
	wantNotFound(t, s, 1)
	before = logPosition(t, s)
	wantErr(t, s.Delete(1), ErrNotFound, "Delete")
	wantErr(t, s.Delete(42), ErrNotFound, "Delete")
	if got := logPosition(t, s); got != before {
		t.Fatalf("a failed Delete moved the log from %d to %d", before, got)
	}
	// A deleted id can be stored again.
	mustStore(t, s, 1, []byte("back"))
	wantPayload(t, s, 1, []byte("back"))
}

func TestZeroLengthPayloads(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	mustStore(t, s, 1, nil)
	mustStore(t, s, 2, []byte{})
	if got := logPosition(t, s); got != fileHeader+2*recordHeader {
		t.Fatalf("LogPosition = %d, want %d", got, fileHeader+2*recordHeader)
	}
	wantPayload(t, s, 1, []byte{})
	wantPayload(t, s, 2, []byte{})
	n, err := s.RetrieveInto(1, nil)
	if n != 0 || err != nil {
		t.Fatalf("RetrieveInto(1, nil) = %d, %v; want 0, nil", n, err)
	}
	if err := s.StoreBatch([]Entry{{ID: 3, Data: nil}, {ID: 4, Data: []byte{}}}); err != nil {
		t.Fatalf("StoreBatch: %v", err)
	}
	wantPayload(t, s, 3, []byte{})
	wantPayload(t, s, 4, []byte{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	for id := uint64(1); id <= 4; id++ {
		wantPayload(t, s, id, []byte{})
	}
}

func TestRetrieveInto(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	mustStore(t, s, 7, []byte("0123456789"))

	n, err := s.RetrieveInto(7, nil) // size query
	wantErr(t, err, ErrBufferTooSmall, "RetrieveInto")
	if n != 10 {
		t.Fatalf("size query: n = %d, want 10", n)
	}
	small := []byte("abcdefghi")
	n, err = s.RetrieveInto(7, small)
	wantErr(t, err, ErrBufferTooSmall, "RetrieveInto")
	if n != 10 || string(small) != "abcdefghi" {
		t.Fatalf("too small: n = %d, buf %q; want 10 and the buffer untouched", n, small)
	}
	exact := make([]byte, 10)
	n, err = s.RetrieveInto(7, exact)
	if err != nil || n != 10 || string(exact) != "0123456789" {
		t.Fatalf("exact: %d, %v, %q", n, err, exact)
	}
	big := bytes.Repeat([]byte{'.'}, 16)
	n, err = s.RetrieveInto(7, big)
	if err != nil || n != 10 || string(big) != "0123456789......" {
		t.Fatalf("big: %d, %v, %q", n, err, big)
	}
	n, err = s.RetrieveInto(8, big)
	wantErr(t, err, ErrNotFound, "RetrieveInto")
	if n != 0 {
		t.Fatalf("not found: n = %d", n)
	}
}

func TestLargePayload(t *testing.T) {
	s := open(t, t.TempDir(), &Options{Durability: DurabilityFlush})
	big := pattern(1, 3<<20+17)
	mustStore(t, s, 1, big)
	wantPayload(t, s, 1, big)
	other := pattern(2, 1<<20)
	if err := s.StoreBatch([]Entry{{ID: 2, Data: other}, {ID: 3, Data: big}}); err != nil {
		t.Fatal(err)
	}
	wantPayload(t, s, 2, other)
	wantPayload(t, s, 3, big)
}

func TestStoreBatch(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)

	// Empty batches are no-ops that write nothing.
	for _, empty := range [][]Entry{nil, {}} {
		if err := s.StoreBatch(empty); err != nil {
			t.Fatalf("StoreBatch(%#v): %v", empty, err)
		}
	}
	if got := logPosition(t, s); got != fileHeader {
		t.Fatalf("empty batches moved the log to %d", got)
	}

	// n >= 2 entries: begin record, the entries, commit record.
	entries := []Entry{
		{ID: 1, Data: []byte("one")},
		{ID: 2, Data: []byte("two")},
		{ID: 1, Data: []byte("one, later")}, // the later entry wins
		{ID: 3, Data: []byte("three")},
	}
	if err := s.StoreBatch(entries); err != nil {
		t.Fatal(err)
	}
	want := uint64(fileHeader + recordHeader + (recordHeader + 3) + (recordHeader + 3) +
		(recordHeader + 10) + (recordHeader + 5) + recordHeader)
	if got := logPosition(t, s); got != want {
		t.Fatalf("LogPosition = %d, want %d", got, want)
	}
	// The batch was copied: changing the caller's slices changes nothing.
	copy(entries[1].Data, "TWO")
	entries[3].ID = 99
	wantPayload(t, s, 1, []byte("one, later"))
	wantPayload(t, s, 2, []byte("two"))
	wantPayload(t, s, 3, []byte("three"))
	wantNotFound(t, s, 99)

	// A batch of one is a plain record.
	before := logPosition(t, s)
	if err := s.StoreBatch([]Entry{{ID: 4, Data: []byte("four")}}); err != nil {
		t.Fatal(err)
	}
	if got := logPosition(t, s); got != before+recordHeader+4 {
		t.Fatalf("batch of one: LogPosition = %d, want %d", got, before+recordHeader+4)
	}

	// Same id twice, later wins, survives a reopen too.
	if err := s.StoreBatch([]Entry{{ID: 5, Data: []byte("first")}, {ID: 5, Data: []byte("second")}}); err != nil {
		t.Fatal(err)
	}
	wantPayload(t, s, 5, []byte("second"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	// Replayed: 4 + 1 + 2 store records (framing records are not counted).
	if got := s.OpenReport().RecordsReplayed; got != 7 {
		t.Fatalf("RecordsReplayed = %d, want 7", got)
	}
	wantPayload(t, s, 1, []byte("one, later"))
	wantPayload(t, s, 2, []byte("two"))
	wantPayload(t, s, 3, []byte("three"))
	wantPayload(t, s, 4, []byte("four"))
	wantPayload(t, s, 5, []byte("second"))
}

func TestOversizedPayload(t *testing.T) {
	s := open(t, t.TempDir(), &Options{MaxPayload: 16})
	mustStore(t, s, 1, make([]byte, 16))
	before := logPosition(t, s)
	wantErr(t, s.Store(2, make([]byte, 17)), ErrInvalidArgument, "Store")
	wantNotFound(t, s, 2)
	// One oversized entry rejects the whole batch before anything is written.
	err := s.StoreBatch([]Entry{{ID: 3, Data: []byte("fine")}, {ID: 4, Data: make([]byte, 17)}})
	wantErr(t, err, ErrInvalidArgument, "StoreBatch")
	wantNotFound(t, s, 3)
	wantNotFound(t, s, 4)
	if got := logPosition(t, s); got != before {
		t.Fatalf("rejected writes moved the log from %d to %d", before, got)
	}
	// The store stays usable.
	mustStore(t, s, 2, []byte("small"))
	wantPayload(t, s, 2, []byte("small"))
}

func TestOpenInvalidOptions(t *testing.T) {
	base := t.TempDir()
	cases := []struct {
		name string
		dir  string
		opts *Options
	}{
		{"empty dir", "", nil},
		{"NUL in dir", filepath.Join(base, "a\x00b"), nil},
		{"MaxPayload negative", filepath.Join(base, "c1"), &Options{MaxPayload: -1}},
		{"MaxPayload 4 GiB", filepath.Join(base, "c2"), &Options{MaxPayload: 1 << 32}},
		{"WriteBuffer negative", filepath.Join(base, "c3"), &Options{WriteBuffer: -1}},
		{"WriteBuffer over 1 GiB", filepath.Join(base, "c4"), &Options{WriteBuffer: 1<<30 + 1}},
		{"unknown durability", filepath.Join(base, "c5"), &Options{Durability: 3}},
		{"unknown recovery mode", filepath.Join(base, "c6"), &Options{RecoveryMode: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.dir, c.opts)
			wantErr(t, err, ErrInvalidArgument, "Open")
			if s != nil {
				t.Fatalf("Open returned a store with its error")
			}
			if c.dir != "" && !strings.ContainsRune(c.dir, 0) {
				if _, err := os.Lstat(c.dir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a rejected open touched %s: %v", c.dir, err)
				}
			}
		})
	}
	// The largest accepted values open fine.
	s := open(t, filepath.Join(base, "max"), &Options{MaxPayload: 1<<32 - 1, WriteBuffer: 1 << 30})
	mustStore(t, s, 1, []byte("x"))
}

func TestDurabilityLevels(t *testing.T) {
	for _, d := range []Durability{DurabilityFsync, DurabilityFlush, DurabilityNone} {
		t.Run(fmt.Sprint(d), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, &Options{Durability: d, WriteBuffer: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for id := uint64(0); id < 20; id++ {
				mustStore(t, s, id, pattern(int64(id), int(id)*7))
			}
			if err := s.Delete(3); err != nil {
				t.Fatal(err)
			}
			// Reads see writes at every level, buffered ones included.
			wantPayload(t, s, 19, pattern(19, 19*7))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, nil)
			if got := s.OpenReport().RecordsReplayed; got != 21 {
				t.Fatalf("RecordsReplayed = %d, want 21", got)
			}
			for id := uint64(0); id < 20; id++ {
				if id == 3 {
					wantNotFound(t, s, id)
					continue
				}
				wantPayload(t, s, id, pattern(int64(id), int(id)*7))
			}
		})
	}
}

func TestSyncFlushesTheNoneBuffer(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, &Options{Durability: DurabilityNone, WriteBuffer: 1 << 20})
	logPath := filepath.Join(dir, logName)
	mustStore(t, s, 1, []byte("buffered"))
	pos := logPosition(t, s)
	if got := fileSize(t, logPath); got != fileHeader {
		t.Fatalf("before Sync the log holds %d bytes, want the %d-byte header only", got, fileHeader)
	}
	wantPayload(t, s, 1, []byte("buffered"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := writtenSize(t, logPath); got != int64(pos) {
		t.Fatalf("after Sync the log holds %d bytes, want %d", got, pos)
	}
	// A write buffer of one byte: every record goes straight out.
	dir2 := t.TempDir()
	s2 := open(t, dir2, &Options{Durability: DurabilityNone, WriteBuffer: 1})
	mustStore(t, s2, 1, []byte("direct"))
	if got, want := writtenSize(t, filepath.Join(dir2, logName)), int64(logPosition(t, s2)); got != want {
		t.Fatalf("WriteBuffer 1: the log holds %d bytes, want %d", got, want)
	}
}

func TestReopenPersistence(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.OpenReport(); r != (OpenReport{}) {
		t.Fatalf("new store: OpenReport = %+v, want all zero", r)
	}
	for id := uint64(1); id <= 50; id++ {
		mustStore(t, s, id, pattern(int64(id), int(id)))
	}
	for id := uint64(2); id <= 50; id += 2 {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	mustStore(t, s, 7, []byte("replaced"))
	pos := logPosition(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, filepath.Join(dir, logName)); got != int64(pos) {
		t.Fatalf("log is %d bytes after Close, want %d", got, pos)
	}
	s = open(t, dir, nil)
	want := OpenReport{RecordsReplayed: 50 + 25 + 1}
	if r := s.OpenReport(); r != want {
		t.Fatalf("OpenReport = %+v, want %+v", r, want)
	}
	if got := logPosition(t, s); got != pos {
		t.Fatalf("LogPosition after reopen = %d, want %d", got, pos)
	}
	for id := uint64(1); id <= 50; id++ {
		switch {
		case id == 7:
			wantPayload(t, s, id, []byte("replaced"))
		case id%2 == 0:
			wantNotFound(t, s, id)
		default:
			wantPayload(t, s, id, pattern(int64(id), int(id)))
		}
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, nil)
	wantErr(t, err, ErrLocked, "Open")
	if s2 != nil {
		t.Fatal("Open returned a store with ErrLocked")
	}
	_, err = Open(dir, &Options{ReadOnly: true})
	wantErr(t, err, ErrLocked, "Open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing releases the lock.
	s = open(t, dir, nil)
	mustStore(t, s, 1, []byte("x"))
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustStore(t, w, 1, []byte("kept"))
	pos := logPosition(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r1 := open(t, dir, &Options{ReadOnly: true})
	r2 := open(t, dir, &Options{ReadOnly: true}) // read-only opens share the lock
	wantPayload(t, r1, 1, []byte("kept"))
	wantPayload(t, r2, 1, []byte("kept"))
	wantErr(t, r1.Store(2, []byte("no")), ErrInvalidArgument, "Store")
	wantErr(t, r1.Store(1, nil), ErrInvalidArgument, "Store")
	wantErr(t, r1.StoreBatch([]Entry{{ID: 2, Data: []byte("a")}, {ID: 3, Data: []byte("b")}}), ErrInvalidArgument, "StoreBatch")
	wantErr(t, r1.StoreBatch(nil), ErrInvalidArgument, "StoreBatch") // even an empty batch
	wantErr(t, r1.Delete(1), ErrInvalidArgument, "Delete")
	wantErr(t, r1.Snapshot(), ErrInvalidArgument, "Snapshot")
	if err := r1.Sync(); err != nil { // does nothing on a read-only store
		t.Fatalf("Sync on a read-only store: %v", err)
	}
	wantPayload(t, r1, 1, []byte("kept"))
	wantNotFound(t, r1, 2)
	if got := fileSize(t, filepath.Join(dir, logName)); got != int64(pos) {
		t.Fatalf("read-only writes changed the log to %d bytes, want %d", got, pos)
	}
	_, err = Open(dir, nil)
	wantErr(t, err, ErrLocked, "Open")

	// A read-only open creates nothing: a missing directory is an I/O error.
	missing := filepath.Join(t.TempDir(), "missing")
	_, err = Open(missing, &Options{ReadOnly: true})
	wantErr(t, err, ErrIO, "Open")
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only open created %s: %v", missing, err)
	}
}

func TestOpenIOError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file, nil)
	wantErr(t, err, ErrIO, "Open")
}

func TestOpenNoSpace(t *testing.T) {
	// A log that is /dev/full: the open finds an empty log, starts it afresh,
	// and writing its header fails with ENOSPC.
	if fi, err := os.Stat("/dev/full"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skipf("no /dev/full character device here (%v)", err)
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, logName)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, nil)
	wantErr(t, err, ErrNoSpace, "Open")
}

func TestIncompatible(t *testing.T) {
	text := []byte("This is a text file that happens to carry the name of a walstore log.\nIt is not one.\n")
	for _, content := range [][]byte{text, text[:20]} {
		dir := t.TempDir()
		logPath := filepath.Join(dir, logName)
		if err := os.WriteFile(logPath, content, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, o := range []*Options{nil, {RecoveryMode: RecoverySalvage}, {RecoveryMode: RecoveryAbsolute}} {
			_, err := Open(dir, o)
			wantErr(t, err, ErrIncompatible, "Open")
		}
		got, err := os.ReadFile(logPath)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("the foreign file was changed: %q, %v", got, err)
		}
	}
}

func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, logName)
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 1, []byte("first payload"))
	mustStore(t, s, 2, []byte("second"))
	// Damage under an open store: every read checks the CRCs.
	flipByte(t, logPath, firstPayload)
	_, err = s.Retrieve(1)
	wantErr(t, err, ErrCorruption, "Retrieve")
	buf := bytes.Repeat([]byte{0xAA}, 20)
	n, err := s.RetrieveInto(1, buf)
	wantErr(t, err, ErrCorruption, "RetrieveInto")
	// The payload's 13 bytes are zeroed, never unverified bytes.
	wantBuf := append(make([]byte, 13), bytes.Repeat([]byte{0xAA}, 7)...)
	if n != 0 || !bytes.Equal(buf, wantBuf) {
		t.Fatalf("after ErrCorruption: n = %d, buf = %x; want 0 and %x", n, buf, wantBuf)
	}
	wantPayload(t, s, 2, []byte("second"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage followed by a valid record fails a STRICT and an ABSOLUTE open.
	for _, o := range []*Options{nil, {RecoveryMode: RecoveryStrict}, {RecoveryMode: RecoveryAbsolute}} {
		_, err = Open(dir, o)
		wantErr(t, err, ErrCorruption, "Open")
	}

	// SALVAGE opens, counts the damaged record, and its id reads as corrupt.
	s = open(t, dir, &Options{RecoveryMode: RecoverySalvage})
	want := OpenReport{RecordsReplayed: 2, DamagedRecords: 1}
	if r := s.OpenReport(); r != want {
		t.Fatalf("OpenReport = %+v, want %+v", r, want)
	}
	_, err = s.Retrieve(1)
	wantErr(t, err, ErrCorruption, "Retrieve")
	wantPayload(t, s, 2, []byte("second"))
	// A new write replaces the damaged id.
	mustStore(t, s, 1, []byte("repaired"))
	wantPayload(t, s, 1, []byte("repaired"))
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, logName)
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 1, []byte("complete"))
	tailAt := logPosition(t, s)
	mustStore(t, s, 2, []byte("torn record"))
	end := logPosition(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the second append: its last 3 bytes are gone.
	cut := int64(end) - 3
	if err := os.Truncate(logPath, cut); err != nil {
		t.Fatal(err)
	}
	tail := whole[tailAt:cut]

	// ABSOLUTE never cuts: the torn tail fails the open.
	_, err = Open(dir, &Options{RecoveryMode: RecoveryAbsolute})
	wantErr(t, err, ErrCorruption, "Open")

	// A read-only open reports the tail but leaves it in place.
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	want := OpenReport{RecordsReplayed: 1, TornTail: &TornTail{Offset: tailAt, Bytes: uint64(len(tail))}}
	if r := ro.OpenReport(); r.TornTail == nil || *r.TornTail != *want.TornTail || r.RecordsReplayed != 1 {
		t.Fatalf("read-only OpenReport = %+v (tail %+v), want tail %+v", r, r.TornTail, want.TornTail)
	}
	if got := fileSize(t, logPath); got != cut {
		t.Fatalf("read-only open changed the log to %d bytes, want %d", got, cut)
	}
	wantNotFound(t, ro, 2)
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	// A writable open saves the tail to a side file and cuts it.
	s = open(t, dir, nil)
	r := s.OpenReport()
	if r.TornTail == nil || r.TornTail.Offset != tailAt || r.TornTail.Bytes != uint64(len(tail)) ||
		r.RecordsReplayed != 1 || r.DamagedRecords != 0 || r.Reinitialised || r.SnapshotUsed {
		t.Fatalf("OpenReport = %+v (tail %+v)", r, r.TornTail)
	}
	if filepath.Dir(r.TornTail.SavedTo) != dir {
		t.Fatalf("SavedTo = %q, not in %s", r.TornTail.SavedTo, dir)
	}
	saved, err := os.ReadFile(r.TornTail.SavedTo)
	if err != nil || !bytes.Equal(saved, tail) {
		t.Fatalf("side file holds %x (%v), want %x", saved, err, tail)
	}
	if got := fileSize(t, logPath); got != int64(tailAt) {
		t.Fatalf("log is %d bytes after the cut, want %d", got, tailAt)
	}
	// The report is a copy: changing it changes nothing.
	r.TornTail.Offset = 0
	if got := s.OpenReport().TornTail.Offset; got != tailAt {
		t.Fatalf("OpenReport shares its TornTail: %d", got)
	}
	wantPayload(t, s, 1, []byte("complete"))
	wantNotFound(t, s, 2)
	mustStore(t, s, 2, []byte("rewritten"))
	wantPayload(t, s, 2, []byte("rewritten"))
}

func TestReinitialised(t *testing.T) {
	dir := t.TempDir()
	// A crash while the log was being created, before its header was written.
	if err := os.WriteFile(filepath.Join(dir, logName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, nil)
	want := OpenReport{Reinitialised: true}
	if r := s.OpenReport(); r != want {
		t.Fatalf("OpenReport = %+v, want %+v", r, want)
	}
	mustStore(t, s, 1, []byte("fresh"))
	wantPayload(t, s, 1, []byte("fresh"))
}

func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{SnapshotThreshold: 100, NoAutoSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.ShouldSnapshot() {
		t.Fatal("ShouldSnapshot on an empty store")
	}
	if p, err := s.SnapshotPosition(); err != nil || p != fileHeader {
		t.Fatalf("SnapshotPosition = %d, %v; want %d", p, err, fileHeader)
	}
	mustStore(t, s, 1, make([]byte, 100-recordHeader-1)) // grows the log by 99
	if s.ShouldSnapshot() {
		t.Fatal("ShouldSnapshot after 99 bytes with a threshold of 100")
	}
	mustStore(t, s, 2, nil) // 32 more
	if !s.ShouldSnapshot() {
		t.Fatal("ShouldSnapshot false after 131 bytes with a threshold of 100")
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	pos := logPosition(t, s)
	if p, err := s.SnapshotPosition(); err != nil || p != pos {
		t.Fatalf("SnapshotPosition = %d, %v; want %d", p, err, pos)
	}
	if s.ShouldSnapshot() {
		t.Fatal("ShouldSnapshot right after Snapshot")
	}
	mustStore(t, s, 3, []byte("after the snapshot"))
	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	want := OpenReport{RecordsReplayed: 2, SnapshotUsed: true, SnapshotPosition: pos}
	if r := s.OpenReport(); r != want {
		t.Fatalf("OpenReport = %+v, want %+v", r, want)
	}
	if p, err := s.SnapshotPosition(); err != nil || p != pos {
		t.Fatalf("SnapshotPosition after reopen = %d, %v; want %d", p, err, pos)
	}
	wantPayload(t, s, 1, make([]byte, 100-recordHeader-1))
	wantNotFound(t, s, 2)
	wantPayload(t, s, 3, []byte("after the snapshot"))
}

func TestSnapshotThresholds(t *testing.T) {
	never := open(t, t.TempDir(), &Options{SnapshotThreshold: SnapshotThresholdNever, Durability: DurabilityFlush})
	deflt := open(t, t.TempDir(), &Options{Durability: DurabilityFlush})
	for _, s := range []*Store{never, deflt} {
		mustStore(t, s, 1, make([]byte, 1<<20))
		if s.ShouldSnapshot() {
			t.Fatal("ShouldSnapshot after 1 MiB with the default threshold or none")
		}
	}
	one := open(t, t.TempDir(), &Options{SnapshotThreshold: 1, NoAutoSnapshot: true})
	mustStore(t, one, 1, nil)
	if !one.ShouldSnapshot() {
		t.Fatal("ShouldSnapshot false after a record with a threshold of 1")
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{SnapshotThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, 1, []byte("x"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Close(); err != nil {
			t.Fatalf("Close again: %v", err)
		}
	}
	check := func(name string, err error) {
		t.Helper()
		if err != ErrClosed {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
		for _, sn := range sentinels {
			if errors.Is(err, sn.err) {
				t.Errorf("%s after Close matches %s", name, sn.name)
			}
		}
	}
	check("Store", s.Store(1, []byte("y")))
	check("StoreBatch", s.StoreBatch([]Entry{{ID: 1}, {ID: 2}}))
	check("StoreBatch(empty)", s.StoreBatch(nil))
	got, err := s.Retrieve(1)
	check("Retrieve", err)
	if got != nil {
		t.Errorf("Retrieve after Close returned %q", got)
	}
	n, err := s.RetrieveInto(1, make([]byte, 4))
	check("RetrieveInto", err)
	if n != 0 {
		t.Errorf("RetrieveInto after Close: n = %d", n)
	}
	check("Delete", s.Delete(1))
	check("Sync", s.Sync())
	check("Snapshot", s.Snapshot())
	_, err = s.LogPosition()
	check("LogPosition", err)
	_, err = s.SnapshotPosition()
	check("SnapshotPosition", err)
	if s.ShouldSnapshot() {
		t.Error("ShouldSnapshot after Close")
	}
	if r := s.OpenReport(); r != (OpenReport{}) {
		t.Errorf("OpenReport after Close = %+v, want the report of the open", r)
	}

	// A nil *Store behaves like a closed one.
	var nilStore *Store
	check("nil Store", nilStore.Store(1, nil))
	_, err = nilStore.Retrieve(1)
	check("nil Retrieve", err)
	if err := nilStore.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
	if nilStore.ShouldSnapshot() {
		t.Error("nil ShouldSnapshot")
	}

	// The lock was released and the data kept.
	s = open(t, dir, nil)
	wantPayload(t, s, 1, []byte("x"))
}

// 8 goroutines each store, read back, replace and delete their own ids and
// read the ids that never change, with exact checks throughout.
func TestConcurrentGoroutines(t *testing.T) {
	const (
		workers = 8
		perW    = 60
		shared  = 16
	)
	dir := t.TempDir()
	s, err := Open(dir, nil) // FSYNC: concurrent writers share fdatasyncs
	if err != nil {
		t.Fatal(err)
	}
	sharedVal := func(id uint64) []byte { return []byte(fmt.Sprintf("shared-%d", id)) }
	var batch []Entry
	for id := uint64(0); id < shared; id++ {
		batch = append(batch, Entry{ID: 1<<32 + id, Data: sharedVal(id)})
	}
	if err := s.StoreBatch(batch); err != nil {
		t.Fatal(err)
	}
	key := func(w, i int) uint64 { return uint64(w)<<16 | uint64(i) }
	val := func(w, i, gen int) []byte {
		return append([]byte(fmt.Sprintf("w%d-i%d-g%d:", w, i, gen)), pattern(int64(w*1000+i*10+gen), i%50)...)
	}

	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			errs <- func() error {
				for i := 0; i < perW; i++ {
					id := key(w, i)
					if err := s.Store(id, val(w, i, 0)); err != nil {
						return err
					}
					if got, err := s.Retrieve(id); err != nil || !bytes.Equal(got, val(w, i, 0)) {
						return fmt.Errorf("Retrieve(%x) = %q, %v", id, got, err)
					}
					sh := 1<<32 + uint64((w+i)%shared)
					if got, err := s.Retrieve(sh); err != nil || !bytes.Equal(got, sharedVal(sh-1<<32)) {
						return fmt.Errorf("Retrieve(shared %x) = %q, %v", sh, got, err)
					}
					switch i % 3 {
					case 0: // replace with a batch
						e := []Entry{{ID: id, Data: []byte("tmp")}, {ID: id, Data: val(w, i, 1)}}
						if err := s.StoreBatch(e); err != nil {
							return err
						}
					case 1: // delete
						if err := s.Delete(id); err != nil {
							return err
						}
						if _, err := s.Retrieve(id); !errors.Is(err, ErrNotFound) {
							return fmt.Errorf("Retrieve(%x) after Delete: %v, want ErrNotFound", id, err)
						}
						if err := s.Delete(id); !errors.Is(err, ErrNotFound) {
							return fmt.Errorf("second Delete(%x): %v, want ErrNotFound", id, err)
						}
					}
				}
				return nil
			}()
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		for w := 0; w < workers; w++ {
			for i := 0; i < perW; i++ {
				switch i % 3 {
				case 0:
					wantPayload(t, s, key(w, i), val(w, i, 1))
				case 1:
					wantNotFound(t, s, key(w, i))
				case 2:
					wantPayload(t, s, key(w, i), val(w, i, 0))
				}
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	// shared + per worker: perW stores, 20 batches of 2, 20 deletes.
	if got, want := s.OpenReport().RecordsReplayed, uint64(shared+workers*(perW+20*2+20)); got != want {
		t.Fatalf("RecordsReplayed = %d, want %d", got, want)
	}
	check(s)
}

// Close racing with writers: every call returns either success or exactly
// ErrClosed, nothing crashes, every call after Close returned gets
// ErrClosed, and every write that succeeded is in the store afterwards.
func TestCloseRacingWithCalls(t *testing.T) {
	const workers = 8
	dir := t.TempDir()
	s, err := Open(dir, &Options{Durability: DurabilityFlush})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		stored  = make([][]uint64, workers)
		fail    = make(chan error, workers)
	)
	started.Add(workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := uint64(0); ; i++ {
				id := uint64(w)<<32 | i
				err := s.Store(id, []byte(fmt.Sprint(id)))
				if i == 0 {
					started.Done()
				}
				if err == ErrClosed {
					if _, err := s.Retrieve(id); err != ErrClosed {
						fail <- fmt.Errorf("Retrieve after ErrClosed: %v", err)
					}
					return
				}
				if err != nil {
					fail <- fmt.Errorf("Store(%x): %v", id, err)
					return
				}
				stored[w] = append(stored[w], id)
			}
		}(w)
	}
	started.Wait() // every worker has made one call
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	total := 0
	for w := range stored {
		for _, id := range stored[w] {
			wantPayload(t, s, id, []byte(fmt.Sprint(id)))
		}
		total += len(stored[w])
	}
	if got := s.OpenReport().RecordsReplayed; got != uint64(total) {
		t.Fatalf("RecordsReplayed = %d, want the %d successful stores", got, total)
	}
}

func TestOptionStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		DurabilityFsync: "fsync", DurabilityFlush: "flush", DurabilityNone: "none", Durability(5): "Durability(5)",
		RecoveryStrict: "strict", RecoverySalvage: "salvage", RecoveryAbsolute: "absolute", RecoveryMode(-2): "RecoveryMode(-2)",
	} {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
