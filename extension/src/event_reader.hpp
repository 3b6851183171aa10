// Reads a Vapi server message straight out of its jsonb (no text round trip)
// into an Event, validating as it goes. Every problem is a SqlError whose
// message names the field.
#pragma once

#include "event.hpp"
#include "pg_bridge.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace vox {

Event read_event(Jsonb* payload);

// The name vox counts an event under (status-update, transcript,
// end-of-call-report, assistant-request or other), read without validating
// anything else, so that an invalid event is counted under its type too.
const char* counted_type(Jsonb* payload) noexcept;

// metadata.is_test_call of an outbound registration; metadata must be an object.
bool read_is_test_call(Jsonb* metadata);

}  // namespace vox
