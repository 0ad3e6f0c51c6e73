// demo.cpp: a first tour of walstore's C++ wrapper (walstore.hpp), the same
// tour as examples-c/demo.c. `make cpp-test` builds and runs it.
//
// It opens a store in a fresh temporary directory, stores and batch-stores
// a few payloads, reads them back, deletes one, reopens the store to show
// the data survived, and finally damages one byte of the log on disk to
// show how walstore reports corruption.
//
// The rules (see include/walstore.hpp):
//   - every failure throws walstore::Error, carrying the status and the
//     message wal_last_error() gave for it (what failed and where);
//   - Store and Options free what they own when they go out of scope; the
//     Store destructor closes (and syncs) the store.

#include "walstore.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <unistd.h>

namespace {

// Reads `id` and prints it. Returns 1 if it does not equal `want`.
int show(walstore::Store &store, std::uint64_t id, const std::string &want)
{
    std::string got = store.retrieve_string(id);
    std::cout << "  id " << id << " -> \"" << got << "\"\n";
    return got == want ? 0 : 1;
}

int run(const std::string &dir)
{
    std::cout << "walstore " << walstore::version() << ", store in " << dir << "\n";
    const std::string greeting = "hello, walstore";
    int bad = 0;
    {
        // 1. Open with the defaults: every write is fsynced.
        walstore::Store store(dir);

        // 2. Store a few payloads, one call each.
        store.store(1, greeting);
        store.store(2, std::string_view("temporary"));
        store.store(3, std::string_view("three"));

        // 3. Store three more in one batch: after a crash, all or none.
        store.store_batch({{10, std::string_view("ten")}, {11, std::string_view("eleven")},
                           {12, std::string_view("twelve")}});

        // 4. Read everything back.
        std::cout << "stored:\n";
        bad += show(store, 1, greeting) + show(store, 2, "temporary") + show(store, 3, "three") +
               show(store, 10, "ten") + show(store, 11, "eleven") + show(store, 12, "twelve");

        // 5. Delete one; reading it now throws Error with Status::not_found.
        store.erase(2);
        try {
            store.retrieve(2);
            bad++;
        } catch (const walstore::Error &e) {
            std::cout << "deleted id 2: retrieve -> " << walstore::to_string(e.status()) << "\n";
            bad += e.status() != walstore::Status::not_found;
        }
        store.close(); // or let the destructor close it (silently)
    }

    // 6. Reopen, and check that everything survived.
    {
        walstore::Store store(dir);
        std::cout << "reopened: " << store.records_replayed() << " records replayed (6 stores + 1 delete)\n";
        bad += store.records_replayed() != 7;
        bad += show(store, 1, greeting) + show(store, 3, "three") + show(store, 10, "ten") +
               show(store, 11, "eleven") + show(store, 12, "twelve");
        try {
            store.retrieve(2);
            bad++; // the delete did not survive
        } catch (const walstore::Error &e) {
            bad += e.status() != walstore::Status::not_found;
        }
    }
    if (bad) {
        std::cerr << "demo: the data did not survive as expected\n";
        return 1;
    }

    // 7. Damage one byte on disk: the first payload (id 1's) starts at byte
    // 96, after the 64-byte file header and its 32-byte record header.
    {
        std::fstream log(dir + "/wal-0000000000000001.log", std::ios::in | std::ios::out | std::ios::binary);
        char byte = 0;
        log.seekg(96);
        log.read(&byte, 1);
        byte = static_cast<char>(byte ^ 0xFF);
        log.seekp(96);
        log.write(&byte, 1);
        if (!log) {
            std::cerr << "demo: could not damage the log\n";
            return 1;
        }
    }

    // 8. Reopen: the damaged record is followed by valid ones, so this is
    // corruption, not a torn tail, and the default STRICT recovery refuses
    // to open. The message names the file, the offset and both CRCs.
    try {
        walstore::Store store(dir);
        std::cerr << "demo: a damaged store opened\n";
        return 1;
    } catch (const walstore::Error &e) {
        std::cout << "after flipping byte 96 of the log: " << e.call() << " -> "
                  << walstore::to_string(e.status()) << "\n  " << e.message() << "\n";
        if (e.status() != walstore::Status::corruption) {
            return 1;
        }
    }
    std::cout << "demo: done\n";
    return 0;
}

} // namespace

int main()
{
    char tmpl[] = "/tmp/walstore-demo-cpp-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string dir = tmpl;
    int rc = 1;
    try {
        rc = run(dir);
    } catch (const walstore::Error &e) {
        std::cerr << "demo: " << e.what() << "\n"; // "wal_open: corruption: <where>"
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec); // 9. Clean up the temporary directory.
    return rc;
}
