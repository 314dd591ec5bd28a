#include "core/error.hpp"

#include <boost/throw_exception.hpp>

#include <stdexcept>

namespace jobq::core {

namespace {

class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "jobq"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::invalid: return "invalid";
            case errc::not_found: return "not_found";
            case errc::conflict: return "conflict";
            case errc::lease_lost: return "lease_lost";
            case errc::too_large: return "too_large";
            case errc::unauthorized: return "unauthorized";
            case errc::forbidden: return "forbidden";
            case errc::busy: return "busy";
            case errc::unavailable: return "unavailable";
            case errc::method_not_allowed: return "method_not_allowed";
            case errc::unsupported_media_type: return "unsupported_media_type";
        }
        return "unknown";
    }
};

}  // namespace

const boost::system::error_category& jobq_category() noexcept {
    static const Category category;
    return category;
}

std::string Error::code_name() const { return name.empty() ? code.message() : name; }

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
    boost::throw_exception(std::logic_error("unchecked jobq error " + e.code_name() + ": " + e.message), loc);
}

}  // namespace jobq::core
