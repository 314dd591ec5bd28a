#include "test_store.hpp"

#include "postgres.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace jobq::test {

namespace {

std::string schema_conninfo(const std::string& db_path) {
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<TestSchema>> schemas;  // dropped at exit
    const std::lock_guard lock(mutex);
    auto& schema = schemas[db_path];
    if (!schema) schema = std::make_unique<TestSchema>();
    return schema->conninfo();
}

std::vector<Row> query_postgres(const std::string& conninfo, const std::string& sql) {
    std::unique_ptr<PGconn, void (*)(PGconn*)> connection(PQconnectdb(conninfo.c_str()), PQfinish);
    if (PQstatus(connection.get()) != CONNECTION_OK)
        throw std::runtime_error(std::string("cannot connect to the test cluster: ") +
                                 PQerrorMessage(connection.get()));
    std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(connection.get(), sql.c_str()), PQclear);
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK)
        throw std::runtime_error(sql + ": " + PQerrorMessage(connection.get()));
    std::vector<Row> rows;
    for (int r = 0; r < PQntuples(result.get()); ++r) {
        Row row;
        for (int c = 0; c < PQnfields(result.get()); ++c)
            row.push_back(PQgetisnull(result.get(), r, c) ? std::nullopt
                                                          : std::optional<std::string>(PQgetvalue(result.get(), r, c)));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<Row> query_sqlite(const std::string& path, const std::string& sql) {
    sqlite3* raw = nullptr;
    const int opened = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    if (opened != SQLITE_OK) throw std::runtime_error("cannot open " + path + ": " + sqlite3_errmsg(raw));
    sqlite3_busy_timeout(db.get(), 5000);
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
        throw std::runtime_error(sql + ": " + sqlite3_errmsg(db.get()));
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(statement, sqlite3_finalize);
    std::vector<Row> rows;
    int step = SQLITE_ROW;
    while ((step = sqlite3_step(statement)) == SQLITE_ROW) {
        Row row;
        for (int c = 0; c < sqlite3_column_count(statement); ++c) {
            const auto* text = sqlite3_column_text(statement, c);
            row.push_back(text ? std::optional<std::string>(reinterpret_cast<const char*>(text)) : std::nullopt);
        }
        rows.push_back(std::move(row));
    }
    if (step != SQLITE_DONE) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db.get()));
    return rows;
}

}  // namespace

bool testing_on_postgres() {
    const char* store = std::getenv("JOBQ_TEST_STORE");
    return store && std::string(store) == "postgres";
}

bool is_postgres_uri(const std::string& db) {
    return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

std::string database_argument(const std::string& db_path) {
    if (is_postgres_uri(db_path)) return db_path;
    return testing_on_postgres() ? schema_conninfo(db_path) : db_path;
}

bool on_postgres(const std::string& db_path) {
    return is_postgres_uri(db_path) || testing_on_postgres();
}

std::vector<Row> query_database(const std::string& db_path, const std::string& sql) {
    return on_postgres(db_path) ? query_postgres(database_argument(db_path), sql) : query_sqlite(db_path, sql);
}

std::int64_t stored_schema_version(const std::string& db_path) {
    if (!testing_on_postgres()) return std::stoll(query_sqlite(db_path, "PRAGMA user_version").at(0).at(0).value());
    const auto rows = query_postgres(schema_conninfo(db_path),
                                     "SELECT coalesce((SELECT version FROM jobq_schema), 0) "
                                     "WHERE to_regclass('jobq_schema') IS NOT NULL UNION ALL SELECT 0 LIMIT 1");
    return std::stoll(rows.at(0).at(0).value());
}

void store_schema_version(const std::string& db_path, std::int64_t version) {
    const auto v = std::to_string(version);
    if (testing_on_postgres()) {
        postgres_exec(schema_conninfo(db_path),
                      "CREATE TABLE IF NOT EXISTS jobq_schema (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                      "version bigint NOT NULL); INSERT INTO jobq_schema (version) VALUES (" +
                          v + ") ON CONFLICT (one) DO UPDATE SET version = excluded.version");
        return;
    }
    sqlite3* raw = nullptr;
    const int opened = sqlite3_open(db_path.c_str(), &raw);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    if (opened != SQLITE_OK ||
        sqlite3_exec(db.get(), ("PRAGMA user_version = " + v).c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot set the schema version of " + db_path);
}

}  // namespace jobq::test
