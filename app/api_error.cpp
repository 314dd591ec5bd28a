#include "app/api_error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace jobq::app {

net::HttpResponse error_response(const ApiError& error) {
    namespace json = boost::json;
    net::HttpResponse r;
    r.status = error.status;
    r.body = json::serialize(json::object{{"error", json::object{{"code", error.code}, {"message", error.message}}}});
    return r;
}

}  // namespace jobq::app
