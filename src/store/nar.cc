#include "ferry/store/nar.hh"

#include <unistd.h>

#include <cerrno>
#include <memory>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

/// Read size for NAR streams coming from a descriptor.
constexpr size_t kReadSize = 256 * 1024;

/// Reads `fd` to end of file, handing each read to `fn`.
template <typename Fn>
void for_each_read(int fd, const char* what, Fn&& fn) {
    auto buf = std::make_unique<char[]>(kReadSize);
    for (;;) {
        ssize_t n = ::read(fd, buf.get(), kReadSize);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError(std::string("reading ") + what);
        }
        if (n == 0) return;
        fn(std::string_view(buf.get(), size_t(n)));
    }
}

} // namespace

NarHashResult hash_path(HashAlgo algo, const std::filesystem::path& path) {
    HashSink hash(algo);
    dump_path(path, [&](std::string_view chunk) { hash.update(chunk); });
    uint64_t size = hash.bytes();
    return {hash.finish(), size};
}

HashingNarParser::HashingNarParser(NarVisitor& visitor, HashAlgo algo, NarLimits limits)
    : parser_(visitor, limits), hash_(algo) {}

void HashingNarParser::feed(std::string_view chunk) {
    parser_.feed(chunk);
    hash_.update(chunk);
}

size_t HashingNarParser::consume(std::string_view chunk) {
    size_t n = parser_.consume(chunk);
    hash_.update(chunk.substr(0, n));
    return n;
}

NarHashResult HashingNarParser::finish() {
    parser_.finish();
    return {hash_.finish(), parser_.nar_size()};
}

NarHashResult validate_nar(std::string_view nar, HashAlgo algo) {
    NullNarVisitor visitor;
    HashingNarParser parser(visitor, algo);
    parser.feed(nar);
    return parser.finish();
}

NarHashResult copy_nar(int in_fd, const NarSink& sink, HashAlgo algo) {
    NullNarVisitor visitor;
    HashingNarParser parser(visitor, algo);
    for_each_read(in_fd, "a NAR stream", [&](std::string_view chunk) {
        parser.feed(chunk);
        sink(chunk);
    });
    return parser.finish();
}

uint64_t dump_path_to_fd(const std::filesystem::path& path, int fd) {
    uint64_t size = 0;
    dump_path(path, [&](std::string_view chunk) {
        write_full(fd, chunk, "the NAR of '" + path.string() + "'");
        size += chunk.size();
    });
    return size;
}

NarHashResult restore_nar_from_fd(int fd, const std::filesystem::path& dest, HashAlgo algo) {
    NarRestorer restorer(dest);
    HashingNarParser parser(restorer, algo);
    for_each_read(fd, "a NAR stream", [&](std::string_view chunk) { parser.feed(chunk); });
    auto result = parser.finish();
    restorer.commit();
    return result;
}

} // namespace ferry
