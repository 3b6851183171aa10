#include "object_upload.hpp"

namespace relay {

ObjectUpload::ObjectUpload(const ObjectStore& store, std::string key, std::string content_type, size_t part_bytes)
    : store_(store), key_(std::move(key)), content_type_(std::move(content_type)), part_bytes_(part_bytes) {
  buffer_.reserve(part_bytes_);
}

ObjectUpload::~ObjectUpload() {
  if (!upload_id_.empty() && !finished_) store_.abort_multipart(key_, upload_id_);
}

bool ObjectUpload::add(const char* data, size_t size, std::string& error) {
  bytes_ += size;
  sha256_.update(data, size);
  while (size > 0) {
    const size_t taken = std::min(size, part_bytes_ - buffer_.size());
    buffer_.append(data, taken);
    data += taken;
    size -= taken;
    if (buffer_.size() == part_bytes_ && !send_part(error)) return false;
  }
  return true;
}

bool ObjectUpload::send_part(std::string& error) {
  if (upload_id_.empty()) {
    const StoreResult started = store_.start_multipart(key_, content_type_);
    if (!started.ok()) {
      error = started.error;
      return false;
    }
    upload_id_ = started.value;
  }
  const StoreResult part = store_.upload_part(key_, upload_id_, int(etags_.size()) + 1, buffer_);
  if (!part.ok()) {
    error = part.error;
    return false;
  }
  etags_.push_back(part.value);
  buffer_.clear();
  return true;
}

StoreResult ObjectUpload::finish() {
  sha256_hex_ = vox::to_hex(sha256_.finish());
  StoreResult result;
  if (upload_id_.empty()) {
    result = store_.put(key_, buffer_, content_type_);
  } else if (buffer_.empty() || send_part(result.error)) {
    result = store_.complete_multipart(key_, upload_id_, etags_);
  }
  finished_ = result.ok();
  return result;
}

}  // namespace relay
