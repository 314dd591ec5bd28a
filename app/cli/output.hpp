#pragma once
// How the client commands print what the server answered: JSON indented for a person at a
// terminal, one compact line per value for a program reading a pipe, and jobs as an
// aligned table.

#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace jobq::app::cli {

// Two-space indented JSON, members in the server's order.
std::string indented_json(const boost::json::value& value);

// One row per job (id, state, queue, type, priority, attempts, run_at, last_error), the
// columns as wide as their widest cell; long errors are cut to `error_width` characters.
std::string job_table(const std::vector<boost::json::object>& jobs, std::size_t error_width = 60);

}  // namespace jobq::app::cli
