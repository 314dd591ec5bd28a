// Must not compile: only storage/sqlite/ may talk to SQLite. Built only by the layering
// test, which expects the compiler to refuse it with the message of cmake/layering/.
#include "core/job.hpp"

#include <sqlite3.h>
