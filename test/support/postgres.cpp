#include "postgres.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <unistd.h>

namespace jobq::test {

namespace {

struct Finish {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

std::string postgres_uri() {
    if (const char* uri = std::getenv("JOBQ_TEST_POSTGRES"); uri && *uri) return uri;
    const char* file = std::getenv("JOBQ_TEST_POSTGRES_URI_FILE");
    if (!file || !*file)
        throw std::runtime_error(
            "no PostgreSQL for the tests: "
            "JOBQ_TEST_POSTGRES(_URI_FILE) is not set");
    std::ifstream in(file);
    std::string uri;
    if (!std::getline(in, uri) || uri.empty())
        throw std::runtime_error(std::string("no PostgreSQL for the tests: cannot read ") + file);
    return uri;
}

void postgres_exec(const std::string& conninfo, const std::string& sql) {
    std::unique_ptr<PGconn, Finish> connection(PQconnectdb(conninfo.c_str()));
    if (PQstatus(connection.get()) != CONNECTION_OK)
        throw std::runtime_error("cannot connect to the test cluster: " + trimmed(PQerrorMessage(connection.get())));
    PQsetNoticeProcessor(
        connection.get(), [](void*, const char*) {}, nullptr);
    PGresult* result = PQexec(connection.get(), sql.c_str());
    const auto status = PQresultStatus(result);
    PQclear(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error(sql + ": " + trimmed(PQerrorMessage(connection.get())));
}

TestSchema::TestSchema() {
    static std::atomic<int> made{0};
    name_ = "test_" + std::to_string(::getpid()) + "_" + std::to_string(made++);
    postgres_exec(postgres_uri(), "CREATE SCHEMA " + name_);
}

TestSchema::~TestSchema() {
    try {
        postgres_exec(postgres_uri(), "DROP SCHEMA " + name_ + " CASCADE");
    } catch (...) {
        // The cluster goes at the end of the run anyway.
    }
}

std::string TestSchema::conninfo() const {
    const auto uri = postgres_uri();
    return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name_;
}

}  // namespace jobq::test
