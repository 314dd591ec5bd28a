#include "own_postgres.hpp"

#include "postgres.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

namespace jobq::test {

namespace {

void pg_cluster(const std::string& arguments) {
    const std::string command = std::string("python3 ") + JOBQ_PG_CLUSTER_SCRIPT + " " + arguments + " >/dev/null";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("pg_cluster.py " + arguments + " failed");
}

}  // namespace

OwnPostgres::OwnPostgres() {
    static std::atomic<int> made{0};
    // Under /tmp, not a test's private directory: the server runs as `postgres` there.
    dir_ = "/tmp/jobq-pg-own-" + std::to_string(::getpid()) + "-" + std::to_string(made++);
    const auto uri_file = dir_ + ".uri";
    pg_cluster("start " + dir_ + " " + uri_file);
    std::ifstream in(uri_file);
    std::getline(in, uri_);
    std::remove(uri_file.c_str());
    if (uri_.empty()) throw std::runtime_error("pg_cluster.py wrote no URI");
}

OwnPostgres::~OwnPostgres() {
    try {
        pg_cluster("stop " + dir_);
    } catch (...) {
        // Left for the operating system's /tmp cleaning.
    }
}

std::string OwnPostgres::create_database(const std::string& name) {
    postgres_exec(uri_, "CREATE DATABASE " + name);
    return uri_.substr(0, uri_.rfind('/') + 1) + name;
}

void OwnPostgres::restart() {
    pg_cluster("restart " + dir_);
}

void OwnPostgres::halt() {
    pg_cluster("halt " + dir_);
}

void OwnPostgres::resume() {
    pg_cluster("resume " + dir_);
}

}  // namespace jobq::test
