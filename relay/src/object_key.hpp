// Where an archived recording is stored, and how log lines show that key.
#pragma once

#include <cstdint>
#include <string>

namespace relay {

// PREFIX ORG/CALL/JOB.EXT: the extension is the recording URL path's (wav
// for Vapi's) when it is a plain one of up to 5 letters or digits, else bin.
// The queue id makes a key the job's alone.
std::string object_key(const std::string& prefix, const std::string& org_id, const std::string& vapi_call_id,
                       int64_t job_id, const std::string& recording_url);

// The key as a log line shows it: its last segment whole where it has the
// shape object_key gives it (the queue id, which reaches the length of a
// phone number on a big or distributed install, and the extension), the rest
// (prefix, org, Vapi's call id) with phone numbers redacted. A key of any
// other shape is redacted whole.
std::string loggable_key(const std::string& key);

}  // namespace relay
