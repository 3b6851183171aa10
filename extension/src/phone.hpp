// Phone numbers to E.164 with libphonenumber. This header and phone.cpp never
// see postgres.h: libphonenumber pulls in abseil and protobuf, whose headers
// break on PostgreSQL's macros (DESIGN §5).
#pragma once

#include <optional>
#include <string>

namespace vox {

// The number in E.164, or nullopt when raw is not a possible phone number
// ("anonymous", "", "123"). National formats are read in the given region
// (ISO 3166-1 alpha-2, e.g. "US").
std::optional<std::string> to_e164(const std::string& raw, const std::string& region);

}  // namespace vox
