#include "ferry/cache/signature.hh"

#include <sodium.h>

#include "ferry/util/encoding.hh"
#include "ferry/util/error.hh"
#include "ferry/util/strings.hh"

namespace ferry {

namespace {

std::pair<std::string, std::vector<uint8_t>> split_key(std::string_view text, size_t size,
                                                       std::string_view what) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0)
        throw FormatError("{} '{}' is not of the form '<name>:<base64>'", what, text.substr(0, 100));
    std::vector<uint8_t> bytes;
    try {
        bytes = base64_decode(text.substr(colon + 1));
    } catch (const FormatError&) {
        throw FormatError("{} '{}' has invalid base-64", what, text.substr(0, 100));
    }
    if (bytes.size() != size)
        throw FormatError("{} '{}' has {} bytes, expected {}", what, text.substr(0, 100), bytes.size(), size);
    return {std::string(text.substr(0, colon)), std::move(bytes)};
}

void ensure_sodium() {
    static const bool ok = sodium_init() >= 0;
    if (!ok) throw Error("cannot initialise libsodium");
}

} // namespace

PublicKey PublicKey::parse(std::string_view text) {
    auto [name, key] = split_key(text, crypto_sign_PUBLICKEYBYTES, "public key");
    return PublicKey{std::move(name), std::move(key)};
}

std::string PublicKey::to_string() const {
    return name + ":" + base64_encode(key);
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
    auto colon = signature.find(':');
    if (colon == std::string_view::npos || signature.substr(0, colon) != name) return false;
    std::vector<uint8_t> sig;
    try {
        sig = base64_decode(signature.substr(colon + 1));
    } catch (const FormatError&) {
        return false;
    }
    if (sig.size() != crypto_sign_BYTES) return false;
    ensure_sodium();
    return crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                       message.size(), key.data()) == 0;
}

SecretKey SecretKey::parse(std::string_view text) {
    auto [name, key] = split_key(text, crypto_sign_SECRETKEYBYTES, "secret key");
    return SecretKey{std::move(name), std::move(key)};
}

SecretKey SecretKey::generate(std::string name) {
    ensure_sodium();
    SecretKey sk{std::move(name), std::vector<uint8_t>(crypto_sign_SECRETKEYBYTES)};
    std::vector<uint8_t> pk(crypto_sign_PUBLICKEYBYTES);
    crypto_sign_keypair(pk.data(), sk.key.data());
    return sk;
}

std::string SecretKey::to_string() const {
    return name + ":" + base64_encode(key);
}

PublicKey SecretKey::public_key() const {
    PublicKey pk{name, std::vector<uint8_t>(crypto_sign_PUBLICKEYBYTES)};
    crypto_sign_ed25519_sk_to_pk(pk.key.data(), key.data());
    return pk;
}

std::string SecretKey::sign(std::string_view message) const {
    std::vector<uint8_t> sig(crypto_sign_BYTES);
    crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), key.data());
    return name + ":" + base64_encode(sig);
}

TrustedKeys::TrustedKeys(std::string_view list) {
    for (auto key : split_words(list))
        add(PublicKey::parse(key));
}

void TrustedKeys::add(PublicKey key) {
    auto name = key.name;
    keys_.emplace(std::move(name), std::move(key));
}

bool TrustedKeys::verify_any(std::string_view message, const std::set<std::string>& signatures) const {
    for (const auto& sig : signatures) {
        auto name = std::string_view(sig).substr(0, sig.find(':'));
        auto [lo, hi] = keys_.equal_range(std::string(name));
        for (auto it = lo; it != hi; ++it)
            if (it->second.verify(message, sig)) return true;
    }
    return false;
}

} // namespace ferry
