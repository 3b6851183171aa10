#include "json_depth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shim {

TEST(JsonDepth, CountsArraysAndObjectsOpenAtOnce) {
  EXPECT_EQ(json_nesting_depth("1e400"), 0u);
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":[]}],"c":{}})"), 4u);
  EXPECT_EQ(json_nesting_depth(std::string(100000, '[') + std::string(100000, ']')), 100000u);
}

TEST(JsonDepth, SkipsStringsAndTheirEscapes) {
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[{{{"})"), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"\"[[["})"), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"\\"}[[)"), 2u);
}

}  // namespace shim
