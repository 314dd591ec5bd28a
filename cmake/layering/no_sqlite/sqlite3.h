// Found before the system's sqlite3.h by the libraries that may not use SQLite: only
// storage/sqlite/ talks to it.
#error "sqlite3.h is storage/sqlite/'s: no other library may include it (see DESIGN.md, Layout)"
