#pragma once
// JSON <-> job domain: the submission a client sends (JobSpec) and the job it reads back.

#include "core/error.hpp"
#include "core/external_types.hpp"
#include "core/handler_registry.hpp"
#include "core/job.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace jobq::app {

// Parses and validates a POST /jobs body. Unknown fields, missing type or payload, wrong
// types and out-of-range numbers are errc::invalid errors named as the API answers them
// (invalid_json, unknown_field, missing_field, invalid_field, unknown_type,
// invalid_payload); the payload is checked by its handler. A type no handler runs is
// accepted when `external` admits it, with any JSON payload (an external job).
core::Result<core::JobSpec> parse_job_spec(std::string_view body, const core::HandlerRegistry& handlers,
                                           core::millis now, const core::ExternalTypes& external = {});

// Same, for a value already parsed (a batch element).
core::Result<core::JobSpec> job_spec_from_json(const boost::json::value& value, const core::HandlerRegistry& handlers,
                                               core::millis now, const core::ExternalTypes& external = {});

// The job as a JSON object, appended to `out` (a list response appends many). The stored
// payload is copied through as text, never parsed again.
void append_job_json(std::string& out, const core::Job& job);
std::string job_to_json(const core::Job& job);

}  // namespace jobq::app
