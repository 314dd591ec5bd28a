#include "core/job.hpp"

#include <array>
#include <ostream>

namespace jobq::core {
namespace {

constexpr std::array<std::string_view, 5> state_names = {"queued", "processing", "done", "failed",
                                                         "cancelled"};

}  // namespace

std::string_view to_string(JobState state) { return state_names[static_cast<std::size_t>(state)]; }

std::optional<JobState> parse_job_state(std::string_view text) {
    for (std::size_t i = 0; i < state_names.size(); ++i)
        if (state_names[i] == text) return static_cast<JobState>(i);
    return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, JobState state) { return out << to_string(state); }

}  // namespace jobq::core
