#pragma once
/// ed25519 signatures as Nix writes them: keys and signatures are "<key name>:<base64>". Verification
/// and signing go through libsodium. Thread-safe (no shared state).

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// A named ed25519 public key ("name:base64(32 bytes)").
struct PublicKey {
    std::string name;
    std::vector<uint8_t> key;

    /// Throws FormatError naming the text.
    static PublicKey parse(std::string_view text);
    std::string to_string() const;
    /// Whether `signature` ("name:base64(64 bytes)") is by this key over `message`. A signature by
    /// another name, or malformed, is false.
    bool verify(std::string_view message, std::string_view signature) const;
};

/// A named ed25519 secret key ("name:base64(64 bytes)"), as `nix-store --generate-binary-cache-key` writes.
struct SecretKey {
    std::string name;
    std::vector<uint8_t> key;

    static SecretKey parse(std::string_view text);
    /// A new random key pair named `name`.
    static SecretKey generate(std::string name);
    std::string to_string() const;
    PublicKey public_key() const;
    /// "name:base64(signature)".
    std::string sign(std::string_view message) const;
};

/// Trusted keys by name (`trusted-public-keys`). Parses a whitespace-separated list.
class TrustedKeys {
public:
    TrustedKeys() = default;
    explicit TrustedKeys(std::string_view list);
    void add(PublicKey key);
    bool empty() const { return keys_.empty(); }
    /// Whether any of `signatures` verifies `message` with a trusted key of its name.
    bool verify_any(std::string_view message, const std::set<std::string>& signatures) const;

private:
    std::multimap<std::string, PublicKey> keys_;
};

} // namespace ferry
