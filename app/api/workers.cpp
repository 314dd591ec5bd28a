// GET /workers: the external workers seen lately (by the name their lease requests give)
// and the leases each holds now. Names and contacts come from memory; leases from the
// processing jobs, on a read-only connection.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"

#include <map>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

// "The last few minutes": long enough for a worker between long polls, or busy with a
// long job, to stay listed.
constexpr core::millis seen_window_ms = 5 * 60'000;

struct WorkerView {
    std::optional<core::millis> last_seen_at;  // none: holds leases, not seen since the server started
    std::int64_t leases = 0;
};

std::string workers_json(const std::map<std::string, WorkerView>& workers) {
    std::string out = R"({"window_ms":)" + std::to_string(seen_window_ms) + R"(,"workers":[)";
    bool first = true;
    for (const auto& [name, view] : workers) {
        if (!first) out += ',';
        first = false;
        JsonObjectWriter(out)
            .string("name", name)
            .integer("leases", view.leases)
            .time_or_null("last_seen_at", view.last_seen_at)
            .close();
    }
    out += "]}";
    return out;
}

asio::awaitable<Answer> list_workers(ApiContext& ctx, RouteRequest) {
    std::map<std::string, WorkerView> workers;
    for (auto& seen : ctx.workers.seen_since(ctx.clock() - seen_window_ms))
        workers[std::move(seen.name)].last_seen_at = seen.last_seen_at;
    for (auto& held : co_await ctx.stores.reader.leases_by_worker()) workers[std::move(held.worker)].leases = held.leases;
    co_return json_response(200, workers_json(workers));
}

}  // namespace

void add_worker_routes(RouteTable& table) { table.add({.method = "GET", .pattern = "/workers", .handler = list_workers}); }

}  // namespace jobq::app
