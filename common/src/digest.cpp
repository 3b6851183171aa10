#include "digest.hpp"

#include <openssl/hmac.h>

#include <climits>
#include <stdexcept>

namespace vox {

std::string sha256(std::string_view data) {
  Sha256Stream stream;
  stream.update(data.data(), data.size());
  return stream.finish();
}

std::string hmac(const EVP_MD* digest, std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // key sizes come from configuration, far below INT_MAX.
  if (digest == nullptr || key.size() > INT_MAX ||
      HMAC(digest, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), out, &length) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string hmac_sha256(std::string_view key, std::string_view message) { return hmac(EVP_sha256(), key, message); }

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

Sha256Stream::Sha256Stream() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  // Only allocation can fail here; the process cannot go on without it.
  if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
    throw std::bad_alloc();
}

void Sha256Stream::update(const char* data, size_t size) { EVP_DigestUpdate(context_.get(), data, size); }

std::string Sha256Stream::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_.get(), out, &length);
  EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), length);
}

}  // namespace vox
