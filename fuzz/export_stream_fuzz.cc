/// Export streams (`nix-store --export`, `ferry store import`, the serve protocol's ImportPaths): the
/// parser throws a ferry::Error or accepts, however the bytes are split; each record it hands over has
/// a NAR size that adds up to no more than the stream.
#include "ferry/store/export_stream.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace {

class CountingVisitor final : public ferry::ExportVisitor {
public:
    ferry::NarVisitor& begin_path() override { return nar_; }
    void end_path(ferry::ExportedPath path) override { nar_bytes += path.nar.nar_size; }
    uint64_t nar_bytes = 0;

private:
    ferry::NullNarVisitor nar_;
};

/// Parses `stream` in chunks of `chunk` bytes (0: whole); whether it was accepted.
bool parse(std::string_view stream, size_t chunk, uint64_t& nar_bytes) {
    static const ferry::StoreDir dir;
    CountingVisitor visitor;
    ferry::ExportParser parser(dir, visitor);
    try {
        while (!stream.empty()) {
            size_t n = chunk ? std::min(chunk, stream.size()) : stream.size();
            parser.feed(stream.substr(0, n));
            stream.remove_prefix(n);
        }
        parser.finish();
        nar_bytes = visitor.nar_bytes;
        return true;
    } catch (const ferry::Error&) {
        return false;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::string_view stream = fuzz::as_text(data, size);
    uint64_t whole_bytes = 0, chunked_bytes = 0;
    bool whole = parse(stream, 0, whole_bytes);
    bool chunked = parse(stream, 1 + size % 13, chunked_bytes);
    if (whole != chunked) fuzz::violated("the chunking changed whether the stream parses");
    if (whole && (whole_bytes != chunked_bytes || whole_bytes > size))
        fuzz::violated("NAR sizes do not add up");
    return 0;
}
