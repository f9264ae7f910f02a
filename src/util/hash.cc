#include "ferry/util/hash.hh"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ferry/util/encoding.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

const EVP_MD* evp_md(HashAlgo algo) {
    switch (algo) {
    case HashAlgo::md5:
        return EVP_md5();
    case HashAlgo::sha1:
        return EVP_sha1();
    case HashAlgo::sha256:
        return EVP_sha256();
    case HashAlgo::sha512:
        return EVP_sha512();
    }
    throw Error("unknown hash algorithm");
}

std::string shorten(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 120))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

} // namespace

std::string_view to_string(HashAlgo algo) {
    switch (algo) {
    case HashAlgo::md5:
        return "md5";
    case HashAlgo::sha1:
        return "sha1";
    case HashAlgo::sha256:
        return "sha256";
    case HashAlgo::sha512:
        return "sha512";
    }
    return "?";
}

std::optional<HashAlgo> try_parse_hash_algo(std::string_view name) {
    if (name == "md5") return HashAlgo::md5;
    if (name == "sha1") return HashAlgo::sha1;
    if (name == "sha256") return HashAlgo::sha256;
    if (name == "sha512") return HashAlgo::sha512;
    return std::nullopt;
}

HashAlgo parse_hash_algo(std::string_view name) {
    if (auto a = try_parse_hash_algo(name)) return *a;
    throw FormatError("unknown hash algorithm '{}'", shorten(name));
}

size_t hash_size(HashAlgo algo) {
    switch (algo) {
    case HashAlgo::md5:
        return 16;
    case HashAlgo::sha1:
        return 20;
    case HashAlgo::sha256:
        return 32;
    case HashAlgo::sha512:
        return 64;
    }
    return 0;
}

Hash::Hash(HashAlgo a, std::span<const uint8_t> digest) : algo(a) {
    if (digest.size() != size())
        throw Error("internal: digest of {} bytes for {}", digest.size(), ferry::to_string(a));
    std::copy(digest.begin(), digest.end(), bytes.begin());
}

std::string Hash::to_string(HashFormat format, bool with_algo) const {
    std::string prefix = with_algo ? std::string(ferry::to_string(algo)) + ":" : std::string();
    switch (format) {
    case HashFormat::base16:
        return prefix + base16_encode(digest());
    case HashFormat::nix32:
        return prefix + nix32_encode(digest());
    case HashFormat::base64:
        return prefix + base64_encode(digest());
    case HashFormat::sri:
        return std::string(ferry::to_string(algo)) + "-" + base64_encode(digest());
    }
    return {};
}

Hash Hash::parse_bare(std::string_view text, HashAlgo algo) {
    size_t size = hash_size(algo);
    std::vector<uint8_t> digest;
    if (text.size() == size * 2)
        digest = base16_decode(text);
    else if (text.size() == nix32_length(size))
        digest = nix32_decode(text, size);
    else if (text.size() == base64_length(size)) {
        digest = base64_decode(text);
        if (digest.size() != size)
            throw FormatError("invalid {} hash '{}'", ferry::to_string(algo), shorten(text));
    } else
        throw FormatError("invalid {} hash '{}': wrong length for base-16, base-32 or base-64",
                          ferry::to_string(algo), shorten(text));
    return Hash(algo, digest);
}

Hash Hash::parse(std::string_view text, std::optional<HashAlgo> algo) {
    try {
        std::optional<HashAlgo> prefixed;
        std::string_view rest = text;
        bool sri = false;
        if (auto colon = text.find(':'); colon != std::string_view::npos) {
            prefixed = parse_hash_algo(text.substr(0, colon));
            rest = text.substr(colon + 1);
        } else if (auto dash = text.find('-'); dash != std::string_view::npos) {
            if (auto a = try_parse_hash_algo(text.substr(0, dash))) {
                prefixed = a;
                rest = text.substr(dash + 1);
                sri = true;
            }
        }
        if (prefixed && algo && *prefixed != *algo)
            throw FormatError("hash '{}' should have type '{}'", shorten(text), ferry::to_string(*algo));
        auto a = prefixed ? prefixed : algo;
        if (!a) throw FormatError("hash '{}' does not name its algorithm", shorten(text));
        if (sri) {
            auto digest = base64_decode(rest);
            if (digest.size() != hash_size(*a))
                throw FormatError("invalid SRI hash '{}': wrong length", shorten(text));
            return Hash(*a, digest);
        }
        return parse_bare(rest, *a);
    } catch (FormatError& e) {
        if (e.message().find(shorten(text)) == std::string::npos)
            e.add_context(fmt::format("hash '{}'", shorten(text)));
        throw;
    }
}

struct HashSink::Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
};

HashSink::HashSink(HashAlgo algo) : algo_(algo), ctx_(std::make_unique<Ctx>()) {
    if (!ctx_->ctx || EVP_DigestInit_ex(ctx_->ctx, evp_md(algo), nullptr) != 1)
        throw Error("cannot initialise {} hashing", ferry::to_string(algo));
}
HashSink::~HashSink() = default;
HashSink::HashSink(HashSink&&) noexcept = default;
HashSink& HashSink::operator=(HashSink&&) noexcept = default;

void HashSink::update(std::span<const uint8_t> data) {
    EVP_DigestUpdate(ctx_->ctx, data.data(), data.size());
    bytes_ += data.size();
}

Hash HashSink::finish() {
    Hash h(algo_);
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_->ctx, h.bytes.data(), &len);
    return h;
}

Hash hash_string(HashAlgo algo, std::string_view data) {
    HashSink sink(algo);
    sink.update(data);
    return sink.finish();
}

Hash hash_file(HashAlgo algo, const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("opening '" + path.string() + "'");
    HashSink sink(algo);
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("reading '" + path.string() + "'");
        }
        if (n == 0) break;
        sink.update(std::span<const uint8_t>(buf.data(), size_t(n)));
    }
    return sink.finish();
}

std::vector<uint8_t> compress_hash(const Hash& hash, size_t size) {
    std::vector<uint8_t> out(size, 0);
    auto d = hash.digest();
    for (size_t i = 0; i < d.size(); ++i)
        out[i % size] ^= d[i];
    return out;
}

} // namespace ferry
