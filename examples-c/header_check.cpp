// Compiles the public header as C++: the extern "C" guards and every
// declaration must be valid C++11. Not linked or run.
#include "walstore.h"

static_assert(sizeof(wal_status) == 4, "wal_status is an int32 enum");

int walstore_header_compiles_as_cpp() {
    wal_options *o = wal_options_new();
    wal_status s = wal_options_set_durability(o, WAL_DURABILITY_FLUSH);
    wal_options_free(o);
    return s == WAL_OK ? 0 : 1;
}
