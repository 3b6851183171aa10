#include "error_map.hpp"

#include <gtest/gtest.h>

namespace shim {

// DESIGN §3, row by row.
TEST(ErrorMap, InvalidPayloadIsBadRequest) {
  EXPECT_EQ(http_status_for_sqlstate("22023"), 400);
  EXPECT_EQ(http_status_for_sqlstate("22P02"), 400);  // not JSON
  EXPECT_EQ(http_status_for_sqlstate("22004"), 400);
}

TEST(ErrorMap, PassingFailuresAreServiceUnavailable) {
  for (const char* sqlstate :
       {"40001", "40P01", "57014", "55P03", "08006", "08001", "53300", "53200", "57P01", "57P02", "57P03"})
    EXPECT_EQ(http_status_for_sqlstate(sqlstate), 503) << sqlstate;
}

TEST(ErrorMap, EverythingElseIsInternalError) {
  for (const char* sqlstate : {"42501", "42883", "23505", "XX000", "38000", "57000", ""})
    EXPECT_EQ(http_status_for_sqlstate(sqlstate), 500) << sqlstate;
}

TEST(ErrorMap, OnlyTransientFailuresAreRetried) {
  for (const char* sqlstate : {"40001", "40P01", "08006", "08001", "57P01", "57P03", "26000"})
    EXPECT_TRUE(is_retryable_sqlstate(sqlstate)) << sqlstate;
  for (const char* sqlstate : {"22023", "57014", "55P03", "53300", "XX000", "23505"})
    EXPECT_FALSE(is_retryable_sqlstate(sqlstate)) << sqlstate;
}

}  // namespace shim
