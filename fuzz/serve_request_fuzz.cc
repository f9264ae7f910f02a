/// The server side of the serve protocol (`ferry serve`): the requests a client sends, decoded from the
/// bytes received so far as serve_protocol.hh decodes them. The first byte picks the client's minor
/// version (2.0–2.7), the rest is the stream of requests (a NAR that follows AddToStoreNar is skipped;
/// the export stream after ImportPaths is read as the server reads it, up to its end and no further,
/// however the bytes are split). Each request either throws a ferry::Error or decodes; then every shorter
/// prefix of its bytes is "not enough yet", never a request nor an error, and its encoding decodes to a
/// request that encodes the same.
#include <algorithm>

#include "ferry/remote/serve_protocol.hh"
#include "ferry/store/export_stream.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace {

using namespace ferry;

void check_prefixes(const StoreDir& dir, unsigned version, std::string_view bytes) {
    for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t(7), size_t(8), size_t(9), size_t(16)}) {
        if (cut >= bytes.size()) continue;
        std::optional<serve::Decoded<serve::Request>> d;
        try {
            d = serve::decode_request(dir, version, bytes.substr(0, cut));
        } catch (const Error&) {
            fuzz::violated("a prefix of a good request is an error");
        }
        if (d) fuzz::violated("a prefix of a request decodes");
    }
}

void check_round_trip(const StoreDir& dir, unsigned version, const serve::Request& request) {
    std::string encoded = serve::encode_request(dir, version, request);
    auto again = serve::decode_request(dir, version, encoded);
    if (!again || again->used != encoded.size()) fuzz::violated("an encoded request does not decode whole");
    if (again->value.index() != request.index()) fuzz::violated("an encoded request changed its command");
    if (serve::encode_request(dir, version, again->value) != encoded)
        fuzz::violated("request encode/decode round trip");
}

class NullExportVisitor final : public ExportVisitor {
public:
    NarVisitor& begin_path() override { return nar_; }
    void end_path(ExportedPath) override {}

private:
    NullNarVisitor nar_;
};

/// The bytes of the export stream at the start of `bytes` read in chunks of `chunk` (0: at once) with
/// ExportParser::consume; std::nullopt when it is malformed or does not end.
std::optional<size_t> export_stream_length(const StoreDir& dir, std::string_view bytes, size_t chunk) {
    NullExportVisitor visitor;
    ExportParser parser(dir, visitor);
    size_t used = 0;
    try {
        while (!parser.done() && used < bytes.size()) {
            auto piece = bytes.substr(used, chunk ? chunk : bytes.size());
            size_t n = parser.consume(piece);
            if (n > piece.size() || (n < piece.size() && !parser.done()))
                fuzz::violated("consume() stopped before the end of the stream");
            used += n;
        }
    } catch (const Error&) {
        return std::nullopt;
    }
    if (!parser.done()) return std::nullopt;
    if (parser.offset() != used) fuzz::violated("consume() took other bytes than it parsed");
    return used;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const StoreDir dir;
    if (size == 0) return 0;
    unsigned version = 0x200 | (data[0] % 8);
    std::string_view rest = fuzz::as_text(data + 1, size - 1);
    for (int n = 0; n < 64 && !rest.empty(); ++n) {
        std::optional<serve::Decoded<serve::Request>> d;
        try {
            d = serve::decode_request(dir, version, rest);
        } catch (const Error&) {
            return 0;
        }
        if (!d) return 0;
        if (d->used < 8 || d->used > rest.size()) fuzz::violated("a request used a bad number of bytes");
        check_prefixes(dir, version, rest.substr(0, d->used));
        check_round_trip(dir, version, d->value);
        rest.remove_prefix(d->used);
        if (std::holds_alternative<serve::ImportPaths>(d->value)) {
            auto whole = export_stream_length(dir, rest, 0);
            if (whole != export_stream_length(dir, rest, 1 + rest.size() % 11))
                fuzz::violated("the chunking changed where the export stream ends");
            if (!whole) return 0;
            rest.remove_prefix(*whole);
        }
        if (auto* add = std::get_if<serve::AddToStoreNar>(&d->value))
            rest.remove_prefix(std::min<uint64_t>(add->info.nar_size, rest.size()));
    }
    return 0;
}
