// walstore.hpp: a header-only C++17 wrapper over walstore's C API
// (walstore.h). Link with -lwalstore, as for C.
//
// CONVENTIONS
//
// Ownership. walstore::Store, walstore::Options and walstore::Cursor each own
// one C object (wal_t, wal_options, wal_iter_t) and free it in their
// destructor. walstore::WriteBatch is a plain value that owns copies of
// its payloads. They are move-only; a moved-from (or default-constructed)
// object is empty, and a call on an empty object throws walstore::Error with
// Status::invalid_argument (the C function receives NULL); only is_open(),
// get(), close() (which does nothing) and should_snapshot() (false) do not.
//
// Errors. Every failure is thrown as walstore::Error, which carries the
// status and the message wal_last_error() gave right after the failing call
// (what failed and where). Nothing else walstore throws, apart from
// std::bad_alloc from the standard library. Destructors never throw: the
// Store destructor closes (and syncs) silently; call close() to see the
// final sync's result.
//
// Inputs. Payloads are passed as (pointer, size), std::string_view or
// std::vector<std::uint8_t>; walstore copies them before returning.
// WriteBatch copies them when they are added.
//
// Threads. As for the C API: a Store may be used from many threads at once,
// except close(), move and destruction, which must come last. Options,
// Cursor and WriteBatch are for one thread at a time. Error messages are
// per thread.
//
// Lifetimes. A Cursor must be destroyed before the Store it reads.

#ifndef WALSTORE_HPP
#define WALSTORE_HPP

#if __cplusplus < 201703L
#error "walstore.hpp needs C++17 (-std=c++17 or later)"
#endif

#include "walstore.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace walstore {

// The C status codes. Values are fixed forever; new ones are only added.
enum class Status : std::int32_t {
    ok = WAL_OK,
    not_found = WAL_NOT_FOUND,
    invalid_argument = WAL_INVALID_ARGUMENT,
    buffer_too_small = WAL_BUFFER_TOO_SMALL,
    io = WAL_IO,
    no_space = WAL_NO_SPACE,
    corruption = WAL_CORRUPTION,
    locked = WAL_LOCKED,
    incompatible = WAL_INCOMPATIBLE,
    poisoned = WAL_POISONED,
    panic = WAL_PANIC,
    compacted = WAL_COMPACTED,
};

// A static description of any status ("not found", ...; "unknown status"
// for values this version does not know).
inline const char *to_string(Status s) noexcept { return wal_status_str(static_cast<std::int32_t>(s)); }

enum class Durability : std::int32_t {
    fsync = WAL_DURABILITY_FSYNC, // the default: a write survives power loss
    flush = WAL_DURABILITY_FLUSH, // a write survives a crash of the process
    none = WAL_DURABILITY_NONE,   // buffered until full, sync() or close()
};

enum class RecoveryMode : std::int32_t {
    strict = WAL_RECOVERY_STRICT, // the default
    salvage = WAL_RECOVERY_SALVAGE,
    absolute = WAL_RECOVERY_ABSOLUTE,
};

// A failed walstore call.
class Error : public std::runtime_error {
public:
    // `call` names the C function, `message` is wal_last_error()'s text.
    Error(Status status, const char *call, std::string message)
        : std::runtime_error(std::string(call) + ": " + to_string(status) + ": " + message),
          status_(status), call_(call), message_(std::move(message))
    {
    }

    Status status() const noexcept { return status_; }
    // The C function that failed, e.g. "wal_open".
    const char *call() const noexcept { return call_; }
    // wal_last_error() as it was right after the failure.
    const std::string &message() const noexcept { return message_; }

private:
    Status status_;
    const char *call_;
    std::string message_;
};

namespace detail {

// Copies wal_last_error() first: any later walstore call may replace it.
[[noreturn]] inline void raise(const char *call, wal_status s)
{
    std::string message = wal_last_error();
    throw Error(static_cast<Status>(s), call, std::move(message));
}

inline void check(const char *call, wal_status s)
{
    if (s != WAL_OK) {
        raise(call, s);
    }
}

inline const std::uint8_t *bytes(const void *p) noexcept { return static_cast<const std::uint8_t *>(p); }

} // namespace detail

// The library's version, "MAJOR.MINOR.PATCH". Compare with WAL_VERSION_STRING
// to check that the header matches the library.
inline std::string version() { return wal_version(nullptr, nullptr, nullptr); }

// Open options (wal_options). Setters return *this, so they chain:
//   walstore::Options o; o.durability(Durability::flush).max_payload(1 << 20);
// A rejected value throws Error(Status::invalid_argument) and leaves the
// options unchanged.
class Options {
public:
    Options() : opts_(wal_options_new())
    {
        if (opts_ == nullptr) {
            detail::raise("wal_options_new", WAL_PANIC);
        }
    }
    ~Options() { wal_options_free(opts_); }

    Options(Options &&other) noexcept : opts_(std::exchange(other.opts_, nullptr)) {}
    Options &operator=(Options &&other) noexcept
    {
        if (this != &other) {
            wal_options_free(opts_);
            opts_ = std::exchange(other.opts_, nullptr);
        }
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;

    Options &durability(Durability d)
    {
        detail::check("wal_options_set_durability", wal_options_set_durability(opts_, static_cast<std::int32_t>(d)));
        return *this;
    }
    Options &recovery_mode(RecoveryMode m)
    {
        detail::check("wal_options_set_recovery_mode",
                      wal_options_set_recovery_mode(opts_, static_cast<std::int32_t>(m)));
        return *this;
    }
    // From 1 byte to 4 GiB - 1 (default 64 MiB).
    Options &max_payload(std::size_t bytes)
    {
        detail::check("wal_options_set_max_payload", wal_options_set_max_payload(opts_, bytes));
        return *this;
    }
    Options &read_only(bool on)
    {
        detail::check("wal_options_set_read_only", wal_options_set_read_only(opts_, on));
        return *this;
    }
    // 0 makes Store::should_snapshot() always false (default 64 MiB).
    Options &snapshot_threshold(std::uint64_t bytes)
    {
        detail::check("wal_options_set_snapshot_threshold", wal_options_set_snapshot_threshold(opts_, bytes));
        return *this;
    }
    // Automatic snapshots (on by default): the write that makes
    // Store::should_snapshot() true starts one in the background.
    Options &auto_snapshot(bool on)
    {
        detail::check("wal_options_set_auto_snapshot", wal_options_set_auto_snapshot(opts_, on));
        return *this;
    }
    // The Durability::none buffer, from 1 byte to 1 GiB (default 256 KiB).
    Options &write_buffer(std::size_t bytes)
    {
        detail::check("wal_options_set_write_buffer", wal_options_set_write_buffer(opts_, bytes));
        return *this;
    }
    // Automatic compaction: a write that leaves the log at least
    // `min_log_bytes` long with at least `dead_ratio` of its record bytes
    // dead starts one in the background (defaults 0.5 and 64 MiB). A ratio
    // of 0 turns it off; a ratio outside [0, 1), or NaN, throws
    // Status::invalid_argument.
    Options &auto_compact(double dead_ratio, std::uint64_t min_log_bytes)
    {
        detail::check("wal_options_set_auto_compact", wal_options_set_auto_compact(opts_, dead_ratio, min_log_bytes));
        return *this;
    }

    // The C object (NULL when empty); it stays owned by this Options.
    const wal_options *get() const noexcept { return opts_; }
    wal_options *get() noexcept { return opts_; }

private:
    wal_options *opts_;
};

// One entry of Store::store_batch. It points to the caller's bytes, which
// must stay alive until store_batch returns.
struct Entry {
    std::uint64_t id;
    const void *data;
    std::size_t size;

    Entry(std::uint64_t id_, const void *data_, std::size_t size_) noexcept : id(id_), data(data_), size(size_) {}
    Entry(std::uint64_t id_, std::string_view s) noexcept : id(id_), data(s.data()), size(s.size()) {}
    Entry(std::uint64_t id_, const std::vector<std::uint8_t> &v) noexcept : id(id_), data(v.data()), size(v.size()) {}
};

// A mixed batch for Store::write_batch: stores, deletes and range deletes,
// applied in the order they were added (a later operation for the same id
// wins). Adders return *this, so they chain:
//   walstore::WriteBatch b; b.store(1, "one").erase(2).erase_range(10, 19);
// Stored bytes are copied into the batch, so its sources need not outlive
// it. Nothing is checked until the batch is written: an invalid operation
// (a range with lo > hi, a payload over the limit, NULL data with a
// non-zero size) then makes write_batch throw, and nothing of the batch is
// written. A batch may be written any number of times.
class WriteBatch {
public:
    // Stores `size` bytes at `data` under `id`. NULL data with a non-zero
    // size is kept as such, for write_batch to refuse.
    WriteBatch &store(std::uint64_t id, const void *data, std::size_t size)
    {
        std::size_t at = bytes_.size();
        if (data != nullptr) {
            bytes_.insert(bytes_.end(), detail::bytes(data), detail::bytes(data) + size);
        }
        ops_.push_back(Op{WAL_OP_STORE, id, 0, at, size, data == nullptr});
        return *this;
    }
    WriteBatch &store(std::uint64_t id, std::string_view data) { return store(id, data.data(), data.size()); }
    WriteBatch &store(std::uint64_t id, const std::vector<std::uint8_t> &data)
    {
        return store(id, data.data(), data.size());
    }
    // Deletes `id`. Unlike Store::erase, an id that is not in the store is
    // not an error.
    WriteBatch &erase(std::uint64_t id)
    {
        ops_.push_back(Op{WAL_OP_DELETE, id, 0, 0, 0, true});
        return *this;
    }
    // Deletes every id from `lo` to `hi`, both included, with one record.
    WriteBatch &erase_range(std::uint64_t lo, std::uint64_t hi)
    {
        ops_.push_back(Op{WAL_OP_DELETE_RANGE, lo, hi, 0, 0, true});
        return *this;
    }

    // The number of operations.
    std::size_t size() const noexcept { return ops_.size(); }
    bool empty() const noexcept { return ops_.empty(); }
    // Empties the batch, keeping its memory for reuse.
    void clear() noexcept
    {
        ops_.clear();
        bytes_.clear();
    }

    // The C view of the batch, valid until the batch is next changed or
    // destroyed.
    std::vector<wal_write_op> ops() const
    {
        std::vector<wal_write_op> c(ops_.size());
        for (std::size_t i = 0; i < ops_.size(); i++) {
            const Op &o = ops_[i];
            const std::uint8_t *data = o.null_data || o.size == 0 ? nullptr : bytes_.data() + o.at;
            c[i] = wal_write_op{o.kind, o.id, o.id_hi, data, o.size};
        }
        return c;
    }

private:
    struct Op {
        std::int32_t kind;
        std::uint64_t id;
        std::uint64_t id_hi;
        std::size_t at; // offset of a store's bytes in bytes_
        std::size_t size;
        bool null_data;
    };
    std::vector<Op> ops_;
    std::vector<std::uint8_t> bytes_;
};

// The torn tail an open cut (Store::torn_tail()).
struct TornTail {
    std::uint64_t offset; // where it began; the log now ends there
    std::uint64_t bytes;  // its length
    std::string path;     // the side file holding it ("" for a read-only open)
};

// Space accounting and background work (Store::stats()).
struct Stats {
    std::uint64_t live_ids = 0;
    std::uint64_t live_bytes = 0;
    std::uint64_t log_bytes = 0;
    std::uint64_t dead_bytes = 0;
    double dead_ratio = 0.0;
    std::uint64_t auto_snapshots = 0;           // completed since the open
    std::uint64_t auto_snapshot_failures = 0;   // failed since the open
    std::uint64_t generation = 0;               // the log generation: 1, then one more per compaction
    std::uint64_t auto_compactions = 0;         // completed since the open
    std::uint64_t auto_compaction_failures = 0; // failed since the open
    // The messages of the last failed automatic snapshot and compaction
    // since the open, if any failed.
    std::optional<std::string> last_auto_snapshot_error;
    std::optional<std::string> last_auto_compaction_error;
};

// A point-in-time cursor over a store's live entries, in id order
// (Store::cursor()). Destroy it before its Store.
class Cursor {
public:
    struct Item {
        std::uint64_t id = 0;
        const std::uint8_t *data = nullptr; // valid until the next next() or ~Cursor
        std::size_t size = 0;

        std::string_view view() const noexcept
        {
            return std::string_view(reinterpret_cast<const char *>(data), size);
        }
        std::vector<std::uint8_t> bytes() const { return std::vector<std::uint8_t>(data, data + size); }
    };

    Cursor() noexcept = default;
    ~Cursor() { wal_iter_free(it_); }
    Cursor(Cursor &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    Cursor &operator=(Cursor &&other) noexcept
    {
        if (this != &other) {
            wal_iter_free(it_);
            it_ = std::exchange(other.it_, nullptr);
        }
        return *this;
    }
    Cursor(const Cursor &) = delete;
    Cursor &operator=(const Cursor &) = delete;

    // Moves to the next entry: true and `item` filled, or false at the end.
    // A damaged payload throws Error(Status::corruption); the next call
    // moves on past it.
    bool next(Item &item)
    {
        bool has = false;
        std::uint64_t id = 0;
        const std::uint8_t *data = nullptr;
        std::size_t len = 0;
        detail::check("wal_iter_next", wal_iter_next(it_, &has, &id, &data, &len));
        if (has) {
            item.id = id;
            item.data = data;
            item.size = len;
        }
        return has;
    }

    // The sequence number of the last write the cursor's entries reflect (0
    // for none): a replica that copies them follows the store with a change
    // cursor from seq() + 1.
    std::uint64_t seq() const
    {
        std::uint64_t out = 0;
        detail::check("wal_iter_seq", wal_iter_seq(it_, &out));
        return out;
    }

    wal_iter_t *get() const noexcept { return it_; }

private:
    friend class Store;
    explicit Cursor(wal_iter_t *it) noexcept : it_(it) {}
    wal_iter_t *it_ = nullptr;
};

// An open store (wal_t).
class Store {
public:
    // An empty Store: no store is open.
    Store() noexcept = default;

    // Opens (creating if needed, unless read-only) the store in `dir`, with
    // the default options or `opts`. Throws Error: Status::locked,
    // corruption, incompatible, io, invalid_argument, ...
    explicit Store(const std::string &dir) { open(dir, nullptr); }
    Store(const std::string &dir, const Options &opts)
    {
        if (opts.get() == nullptr) { // moved-from: not "the defaults", which NULL means to wal_open
            throw Error(Status::invalid_argument, "wal_open", "the Options object is empty (moved from)");
        }
        open(dir, opts.get());
    }

    // Closes silently (the final sync's status is lost: use close()).
    ~Store() { wal_close(w_); }

    Store(Store &&other) noexcept : w_(std::exchange(other.w_, nullptr)) {}
    // Closes the store this one held (silently), then takes other's.
    Store &operator=(Store &&other) noexcept
    {
        if (this != &other) {
            wal_close(w_);
            w_ = std::exchange(other.w_, nullptr);
        }
        return *this;
    }
    Store(const Store &) = delete;
    Store &operator=(const Store &) = delete;

    bool is_open() const noexcept { return w_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }

    // Syncs, releases the lock and frees the handle; the Store is then empty,
    // even when the final sync fails (that failure is thrown). On an empty
    // Store it does nothing.
    void close() { detail::check("wal_close", wal_close(std::exchange(w_, nullptr))); }

    // Stores a payload under `id`, replacing any earlier one. Throws
    // Status::invalid_argument for a payload over the limit, a read-only
    // store or NULL data with a non-zero size.
    void store(std::uint64_t id, const void *data, std::size_t size)
    {
        detail::check("wal_store", wal_store(w_, id, detail::bytes(data), size));
    }
    void store(std::uint64_t id, std::string_view data) { store(id, data.data(), data.size()); }
    void store(std::uint64_t id, const std::vector<std::uint8_t> &data) { store(id, data.data(), data.size()); }

    // Stores every entry with one write and one flush or fsync: after a
    // crash, all of them or none. A later entry for the same id wins.
    void store_batch(const Entry *entries, std::size_t count)
    {
        std::vector<wal_entry> c(count);
        for (std::size_t i = 0; i < count; i++) {
            c[i] = wal_entry{entries[i].id, detail::bytes(entries[i].data), entries[i].size};
        }
        store_batch(c.data(), c.size());
    }
    void store_batch(const std::vector<Entry> &entries) { store_batch(entries.data(), entries.size()); }
    void store_batch(std::initializer_list<Entry> entries) { store_batch(entries.begin(), entries.size()); }
    void store_batch(const wal_entry *entries, std::size_t count)
    {
        detail::check("wal_store_batch", wal_store_batch(w_, entries, count));
    }

    // The payload of `id`. Throws Status::not_found, corruption, io.
    std::vector<std::uint8_t> retrieve(std::uint64_t id)
    {
        std::vector<std::uint8_t> buf;
        for (;;) {
            std::size_t len = 0;
            wal_status s = wal_retrieve(w_, id, buf.data(), buf.size(), &len);
            if (s == WAL_OK) {
                buf.resize(len);
                return buf;
            }
            if (s != WAL_BUFFER_TOO_SMALL) {
                detail::raise("wal_retrieve", s);
            }
            buf.resize(len); // another thread may replace it meanwhile: loop
        }
    }

    // The payload of `id` as a std::string (bytes unchanged).
    std::string retrieve_string(std::uint64_t id)
    {
        std::vector<std::uint8_t> v = retrieve(id);
        return std::string(v.begin(), v.end());
    }

    // Copies the payload of `id` into `buf` (capacity `cap` bytes) and
    // returns its length. When that is more than `cap`, nothing is copied
    // and the return value is the length needed; cap 0 (buf may then be
    // NULL) is a size query. Throws Status::not_found, corruption, io.
    std::size_t retrieve(std::uint64_t id, void *buf, std::size_t cap)
    {
        std::size_t len = 0;
        wal_status s = wal_retrieve(w_, id, static_cast<std::uint8_t *>(buf), cap, &len);
        if (s != WAL_OK && s != WAL_BUFFER_TOO_SMALL) {
            detail::raise("wal_retrieve", s);
        }
        return len;
    }

    // Deletes `id`. Throws Status::not_found when it is not in the store.
    void erase(std::uint64_t id) { detail::check("wal_delete", wal_delete(w_, id)); }

    // Deletes every id from `lo` to `hi`, both included, with one record;
    // ids in the range that are not in the store are no error. Throws
    // Status::invalid_argument for lo > hi or a read-only store.
    void erase_range(std::uint64_t lo, std::uint64_t hi)
    {
        detail::check("wal_delete_range", wal_delete_range(w_, lo, hi));
    }

    // Writes every operation of `batch` with one write and one flush or
    // fsync: after a crash, all of them or none. An empty batch writes
    // nothing (but a read-only store refuses it). Throws
    // Status::invalid_argument, from "wal_write_batch", when any operation
    // is invalid; nothing is written then.
    void write_batch(const WriteBatch &batch)
    {
        std::vector<wal_write_op> c = batch.ops();
        write_batch(c.data(), c.size());
    }
    void write_batch(const wal_write_op *ops, std::size_t count)
    {
        detail::check("wal_write_batch", wal_write_batch(w_, ops, count));
    }

    // Makes every write so far survive power loss, whatever the durability.
    void sync() { detail::check("wal_sync", wal_sync(w_)); }

    // Writes a snapshot of the index, so the next open replays less.
    void snapshot() { detail::check("wal_snapshot", wal_snapshot(w_)); }

    // Rewrites the live records into a new log generation and switches to
    // it, reclaiming the space of overwritten and deleted payloads; readers
    // and writers go on meanwhile. Change cursors can then start only above
    // the last sequence number written before it. Throws
    // Status::invalid_argument (a read-only store), corruption, io,
    // no_space, poisoned.
    void compact() { detail::check("wal_compact", wal_compact(w_)); }
    // The log generation: 1 for a new store, one more after each compaction.
    std::uint64_t generation() const { return get_u64("wal_stat_generation", wal_stat_generation); }

    // The log position of the newest snapshot (64 when there is none).
    std::uint64_t snapshot_position() const { return get_u64("wal_snapshot_position", wal_snapshot_position); }
    // Whether the log grew by the snapshot threshold since the last snapshot.
    bool should_snapshot() const noexcept { return wal_should_snapshot(w_); }
    // Where the next record goes.
    std::uint64_t log_position() const { return get_u64("wal_log_position", wal_log_position); }

    // What the open did.
    std::uint64_t records_replayed() const { return get_u64("wal_open_records_replayed", wal_open_records_replayed); }
    std::uint64_t damaged_records() const { return get_u64("wal_open_damaged_records", wal_open_damaged_records); }
    bool reinitialised() const
    {
        bool out = false;
        detail::check("wal_open_reinitialised", wal_open_reinitialised(w_, &out));
        return out;
    }
    // The snapshot position the open loaded, or nothing for a full replay.
    std::optional<std::uint64_t> snapshot_used() const
    {
        std::uint64_t out = 0;
        wal_status s = wal_open_snapshot_used(w_, &out);
        if (s == WAL_NOT_FOUND) {
            return std::nullopt;
        }
        detail::check("wal_open_snapshot_used", s);
        return out;
    }
    // The torn tail the open found, or nothing.
    std::optional<TornTail> torn_tail() const
    {
        TornTail t{0, 0, std::string()};
        wal_status s = wal_open_torn_tail(w_, &t.offset, &t.bytes);
        if (s == WAL_NOT_FOUND) {
            return std::nullopt;
        }
        detail::check("wal_open_torn_tail", s);
        const char *path = nullptr;
        s = wal_open_torn_tail_path(w_, &path);
        if (s == WAL_OK) {
            t.path = path;
        } else if (s != WAL_NOT_FOUND) { // NOT_FOUND: a read-only open cut nothing
            detail::raise("wal_open_torn_tail_path", s);
        }
        return t;
    }

    Stats stats() const
    {
        Stats st;
        detail::check("wal_stat_live_ids", wal_stat_live_ids(w_, &st.live_ids));
        detail::check("wal_stat_live_bytes", wal_stat_live_bytes(w_, &st.live_bytes));
        detail::check("wal_stat_log_bytes", wal_stat_log_bytes(w_, &st.log_bytes));
        detail::check("wal_stat_dead_bytes", wal_stat_dead_bytes(w_, &st.dead_bytes));
        detail::check("wal_stat_dead_ratio", wal_stat_dead_ratio(w_, &st.dead_ratio));
        detail::check("wal_stat_auto_snapshots", wal_stat_auto_snapshots(w_, &st.auto_snapshots));
        detail::check("wal_stat_auto_snapshot_failures", wal_stat_auto_snapshot_failures(w_, &st.auto_snapshot_failures));
        detail::check("wal_stat_generation", wal_stat_generation(w_, &st.generation));
        detail::check("wal_stat_auto_compactions", wal_stat_auto_compactions(w_, &st.auto_compactions));
        detail::check("wal_stat_auto_compaction_failures",
                      wal_stat_auto_compaction_failures(w_, &st.auto_compaction_failures));
        st.last_auto_snapshot_error = last_auto_snapshot_error();
        st.last_auto_compaction_error = last_auto_compaction_error();
        return st;
    }

    // The message of the last failed automatic snapshot since the open, or
    // nothing when none failed.
    std::optional<std::string> last_auto_snapshot_error() const
    {
        return get_message("wal_stat_last_auto_snapshot_error", wal_stat_last_auto_snapshot_error);
    }
    // The message of the last failed automatic compaction since the open,
    // or nothing when none failed.
    std::optional<std::string> last_auto_compaction_error() const
    {
        return get_message("wal_stat_last_auto_compaction_error", wal_stat_last_auto_compaction_error);
    }

    // How long the open took, in microseconds.
    std::uint64_t open_duration_us() const { return get_u64("wal_open_duration_us", wal_open_duration_us); }

    // A cursor over the live entries as they are now.
    Cursor cursor()
    {
        wal_iter_t *it = nullptr;
        detail::check("wal_iter_open", wal_iter_open(w_, &it));
        return Cursor(it);
    }

    // The C handle (NULL when empty); it stays owned by this Store.
    wal_t *get() const noexcept { return w_; }

private:
    void open(const std::string &dir, const wal_options *opts)
    {
        detail::check("wal_open", wal_open(dir.c_str(), opts, &w_));
    }

    std::uint64_t get_u64(const char *call, wal_status (*fn)(const wal_t *, std::uint64_t *)) const
    {
        std::uint64_t out = 0;
        detail::check(call, fn(w_, &out));
        return out;
    }

    std::optional<std::string> get_message(const char *call,
                                           wal_status (*fn)(const wal_t *, std::uint8_t *, std::size_t,
                                                            std::size_t *)) const
    {
        std::string buf;
        for (;;) {
            std::size_t len = 0;
            wal_status s = fn(w_, reinterpret_cast<std::uint8_t *>(buf.data()), buf.size(), &len);
            if (s == WAL_NOT_FOUND) {
                return std::nullopt;
            }
            if (s == WAL_OK) {
                buf.resize(len);
                return buf;
            }
            if (s != WAL_BUFFER_TOO_SMALL) {
                detail::raise(call, s);
            }
            buf.resize(len + 1); // room for the NUL; a newer failure may replace it meanwhile: loop
        }
    }

    wal_t *w_ = nullptr;
};

} // namespace walstore

#endif // WALSTORE_HPP
