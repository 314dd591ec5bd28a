#define BOOST_TEST_MODULE jobq_unit
#include <boost/test/unit_test.hpp>
