// SHA-256 and HMAC over OpenSSL, for both programs: the shim checks webhook
// signatures with them, the relay signs its object-storage requests (AWS
// Signature Version 4) and fingerprints each archived recording.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace vox {

// Raw digests (32 bytes for SHA-256), not hex.
std::string sha256(std::string_view data);
// An empty string when OpenSSL fails, which no presented MAC can equal.
std::string hmac(const EVP_MD* digest, std::string_view key, std::string_view message);
std::string hmac_sha256(std::string_view key, std::string_view message);
// Lowercase hex.
std::string to_hex(std::string_view bytes);

// SHA-256 of data given in pieces, for a recording streamed through the relay.
class Sha256Stream {
 public:
  Sha256Stream();
  void update(const char* data, size_t size);
  // The raw digest; the stream starts again empty.
  std::string finish();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
};

}  // namespace vox
