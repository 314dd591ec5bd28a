#define BOOST_TEST_MODULE jobq_fault
#include <boost/test/unit_test.hpp>
