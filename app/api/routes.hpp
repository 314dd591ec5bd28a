#pragma once
// The API's routes: one add_<resource>_routes per file under app/api/, each adding that
// resource's routes to the table. A new resource is a new file and one line here and in
// routes.cpp; no switch over routes grows with it.

#include "app/router.hpp"

namespace jobq::app {

void add_health_routes(RouteTable& table);  // api/health.cpp: /healthz, /readyz
void add_stats_routes(RouteTable& table);   // api/stats.cpp: /stats, /metrics
void add_job_routes(RouteTable& table);     // api/jobs.cpp: /jobs, /createJob, /jobs/{id}...
void add_batch_routes(RouteTable& table);   // api/batches.cpp: /jobs/batch
void add_lease_routes(RouteTable& table);     // api/leases.cpp: /leases, /leases/settle, /jobs/{id}/ack...
void add_schedule_routes(RouteTable& table);  // api/schedules.cpp: /schedules, /schedules/{name}...
void add_queue_routes(RouteTable& table);     // api/queues.cpp: /queues/{name}/retry-failed, /purge
void add_worker_routes(RouteTable& table);    // api/workers.cpp: /workers
void add_ui_routes(RouteTable& table);        // api/ui.cpp: /ui/ and the dashboard's files

// Every route the API serves, built on first use (thread-safe) and never changed after.
const RouteTable& api_routes();

}  // namespace jobq::app
