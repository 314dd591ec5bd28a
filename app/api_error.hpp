#pragma once
// The API's error model: {"error": {"code": "...", "message": "..."}} with a status.

#include "net/http_types.hpp"

#include <string>

namespace jobq::app {

struct ApiError {
    unsigned status = 400;
    std::string code;
    std::string message;
};

net::HttpResponse error_response(const ApiError& error);

}  // namespace jobq::app
