// Package walstore is the Go binding of walstore, a crash-safe, append-only
// store that maps uint64 ids to byte payloads, through its C ABI
// (include/walstore.h, libwalstore.so).
//
// A *Store may be used from any number of goroutines at once. Close waits
// for calls in flight, and every call after Close returns ErrClosed.
//
// Every failure from the library is an *Error carrying the C status code, the
// Go method that failed and the library's message (which names the file, the
// offset and, for corruption, the CRCs). Test for a kind of failure with
// errors.Is and the sentinels: errors.Is(err, walstore.ErrNotFound).
//
// Memory: payloads passed in are copied by the library before the call
// returns, and Retrieve returns Go memory. No Go pointer is kept by C.
package walstore

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lwalstore -Wl,-rpath,${SRCDIR}/../../target/release

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "walstore.h"

// wal_last_error() is per OS thread and a goroutine may move to another
// thread between two cgo calls, so every shim below fetches the message in
// the same call as the failing function. wgo_fail copies it into a malloc'd
// string that the Go side frees; it is called only on failure.
static wal_status wgo_fail(wal_status s, char **err) {
	const char *m = wal_last_error();
	size_t n = strlen(m);
	char *c = malloc(n + 1);
	if (c != NULL)
		memcpy(c, m, n + 1);
	*err = c;
	return s;
}

#define WGO_CHECK(call) do { wal_status s_ = (call); if (s_ != WAL_OK) return wgo_fail(s_, err); } while (0)

typedef struct {
	int32_t durability;
	int32_t recovery;
	bool set_max_payload;
	size_t max_payload;
	bool read_only;
	bool set_snapshot_threshold;
	uint64_t snapshot_threshold;
	bool set_write_buffer;
	size_t write_buffer;
	bool no_auto_snapshot;
	bool set_auto_compact;
	double compact_ratio;
	uint64_t compact_min_log_bytes;
} wgo_options;

typedef struct {
	uint64_t records_replayed;
	uint64_t damaged_records;
	bool reinitialised;
	bool torn_tail;
	uint64_t torn_offset;
	uint64_t torn_bytes;
	char *torn_path; // malloc'd copy, or NULL
	bool snapshot_used;
	uint64_t snapshot_position;
} wgo_report;

static wal_status wgo_set_options(wal_options *opts, const wgo_options *o, char **err) {
	WGO_CHECK(wal_options_set_durability(opts, o->durability));
	WGO_CHECK(wal_options_set_recovery_mode(opts, o->recovery));
	if (o->set_max_payload)
		WGO_CHECK(wal_options_set_max_payload(opts, o->max_payload));
	WGO_CHECK(wal_options_set_read_only(opts, o->read_only));
	if (o->set_snapshot_threshold)
		WGO_CHECK(wal_options_set_snapshot_threshold(opts, o->snapshot_threshold));
	if (o->set_write_buffer)
		WGO_CHECK(wal_options_set_write_buffer(opts, o->write_buffer));
	WGO_CHECK(wal_options_set_auto_snapshot(opts, !o->no_auto_snapshot));
	if (o->set_auto_compact)
		WGO_CHECK(wal_options_set_auto_compact(opts, o->compact_ratio, o->compact_min_log_bytes));
	return WAL_OK;
}

static wal_status wgo_read_report(const wal_t *w, wgo_report *r, char **err) {
	WGO_CHECK(wal_open_records_replayed(w, &r->records_replayed));
	WGO_CHECK(wal_open_damaged_records(w, &r->damaged_records));
	WGO_CHECK(wal_open_reinitialised(w, &r->reinitialised));
	wal_status s = wal_open_torn_tail(w, &r->torn_offset, &r->torn_bytes);
	if (s == WAL_OK) {
		r->torn_tail = true;
		const char *path = NULL;
		s = wal_open_torn_tail_path(w, &path);
		if (s == WAL_OK) {
			size_t n = strlen(path);
			r->torn_path = malloc(n + 1);
			if (r->torn_path == NULL) {
				*err = NULL;
				return WAL_PANIC;
			}
			memcpy(r->torn_path, path, n + 1);
		} else if (s != WAL_NOT_FOUND) {
			return wgo_fail(s, err);
		}
	} else if (s != WAL_NOT_FOUND) {
		return wgo_fail(s, err);
	}
	s = wal_open_snapshot_used(w, &r->snapshot_position);
	if (s == WAL_OK)
		r->snapshot_used = true;
	else if (s != WAL_NOT_FOUND)
		return wgo_fail(s, err);
	return WAL_OK;
}

// Builds the options (o NULL: the defaults), opens, and reads the open
// report, all in one cgo call. The library's messages name the call that
// failed ("wal_options_set_max_payload: ...", "wal_open: ...").
static wal_status wgo_open(const char *dir, const wgo_options *o, wal_t **out, wgo_report *r,
                           char **err) {
	wal_options *opts = NULL;
	if (o != NULL) {
		opts = wal_options_new();
		if (opts == NULL) // walstore panicked; wal_last_error() says where
			return wgo_fail(WAL_PANIC, err);
		wal_status s = wgo_set_options(opts, o, err);
		if (s != WAL_OK) {
			wal_options_free(opts);
			return s;
		}
	}
	wal_t *w = NULL;
	wal_status s = wal_open(dir, opts, &w);
	if (s != WAL_OK)
		wgo_fail(s, err);
	wal_options_free(opts);
	if (s != WAL_OK)
		return s;
	s = wgo_read_report(w, r, err);
	if (s != WAL_OK) {
		free(r->torn_path);
		r->torn_path = NULL;
		wal_close(w);
		return s;
	}
	*out = w;
	return WAL_OK;
}

static wal_status wgo_close(wal_t *w, char **err) {
	WGO_CHECK(wal_close(w));
	return WAL_OK;
}

static wal_status wgo_store(wal_t *w, uint64_t id, const uint8_t *data, size_t len, char **err) {
	WGO_CHECK(wal_store(w, id, data, len));
	return WAL_OK;
}

static wal_status wgo_store_batch(wal_t *w, const wal_entry *entries, size_t count, char **err) {
	WGO_CHECK(wal_store_batch(w, entries, count));
	return WAL_OK;
}

static wal_status wgo_write_batch(wal_t *w, const wal_write_op *ops, size_t count, char **err) {
	WGO_CHECK(wal_write_batch(w, ops, count));
	return WAL_OK;
}

static wal_status wgo_delete_range(wal_t *w, uint64_t lo, uint64_t hi, char **err) {
	WGO_CHECK(wal_delete_range(w, lo, hi));
	return WAL_OK;
}

static wal_status wgo_retrieve(wal_t *w, uint64_t id, uint8_t *buf, size_t cap, size_t *out_len, char **err) {
	WGO_CHECK(wal_retrieve(w, id, buf, cap, out_len));
	return WAL_OK;
}

static wal_status wgo_retrieve_alloc(wal_t *w, uint64_t id, uint8_t **out, size_t *out_len, char **err) {
	WGO_CHECK(wal_retrieve_alloc(w, id, out, out_len));
	return WAL_OK;
}

static wal_status wgo_delete(wal_t *w, uint64_t id, char **err) {
	WGO_CHECK(wal_delete(w, id));
	return WAL_OK;
}

static wal_status wgo_sync(wal_t *w, char **err) {
	WGO_CHECK(wal_sync(w));
	return WAL_OK;
}

static wal_status wgo_snapshot(wal_t *w, char **err) {
	WGO_CHECK(wal_snapshot(w));
	return WAL_OK;
}

static wal_status wgo_log_position(const wal_t *w, uint64_t *out, char **err) {
	WGO_CHECK(wal_log_position(w, out));
	return WAL_OK;
}

static wal_status wgo_snapshot_position(const wal_t *w, uint64_t *out, char **err) {
	WGO_CHECK(wal_snapshot_position(w, out));
	return WAL_OK;
}

static wal_status wgo_compact(wal_t *w, char **err) {
	WGO_CHECK(wal_compact(w));
	return WAL_OK;
}

typedef struct {
	uint64_t live_ids;
	uint64_t live_bytes;
	uint64_t log_bytes;
	uint64_t dead_bytes;
	double dead_ratio;
	uint64_t auto_snapshots;
	uint64_t auto_snapshot_failures;
	uint64_t generation;
	uint64_t auto_compactions;
	uint64_t auto_compaction_failures;
	char *last_auto_snapshot_error;   // malloc'd copy, or NULL when none failed
	char *last_auto_compaction_error; // the same
} wgo_stats;

typedef wal_status (*wgo_message_fn)(const wal_t *, uint8_t *, size_t, size_t *);

// Sets *out to a malloc'd copy of a message getter's message, or NULL when
// it has none. A newer message may replace a longer one between the size
// query and the copy: then it asks again.
static wal_status wgo_message(const wal_t *w, wgo_message_fn fn, char **out, char **err) {
	char *buf = NULL;
	size_t cap = 0;
	*out = NULL;
	for (;;) {
		size_t len = 0;
		wal_status s = fn(w, (uint8_t *)buf, cap, &len);
		if (s == WAL_OK) {
			*out = buf;
			return WAL_OK;
		}
		free(buf);
		buf = NULL;
		if (s == WAL_NOT_FOUND)
			return WAL_OK;
		if (s != WAL_BUFFER_TOO_SMALL)
			return wgo_fail(s, err);
		cap = len + 1;
		buf = malloc(cap);
		if (buf == NULL) {
			*err = NULL;
			return WAL_PANIC;
		}
	}
}

static wal_status wgo_stats_read(const wal_t *w, wgo_stats *st, char **err) {
	WGO_CHECK(wal_stat_live_ids(w, &st->live_ids));
	WGO_CHECK(wal_stat_live_bytes(w, &st->live_bytes));
	WGO_CHECK(wal_stat_log_bytes(w, &st->log_bytes));
	WGO_CHECK(wal_stat_dead_bytes(w, &st->dead_bytes));
	WGO_CHECK(wal_stat_dead_ratio(w, &st->dead_ratio));
	WGO_CHECK(wal_stat_auto_snapshots(w, &st->auto_snapshots));
	WGO_CHECK(wal_stat_auto_snapshot_failures(w, &st->auto_snapshot_failures));
	WGO_CHECK(wal_stat_generation(w, &st->generation));
	WGO_CHECK(wal_stat_auto_compactions(w, &st->auto_compactions));
	WGO_CHECK(wal_stat_auto_compaction_failures(w, &st->auto_compaction_failures));
	wal_status s = wgo_message(w, wal_stat_last_auto_snapshot_error, &st->last_auto_snapshot_error, err);
	if (s != WAL_OK)
		return s;
	s = wgo_message(w, wal_stat_last_auto_compaction_error, &st->last_auto_compaction_error, err);
	if (s != WAL_OK) {
		free(st->last_auto_snapshot_error);
		st->last_auto_snapshot_error = NULL;
	}
	return s;
}

// Opens a cursor and reads its sequence number in one call.
static wal_status wgo_iter_open(wal_t *w, wal_iter_t **out, uint64_t *seq, char **err) {
	wal_iter_t *it = NULL;
	WGO_CHECK(wal_iter_open(w, &it));
	wal_status s = wal_iter_seq(it, seq);
	if (s != WAL_OK) {
		wgo_fail(s, err);
		wal_iter_free(it);
		return s;
	}
	*out = it;
	return WAL_OK;
}

static wal_status wgo_iter_next(wal_iter_t *it, bool *has, uint64_t *id, const uint8_t **data, size_t *len,
                                char **err) {
	WGO_CHECK(wal_iter_next(it, has, id, data, len));
	return WAL_OK;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Status codes of the C API (wal_status). The numbers are fixed forever.
const (
	StatusOK              = int(C.WAL_OK)
	StatusNotFound        = int(C.WAL_NOT_FOUND)
	StatusInvalidArgument = int(C.WAL_INVALID_ARGUMENT)
	StatusBufferTooSmall  = int(C.WAL_BUFFER_TOO_SMALL)
	StatusIO              = int(C.WAL_IO)
	StatusNoSpace         = int(C.WAL_NO_SPACE)
	StatusCorruption      = int(C.WAL_CORRUPTION)
	StatusLocked          = int(C.WAL_LOCKED)
	StatusIncompatible    = int(C.WAL_INCOMPATIBLE)
	StatusPoisoned        = int(C.WAL_POISONED)
	StatusPanic           = int(C.WAL_PANIC)
	StatusCompacted       = int(C.WAL_COMPACTED)
)

// Header version macros (WAL_VERSION_*) this package was compiled against.
const (
	HeaderVersionMajor = int(C.WAL_VERSION_MAJOR)
	HeaderVersionMinor = int(C.WAL_VERSION_MINOR)
	HeaderVersionPatch = int(C.WAL_VERSION_PATCH)
)

// Durability says when a write returns; see the C header for the details.
type Durability int32

const (
	// DurabilityFsync (the default): a write returns after fdatasync; it
	// survives power loss.
	DurabilityFsync Durability = C.WAL_DURABILITY_FSYNC
	// DurabilityFlush: a write returns once handed to the OS; it survives a
	// crash of the process, not of the machine.
	DurabilityFlush Durability = C.WAL_DURABILITY_FLUSH
	// DurabilityNone: a write may sit in an in-process buffer until it
	// fills, Sync or Close. Reads see buffered writes.
	DurabilityNone Durability = C.WAL_DURABILITY_NONE
)

// String returns "fsync", "flush", "none", or "Durability(n)".
func (d Durability) String() string {
	switch d {
	case DurabilityFsync:
		return "fsync"
	case DurabilityFlush:
		return "flush"
	case DurabilityNone:
		return "none"
	}
	return fmt.Sprintf("Durability(%d)", int32(d))
}

// RecoveryMode says what Open does when replay finds damage.
type RecoveryMode int32

const (
	// RecoveryStrict (the default): a torn tail is saved to a side file and
	// cut; damage followed by valid records fails Open with ErrCorruption.
	RecoveryStrict RecoveryMode = C.WAL_RECOVERY_STRICT
	// RecoverySalvage: like RecoveryStrict, but a damaged record whose header
	// is intact does not fail Open; its id reads back as ErrCorruption.
	RecoverySalvage RecoveryMode = C.WAL_RECOVERY_SALVAGE
	// RecoveryAbsolute: nothing is ever cut; a torn tail fails Open with
	// ErrCorruption too.
	RecoveryAbsolute RecoveryMode = C.WAL_RECOVERY_ABSOLUTE
)

// String returns "strict", "salvage", "absolute", or "RecoveryMode(n)".
func (m RecoveryMode) String() string {
	switch m {
	case RecoveryStrict:
		return "strict"
	case RecoverySalvage:
		return "salvage"
	case RecoveryAbsolute:
		return "absolute"
	}
	return fmt.Sprintf("RecoveryMode(%d)", int32(m))
}

// SnapshotThresholdNever, as Options.SnapshotThreshold, makes
// ShouldSnapshot always false.
const SnapshotThresholdNever int64 = -1

// Options are the open options. The zero value (and a nil *Options) means
// the library's defaults: DurabilityFsync, RecoveryStrict, a 64 MiB largest
// payload, read-write, a 64 MiB snapshot threshold, a 256 KiB write buffer.
type Options struct {
	Durability   Durability
	RecoveryMode RecoveryMode
	// MaxPayload is the largest payload a write accepts, from 1 byte to
	// 4 GiB - 1; 0 means the default (64 MiB).
	MaxPayload int
	// ReadOnly opens with a shared lock, writes nothing and makes every
	// write return ErrInvalidArgument. The store must exist.
	ReadOnly bool
	// SnapshotThreshold is how far the log may grow after the newest
	// snapshot before ShouldSnapshot reports true; 0 means the default
	// (64 MiB) and a negative value (SnapshotThresholdNever) means never.
	SnapshotThreshold int64
	// NoAutoSnapshot turns automatic snapshots off: ShouldSnapshot still
	// reports when one is due, and the caller schedules Snapshot itself.
	// By default the write that makes one due starts it in the
	// background.
	NoAutoSnapshot bool
	// WriteBuffer is the size of the buffer DurabilityNone uses, from 1 byte
	// to 1 GiB; 0 means the default (256 KiB).
	WriteBuffer int
	// AutoCompact says when a compaction starts by itself, in the
	// background. nil keeps the defaults: a dead-byte ratio of 0.5 once the
	// log is 64 MiB long.
	AutoCompact *AutoCompact
}

// AutoCompact is Options.AutoCompact: a write that leaves the log at least
// MinLogBytes long, with at least DeadRatio of its record bytes dead
// (overwritten payloads, deleted ids, tombstones), starts a compaction in
// the background. A DeadRatio of 0 turns automatic compaction off; one
// outside [0, 1), or NaN, makes Open fail with ErrInvalidArgument. A failed
// automatic compaction never fails the write that started it: see
// Stats.AutoCompactionFailures and Stats.LastAutoCompactionError.
type AutoCompact struct {
	DeadRatio   float64
	MinLogBytes uint64
}

// TornTail describes the torn tail an open found.
type TornTail struct {
	Offset uint64 // where it began; the log now ends there
	Bytes  uint64 // its length
	// SavedTo is the side file a writable open saved the tail to before
	// cutting it; "" for a read-only open, which cuts nothing.
	SavedTo string
}

// OpenReport says what recovery did when the store was opened.
type OpenReport struct {
	// RecordsReplayed counts the store and delete records replayed
	// (damaged records a RecoverySalvage open marked included).
	RecordsReplayed uint64
	// DamagedRecords counts the records a RecoverySalvage open passed over;
	// their ids read back as ErrCorruption.
	DamagedRecords uint64
	// Reinitialised is true when the log never got its complete header
	// (a crash while it was created) and was started afresh.
	Reinitialised bool
	// TornTail is nil when the open found no torn tail.
	TornTail *TornTail
	// SnapshotUsed is true when the open loaded a snapshot and replayed
	// only the log after SnapshotPosition.
	SnapshotUsed     bool
	SnapshotPosition uint64
}

// Entry is one entry of a batch for StoreBatch.
type Entry struct {
	ID   uint64
	Data []byte
}

// WriteBatch is a mixed batch of stores, deletes and range deletes for
// Store.WriteBatch. Its operations apply in the order they were added: a
// later one for the same id wins. Store copies data into the batch, so the
// caller may reuse its slice at once. Nothing is checked until the batch is
// written; an invalid operation (a range with lo > hi, a payload over
// Options.MaxPayload) then rejects the whole batch. The zero value is an
// empty batch. A batch may be written any number of times; it is not safe
// for concurrent use while it is being built.
type WriteBatch struct {
	ops  []batchOp
	data []byte // the stored payloads, back to back
}

type batchOp struct {
	kind   int32
	id, hi uint64
	off, n int // a store's payload: data[off : off+n]
}

// Store adds a store of data under id (an empty or nil data is a valid
// zero-length payload) and returns b.
func (b *WriteBatch) Store(id uint64, data []byte) *WriteBatch {
	b.ops = append(b.ops, batchOp{kind: int32(C.WAL_OP_STORE), id: id, off: len(b.data), n: len(data)})
	b.data = append(b.data, data...)
	return b
}

// Delete adds a delete of id and returns b. Unlike Store.Delete, an id that
// is not in the store is no error.
func (b *WriteBatch) Delete(id uint64) *WriteBatch {
	b.ops = append(b.ops, batchOp{kind: int32(C.WAL_OP_DELETE), id: id})
	return b
}

// DeleteRange adds a delete of every id from lo to hi, both included, as
// one record, and returns b.
func (b *WriteBatch) DeleteRange(lo, hi uint64) *WriteBatch {
	b.ops = append(b.ops, batchOp{kind: int32(C.WAL_OP_DELETE_RANGE), id: lo, hi: hi})
	return b
}

// Len returns the number of operations in the batch.
func (b *WriteBatch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.ops)
}

// Reset empties the batch, keeping its memory for reuse.
func (b *WriteBatch) Reset() {
	b.ops = b.ops[:0]
	b.data = b.data[:0]
}

// Stats are figures about a store (Store.Stats).
type Stats struct {
	LiveIDs   uint64  // the ids in the store, damaged ones included
	LiveBytes uint64  // the sum of their payload lengths
	LogBytes  uint64  // the log's length: the log position
	DeadBytes uint64  // record bytes that no longer serve a live id, with their headers
	DeadRatio float64 // DeadBytes over all record bytes, from 0 to 1 (0 for an empty log)
	// Automatic snapshots completed and failed since the open.
	AutoSnapshots        uint64
	AutoSnapshotFailures uint64
	// Generation is the log generation: 1 for a new store, one more after
	// each compaction.
	Generation uint64
	// Automatic compactions completed and failed since the open.
	AutoCompactions        uint64
	AutoCompactionFailures uint64
	// The messages of the last failed automatic snapshot and compaction
	// since the open; "" when none failed.
	LastAutoSnapshotError   string
	LastAutoCompactionError string
}

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	mu     sync.RWMutex // held shared by every call, exclusively by Close
	h      *C.wal_t     // nil once closed
	report OpenReport

	itersMu sync.Mutex         // guards iters
	iters   map[*Iter]struct{} // open cursors, freed by Close
}

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("walstore: store is closed")

// Version returns the library's version, "MAJOR.MINOR.PATCH", and its parts.
// Compare them with HeaderVersionMajor and friends.
func Version() (version string, major, minor, patch int) {
	var ma, mi, pa C.int
	v := C.GoString(C.wal_version(&ma, &mi, &pa))
	return v, int(ma), int(mi), int(pa)
}

// StatusText is the library's fixed description of a status code
// (wal_status_str); "unknown status" for a code it does not know.
func StatusText(status int) string {
	if status < -1<<31 || status > 1<<31-1 {
		return C.GoString(C.wal_status_str(C.int32_t(-1)))
	}
	return C.GoString(C.wal_status_str(C.int32_t(status)))
}

// newError builds the *Error for a failed shim call and frees its message.
func newError(op string, status C.wal_status, msg *C.char) error {
	e := &Error{Status: int(status), Op: op}
	if msg != nil {
		e.Message = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return e
}

func invalid(op, msg string) error {
	return &Error{Status: StatusInvalidArgument, Op: op, Message: msg}
}

// Open opens the store in directory dir, creating it unless opts.ReadOnly.
// A nil opts means the defaults. Only one writable open of a directory may
// exist at a time, in this process or any other; a conflicting open gets
// ErrLocked.
func Open(dir string, opts *Options) (*Store, error) {
	const op = "Open"
	if dir == "" {
		return nil, invalid(op, "empty directory name")
	}
	for i := 0; i < len(dir); i++ {
		if dir[i] == 0 {
			return nil, invalid(op, "directory name contains a NUL byte")
		}
	}
	// copts holds no Go pointers, so C may read it in place.
	var (
		o     C.wgo_options
		copts *C.wgo_options
	)
	if opts != nil {
		copts = &o
		copts.durability = C.int32_t(opts.Durability)
		copts.recovery = C.int32_t(opts.RecoveryMode)
		switch {
		case opts.MaxPayload < 0:
			return nil, invalid(op, fmt.Sprintf("MaxPayload %d is negative", opts.MaxPayload))
		case opts.MaxPayload > 0:
			copts.set_max_payload = true
			copts.max_payload = C.size_t(opts.MaxPayload)
		}
		copts.read_only = C.bool(opts.ReadOnly)
		copts.no_auto_snapshot = C.bool(opts.NoAutoSnapshot)
		switch {
		case opts.SnapshotThreshold < 0:
			copts.set_snapshot_threshold = true
			copts.snapshot_threshold = 0
		case opts.SnapshotThreshold > 0:
			copts.set_snapshot_threshold = true
			copts.snapshot_threshold = C.uint64_t(opts.SnapshotThreshold)
		}
		switch {
		case opts.WriteBuffer < 0:
			return nil, invalid(op, fmt.Sprintf("WriteBuffer %d is negative", opts.WriteBuffer))
		case opts.WriteBuffer > 0:
			copts.set_write_buffer = true
			copts.write_buffer = C.size_t(opts.WriteBuffer)
		}
		if ac := opts.AutoCompact; ac != nil {
			copts.set_auto_compact = true
			copts.compact_ratio = C.double(ac.DeadRatio)
			copts.compact_min_log_bytes = C.uint64_t(ac.MinLogBytes)
		}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))

	var (
		h   *C.wal_t
		r   C.wgo_report
		msg *C.char
	)
	if st := C.wgo_open(cdir, copts, &h, &r, &msg); st != C.WAL_OK {
		return nil, newError(op, st, msg)
	}
	s := &Store{h: h}
	s.report = OpenReport{
		RecordsReplayed:  uint64(r.records_replayed),
		DamagedRecords:   uint64(r.damaged_records),
		Reinitialised:    bool(r.reinitialised),
		SnapshotUsed:     bool(r.snapshot_used),
		SnapshotPosition: uint64(r.snapshot_position),
	}
	if r.torn_tail {
		t := &TornTail{Offset: uint64(r.torn_offset), Bytes: uint64(r.torn_bytes)}
		if r.torn_path != nil {
			t.SavedTo = C.GoString(r.torn_path)
			C.free(unsafe.Pointer(r.torn_path))
		}
		s.report.TornTail = t
	}
	return s, nil
}

// acquire returns the handle with s.mu held shared, or ErrClosed. The
// caller releases s.mu with RUnlock when it got a handle.
func (s *Store) acquire() (*C.wal_t, error) {
	if s == nil {
		return nil, ErrClosed
	}
	s.mu.RLock()
	if s.h == nil {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.h, nil
}

// Close syncs the store, releases its lock and frees the handle. The handle
// is freed even when the final sync fails; that failure is returned. Close
// waits for calls in flight on other goroutines and frees the store's open
// iterators first. Calling it again returns nil; every other method, and
// Next on its iterators, then returns ErrClosed.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil
	}
	// No method of an iterator runs now: each holds s.mu shared.
	s.itersMu.Lock()
	for it := range s.iters {
		C.wal_iter_free(it.it)
		it.it = nil
	}
	s.iters = nil
	s.itersMu.Unlock()
	h := s.h
	s.h = nil
	var msg *C.char
	if st := C.wgo_close(h, &msg); st != C.WAL_OK {
		return newError("Close", st, msg)
	}
	return nil
}

// dataPtr is the C view of a byte slice: NULL for an empty one. Passing it
// to C is allowed because a []byte holds no Go pointers, and walstore copies
// the bytes before it returns.
func dataPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// Store stores data under id, replacing any earlier payload. An empty (or
// nil) data is a valid zero-length payload. It returns once the write is as
// durable as Options.Durability says. A payload over Options.MaxPayload or a
// read-only store gives ErrInvalidArgument.
func (s *Store) Store(id uint64, data []byte) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_store(h, C.uint64_t(id), dataPtr(data), C.size_t(len(data)), &msg); st != C.WAL_OK {
		return newError("Store", st, msg)
	}
	return nil
}

// StoreBatch stores all entries with one write and one flush or fsync:
// after a crash either every entry is there or none is. When an id appears
// twice the later entry wins. An empty batch does nothing (on a writable
// store). One invalid entry rejects the whole batch before anything is
// written.
func (s *Store) StoreBatch(entries []Entry) error {
	const op = "StoreBatch"
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if len(entries) == 0 {
		if st := C.wgo_store_batch(h, nil, 0, &msg); st != C.WAL_OK {
			return newError(op, st, msg)
		}
		return nil
	}
	// Go 1.19 cannot pin memory, and the wal_entry array would hold pointers
	// to the payloads: build it, and the payloads, in C memory.
	total := 0
	for _, e := range entries {
		total += len(e.Data)
	}
	n := len(entries)
	arr := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.wal_entry{})))
	if arr == nil {
		return &Error{Status: StatusPanic, Op: op, Message: "out of memory for the batch"}
	}
	defer C.free(arr)
	var buf unsafe.Pointer
	if total > 0 {
		buf = C.malloc(C.size_t(total))
		if buf == nil {
			return &Error{Status: StatusPanic, Op: op, Message: "out of memory for the batch"}
		}
		defer C.free(buf)
	}
	centries := unsafe.Slice((*C.wal_entry)(arr), n)
	var cdata []byte
	if total > 0 {
		cdata = unsafe.Slice((*byte)(buf), total)
	}
	off := 0
	for i, e := range entries {
		centries[i].id = C.uint64_t(e.ID)
		centries[i].len = C.size_t(len(e.Data))
		centries[i].data = nil
		if len(e.Data) > 0 {
			copy(cdata[off:], e.Data)
			centries[i].data = (*C.uint8_t)(unsafe.Pointer(&cdata[off]))
			off += len(e.Data)
		}
	}
	if st := C.wgo_store_batch(h, (*C.wal_entry)(arr), C.size_t(n), &msg); st != C.WAL_OK {
		return newError(op, st, msg)
	}
	return nil
}

// WriteBatch writes every operation of b with one write and one flush or
// fsync: after a crash either all of them are there or none is. A batch of
// one operation is written as a plain record. An empty (or nil) batch
// writes nothing, but a read-only store refuses it. One invalid operation
// rejects the whole batch with ErrInvalidArgument before anything is
// written.
func (s *Store) WriteBatch(b *WriteBatch) error {
	const op = "WriteBatch"
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	n := b.Len()
	if n == 0 {
		if st := C.wgo_write_batch(h, nil, 0, &msg); st != C.WAL_OK {
			return newError(op, st, msg)
		}
		return nil
	}
	// As in StoreBatch: the wal_write_op array holds pointers to the
	// payloads, so both live in C memory for the call.
	arr := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.wal_write_op{})))
	if arr == nil {
		return &Error{Status: StatusPanic, Op: op, Message: "out of memory for the batch"}
	}
	defer C.free(arr)
	var buf unsafe.Pointer
	if len(b.data) > 0 {
		buf = C.malloc(C.size_t(len(b.data)))
		if buf == nil {
			return &Error{Status: StatusPanic, Op: op, Message: "out of memory for the batch"}
		}
		defer C.free(buf)
		copy(unsafe.Slice((*byte)(buf), len(b.data)), b.data)
	}
	cops := unsafe.Slice((*C.wal_write_op)(arr), n)
	for i, o := range b.ops {
		cops[i].op = C.int32_t(o.kind)
		cops[i].id = C.uint64_t(o.id)
		cops[i].id_hi = C.uint64_t(o.hi)
		cops[i].data = nil
		cops[i].len = C.size_t(o.n)
		if o.n > 0 {
			cops[i].data = (*C.uint8_t)(unsafe.Add(buf, o.off))
		}
	}
	if st := C.wgo_write_batch(h, (*C.wal_write_op)(arr), C.size_t(n), &msg); st != C.WAL_OK {
		return newError(op, st, msg)
	}
	return nil
}

// DeleteRange deletes every id from lo to hi, both included, with one
// record, whatever the number of ids. Ids in the range that are not in the
// store are no error. lo > hi, or a read-only store, gives
// ErrInvalidArgument and writes nothing.
func (s *Store) DeleteRange(lo, hi uint64) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_delete_range(h, C.uint64_t(lo), C.uint64_t(hi), &msg); st != C.WAL_OK {
		return newError("DeleteRange", st, msg)
	}
	return nil
}

// Retrieve returns a copy of the payload of id (a non-nil, empty slice for a
// zero-length payload). Every read checks the record's CRCs: a damaged record
// gives ErrCorruption, never unverified bytes; a missing id gives
// ErrNotFound.
func (s *Store) Retrieve(id uint64) ([]byte, error) {
	h, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var (
		p   *C.uint8_t
		n   C.size_t
		msg *C.char
	)
	if st := C.wgo_retrieve_alloc(h, C.uint64_t(id), &p, &n, &msg); st != C.WAL_OK {
		return nil, newError("Retrieve", st, msg)
	}
	// Not C.GoBytes: its length is a C int, and payloads reach 4 GiB - 1.
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	C.wal_buf_free(p)
	return out, nil
}

// RetrieveInto copies the payload of id into buf and returns its length.
// When buf is too small it returns ErrBufferTooSmall and the length needed,
// so RetrieveInto(id, nil) is a size query. After ErrCorruption or ErrIO the
// first bytes of buf (as many as the payload is long) hold zeros.
func (s *Store) RetrieveInto(id uint64, buf []byte) (int, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var (
		n   C.size_t
		msg *C.char
	)
	st := C.wgo_retrieve(h, C.uint64_t(id), dataPtr(buf), C.size_t(len(buf)), &n, &msg)
	switch st {
	case C.WAL_OK:
		return int(n), nil
	case C.WAL_BUFFER_TOO_SMALL:
		return int(n), newError("RetrieveInto", st, msg)
	default:
		return 0, newError("RetrieveInto", st, msg)
	}
}

// Delete deletes id by writing a tombstone. An id that is not in the store
// gives ErrNotFound and writes nothing.
func (s *Store) Delete(id uint64) error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_delete(h, C.uint64_t(id), &msg); st != C.WAL_OK {
		return newError("Delete", st, msg)
	}
	return nil
}

// Sync makes every write acknowledged so far survive power loss, whatever
// the durability level. A failed fsync poisons the store: later writes get
// ErrPoisoned until it is closed and reopened. On a read-only store it does
// nothing.
func (s *Store) Sync() error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_sync(h, &msg); st != C.WAL_OK {
		return newError("Sync", st, msg)
	}
	return nil
}

// Snapshot writes a snapshot of the index, so that the next open loads it
// and replays only the log written after it. A read-only store gives
// ErrInvalidArgument.
func (s *Store) Snapshot() error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_snapshot(h, &msg); st != C.WAL_OK {
		return newError("Snapshot", st, msg)
	}
	return nil
}

// ShouldSnapshot reports whether the log has grown by at least
// Options.SnapshotThreshold since the newest snapshot (or the start of the
// log), with at least a quarter of that snapshot's entries in records
// written after it or 16 times its size in bytes. It is cheap enough to
// call after every write. False after Close.
func (s *Store) ShouldSnapshot() bool {
	h, err := s.acquire()
	if err != nil {
		return false
	}
	defer s.mu.RUnlock()
	return bool(C.wal_should_snapshot(h))
}

// LogPosition returns the offset in the log where the next record goes.
func (s *Store) LogPosition() (uint64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var (
		pos C.uint64_t
		msg *C.char
	)
	if st := C.wgo_log_position(h, &pos, &msg); st != C.WAL_OK {
		return 0, newError("LogPosition", st, msg)
	}
	return uint64(pos), nil
}

// SnapshotPosition returns the log position the newest snapshot covers (64,
// the first record's offset, when there is none).
func (s *Store) SnapshotPosition() (uint64, error) {
	h, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var (
		pos C.uint64_t
		msg *C.char
	)
	if st := C.wgo_snapshot_position(h, &pos, &msg); st != C.WAL_OK {
		return 0, newError("SnapshotPosition", st, msg)
	}
	return uint64(pos), nil
}

// OpenReport returns what recovery did when the store was opened. It was
// read at Open, so it stays available after Close.
func (s *Store) OpenReport() OpenReport {
	if s == nil {
		return OpenReport{}
	}
	r := s.report
	if r.TornTail != nil {
		t := *r.TornTail
		r.TornTail = &t
	}
	return r
}

// Compact rewrites the live records into a new log generation and switches
// to it with one rename, reclaiming the space of overwritten and deleted
// payloads. Reads and writes on other goroutines go on meanwhile. A crash
// at any point leaves the old generation or the new one, whole. A
// read-only store gives ErrInvalidArgument; a live record that fails its
// check gives ErrCorruption and changes nothing.
func (s *Store) Compact() error {
	h, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var msg *C.char
	if st := C.wgo_compact(h, &msg); st != C.WAL_OK {
		return newError("Compact", st, msg)
	}
	return nil
}

// Stats returns figures about the store, read in one call.
func (s *Store) Stats() (Stats, error) {
	h, err := s.acquire()
	if err != nil {
		return Stats{}, err
	}
	defer s.mu.RUnlock()
	var (
		c   C.wgo_stats
		msg *C.char
	)
	if st := C.wgo_stats_read(h, &c, &msg); st != C.WAL_OK {
		return Stats{}, newError("Stats", st, msg)
	}
	out := Stats{
		LiveIDs:                uint64(c.live_ids),
		LiveBytes:              uint64(c.live_bytes),
		LogBytes:               uint64(c.log_bytes),
		DeadBytes:              uint64(c.dead_bytes),
		DeadRatio:              float64(c.dead_ratio),
		AutoSnapshots:          uint64(c.auto_snapshots),
		AutoSnapshotFailures:   uint64(c.auto_snapshot_failures),
		Generation:             uint64(c.generation),
		AutoCompactions:        uint64(c.auto_compactions),
		AutoCompactionFailures: uint64(c.auto_compaction_failures),
	}
	if c.last_auto_snapshot_error != nil {
		out.LastAutoSnapshotError = C.GoString(c.last_auto_snapshot_error)
		C.free(unsafe.Pointer(c.last_auto_snapshot_error))
	}
	if c.last_auto_compaction_error != nil {
		out.LastAutoCompactionError = C.GoString(c.last_auto_compaction_error)
		C.free(unsafe.Pointer(c.last_auto_compaction_error))
	}
	return out, nil
}

// Iter is a cursor over a store's live entries as they were when
// Store.Iter opened it, in id order: later writes do not show in it, and a
// compaction does not disturb it. It is for one goroutine at a time.
// Close it when done; Store.Close frees the iterators still open.
type Iter struct {
	s   *Store
	mu  sync.Mutex    // guards it
	it  *C.wal_iter_t // nil once closed
	seq uint64
}

// Iter opens a cursor over the live entries as they are now.
func (s *Store) Iter() (*Iter, error) {
	h, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var (
		it  *C.wal_iter_t
		seq C.uint64_t
		msg *C.char
	)
	if st := C.wgo_iter_open(h, &it, &seq, &msg); st != C.WAL_OK {
		return nil, newError("Iter", st, msg)
	}
	i := &Iter{s: s, it: it, seq: uint64(seq)}
	s.itersMu.Lock()
	if s.iters == nil {
		s.iters = make(map[*Iter]struct{})
	}
	s.iters[i] = struct{}{}
	s.itersMu.Unlock()
	return i, nil
}

// Seq returns the sequence number of the last write the iterator's entries
// reflect (0 for none). A replica that copies the entries follows the store
// from the next sequence number, Seq() + 1.
func (i *Iter) Seq() uint64 {
	if i == nil {
		return 0
	}
	return i.seq
}

// Next returns the next entry, with a copy of its payload (a non-nil,
// empty slice for a zero-length one); ok is false at the end. Each payload
// is CRC-checked as it is read: a damaged one gives ErrCorruption, and the
// next call moves on past it. After Close of the iterator or of its store,
// Next returns ErrClosed.
func (i *Iter) Next() (e Entry, ok bool, err error) {
	if i == nil {
		return Entry{}, false, ErrClosed
	}
	if _, err := i.s.acquire(); err != nil {
		return Entry{}, false, err
	}
	defer i.s.mu.RUnlock()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return Entry{}, false, ErrClosed
	}
	var (
		has  C.bool
		id   C.uint64_t
		data *C.uint8_t
		n    C.size_t
		msg  *C.char
	)
	if st := C.wgo_iter_next(i.it, &has, &id, &data, &n, &msg); st != C.WAL_OK {
		return Entry{}, false, newError("Iter.Next", st, msg)
	}
	if !has {
		return Entry{}, false, nil
	}
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
	}
	return Entry{ID: uint64(id), Data: out}, true, nil
}

// Close frees the iterator. Calling it again, or after Store.Close, returns
// nil.
func (i *Iter) Close() error {
	if i == nil {
		return nil
	}
	if _, err := i.s.acquire(); err != nil {
		return nil // the store's Close freed it
	}
	defer i.s.mu.RUnlock()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return nil
	}
	C.wal_iter_free(i.it)
	i.it = nil
	i.s.itersMu.Lock()
	delete(i.s.iters, i)
	i.s.itersMu.Unlock()
	return nil
}
