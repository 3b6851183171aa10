// One object written as its bytes arrive: kept in memory up to one part,
// then sent as a multipart upload part by part, so memory stays bounded
// whatever the size. Fingerprints what it stores with SHA-256.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "digest.hpp"
#include "object_store.hpp"

namespace relay {

class ObjectUpload {
 public:
  // 8 MiB: above S3's 5 MiB minimum part, and 10,000 parts hold 80 GB.
  static constexpr size_t kPartBytes = 8 << 20;

  ObjectUpload(const ObjectStore& store, std::string key, std::string content_type, size_t part_bytes = kPartBytes);
  // Aborts a multipart upload that was not completed.
  ~ObjectUpload();
  ObjectUpload(const ObjectUpload&) = delete;
  ObjectUpload& operator=(const ObjectUpload&) = delete;

  // False, with `error`, when a part could not be stored.
  bool add(const char* data, size_t size, std::string& error);
  // Stores what is left: the whole object with one PUT, or the last part.
  StoreResult finish();

  uint64_t bytes() const { return bytes_; }
  // Hex SHA-256 of every byte added; valid after finish().
  const std::string& sha256_hex() const { return sha256_hex_; }

 private:
  bool send_part(std::string& error);

  const ObjectStore& store_;
  const std::string key_, content_type_;
  const size_t part_bytes_;
  std::string buffer_;
  std::string upload_id_;  // set once the object is too big for one PUT
  std::vector<std::string> etags_;
  bool finished_ = false;
  uint64_t bytes_ = 0;
  vox::Sha256Stream sha256_;
  std::string sha256_hex_;
};

}  // namespace relay
