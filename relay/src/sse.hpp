// Server-Sent Events framing (the WHATWG event stream format): each event
// ends with a blank line, each line of its data gets its own "data:" field,
// and a comment line starts with ':'.
#pragma once

#include <string>
#include <string_view>

namespace relay {

// An event: "event: <type>" (omitted when empty: the browser's type
// "message"), "id: <id>" (omitted when empty), then one "data: " line per
// line of `data` (CRLF, CR and LF all end a line). A CR, LF or NUL in the
// type or id, which would end the field early, is dropped.
std::string sse_event(std::string_view type, std::string_view id, std::string_view data);

// A comment the browser ignores, which keeps proxies from closing an idle
// stream: ": <text>".
std::string sse_comment(std::string_view text);

// How long the browser waits before reconnecting: "retry: <ms>".
std::string sse_retry(int milliseconds);

}  // namespace relay
