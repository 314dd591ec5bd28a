#include "storage/sqlite/lock_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace jobq::storage {

LockFile::LockFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot open lock file " + path_ + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK)
            throw std::runtime_error("another jobq server is using this database (lock file " + path_ +
                                     " is held)");
        throw std::runtime_error("cannot lock " + path_ + ": " + std::strerror(err));
    }
}

LockFile::~LockFile() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

}  // namespace jobq::storage
