#pragma once
// Everything a store offers beside the engine's JobStore, by concern. Callers take the
// interface they need (the API its reader and operator actions, retention its
// maintenance, /readyz its readiness); a store implements them all, and a store's tests
// reach them through this one type.

#include "core/job_reader.hpp"
#include "core/maintenance.hpp"
#include "core/operator_actions.hpp"
#include "core/readiness.hpp"

namespace jobq::core {

class JobAdmin : public OperatorActions, public JobReader, public Maintenance, public Readiness {};

}  // namespace jobq::core
