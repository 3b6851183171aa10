#include "digest.hpp"

#include <openssl/core_names.h>

#include <stdexcept>
#include <utility>
#include <vector>

namespace vox {

std::string sha256(std::string_view data) {
  Sha256Stream stream;
  stream.update(data.data(), data.size());
  return stream.finish();
}

namespace {

using MacContext = std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)>;

// This thread's HMAC context for `digest`, or null. OpenSSL's one-shot HMAC()
// looks the MAC and the digest up by name on every call, which cost more
// than the MAC itself; a context keeps both, and only the key changes.
EVP_MAC_CTX* hmac_context(const EVP_MD* digest) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local std::vector<std::pair<const EVP_MD*, MacContext>> contexts;
  for (const auto& [known, context] : contexts)
    if (known == digest) return context.get();
  if (mac == nullptr) return nullptr;
  MacContext context(EVP_MAC_CTX_new(mac), EVP_MAC_CTX_free);
  char* name = const_cast<char*>(EVP_MD_get0_name(digest));
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0), OSSL_PARAM_END};
  if (!context || EVP_MAC_CTX_set_params(context.get(), params) != 1) return nullptr;
  contexts.emplace_back(digest, std::move(context));
  return contexts.back().second.get();
}

}  // namespace

std::string hmac(const EVP_MD* digest, std::string_view key, std::string_view message) {
  EVP_MAC_CTX* context = digest ? hmac_context(digest) : nullptr;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  // Never a null key: to EVP_MAC_init that means "the previous key again".
  const auto* key_bytes = reinterpret_cast<const unsigned char*>(key.empty() ? "" : key.data());
  if (context == nullptr || EVP_MAC_init(context, key_bytes, key.size(), nullptr) != 1 ||
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      EVP_MAC_final(context, out, &length, sizeof out) != 1) {
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
