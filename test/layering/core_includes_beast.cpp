// Must not compile: core/ may not use Beast. Built only by the layering test, which
// expects the compiler to refuse it with the message of cmake/layering/.
#include "core/job.hpp"

#include <boost/beast/http/message.hpp>
