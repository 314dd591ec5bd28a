#include "storage/sqlite/db_executor.hpp"

#include "core/log.hpp"

namespace jobq::storage {

DbExecutor::DbExecutor()
    : work_(io_.get_executor()), thread_([this] {
          for (;;) {
              try {
                  io_.run();
                  return;
              } catch (const std::exception& e) {
                  core::log::error("uncaught exception on the DB thread", {{"error", e.what()}});
              }
          }
      }) {}

DbExecutor::~DbExecutor() {
    work_.reset();
    thread_.join();
}

}  // namespace jobq::storage
