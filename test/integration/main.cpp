#define BOOST_TEST_MODULE jobq_integration
#include <boost/test/unit_test.hpp>
