#include "app/api/routes.hpp"

namespace jobq::app {

namespace {

RouteTable make_api_routes() {
    RouteTable table;
    add_health_routes(table);
    add_stats_routes(table);
    add_job_routes(table);
    add_batch_routes(table);
    add_lease_routes(table);
    add_schedule_routes(table);
    add_queue_routes(table);
    add_worker_routes(table);
    add_ui_routes(table);
    return table;
}

}  // namespace

const RouteTable& api_routes() {
    static const RouteTable table = make_api_routes();
    return table;
}

}  // namespace jobq::app
