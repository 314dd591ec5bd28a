#include "store_factory.hpp"

#include <stdexcept>

namespace jobq::test {

std::vector<std::string> store_kinds() {
    return {"sqlite", "postgres"};
}

std::unique_ptr<StoreUnderTest> make_store(std::string_view kind, const std::string& dir) {
    if (kind == "sqlite") return make_sqlite_store(dir);
    if (kind == "postgres") return make_postgres_store(dir);
    throw std::invalid_argument("no store of kind \"" + std::string(kind) + "\"");
}

}  // namespace jobq::test
