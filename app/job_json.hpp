#pragma once
// JSON <-> job domain: the submission a client sends (JobSpec) and the job it reads back.

#include "app/api_error.hpp"
#include "core/handler_registry.hpp"
#include "core/job.hpp"

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace jobq::app {

// Parses and validates a POST /jobs body. Unknown fields, missing type or payload, wrong
// types and out-of-range numbers are errors; the payload is checked by its handler.
std::variant<core::JobSpec, ApiError> parse_job_spec(std::string_view body, const core::HandlerRegistry& handlers,
                                                     core::millis now);

// Same, for a value already parsed (a batch element).
std::variant<core::JobSpec, ApiError> job_spec_from_json(const boost::json::value& value,
                                                         const core::HandlerRegistry& handlers, core::millis now);

// Strict parse: at most 64 levels of nesting, UTF-8 checked. The value's memory comes from
// `storage` (the default heap when none is given).
std::variant<boost::json::value, ApiError> parse_json_body(std::string_view body,
                                                           boost::json::storage_ptr storage = {});

// The job as a JSON object, appended to `out` (a list response appends many). The stored
// payload is copied through as text, never parsed again.
void append_job_json(std::string& out, const core::Job& job);
std::string job_to_json(const core::Job& job);

}  // namespace jobq::app
