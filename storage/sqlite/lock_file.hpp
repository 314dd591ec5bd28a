#pragma once
// An exclusive advisory lock (flock) on "<database>.lock", held for the life of the
// object, so a second server cannot open the same database. The kernel releases it when
// the process dies, even by SIGKILL.

#include <string>

namespace jobq::storage {

class LockFile {
public:
    // Throws std::runtime_error naming the path when another process holds the lock.
    explicit LockFile(std::string path);
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    ~LockFile();

private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace jobq::storage
