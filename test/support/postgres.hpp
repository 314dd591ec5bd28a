#pragma once
// The throwaway PostgreSQL cluster the test command starts
// (test/support/pg_cluster.py, a ctest fixture), and a schema of its own for
// each test: creating a schema costs a millisecond where a database costs most
// of a second. A store opened with TestSchema::conninfo() keeps every table in
// that schema (search_path).
//
// The cluster's URI comes from JOBQ_TEST_POSTGRES (a URI) or the file named by
// JOBQ_TEST_POSTGRES_URI_FILE (what pg_cluster.py writes).

#include <string>

namespace jobq::test {

// The cluster's URI (postgresql://postgres@127.0.0.1:PORT/postgres); throws
// when no cluster was started for the tests.
std::string postgres_uri();

// Runs one statement (or several, separated by semicolons) on a connection of
// its own, as the cluster's superuser; throws std::runtime_error with the
// server's message.
void postgres_exec(const std::string& conninfo, const std::string& sql);

class TestSchema {
public:
    // Creates a schema with a name of its own.
    TestSchema();
    // Drops it, with everything in it.
    ~TestSchema();
    TestSchema(const TestSchema&) = delete;
    TestSchema& operator=(const TestSchema&) = delete;

    const std::string& name() const { return name_; }
    // The cluster's URI with this schema first on the search_path.
    std::string conninfo() const;

private:
    std::string name_;
};

}  // namespace jobq::test
