#include "json_fields.hpp"

#include <cstdint>
#include <stdexcept>

namespace shim {

namespace {

using nlohmann::json;
using Type = json::value_t;
using Mask = uint32_t;  // bit i: paths[i]

// The SAX handler: it follows only the objects on the way to a path, and
// counts the depth of everything else.
class FieldReader {
 public:
  FieldReader(const std::vector<JsonPath>& paths, std::vector<JsonField>& fields)
      : paths_(paths), fields_(fields), next_(paths.size() == 32 ? ~Mask{0} : (Mask{1} << paths.size()) - 1) {}

  bool null() { return value(Type::null); }
  bool boolean(bool) { return value(Type::boolean); }
  bool number_integer(json::number_integer_t) { return value(Type::number_integer); }
  bool number_unsigned(json::number_unsigned_t) { return value(Type::number_unsigned); }
  bool number_float(json::number_float_t, const std::string&) { return value(Type::number_float); }
  bool binary(json::binary_t&) { return value(Type::binary); }
  bool string(std::string& text) { return value(Type::string, &text); }
  bool start_object(size_t) { return open(Type::object); }
  bool start_array(size_t) { return open(Type::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  // A key names the next value; a repeated one replaces what its first value
  // held, as in a parsed document.
  bool key(std::string& name) {
    next_ = 0;
    if (untracked_ > 0) return true;
    next_depth_ = open_.back().depth + 1;
    for (size_t i = 0; i < paths_.size(); ++i) {
      if ((open_.back().paths >> i & 1) && paths_[i][next_depth_ - 1] == name) {
        next_ |= Mask{1} << i;
        fields_[i] = JsonField{};
      }
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  struct Container {
    Mask paths;    // the paths that go on inside it
    size_t depth;  // keys from the top to it
  };

  // The next value, recorded for the paths that end at it.
  bool value(Type type, const std::string* text = nullptr) {
    for (size_t i = 0; i < paths_.size(); ++i) {
      if ((next_ >> i & 1) && paths_[i].size() == next_depth_) {
        fields_[i].type = type;
        if (text) fields_[i].string = *text;
      }
    }
    return true;
  }
  bool open(Type type) {
    value(type);
    Mask inside = 0;
    for (size_t i = 0; i < paths_.size(); ++i)
      if ((next_ >> i & 1) && paths_[i].size() > next_depth_) inside |= Mask{1} << i;
    // No path goes through an array's elements.
    if (untracked_ > 0 || inside == 0 || type == Type::array) {
      ++untracked_;
    } else {
      open_.push_back({inside, next_depth_});
    }
    next_ = 0;
    return true;
  }
  bool close() {
    if (untracked_ > 0) {
      --untracked_;
    } else {
      open_.pop_back();
    }
    next_ = 0;
    return true;
  }

  const std::vector<JsonPath>& paths_;
  std::vector<JsonField>& fields_;
  Mask next_;              // the paths the next value is on
  size_t next_depth_ = 0;  // keys from the top to the next value
  std::vector<Container> open_;
  size_t untracked_ = 0;  // containers open inside one no path goes through
};

}  // namespace

std::optional<std::vector<JsonField>> read_json_fields(std::string_view text, const std::vector<JsonPath>& paths) {
  if (paths.size() > 32) throw std::invalid_argument("read_json_fields takes at most 32 paths");
  std::vector<JsonField> fields(paths.size());
  FieldReader reader(paths, fields);
  if (!json::sax_parse(text.begin(), text.end(), &reader)) return std::nullopt;
  return fields;
}

}  // namespace shim
