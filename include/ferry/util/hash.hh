#pragma once
/// Cryptographic hashes as Nix uses them (md5, sha1, sha256, sha512), their text forms, and a streaming
/// sink. Not thread-safe per object; distinct objects are independent.

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

enum class HashAlgo : uint8_t { md5, sha1, sha256, sha512 };

/// "md5", "sha1", "sha256", "sha512".
std::string_view to_string(HashAlgo algo);
std::optional<HashAlgo> try_parse_hash_algo(std::string_view name);
/// Throws FormatError for an unknown name.
HashAlgo parse_hash_algo(std::string_view name);
/// Digest size in bytes.
size_t hash_size(HashAlgo algo);

enum class HashFormat : uint8_t { base16, nix32, base64, sri };

/// A digest together with its algorithm.
struct Hash {
    HashAlgo algo = HashAlgo::sha256;
    std::array<uint8_t, 64> bytes{};

    Hash() = default;
    explicit Hash(HashAlgo a) : algo(a) {}
    Hash(HashAlgo a, std::span<const uint8_t> digest);

    size_t size() const { return hash_size(algo); }
    std::span<const uint8_t> digest() const { return {bytes.data(), size()}; }

    /// The text form. With `with_algo`, base16/nix32/base64 get an "algo:" prefix; SRI always has
    /// "algo-".
    std::string to_string(HashFormat format, bool with_algo = true) const;
    /// "sha256:<nix32>", Nix's usual form in narinfo files and the database.
    std::string to_nix32_prefixed() const { return to_string(HashFormat::nix32, true); }
    std::string to_base16() const { return to_string(HashFormat::base16, false); }

    /// Parses "algo:digest" (base16, nix32 or base64, told apart by length), SRI "algo-base64", or a bare
    /// digest when `algo` is given. When both a prefix and `algo` are present they must agree.
    /// Throws FormatError naming the string.
    static Hash parse(std::string_view text, std::optional<HashAlgo> algo = std::nullopt);
    /// Parses a digest without prefix of the given algorithm in any of base16, nix32, base64.
    static Hash parse_bare(std::string_view text, HashAlgo algo);

    friend bool operator==(const Hash& a, const Hash& b) {
        return a.algo == b.algo && std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin());
    }
    friend auto operator<=>(const Hash& a, const Hash& b) {
        if (a.algo != b.algo) return a.algo <=> b.algo;
        return a.bytes <=> b.bytes;
    }
};

/// Incremental hashing. update() any number of times, then finish() once.
class HashSink {
public:
    explicit HashSink(HashAlgo algo);
    ~HashSink();
    HashSink(HashSink&&) noexcept;
    HashSink& operator=(HashSink&&) noexcept;

    void update(std::span<const uint8_t> data);
    void update(std::string_view data) {
        update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    }
    /// Total bytes hashed so far.
    uint64_t bytes() const { return bytes_; }
    HashAlgo algo() const { return algo_; }
    /// The digest of everything so far; the sink can't be used afterwards.
    Hash finish();

private:
    HashAlgo algo_;
    uint64_t bytes_ = 0;
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
};

Hash hash_string(HashAlgo algo, std::string_view data);
/// Hash of a file's contents (flat).
Hash hash_file(HashAlgo algo, const std::filesystem::path& path);

/// XOR-folds `hash` into `size` bytes, as Nix does for store path digests.
std::vector<uint8_t> compress_hash(const Hash& hash, size_t size);

} // namespace ferry
