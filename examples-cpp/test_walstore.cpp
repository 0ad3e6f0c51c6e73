// test_walstore.cpp: the test of the C++ wrapper include/walstore.hpp.
//
// `make cpp-test` builds it with g++ -std=c++17 -Wall -Wextra -Wpedantic
// -Werror and ASan/UBSan (LeakSanitizer included) and runs it. It calls
// every member of walstore::Options, Store, Cursor, WriteBatch and Error,
// checks exact bytes and exact values, and for every failure the exact
// exception type (walstore::Error), status and failing C function. Each
// failed check prints file:line and what differed; the program exits 1 if
// any failed.
//
// Every scenario works in its own fresh directory under /tmp
// (/tmp/walstore-cpptest-XXXXXX), removed at the end of the scenario.
//
// On-disk facts used (docs/FORMAT.md): the log wal-0000000000000001.log is
// a 64-byte header followed by records of a 32-byte header plus the payload
// (a tombstone has none); so a fresh store's first payload starts at byte 96.

#include "walstore.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using walstore::Durability;
using walstore::Entry;
using walstore::Error;
using walstore::Options;
using walstore::RecoveryMode;
using walstore::Status;
using walstore::Store;
using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

static int g_failures = 0;
static unsigned long g_checks = 0;

static const char *status_name(Status s)
{
    switch (s) {
    case Status::ok: return "ok";
    case Status::not_found: return "not_found";
    case Status::invalid_argument: return "invalid_argument";
    case Status::buffer_too_small: return "buffer_too_small";
    case Status::io: return "io";
    case Status::no_space: return "no_space";
    case Status::corruption: return "corruption";
    case Status::locked: return "locked";
    case Status::incompatible: return "incompatible";
    case Status::poisoned: return "poisoned";
    case Status::panic: return "panic";
    case Status::compacted: return "compacted";
    }
    return "(unknown)";
}

template <typename T> static std::string show(const T &v)
{
    std::ostringstream o;
    o << v;
    return o.str();
}
static std::string show(const Bytes &v)
{
    std::ostringstream o;
    o << "[" << v.size() << " bytes:";
    for (std::size_t i = 0; i < v.size() && i < 24; i++) {
        o << " " << static_cast<unsigned>(v[i]);
    }
    o << (v.size() > 24 ? " ...]" : "]");
    return o.str();
}
static std::string show(const std::string &v)
{
    std::ostringstream o;
    o << '"';
    for (unsigned char c : v) {
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"') {
            o << static_cast<char>(c);
        } else {
            o << "\\x" << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 15];
        }
    }
    o << '"';
    return o.str();
}
static std::string show(Status s) { return status_name(s); }
static std::string show(const std::optional<std::uint64_t> &v) { return v ? show(*v) : std::string("nullopt"); }
static std::string show(const std::optional<std::string> &v) { return v ? show(*v) : std::string("nullopt"); }
static std::string show(bool b) { return b ? "true" : "false"; }

static void fail(const char *file, int line, const std::string &what)
{
    g_failures++;
    std::cerr << file << ":" << line << ": FAILED: " << what << "\n";
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        g_checks++;                                                                                \
        if (!(cond))                                                                               \
            fail(__FILE__, __LINE__, #cond);                                                       \
    } while (0)

#define CHECK_EQ(actual, expected)                                                                 \
    do {                                                                                           \
        g_checks++;                                                                                \
        const auto &a_ = (actual);                                                                 \
        const auto &e_ = (expected);                                                               \
        if (!(a_ == e_))                                                                           \
            fail(__FILE__, __LINE__,                                                               \
                 std::string(#actual " == " #expected ": got ") + show(a_) + ", want " + show(e_)); \
    } while (0)

// Runs `stmt`, which must throw walstore::Error with exactly `status`, from
// the C function `call`, with a non-empty message (wal_last_error()).
#define EXPECT_ERROR(stmt, want_status, want_call)                                                 \
    do {                                                                                           \
        g_checks++;                                                                                \
        try {                                                                                      \
            stmt;                                                                                  \
            fail(__FILE__, __LINE__, std::string(#stmt " did not throw; want ") +                  \
                                         status_name(want_status) + " from " + (want_call));      \
        } catch (const Error &e_) {                                                                \
            if (e_.status() != (want_status) || std::string(e_.call()) != (want_call) ||          \
                e_.message().empty())                                                              \
                fail(__FILE__, __LINE__,                                                           \
                     std::string(#stmt ": got ") + status_name(e_.status()) + " from " +           \
                         e_.call() + " (\"" + e_.message() + "\"), want " +                        \
                         status_name(want_status) + " from " + (want_call));                       \
        }                                                                                          \
    } while (0)

static Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir()
    {
        char tmpl[] = "/tmp/walstore-cpptest-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) {
            std::perror("mkdtemp");
            std::exit(2);
        }
        path_ = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::string &path() const { return path_; }
    std::string log() const { return path_ + "/wal-0000000000000001.log"; }

private:
    std::string path_;
};

static void flip_byte(const std::string &path, std::streamoff at)
{
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0xFF);
    f.seekp(at);
    f.write(&c, 1);
    if (!f) {
        std::cerr << "flip_byte " << path << " failed\n";
        std::exit(2);
    }
}

static std::uintmax_t file_size(const std::string &path) { return fs::file_size(path); }

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

static void test_types_and_strings()
{
    static_assert(!std::is_copy_constructible_v<Store> && !std::is_copy_assignable_v<Store>);
    static_assert(std::is_nothrow_move_constructible_v<Store> && std::is_nothrow_move_assignable_v<Store>);
    static_assert(!std::is_copy_constructible_v<Options> && !std::is_copy_assignable_v<Options>);
    static_assert(std::is_nothrow_move_constructible_v<Options> && std::is_nothrow_move_assignable_v<Options>);
    static_assert(!std::is_copy_constructible_v<walstore::Cursor>);
    static_assert(std::is_nothrow_move_constructible_v<walstore::Cursor>);
    static_assert(std::is_base_of_v<std::runtime_error, Error>);
    static_assert(static_cast<std::int32_t>(Status::panic) == 10);
    static_assert(static_cast<std::int32_t>(Status::compacted) == 11);

    CHECK_EQ(walstore::version(), std::string(WAL_VERSION_STRING));
    CHECK_EQ(std::string(walstore::to_string(Status::ok)), std::string("ok"));
    CHECK_EQ(std::string(walstore::to_string(Status::not_found)), std::string("not found"));
    CHECK_EQ(std::string(walstore::to_string(Status::corruption)), std::string("corruption"));
    CHECK_EQ(std::string(walstore::to_string(static_cast<Status>(99))), std::string("unknown status"));

    Error e(Status::locked, "wal_open", "held elsewhere");
    CHECK_EQ(e.status(), Status::locked);
    CHECK_EQ(std::string(e.call()), std::string("wal_open"));
    CHECK_EQ(e.message(), std::string("held elsewhere"));
    CHECK_EQ(std::string(e.what()), std::string("wal_open: store is locked by another open: held elsewhere"));
}

static void test_options()
{
    Options o;
    CHECK(o.get() != nullptr);
    // Every setter accepts its valid values and chains.
    Options &r = o.durability(Durability::flush)
                     .recovery_mode(RecoveryMode::salvage)
                     .max_payload(1)
                     .max_payload(4294967295u)
                     .read_only(false)
                     .snapshot_threshold(0)
                     .auto_snapshot(false)
                     .auto_snapshot(true)
                     .write_buffer(1)
                     .write_buffer(std::size_t(1) << 30)
                     .auto_compact(0.0, 0)
                     .auto_compact(0.999999, UINT64_MAX)
                     .auto_compact(0.5, 64 << 20);
    CHECK(&r == &o);

    // Rejected values: exact status and the C function that refused them.
    EXPECT_ERROR(o.durability(static_cast<Durability>(3)), Status::invalid_argument, "wal_options_set_durability");
    EXPECT_ERROR(o.recovery_mode(static_cast<RecoveryMode>(-1)), Status::invalid_argument,
                 "wal_options_set_recovery_mode");
    EXPECT_ERROR(o.max_payload(0), Status::invalid_argument, "wal_options_set_max_payload");
    EXPECT_ERROR(o.max_payload(4294967296u), Status::invalid_argument, "wal_options_set_max_payload");
    EXPECT_ERROR(o.write_buffer(0), Status::invalid_argument, "wal_options_set_write_buffer");
    EXPECT_ERROR(o.write_buffer((std::size_t(1) << 30) + 1), Status::invalid_argument, "wal_options_set_write_buffer");
    for (double bad : {-0.5, 1.0, 1.5, std::nan(""), HUGE_VAL, -HUGE_VAL, 1e-9}) {
        EXPECT_ERROR(o.auto_compact(bad, 0), Status::invalid_argument, "wal_options_set_auto_compact");
    }
    try {
        o.auto_compact(1.0, 0);
        CHECK(false);
    } catch (const Error &e) {
        CHECK_EQ(e.message(), std::string("wal_options_set_auto_compact: invalid argument: dead-byte ratio 1 for "
                                          "automatic compaction is outside [0, 1)"));
    }

    // Move: the source is empty, and every setter on it reaches C with NULL.
    wal_options *raw = o.get();
    Options moved(std::move(o));
    CHECK(moved.get() == raw);
    CHECK(o.get() == nullptr); // NOLINT(bugprone-use-after-move): documented empty state
    EXPECT_ERROR(o.durability(Durability::fsync), Status::invalid_argument, "wal_options_set_durability");
    EXPECT_ERROR(o.recovery_mode(RecoveryMode::strict), Status::invalid_argument, "wal_options_set_recovery_mode");
    EXPECT_ERROR(o.max_payload(10), Status::invalid_argument, "wal_options_set_max_payload");
    EXPECT_ERROR(o.read_only(true), Status::invalid_argument, "wal_options_set_read_only");
    EXPECT_ERROR(o.snapshot_threshold(10), Status::invalid_argument, "wal_options_set_snapshot_threshold");
    EXPECT_ERROR(o.auto_snapshot(false), Status::invalid_argument, "wal_options_set_auto_snapshot");
    EXPECT_ERROR(o.write_buffer(10), Status::invalid_argument, "wal_options_set_write_buffer");
    EXPECT_ERROR(o.auto_compact(0.5, 0), Status::invalid_argument, "wal_options_set_auto_compact");

    Options other;
    other = std::move(moved); // frees other's own options (LeakSanitizer checks)
    CHECK(other.get() == raw);
    CHECK(moved.get() == nullptr); // NOLINT(bugprone-use-after-move)

    // An empty Options is refused by Store, rather than meaning "defaults".
    TempDir d;
    EXPECT_ERROR(Store(d.path(), moved), Status::invalid_argument, "wal_open");
}

static void test_store_and_retrieve()
{
    TempDir d;
    Store s(d.path());
    CHECK(s.is_open());
    CHECK(static_cast<bool>(s));
    CHECK(s.get() != nullptr);

    // (pointer, size), string_view and vector inputs; exact bytes back.
    const char raw[] = {'r', 'a', 'w', '\0', 'x'};
    s.store(1, raw, sizeof raw);
    s.store(2, std::string_view("view\0with nul", 13));
    Bytes all(256);
    for (std::size_t i = 0; i < all.size(); i++) {
        all[i] = static_cast<std::uint8_t>(255 - i);
    }
    s.store(3, all);
    s.store(4, nullptr, 0);     // an empty payload is valid, and data may be NULL
    s.store(5, std::string());  // an empty string_view too
    s.store(6, Bytes());        // and an empty vector

    CHECK_EQ(s.retrieve(1), Bytes({'r', 'a', 'w', 0, 'x'}));
    CHECK_EQ(s.retrieve(2), bytes_of(std::string_view("view\0with nul", 13)));
    CHECK_EQ(s.retrieve(3), all);
    CHECK_EQ(s.retrieve(4), Bytes());
    CHECK_EQ(s.retrieve(5), Bytes());
    CHECK_EQ(s.retrieve(6), Bytes());
    CHECK_EQ(s.retrieve_string(2), std::string("view\0with nul", 13));
    CHECK_EQ(s.retrieve_string(4), std::string());

    // Replacing a payload.
    s.store(1, std::string_view("replaced"));
    CHECK_EQ(s.retrieve_string(1), std::string("replaced"));

    // Into a caller's buffer: the length comes back, the rest is untouched.
    std::uint8_t buf[16];
    std::memset(buf, 0xEE, sizeof buf);
    CHECK_EQ(s.retrieve(1, buf, sizeof buf), std::size_t(8));
    CHECK_EQ(Bytes(buf, buf + 16), Bytes({'r', 'e', 'p', 'l', 'a', 'c', 'e', 'd', 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE,
                                          0xEE, 0xEE}));
    // Exactly the right size.
    std::memset(buf, 0xEE, sizeof buf);
    CHECK_EQ(s.retrieve(1, buf, 8), std::size_t(8));
    CHECK_EQ(Bytes(buf, buf + 9), Bytes({'r', 'e', 'p', 'l', 'a', 'c', 'e', 'd', 0xEE}));
    // Too small: the needed length, and nothing copied.
    std::memset(buf, 0xEE, sizeof buf);
    CHECK_EQ(s.retrieve(1, buf, 7), std::size_t(8));
    CHECK_EQ(Bytes(buf, buf + 16), Bytes(16, 0xEE));
    CHECK_EQ(s.retrieve(3, buf, sizeof buf), std::size_t(256));
    CHECK_EQ(Bytes(buf, buf + 16), Bytes(16, 0xEE));
    // Size queries.
    CHECK_EQ(s.retrieve(1, nullptr, 0), std::size_t(8));
    CHECK_EQ(s.retrieve(3, nullptr, 0), std::size_t(256));
    CHECK_EQ(s.retrieve(4, nullptr, 0), std::size_t(0));
    // NULL with a capacity is the caller's mistake.
    EXPECT_ERROR(s.retrieve(1, nullptr, 4), Status::invalid_argument, "wal_retrieve");

    // Not found, in every form.
    EXPECT_ERROR(s.retrieve(42), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.retrieve_string(42), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.retrieve(42, buf, sizeof buf), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.retrieve(42, nullptr, 0), Status::not_found, "wal_retrieve");

    // erase.
    s.erase(2);
    EXPECT_ERROR(s.retrieve(2), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.erase(2), Status::not_found, "wal_delete");
    EXPECT_ERROR(s.erase(42), Status::not_found, "wal_delete");

    // Invalid arguments: NULL with a length, a payload over the limit.
    EXPECT_ERROR(s.store(7, nullptr, 3), Status::invalid_argument, "wal_store");
    EXPECT_ERROR(s.retrieve(7), Status::not_found, "wal_retrieve");

    // The message of an Error is the one of its own failure, fetched at once.
    try {
        s.retrieve(4242);
        fail(__FILE__, __LINE__, "retrieve(4242) did not throw");
    } catch (const Error &e) {
        g_checks++;
        CHECK_EQ(std::string(e.what()), std::string("wal_retrieve: not found: ") + e.message());
        CHECK(e.message().find("4242") != std::string::npos);
    }

    s.sync();
    s.close();
    CHECK(!s.is_open());
    CHECK(s.get() == nullptr);
    s.close(); // closing an empty Store does nothing

    // Everything survived, exactly.
    Store again(d.path());
    CHECK_EQ(again.records_replayed(), std::uint64_t(8)); // 7 stores and 1 delete
    CHECK_EQ(again.retrieve_string(1), std::string("replaced"));
    CHECK_EQ(again.retrieve(3), all);
    CHECK_EQ(again.retrieve(4), Bytes());
    EXPECT_ERROR(again.retrieve(2), Status::not_found, "wal_retrieve");
}

static void test_batches_and_limit()
{
    TempDir d;
    Options o;
    o.max_payload(8);
    Store s(d.path(), o);

    const std::string five = "five!";
    const Bytes three = {3, 3, 3};
    s.store_batch({Entry(1, std::string_view("one")), Entry(2, three), Entry(3, five.data(), five.size()),
                   Entry(4, nullptr, 0), Entry(1, std::string_view("one-b"))});
    CHECK_EQ(s.retrieve_string(1), std::string("one-b")); // the later entry wins
    CHECK_EQ(s.retrieve(2), three);
    CHECK_EQ(s.retrieve_string(3), std::string("five!"));
    CHECK_EQ(s.retrieve(4), Bytes());

    std::vector<Entry> v = {Entry(10, std::string_view("ten")), Entry(11, std::string_view("eleven"))};
    s.store_batch(v);
    s.store_batch(v.data(), 1);
    CHECK_EQ(s.retrieve_string(10), std::string("ten"));
    CHECK_EQ(s.retrieve_string(11), std::string("eleven"));

    const wal_entry c[] = {{20, reinterpret_cast<const std::uint8_t *>("twenty"), 6}, {21, nullptr, 0}};
    s.store_batch(c, 2);
    CHECK_EQ(s.retrieve_string(20), std::string("twenty"));
    CHECK_EQ(s.retrieve(21), Bytes());

    // Empty batches are no-ops.
    std::uint64_t before = s.log_position();
    s.store_batch(std::vector<Entry>());
    s.store_batch(static_cast<const wal_entry *>(nullptr), 0);
    CHECK_EQ(s.log_position(), before);

    // The limit: 8 bytes pass, 9 do not, and a batch with one bad entry
    // writes nothing at all.
    s.store(30, std::string_view("12345678"));
    EXPECT_ERROR(s.store(31, std::string_view("123456789")), Status::invalid_argument, "wal_store");
    before = s.log_position();
    EXPECT_ERROR(s.store_batch({Entry(32, std::string_view("ok")), Entry(33, std::string_view("123456789"))}),
                 Status::invalid_argument, "wal_store_batch");
    EXPECT_ERROR(s.store_batch({Entry(34, std::string_view("ok")), Entry(35, nullptr, 1)}), Status::invalid_argument,
                 "wal_store_batch");
    CHECK_EQ(s.log_position(), before);
    EXPECT_ERROR(s.retrieve(31), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.retrieve(32), Status::not_found, "wal_retrieve");
    EXPECT_ERROR(s.retrieve(34), Status::not_found, "wal_retrieve");
    CHECK_EQ(s.retrieve_string(30), std::string("12345678"));
}

static void test_write_batches()
{
    TempDir d;
    Options o;
    o.max_payload(8).auto_snapshot(false);
    std::uint64_t end = 0;
    {
        Store s(d.path(), o);
        for (std::uint64_t id = 1; id <= 6; id++) {
            s.store(id, Bytes(2, static_cast<std::uint8_t>(id))); // 34 bytes each
        }
        s.store(UINT64_MAX, std::string_view("top"));
        s.store(0, std::string_view("zero"));

        // Building: adders chain, size/empty/clear.
        walstore::WriteBatch b;
        CHECK(b.empty());
        CHECK_EQ(b.size(), std::size_t(0));
        std::string src = "seven";
        walstore::WriteBatch &r = b.store(7, src)
                                      .erase(7)                          // stored, then deleted
                                      .erase(2)                          // a live id...
                                      .store(2, Bytes({2, 2, 2}))        // ...stored again after
                                      .erase(99)                         // never existed: no error
                                      .erase_range(4, 5)                 // both ends, not 3 or 6
                                      .store(5, "five!", 5)              // back after the range
                                      .store(8, src);                    // copied now...
        CHECK(&r == &b);
        CHECK_EQ(b.size(), std::size_t(8));
        CHECK(!b.empty());
        src = "CHANGED";                                                 // ...so this does not matter
        const std::vector<wal_write_op> view = b.ops();
        CHECK_EQ(view.size(), std::size_t(8));
        CHECK_EQ(view[5].op, std::int32_t(WAL_OP_DELETE_RANGE));
        CHECK_EQ(view[5].id, std::uint64_t(4));
        CHECK_EQ(view[5].id_hi, std::uint64_t(5));
        CHECK_EQ(view[1].op, std::int32_t(WAL_OP_DELETE));
        CHECK(view[1].data == nullptr);
        CHECK_EQ(view[7].op, std::int32_t(WAL_OP_STORE));
        CHECK_EQ(Bytes(view[7].data, view[7].data + view[7].len), bytes_of("seven"));

        std::uint64_t before = s.log_position();
        s.write_batch(b);
        // One framed group: begin + 8 records + commit; the range record's
        // payload is its 8-byte high end.
        CHECK_EQ(s.log_position(), before + 10 * 32 + 5 + 3 + 8 + 5 + 5);
        CHECK_EQ(s.retrieve_string(1), std::string(2, '\x01'));
        CHECK_EQ(s.retrieve(2), Bytes({2, 2, 2}));
        CHECK_EQ(s.retrieve(3), Bytes(2, 3));
        EXPECT_ERROR(s.retrieve(4), Status::not_found, "wal_retrieve");
        CHECK_EQ(s.retrieve_string(5), std::string("five!"));
        CHECK_EQ(s.retrieve(6), Bytes(2, 6));
        EXPECT_ERROR(s.retrieve(7), Status::not_found, "wal_retrieve");
        CHECK_EQ(s.retrieve_string(8), std::string("seven"));
        EXPECT_ERROR(s.retrieve(99), Status::not_found, "wal_retrieve");
        CHECK_EQ(s.stats().live_ids, std::uint64_t(8)); // 0, 1, 2, 3, 5, 6, 8, top

        // A batch may be written again; clear() empties it.
        b.clear();
        CHECK(b.empty());
        CHECK_EQ(b.ops().size(), std::size_t(0));
        before = s.log_position();
        s.write_batch(b); // empty: writes nothing
        s.write_batch(static_cast<const wal_write_op *>(nullptr), 0);
        CHECK_EQ(s.log_position(), before);
        b.erase(6);
        s.write_batch(b); // a batch of one: one plain record
        CHECK_EQ(s.log_position(), before + 32);
        s.write_batch(b); // 6 is gone now: still no error
        EXPECT_ERROR(s.retrieve(6), Status::not_found, "wal_retrieve");

        // erase_range: the ends of the id space, and a range that holds
        // no id.
        s.erase_range(UINT64_MAX, UINT64_MAX);
        EXPECT_ERROR(s.retrieve(UINT64_MAX), Status::not_found, "wal_retrieve");
        s.erase_range(0, 0);
        EXPECT_ERROR(s.retrieve(0), Status::not_found, "wal_retrieve");
        CHECK_EQ(s.retrieve(1), Bytes(2, 1));
        before = s.log_position();
        s.erase_range(1000, 2000);
        CHECK_EQ(s.log_position(), before + 40);

        // Refusals: exact status, the C function, the message; nothing is
        // written.
        before = s.log_position();
        try {
            s.erase_range(9, 8);
            fail(__FILE__, __LINE__, "erase_range(9, 8) did not throw");
        } catch (const Error &e) {
            g_checks++;
            CHECK_EQ(e.status(), Status::invalid_argument);
            CHECK_EQ(std::string(e.call()), std::string("wal_delete_range"));
            CHECK_EQ(e.message(), std::string("wal_delete_range: invalid argument: range delete from id 9 to id 8: "
                                              "the low end is above the high end"));
        }
        EXPECT_ERROR(s.erase_range(UINT64_MAX, 0), Status::invalid_argument, "wal_delete_range");
        walstore::WriteBatch bad;
        bad.store(30, "ok", 2).erase(1).erase_range(3, 2);
        try {
            s.write_batch(bad);
            fail(__FILE__, __LINE__, "write_batch with a range 3..2 did not throw");
        } catch (const Error &e) {
            g_checks++;
            CHECK_EQ(e.status(), Status::invalid_argument);
            CHECK_EQ(std::string(e.call()), std::string("wal_write_batch"));
            CHECK_EQ(e.message(), std::string("wal_write_batch: invalid argument: range delete from id 3 to id 2: "
                                              "the low end is above the high end"));
        }
        walstore::WriteBatch too_big;
        too_big.erase(1).store(31, std::string_view("123456789")); // 9 bytes, limit 8
        EXPECT_ERROR(s.write_batch(too_big), Status::invalid_argument, "wal_write_batch");
        walstore::WriteBatch null_data;
        null_data.erase(1).store(32, nullptr, 3);
        try {
            s.write_batch(null_data);
            fail(__FILE__, __LINE__, "write_batch with NULL data did not throw");
        } catch (const Error &e) {
            g_checks++;
            CHECK_EQ(e.message(),
                     std::string("wal_write_batch: invalid argument: ops[1].data is NULL but its length is 3"));
        }
        walstore::WriteBatch empty_store; // NULL data of size 0 is a valid empty payload
        empty_store.store(33, nullptr, 0).store(34, std::string_view());
        const wal_write_op unknown[] = {{WAL_OP_DELETE, 1, 0, nullptr, 0}, {7, 3, 0, nullptr, 0}};
        EXPECT_ERROR(s.write_batch(unknown, 2), Status::invalid_argument, "wal_write_batch");
        EXPECT_ERROR(s.write_batch(static_cast<const wal_write_op *>(nullptr), 1), Status::invalid_argument,
                     "wal_write_batch");
        CHECK_EQ(s.log_position(), before);
        CHECK_EQ(s.retrieve(1), Bytes(2, 1));
        CHECK_EQ(s.retrieve(3), Bytes(2, 3));
        EXPECT_ERROR(s.retrieve(30), Status::not_found, "wal_retrieve");
        EXPECT_ERROR(s.retrieve(31), Status::not_found, "wal_retrieve");

        s.write_batch(empty_store);
        CHECK_EQ(s.retrieve(33), Bytes());
        CHECK_EQ(s.retrieve(34), Bytes());
        // The raw form, as the C API takes it.
        const std::uint8_t nine[] = {9};
        const wal_write_op raw[] = {{WAL_OP_STORE, 9, 0, nine, 1}, {WAL_OP_DELETE_RANGE, 33, 34, nullptr, 0}};
        s.write_batch(raw, 2);
        CHECK_EQ(s.retrieve(9), Bytes({9}));
        EXPECT_ERROR(s.retrieve(33), Status::not_found, "wal_retrieve");
        end = s.log_position();
        s.close();
    }

    // Reopen: the same state. Records replayed (framing not counted):
    // 8 stores, 8 (first batch), 1 + 1 (erase 6 twice), 3 ranges, 2 (empty
    // stores), 2 (raw) = 25.
    Store s(d.path(), o);
    CHECK_EQ(s.records_replayed(), std::uint64_t(25));
    CHECK_EQ(s.log_position(), end);
    const std::pair<std::uint64_t, Bytes> live[] = {
        {1, Bytes(2, 1)}, {2, Bytes({2, 2, 2})}, {3, Bytes(2, 3)}, {5, bytes_of("five!")},
        {8, bytes_of("seven")}, {9, Bytes({9})},
    };
    for (const auto &kv : live) {
        CHECK_EQ(s.retrieve(kv.first), kv.second);
    }
    for (std::uint64_t id : {std::uint64_t(0), std::uint64_t(4), std::uint64_t(6), std::uint64_t(7),
                             std::uint64_t(33), std::uint64_t(34), std::uint64_t(99), std::uint64_t(UINT64_MAX)}) {
        EXPECT_ERROR(s.retrieve(id), Status::not_found, "wal_retrieve");
    }
    CHECK_EQ(s.stats().live_ids, std::uint64_t(6));
    // Everything at once.
    walstore::WriteBatch all;
    all.erase_range(0, UINT64_MAX);
    s.write_batch(all);
    CHECK_EQ(s.stats().live_ids, std::uint64_t(0));
    CHECK_EQ(s.stats().live_bytes, std::uint64_t(0));
}

static void test_move_semantics()
{
    TempDir d1, d2, d3;
    Store a(d1.path());
    a.store(1, std::string_view("in d1"));
    wal_t *raw = a.get();

    // Move construction: the handle moves, the source is empty.
    Store b(std::move(a));
    CHECK(b.get() == raw);
    CHECK(!a.is_open()); // NOLINT(bugprone-use-after-move): documented empty state
    CHECK(a.get() == nullptr);
    CHECK_EQ(b.retrieve_string(1), std::string("in d1"));

    // Every call on an empty Store reaches C with NULL: invalid argument.
    EXPECT_ERROR(a.store(1, std::string_view("x")), Status::invalid_argument, "wal_store");
    EXPECT_ERROR(a.store_batch({Entry(1, std::string_view("x"))}), Status::invalid_argument, "wal_store_batch");
    EXPECT_ERROR(a.retrieve(1), Status::invalid_argument, "wal_retrieve");
    EXPECT_ERROR(a.retrieve(1, nullptr, 0), Status::invalid_argument, "wal_retrieve");
    EXPECT_ERROR(a.erase(1), Status::invalid_argument, "wal_delete");
    EXPECT_ERROR(a.erase_range(1, 2), Status::invalid_argument, "wal_delete_range");
    EXPECT_ERROR(a.write_batch(walstore::WriteBatch().erase(1)), Status::invalid_argument, "wal_write_batch");
    EXPECT_ERROR(a.write_batch(walstore::WriteBatch()), Status::invalid_argument, "wal_write_batch");
    EXPECT_ERROR(a.sync(), Status::invalid_argument, "wal_sync");
    EXPECT_ERROR(a.snapshot(), Status::invalid_argument, "wal_snapshot");
    EXPECT_ERROR(a.log_position(), Status::invalid_argument, "wal_log_position");
    EXPECT_ERROR(a.snapshot_position(), Status::invalid_argument, "wal_snapshot_position");
    EXPECT_ERROR(a.records_replayed(), Status::invalid_argument, "wal_open_records_replayed");
    EXPECT_ERROR(a.damaged_records(), Status::invalid_argument, "wal_open_damaged_records");
    EXPECT_ERROR(a.reinitialised(), Status::invalid_argument, "wal_open_reinitialised");
    EXPECT_ERROR(a.snapshot_used(), Status::invalid_argument, "wal_open_snapshot_used");
    EXPECT_ERROR(a.torn_tail(), Status::invalid_argument, "wal_open_torn_tail");
    EXPECT_ERROR(a.stats(), Status::invalid_argument, "wal_stat_live_ids");
    EXPECT_ERROR(a.open_duration_us(), Status::invalid_argument, "wal_open_duration_us");
    EXPECT_ERROR(a.cursor(), Status::invalid_argument, "wal_iter_open");
    EXPECT_ERROR(a.compact(), Status::invalid_argument, "wal_compact");
    EXPECT_ERROR(a.generation(), Status::invalid_argument, "wal_stat_generation");
    EXPECT_ERROR(a.last_auto_snapshot_error(), Status::invalid_argument, "wal_stat_last_auto_snapshot_error");
    EXPECT_ERROR(a.last_auto_compaction_error(), Status::invalid_argument, "wal_stat_last_auto_compaction_error");
    CHECK_EQ(a.should_snapshot(), false);
    a.close(); // no-op

    // Move assignment closes what the target held: d2's lock is released.
    Store c(d2.path());
    c.store(2, std::string_view("in d2"));
    c = std::move(b);
    CHECK(c.get() == raw);
    CHECK(!b.is_open()); // NOLINT(bugprone-use-after-move)
    CHECK_EQ(c.retrieve_string(1), std::string("in d1"));
    {
        Store reopened(d2.path()); // would be Status::locked if c had not closed it
        CHECK_EQ(reopened.retrieve_string(2), std::string("in d2"));
    }
    EXPECT_ERROR(Store(d1.path()), Status::locked, "wal_open"); // c holds d1

    // Assigning into an empty Store, and from an empty one.
    Store e;
    CHECK(!e.is_open());
    e = std::move(c);
    CHECK(e.get() == raw);
    Store f(d3.path());
    f = Store(); // closes d3
    CHECK(!f.is_open());
    { Store g(d3.path()); }

    // The destructor closes: d1 opens again once e is gone.
    { Store h = std::move(e); }
    Store i(d1.path());
    CHECK_EQ(i.retrieve_string(1), std::string("in d1"));
}

static void test_locking_and_read_only()
{
    TempDir d;
    {
        Store w(d.path());
        w.store(1, std::string_view("one"));
        EXPECT_ERROR(Store(d.path()), Status::locked, "wal_open");
        Options ro;
        ro.read_only(true);
        EXPECT_ERROR(Store(d.path(), ro), Status::locked, "wal_open");
    }

    Options ro;
    ro.read_only(true);
    Store r1(d.path(), ro);
    Store r2(d.path(), ro); // read-only opens share the lock
    CHECK_EQ(r1.retrieve_string(1), std::string("one"));
    CHECK_EQ(r2.retrieve_string(1), std::string("one"));
    EXPECT_ERROR(Store(d.path()), Status::locked, "wal_open");
    EXPECT_ERROR(r1.store(2, std::string_view("no")), Status::invalid_argument, "wal_store");
    EXPECT_ERROR(r1.store_batch({Entry(2, std::string_view("no"))}), Status::invalid_argument, "wal_store_batch");
    EXPECT_ERROR(r1.store_batch(std::vector<Entry>()), Status::invalid_argument, "wal_store_batch");
    EXPECT_ERROR(r1.erase(1), Status::invalid_argument, "wal_delete");
    EXPECT_ERROR(r1.erase_range(0, UINT64_MAX), Status::invalid_argument, "wal_delete_range");
    EXPECT_ERROR(r1.write_batch(walstore::WriteBatch().store(2, std::string_view("no")).erase(1)),
                 Status::invalid_argument, "wal_write_batch");
    EXPECT_ERROR(r1.write_batch(walstore::WriteBatch()), Status::invalid_argument, "wal_write_batch");
    try {
        r1.write_batch(walstore::WriteBatch().erase_range(0, 1));
        fail(__FILE__, __LINE__, "write_batch on a read-only store did not throw");
    } catch (const Error &e) {
        g_checks++;
        CHECK(e.message().find("write batch refused") != std::string::npos);
        CHECK(e.message().find("read-only") != std::string::npos);
    }
    CHECK_EQ(r1.retrieve_string(1), std::string("one"));
    EXPECT_ERROR(r1.snapshot(), Status::invalid_argument, "wal_snapshot");
    r1.sync(); // does nothing on a read-only store

    // Opening: an empty directory name, and a read-only open of nothing.
    EXPECT_ERROR(Store(""), Status::invalid_argument, "wal_open");
    EXPECT_ERROR(Store(d.path() + "/missing", ro), Status::io, "wal_open");
}

static void test_report_snapshot_and_stats()
{
    TempDir d;
    std::uint64_t pos = 0;
    {
        Options o;
        o.snapshot_threshold(100).auto_snapshot(false); // snapshots only when asked
        Store s(d.path(), o);
        (void)s.open_duration_us(); // a duration: no exact value to expect
        CHECK_EQ(s.records_replayed(), std::uint64_t(0));
        CHECK_EQ(s.damaged_records(), std::uint64_t(0));
        CHECK_EQ(s.reinitialised(), false);
        CHECK(!s.snapshot_used().has_value());
        CHECK(!s.torn_tail().has_value());
        CHECK_EQ(s.snapshot_position(), std::uint64_t(64));
        CHECK_EQ(s.log_position(), std::uint64_t(64));
        CHECK_EQ(s.should_snapshot(), false);

        walstore::Stats st = s.stats();
        CHECK_EQ(st.live_ids, std::uint64_t(0));
        CHECK_EQ(st.live_bytes, std::uint64_t(0));
        CHECK_EQ(st.log_bytes, std::uint64_t(64));
        CHECK_EQ(st.dead_bytes, std::uint64_t(0));
        CHECK_EQ(st.dead_ratio, 0.0);
        CHECK_EQ(st.auto_snapshots, std::uint64_t(0));
        CHECK_EQ(st.auto_snapshot_failures, std::uint64_t(0));
        CHECK_EQ(st.generation, std::uint64_t(1));
        CHECK_EQ(st.auto_compactions, std::uint64_t(0));
        CHECK_EQ(st.auto_compaction_failures, std::uint64_t(0));
        CHECK(!st.last_auto_snapshot_error.has_value());
        CHECK(!st.last_auto_compaction_error.has_value());

        s.store(1, Bytes(10, 1));  // 42 bytes, dead once replaced
        s.store(2, Bytes(20, 2));  // 52 bytes, dead once erased
        s.store(1, Bytes(5, 3));   // 37 bytes, live
        s.erase(2);                // 32 bytes, dead
        CHECK_EQ(s.log_position(), std::uint64_t(64 + 42 + 52 + 37 + 32));
        CHECK_EQ(s.should_snapshot(), true); // 163 >= 100 bytes since the start

        st = s.stats();
        CHECK_EQ(st.live_ids, std::uint64_t(1));
        CHECK_EQ(st.live_bytes, std::uint64_t(5));
        CHECK_EQ(st.log_bytes, std::uint64_t(227));
        CHECK_EQ(st.dead_bytes, std::uint64_t(42 + 52 + 32));
        CHECK_EQ(st.dead_ratio, 126.0 / 163.0);
        CHECK_EQ(st.auto_snapshots, std::uint64_t(0)); // off

        pos = s.log_position();
        s.snapshot();
        CHECK_EQ(s.snapshot_position(), pos);
        CHECK_EQ(s.should_snapshot(), false);
        s.store(3, Bytes(1, 9)); // 33 bytes after the snapshot
        CHECK_EQ(s.should_snapshot(), false);
        s.close();
    }
    {
        Store s(d.path());
        CHECK_EQ(s.snapshot_used(), std::optional<std::uint64_t>(pos));
        CHECK_EQ(s.records_replayed(), std::uint64_t(1)); // only the store after the snapshot
        CHECK_EQ(s.snapshot_position(), pos);
        CHECK_EQ(s.retrieve(1), Bytes(5, 3));
        CHECK_EQ(s.retrieve(3), Bytes(1, 9));
        EXPECT_ERROR(s.retrieve(2), Status::not_found, "wal_retrieve");
    }
}

static void test_auto_snapshot()
{
    TempDir d;
    Options o;
    o.snapshot_threshold(100); // automatic snapshots are on by default
    Store s(d.path(), o);
    s.store(1, Bytes(50, 1)); // 82 bytes: below the threshold
    CHECK_EQ(s.stats().auto_snapshots, std::uint64_t(0));
    CHECK_EQ(s.should_snapshot(), false);
    s.store(2, Bytes(50, 2)); // 164 bytes: this write starts a snapshot
    // It runs in the background: wait (up to 20 s) for it to finish.
    walstore::Stats st = s.stats();
    for (int i = 0; i < 20000 && st.auto_snapshots + st.auto_snapshot_failures == 0; i++) {
        usleep(1000);
        st = s.stats();
    }
    CHECK_EQ(st.auto_snapshots, std::uint64_t(1));
    CHECK_EQ(st.auto_snapshot_failures, std::uint64_t(0));
    CHECK_EQ(s.snapshot_position(), std::uint64_t(64 + 82 + 82));
    CHECK_EQ(s.should_snapshot(), false);
    s.close();

    Store again(d.path());
    CHECK_EQ(again.snapshot_used(), std::optional<std::uint64_t>(228));
    CHECK_EQ(again.records_replayed(), std::uint64_t(0));
    CHECK_EQ(again.retrieve(2), Bytes(50, 2));
}

static void test_durability_levels()
{
    const Durability levels[] = {Durability::fsync, Durability::flush, Durability::none};
    for (Durability level : levels) {
        TempDir d;
        {
            Options o;
            o.durability(level).write_buffer(1 << 20);
            Store s(d.path(), o);
            s.store(1, std::string_view("kept"));
            CHECK_EQ(s.retrieve_string(1), std::string("kept")); // reads see buffered writes
            s.store_batch({Entry(2, std::string_view("b2")), Entry(3, std::string_view("b3"))});
            s.sync();
            s.store(4, std::string_view("after sync"));
        } // the destructor flushes and syncs
        Store s(d.path());
        CHECK_EQ(s.records_replayed(), std::uint64_t(4));
        CHECK_EQ(s.retrieve_string(1), std::string("kept"));
        CHECK_EQ(s.retrieve_string(2), std::string("b2"));
        CHECK_EQ(s.retrieve_string(3), std::string("b3"));
        CHECK_EQ(s.retrieve_string(4), std::string("after sync"));
    }
}

static void test_cursor()
{
    TempDir d;
    Store s(d.path());
    s.store(5, std::string_view("five"));
    s.store(1, std::string_view("one"));
    s.store(3, Bytes());
    {
        walstore::Cursor c = s.cursor();
        CHECK(c.get() != nullptr);
        // Later writes do not show: the cursor sees the store as it was.
        s.store(2, std::string_view("two"));
        s.erase(5);

        std::vector<std::uint64_t> ids;
        std::vector<std::string> payloads;
        walstore::Cursor::Item item;
        walstore::Cursor moved = std::move(c);
        CHECK(c.get() == nullptr); // NOLINT(bugprone-use-after-move)
        EXPECT_ERROR(c.next(item), Status::invalid_argument, "wal_iter_next");
        while (moved.next(item)) {
            ids.push_back(item.id);
            payloads.emplace_back(item.view());
            CHECK_EQ(item.bytes(), bytes_of(item.view()));
        }
        CHECK_EQ(ids.size(), std::size_t(3));
        CHECK(ids == std::vector<std::uint64_t>({1, 3, 5}));
        CHECK(payloads == std::vector<std::string>({"one", "", "five"}));
        walstore::Cursor empty;
        EXPECT_ERROR(empty.seq(), Status::invalid_argument, "wal_iter_seq");
        empty = std::move(moved); // frees nothing held, takes moved's cursor
        CHECK(empty.get() != nullptr);
        CHECK_EQ(empty.seq(), std::uint64_t(3)); // the three stores before it was opened
    } // cursors freed before the store closes
    walstore::Cursor after = s.cursor();
    walstore::Cursor::Item item;
    std::vector<std::uint64_t> ids;
    while (after.next(item)) {
        ids.push_back(item.id);
    }
    CHECK(ids == std::vector<std::uint64_t>({1, 2, 3}));
    CHECK_EQ(after.seq(), std::uint64_t(5));
}

static void test_corruption_and_salvage()
{
    TempDir d;
    {
        Store s(d.path());
        s.store(1, std::string_view("hello, walstore")); // payload at byte 96
        s.store(2, std::string_view("two"));
        s.store(3, std::string_view("three"));
    }
    flip_byte(d.log(), 96);

    // STRICT (the default): damage followed by valid records fails the open.
    try {
        Store s(d.path());
        fail(__FILE__, __LINE__, "opening a damaged store did not throw");
    } catch (const Error &e) {
        g_checks++;
        CHECK_EQ(e.status(), Status::corruption);
        CHECK_EQ(std::string(e.call()), std::string("wal_open"));
        // The message names the file and the offset of the damaged record.
        CHECK(e.message().find("wal-0000000000000001.log") != std::string::npos);
        CHECK(e.message().find("offset 64") != std::string::npos);
    }

    // SALVAGE: the open succeeds, the damaged id reads as corruption.
    Options o;
    o.recovery_mode(RecoveryMode::salvage);
    Store s(d.path(), o);
    CHECK_EQ(s.damaged_records(), std::uint64_t(1));
    CHECK_EQ(s.records_replayed(), std::uint64_t(3));
    EXPECT_ERROR(s.retrieve(1), Status::corruption, "wal_retrieve");
    EXPECT_ERROR(s.retrieve_string(1), Status::corruption, "wal_retrieve");
    std::uint8_t buf[32];
    EXPECT_ERROR(s.retrieve(1, buf, sizeof buf), Status::corruption, "wal_retrieve");
    CHECK_EQ(s.retrieve_string(2), std::string("two"));
    CHECK_EQ(s.retrieve_string(3), std::string("three"));

    // A cursor reports the damaged payload, then moves on.
    walstore::Cursor c = s.cursor();
    walstore::Cursor::Item item;
    EXPECT_ERROR(c.next(item), Status::corruption, "wal_iter_next");
    CHECK_EQ(c.next(item), true);
    CHECK_EQ(item.id, std::uint64_t(2));
    CHECK_EQ(std::string(item.view()), std::string("two"));
    CHECK_EQ(c.next(item), true);
    CHECK_EQ(item.id, std::uint64_t(3));
    CHECK_EQ(c.next(item), false);
}

static void test_torn_tail()
{
    TempDir d;
    {
        Store s(d.path());
        s.store(1, Bytes(10, 7));   // 42 bytes at 64
        s.store(2, Bytes(100, 8));  // 132 bytes at 106
    }
    CHECK_EQ(file_size(d.log()), std::uintmax_t(238));
    fs::resize_file(d.log(), 188); // cut 50 bytes off the last record

    {
        // A read-only open reports the tail but leaves it in place: no path.
        Options ro;
        ro.read_only(true);
        Store r(d.path(), ro);
        std::optional<walstore::TornTail> t = r.torn_tail();
        CHECK(t.has_value());
        if (t) {
            CHECK_EQ(t->offset, std::uint64_t(106));
            CHECK_EQ(t->bytes, std::uint64_t(82));
            CHECK_EQ(t->path, std::string());
        }
        CHECK_EQ(r.retrieve(1), Bytes(10, 7));
        EXPECT_ERROR(r.retrieve(2), Status::not_found, "wal_retrieve");
    }
    CHECK_EQ(file_size(d.log()), std::uintmax_t(188));

    Store s(d.path());
    std::optional<walstore::TornTail> t = s.torn_tail();
    CHECK(t.has_value());
    if (t) {
        CHECK_EQ(t->offset, std::uint64_t(106));
        CHECK_EQ(t->bytes, std::uint64_t(82));
        CHECK(!t->path.empty());
        CHECK(fs::exists(t->path));
        if (fs::exists(t->path)) {
            CHECK_EQ(file_size(t->path), std::uintmax_t(82));
        }
    }
    CHECK_EQ(s.records_replayed(), std::uint64_t(1));
    CHECK_EQ(s.log_position(), std::uint64_t(106));
    CHECK_EQ(s.retrieve(1), Bytes(10, 7));
    EXPECT_ERROR(s.retrieve(2), Status::not_found, "wal_retrieve");
    CHECK_EQ(file_size(d.log()), std::uintmax_t(106));
}

static void test_reinitialised()
{
    // A log that never got its complete header (here: 10 zero bytes, as a
    // crash while creating it leaves) is started afresh.
    TempDir d;
    {
        std::ofstream f(d.log(), std::ios::binary);
        const std::string zeros(10, '\0');
        f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    Store s(d.path());
    CHECK_EQ(s.reinitialised(), true);
    CHECK_EQ(s.records_replayed(), std::uint64_t(0));
    CHECK_EQ(s.log_position(), std::uint64_t(64));
    s.store(1, std::string_view("fresh"));
    CHECK_EQ(s.retrieve_string(1), std::string("fresh"));
}

static void test_incompatible()
{
    TempDir d;
    {
        std::ofstream f(d.log(), std::ios::binary);
        const std::string junk(128, 'j');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    EXPECT_ERROR(Store(d.path()), Status::incompatible, "wal_open");
    CHECK_EQ(file_size(d.log()), std::uintmax_t(128)); // left untouched
}

static std::string gen_log(const TempDir &d, int generation)
{
    return d.path() + "/wal-000000000000000" + std::to_string(generation) + ".log";
}

// Polls `stats` every millisecond, for at most 30 s, until `done` holds.
static walstore::Stats wait_stats(const Store &s, const std::function<bool(const walstore::Stats &)> &done)
{
    walstore::Stats st = s.stats();
    for (int i = 0; i < 30000 && !done(st); i++) {
        usleep(1000);
        st = s.stats();
    }
    return st;
}

static void test_compaction()
{
    TempDir d;
    {
        Store s(d.path());
        CHECK_EQ(s.generation(), std::uint64_t(1));
        // Ids 1..10 written twice (100 bytes: 132 on disk each), 9 and 10
        // erased (32 each): seq 1..22.
        for (int version = 1; version <= 2; version++) {
            for (std::uint64_t id = 1; id <= 10; id++) {
                s.store(id, Bytes(100, static_cast<std::uint8_t>(id * 10 + version)));
            }
        }
        s.erase(9);
        s.erase(10);
        CHECK_EQ(s.stats().log_bytes, std::uint64_t(64 + 20 * 132 + 2 * 32));
        CHECK_EQ(s.stats().dead_bytes, std::uint64_t(12 * 132 + 2 * 32));

        walstore::Cursor before = s.cursor(); // reads its point in time after the compaction
        CHECK_EQ(before.seq(), std::uint64_t(22));
        s.compact();
        walstore::Stats st = s.stats();
        CHECK_EQ(st.generation, std::uint64_t(2));
        CHECK_EQ(s.generation(), std::uint64_t(2));
        CHECK_EQ(st.log_bytes, std::uint64_t(64 + 8 * 132));
        CHECK_EQ(st.dead_bytes, std::uint64_t(0));
        CHECK_EQ(st.live_ids, std::uint64_t(8));
        CHECK_EQ(st.auto_compactions, std::uint64_t(0)); // asked for, not automatic
        CHECK(!fs::exists(d.log()));
        CHECK_EQ(file_size(gen_log(d, 2)), std::uintmax_t(64 + 8 * 132));
        for (std::uint64_t id = 1; id <= 8; id++) {
            CHECK_EQ(s.retrieve(id), Bytes(100, static_cast<std::uint8_t>(id * 10 + 2)));
        }
        EXPECT_ERROR(s.retrieve(9), Status::not_found, "wal_retrieve");
        walstore::Cursor::Item item;
        std::uint64_t n = 0;
        while (before.next(item)) {
            n++;
            CHECK_EQ(item.bytes(), Bytes(100, static_cast<std::uint8_t>(item.id * 10 + 2)));
        }
        CHECK_EQ(n, std::uint64_t(8));
        walstore::Cursor after = s.cursor();
        CHECK_EQ(after.seq(), std::uint64_t(22)); // numbering is kept
        s.store(11, std::string_view("eleven"));
        CHECK_EQ(s.cursor().seq(), std::uint64_t(23));
        CHECK_EQ(s.log_position(), std::uint64_t(64 + 8 * 132 + 32 + 6));
    }
    {
        Store s(d.path());
        CHECK_EQ(s.generation(), std::uint64_t(2));
        CHECK_EQ(s.records_replayed(), std::uint64_t(9));
        CHECK_EQ(s.retrieve_string(11), std::string("eleven"));
        CHECK_EQ(s.retrieve(8), Bytes(100, 82));
        s.compact();
        CHECK_EQ(s.generation(), std::uint64_t(3));
        CHECK_EQ(s.stats().log_bytes, std::uint64_t(64 + 8 * 132 + 38)); // nothing was dead
    }
    {
        Options ro;
        ro.read_only(true);
        Store s(d.path(), ro);
        try {
            s.compact();
            CHECK(false);
        } catch (const Error &e) {
            CHECK_EQ(e.status(), Status::invalid_argument);
            CHECK_EQ(e.message(), "wal_compact: invalid argument: compact refused: the store in " + d.path() +
                                      " was opened read-only");
        }
        CHECK_EQ(s.generation(), std::uint64_t(3));
        CHECK(!s.last_auto_compaction_error().has_value());
        CHECK(!s.last_auto_snapshot_error().has_value());
    }
}

static void test_auto_compaction()
{
    // On: 0.5 past 256 KiB. The ratio is looked at once per MiB of log
    // growth; six rounds of 200 KB, 83% dead, start one compaction.
    TempDir d;
    Options o;
    o.durability(Durability::flush).auto_compact(0.5, 256 << 10);
    auto rounds = [](Store &s, int n) {
        for (int version = 1; version <= n; version++) {
            for (std::uint64_t id = 0; id < 200; id++) {
                s.store(id, Bytes(1000, static_cast<std::uint8_t>(id + version)));
            }
        }
    };
    {
        Store s(d.path(), o);
        rounds(s, 6);
        walstore::Stats st = wait_stats(s, [](const walstore::Stats &x) { return x.auto_compactions >= 1; });
        CHECK(st.auto_compactions >= 1);
        CHECK_EQ(st.generation, 1 + st.auto_compactions);
        CHECK_EQ(st.auto_compaction_failures, std::uint64_t(0));
        CHECK(!st.last_auto_compaction_error.has_value());
        CHECK(st.log_bytes < (std::uint64_t(1) << 20));
        for (std::uint64_t id = 0; id < 200; id++) {
            CHECK_EQ(s.retrieve(id), Bytes(1000, static_cast<std::uint8_t>(id + 6)));
        }
    }
    // Failures: a directory where the compaction's temporary log goes
    // makes it fail (unlinking a directory gives EISDIR, even for root).
    TempDir d2;
    const std::string blocker = d2.path() + "/wal-0000000000000002.log.tmp";
    const std::string cause =
        "remove " + blocker + ": " + std::strerror(EISDIR) + " (os error " + std::to_string(EISDIR) + ")";
    {
        Store s(d2.path(), o.snapshot_threshold(0));
        fs::create_directory(blocker);
        s.store(0, std::string_view("zero"));
        try {
            s.compact();
            CHECK(false);
        } catch (const Error &e) {
            CHECK_EQ(e.status(), Status::io);
            CHECK_EQ(e.message(), "wal_compact: " + cause);
        }
        CHECK(!s.last_auto_compaction_error().has_value()); // a manual one is not counted
        rounds(s, 6);
        walstore::Stats st = wait_stats(s, [](const walstore::Stats &x) { return x.auto_compaction_failures >= 1; });
        CHECK(st.auto_compaction_failures >= 1);
        CHECK_EQ(st.auto_compactions, std::uint64_t(0));
        CHECK_EQ(st.generation, std::uint64_t(1));
        CHECK_EQ(st.last_auto_compaction_error, std::optional<std::string>(cause));
        CHECK_EQ(s.last_auto_compaction_error(), std::optional<std::string>(cause));
        CHECK(!st.last_auto_snapshot_error.has_value());
        fs::remove(blocker);
        s.compact();
        CHECK_EQ(s.generation(), std::uint64_t(2));
        CHECK_EQ(s.stats().log_bytes, std::uint64_t(64 + 200 * 1032));
        CHECK_EQ(s.last_auto_compaction_error(), std::optional<std::string>(cause)); // the last failure stays
    }
    // An automatic snapshot: threshold 100, so a 68-byte store (ending at
    // 0xa4) starts one, for that position.
    TempDir d3;
    const std::string snap_blocker = d3.path() + "/snapshot-0000000000000001-00000000000000a4.snap.tmp";
    const std::string snap_cause =
        "remove " + snap_blocker + ": " + std::strerror(EISDIR) + " (os error " + std::to_string(EISDIR) + ")";
    {
        Options so;
        so.snapshot_threshold(100);
        Store s(d3.path(), so);
        fs::create_directory(snap_blocker);
        s.store(1, Bytes(68, 1));
        walstore::Stats st = wait_stats(s, [](const walstore::Stats &x) { return x.auto_snapshot_failures >= 1; });
        CHECK_EQ(st.auto_snapshot_failures, std::uint64_t(1));
        CHECK_EQ(st.last_auto_snapshot_error, std::optional<std::string>(snap_cause));
        CHECK_EQ(s.last_auto_snapshot_error(), std::optional<std::string>(snap_cause));
        CHECK(!st.last_auto_compaction_error.has_value());
        fs::remove(snap_blocker);
    }
}

int main()
{
    const std::pair<const char *, std::function<void()>> tests[] = {
        {"types and strings", test_types_and_strings},
        {"options", test_options},
        {"store and retrieve", test_store_and_retrieve},
        {"batches and limit", test_batches_and_limit},
        {"write batches and range deletes", test_write_batches},
        {"move semantics", test_move_semantics},
        {"locking and read-only", test_locking_and_read_only},
        {"report, snapshot and stats", test_report_snapshot_and_stats},
        {"automatic snapshot", test_auto_snapshot},
        {"durability levels", test_durability_levels},
        {"cursor", test_cursor},
        {"corruption and salvage", test_corruption_and_salvage},
        {"torn tail", test_torn_tail},
        {"reinitialised", test_reinitialised},
        {"incompatible", test_incompatible},
        {"compaction", test_compaction},
        {"automatic compaction", test_auto_compaction},
    };
    for (const auto &t : tests) {
        int before = g_failures;
        try {
            t.second();
        } catch (const Error &e) {
            fail(__FILE__, __LINE__, std::string("unexpected walstore::Error: ") + e.what());
        } catch (const std::exception &e) {
            fail(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
        }
        std::cout << (g_failures == before ? "ok   " : "FAIL ") << t.first << "\n";
    }
    std::cout << "test_walstore (C++): " << g_checks << " checks, " << g_failures << " failed\n";
    return g_failures == 0 ? 0 : 1;
}
