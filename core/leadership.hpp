#pragma once
// Whether this process leads: on several nodes sharing one database only the leader runs
// the reaper, retention and the schedules (the others would only repeat its work). A
// store that is the only process on its database has no Leadership: it always leads.
// Thread-safe.

namespace jobq::core {

class Leadership {
public:
    virtual ~Leadership() = default;
    virtual bool leading() const = 0;
};

// True when `leadership` is absent (one process alone) or says so.
inline bool leads(const Leadership* leadership) {
    return leadership == nullptr || leadership->leading();
}

}  // namespace jobq::core
