package walstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
)

// rangeRecord is the size of a range delete record: a header and the
// range's high end (8 bytes).
const rangeRecord = recordHeader + 8

func mustWriteBatch(t *testing.T, s *Store, b *WriteBatch) {
	t.Helper()
	if err := s.WriteBatch(b); err != nil {
		t.Fatalf("WriteBatch (%d operations): %v", b.Len(), err)
	}
}

func mustDeleteRange(t *testing.T, s *Store, lo, hi uint64) {
	t.Helper()
	if err := s.DeleteRange(lo, hi); err != nil {
		t.Fatalf("DeleteRange(%d, %d): %v", lo, hi, err)
	}
}

func TestWriteBatchBuilding(t *testing.T) {
	var b WriteBatch // the zero value is an empty batch
	if b.Len() != 0 {
		t.Fatalf("zero WriteBatch: Len = %d", b.Len())
	}
	var nilBatch *WriteBatch
	if nilBatch.Len() != 0 {
		t.Fatalf("nil WriteBatch: Len = %d", nilBatch.Len())
	}
	if r := b.Store(1, []byte("a")).Delete(2).DeleteRange(3, 4); r != &b {
		t.Fatal("the adders do not return their batch")
	}
	if b.Len() != 3 {
		t.Fatalf("Len = %d, want 3", b.Len())
	}
	b.Reset()
	if b.Len() != 0 {
		t.Fatalf("after Reset: Len = %d", b.Len())
	}
}

// Operations apply in order, a later one for the same id wins, deleting a
// missing id is no error, and the batch is one framed group.
func TestWriteBatch(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, &Options{Durability: DurabilityFlush})
	for id := uint64(1); id <= 6; id++ {
		mustStore(t, s, id, []byte(fmt.Sprintf("v1-%d", id))) // 4 bytes each
	}
	src := []byte("seven")
	b := new(WriteBatch).
		Store(7, src).                  // a new id...
		Delete(7).                      // ...deleted in the same batch
		Delete(2).                      // a live id...
		Store(2, []byte("two again")).  // ...stored again after its delete
		Delete(99).                     // never existed: no error
		DeleteRange(4, 5).              // both ends, neither 3 nor 6
		Store(5, []byte("five, back")). // back after the range
		Store(8, src).                  // the batch holds a copy...
		Store(9, nil)                   // an empty payload
	copy(src, "XXXXX") // ...so this changes nothing
	before := logPosition(t, s)
	mustWriteBatch(t, s, b)
	// begin + 9 records + commit, the range record with its 8-byte payload.
	want := before + 11*recordHeader + 5 + 9 + 8 + 10 + 5
	if got := logPosition(t, s); got != want {
		t.Fatalf("LogPosition = %d, want %d", got, want)
	}
	check := func(s *Store) {
		t.Helper()
		wantPayload(t, s, 1, []byte("v1-1"))
		wantPayload(t, s, 2, []byte("two again"))
		wantPayload(t, s, 3, []byte("v1-3"))
		wantNotFound(t, s, 4)
		wantPayload(t, s, 5, []byte("five, back"))
		wantPayload(t, s, 6, []byte("v1-6"))
		wantNotFound(t, s, 7)
		wantPayload(t, s, 8, []byte("seven"))
		wantPayload(t, s, 9, []byte{})
		wantNotFound(t, s, 99)
	}
	check(s)

	// Empty and nil batches write nothing; a batch of one is one plain
	// record; a batch may be written again.
	before = logPosition(t, s)
	reset := new(WriteBatch).Store(1, nil).Delete(2)
	reset.Reset()
	for _, empty := range []*WriteBatch{nil, {}, reset} {
		if err := s.WriteBatch(empty); err != nil {
			t.Fatalf("WriteBatch(empty): %v", err)
		}
	}
	if got := logPosition(t, s); got != before {
		t.Fatalf("empty batches moved the log from %d to %d", before, got)
	}
	one := new(WriteBatch).Delete(99)
	mustWriteBatch(t, s, one)
	mustWriteBatch(t, s, one)
	if got := logPosition(t, s); got != before+2*recordHeader {
		t.Fatalf("two batches of one delete: LogPosition = %d, want %d", got, before+2*recordHeader)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	// 6 stores + 9 batch records + 2 lone deletes (framing not counted).
	if got := s.OpenReport().RecordsReplayed; got != 17 {
		t.Fatalf("RecordsReplayed = %d, want 17", got)
	}
	check(s)
}

func TestDeleteRange(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, &Options{Durability: DurabilityFlush})
	ids := []uint64{0, 1, 2, 9, 10, 20, 21, math.MaxUint64 - 1, math.MaxUint64}
	for _, id := range ids {
		mustStore(t, s, id, []byte(fmt.Sprint(id)))
	}
	live := map[uint64]bool{}
	for _, id := range ids {
		live[id] = true
	}
	check := func(s *Store) {
		t.Helper()
		for _, id := range ids {
			if live[id] {
				wantPayload(t, s, id, []byte(fmt.Sprint(id)))
			} else {
				wantNotFound(t, s, id)
			}
		}
	}
	del := func(lo, hi uint64, gone ...uint64) {
		t.Helper()
		before := logPosition(t, s)
		mustDeleteRange(t, s, lo, hi)
		if got := logPosition(t, s); got != before+rangeRecord {
			t.Fatalf("DeleteRange(%d, %d) wrote %d bytes, want %d", lo, hi, got-before, rangeRecord)
		}
		for _, id := range gone {
			delete(live, id)
		}
		check(s)
	}
	del(math.MaxUint64, math.MaxUint64, math.MaxUint64) // the top id alone
	del(0, 0, 0)                                        // id 0 alone
	del(10, 20, 10, 20)                                 // both ends, not 9 or 21
	del(100, 200)                                       // holds no id: no error, one record
	del(3, math.MaxUint64-2, 9, 21)                     // wide
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	if got := s.OpenReport().RecordsReplayed; got != uint64(len(ids)+5) {
		t.Fatalf("RecordsReplayed = %d, want %d", got, len(ids)+5)
	}
	check(s)
	mustDeleteRange(t, s, 0, math.MaxUint64) // everything
	for _, id := range ids {
		delete(live, id)
	}
	check(s)
}

// Every refusal names the failing method, carries the library's message
// and writes nothing.
func TestWriteBatchRefusals(t *testing.T) {
	s := open(t, t.TempDir(), &Options{MaxPayload: 8})
	mustStore(t, s, 1, []byte("kept"))
	before := logPosition(t, s)

	err := s.DeleteRange(9, 8)
	wantErr(t, err, ErrInvalidArgument, "DeleteRange")
	var e *Error
	errors.As(err, &e)
	if want := "wal_delete_range: invalid argument: range delete from id 9 to id 8: " +
		"the low end is above the high end"; e.Message != want {
		t.Fatalf("Message = %q, want %q", e.Message, want)
	}
	wantErr(t, s.DeleteRange(math.MaxUint64, 0), ErrInvalidArgument, "DeleteRange")

	err = s.WriteBatch(new(WriteBatch).Store(2, []byte("x")).Delete(1).DeleteRange(3, 2))
	wantErr(t, err, ErrInvalidArgument, "WriteBatch")
	errors.As(err, &e)
	if want := "wal_write_batch: invalid argument: range delete from id 3 to id 2: " +
		"the low end is above the high end"; e.Message != want {
		t.Fatalf("Message = %q, want %q", e.Message, want)
	}
	err = s.WriteBatch(new(WriteBatch).Delete(1).Store(3, []byte("123456789")))
	wantErr(t, err, ErrInvalidArgument, "WriteBatch")
	errors.As(err, &e)
	if want := "wal_write_batch: invalid argument: payload of id 3 is 9 bytes, over the limit of 8 bytes"; e.Message != want {
		t.Fatalf("Message = %q, want %q", e.Message, want)
	}
	if got := logPosition(t, s); got != before {
		t.Fatalf("refused writes moved the log from %d to %d", before, got)
	}
	wantPayload(t, s, 1, []byte("kept"))
	wantNotFound(t, s, 2)
	wantNotFound(t, s, 3)
	// Exactly the limit is fine.
	mustWriteBatch(t, s, new(WriteBatch).Store(3, []byte("12345678")).Delete(1))
	wantPayload(t, s, 3, []byte("12345678"))
	wantNotFound(t, s, 1)
}

func TestWriteBatchReadOnlyAndClosed(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	mustStore(t, w, 1, []byte("kept"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, filepath.Join(dir, logName))
	r := open(t, dir, &Options{ReadOnly: true})
	wantErr(t, r.WriteBatch(new(WriteBatch).Store(2, []byte("no")).Delete(1)), ErrInvalidArgument, "WriteBatch")
	wantErr(t, r.WriteBatch(nil), ErrInvalidArgument, "WriteBatch") // even an empty batch
	wantErr(t, r.DeleteRange(0, math.MaxUint64), ErrInvalidArgument, "DeleteRange")
	wantPayload(t, r, 1, []byte("kept"))
	if got := fileSize(t, filepath.Join(dir, logName)); got != size {
		t.Fatalf("read-only writes changed the log to %d bytes, want %d", got, size)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteBatch(new(WriteBatch).Delete(1)); err != ErrClosed {
		t.Fatalf("WriteBatch after Close: %v, want ErrClosed", err)
	}
	if err := r.WriteBatch(nil); err != ErrClosed {
		t.Fatalf("WriteBatch(nil) after Close: %v, want ErrClosed", err)
	}
	if err := r.DeleteRange(0, 1); err != ErrClosed {
		t.Fatalf("DeleteRange after Close: %v, want ErrClosed", err)
	}
	var nilStore *Store
	if err := nilStore.DeleteRange(0, 1); err != ErrClosed {
		t.Fatalf("nil DeleteRange: %v, want ErrClosed", err)
	}
	if err := nilStore.WriteBatch(new(WriteBatch)); err != ErrClosed {
		t.Fatalf("nil WriteBatch: %v, want ErrClosed", err)
	}
}

// Goroutines write batches and range deletes over their own ids at once,
// under FSYNC (group commit), each reading its own writes back.
func TestWriteBatchConcurrent(t *testing.T) {
	const (
		workers = 4
		rounds  = 25
	)
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := func(w, i int) uint64 { return uint64(w)<<32 | uint64(i) }
	val := func(w, i int) []byte { return []byte(fmt.Sprintf("w%d-i%d", w, i)) }
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			errs <- func() error {
				for i := 0; i < rounds; i++ {
					// Store ids 2i and 2i+1, and delete 2i-1 (stored in the
					// previous round) with a range of one.
					b := new(WriteBatch).Store(key(w, 2*i), val(w, 2*i)).Store(key(w, 2*i+1), val(w, 2*i+1))
					if i > 0 {
						b.DeleteRange(key(w, 2*i-1), key(w, 2*i-1))
					}
					if err := s.WriteBatch(b); err != nil {
						return err
					}
					if got, err := s.Retrieve(key(w, 2*i)); err != nil || !bytes.Equal(got, val(w, 2*i)) {
						return fmt.Errorf("Retrieve(%x) = %q, %v", key(w, 2*i), got, err)
					}
				}
				// Drop ids from 25 up with one range delete: of the first
				// 25, the even ones are left.
				return s.DeleteRange(key(w, rounds), key(w, 1<<31))
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
			for i := 0; i < 2*rounds; i++ {
				if i < rounds && i%2 == 0 {
					wantPayload(t, s, key(w, i), val(w, i))
				} else {
					wantNotFound(t, s, key(w, i))
				}
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	// Per worker: 25 batches of 2 stores (+ a range after the first), and
	// the last range.
	if got, want := s.OpenReport().RecordsReplayed, uint64(workers*(rounds*2+rounds-1+1)); got != want {
		t.Fatalf("RecordsReplayed = %d, want %d", got, want)
	}
	check(s)
}
