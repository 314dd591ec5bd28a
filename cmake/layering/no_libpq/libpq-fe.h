// Found before the system's libpq-fe.h by the libraries that may not use libpq: only
// storage/postgres/ talks to it.
#error "libpq-fe.h is storage/postgres/'s: no other library may include it (see DESIGN.md, Layout)"
