// quad.cpp: one small walstore program, written the same way in C
// (examples-c/quad.c), C++, Go (bindings/go/cmd/quad) and Python
// (bindings/python/examples/quad.py). All four print exactly
// examples-c/quad.expected; `make quad` checks that (README.md).
//
// Usage: quad DIR (a directory that does not exist yet, or a new store).

#include "walstore.hpp"

#include <iostream>

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " DIR\n";
        return 2;
    }
    try {
        walstore::Store s(argv[1]);

        // Three ids in one batch: one write, all or nothing after a crash.
        s.store_batch({{1, "one"}, {2, "two"}, {3, "three"}});
        std::cout << "stored ids 1, 2, 3 in one batch\n";

        std::cout << "id 2 reads \"" << s.retrieve_string(2) << "\"\n";

        s.erase(1);
        std::cout << "deleted id 1\n";

        {
            walstore::Cursor c = s.cursor(); // destroyed before the store
            walstore::Cursor::Item item;
            while (c.next(item)) {
                std::cout << "live id " << item.id << ": " << item.size << " bytes\n";
            }
        }

        walstore::Stats st = s.stats();
        std::cout << "stats: " << st.live_ids << " live ids, " << st.log_bytes << " log bytes\n";

        s.compact();
        st = s.stats();
        std::cout << "compacted: generation " << st.generation << ", " << st.live_ids << " live ids, "
                  << st.log_bytes << " log bytes\n";

        s.close();
        std::cout << "closed\n";
    } catch (const walstore::Error &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
