// How deeply a JSON text nests, without parsing it: PostgreSQL parses jsonb
// recursively, and a body nested past its stack limit fails with 54001, a 500
// its sender would retry for ever. The shim refuses such a body first (400).
#pragma once

#include <cstddef>
#include <string_view>

namespace shim {

// Vapi's payloads nest about ten levels; PostgreSQL's default stack takes
// thousands.
constexpr size_t kMaxJsonDepth = 512;

// The largest number of arrays and objects open at once, strings skipped.
// Any text is measured, JSON or not.
size_t json_nesting_depth(std::string_view text);

}  // namespace shim
