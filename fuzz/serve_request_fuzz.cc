/// The server side of the serve protocol (`ferry serve`): the requests a client sends, decoded from the
/// bytes received so far as serve_protocol.hh decodes them. The first byte picks the client's minor
/// version (2.0–2.7), the rest is the stream of requests (a NAR that follows AddToStoreNar is skipped;
/// the export stream after ImportPaths ends the input: the export_stream target covers it). Each request
/// either throws a ferry::Error or decodes; then every shorter prefix of its bytes is "not enough yet",
/// never a request nor an error, and its encoding decodes to a request that encodes the same.
#include <algorithm>

#include "ferry/remote/serve_protocol.hh"
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
        if (std::holds_alternative<serve::ImportPaths>(d->value)) return 0;
        if (auto* add = std::get_if<serve::AddToStoreNar>(&d->value))
            rest.remove_prefix(std::min<uint64_t>(add->info.nar_size, rest.size()));
    }
    return 0;
}
