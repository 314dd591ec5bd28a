#pragma once
// A PostgreSQL cluster of one test's own (test/support/pg_cluster.py), for a test that
// restarts it under load: the shared test cluster must not go down under other tests.

#include <string>

namespace jobq::test {

class OwnPostgres {
public:
    // Starts it; throws std::runtime_error when it cannot.
    OwnPostgres();
    // Stops it and removes its files.
    ~OwnPostgres();
    OwnPostgres(const OwnPostgres&) = delete;
    OwnPostgres& operator=(const OwnPostgres&) = delete;

    // A new database on it, as a URI for --db.
    std::string create_database(const std::string& name);
    // A fast restart: every session ends, nothing committed is lost.
    void restart();
    // Stopped (fast), its data kept; and started again, on the same port.
    void halt();
    void resume();

private:
    std::string dir_;
    std::string uri_;  // of the `postgres` database
};

}  // namespace jobq::test
