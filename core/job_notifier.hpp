#pragma once
// Told when jobs may have become runnable (an enqueue, an operator retry), so whoever
// waits for work looks again: the engine's dispatcher, and long polls for leases. The
// API holds this, not the engine. Thread-safe: called from any thread; wake-ups coalesce.

namespace jobq::core {

class JobNotifier {
public:
    virtual ~JobNotifier() = default;
    virtual void notify_enqueued() = 0;
    // An external lease was taken: the reaper must look again at the earliest expiry.
    virtual void notify_leased() = 0;
};

}  // namespace jobq::core
