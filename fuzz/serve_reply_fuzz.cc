/// The client side of the serve protocol (ferry's remote builds): the server's replies, decoded from the
/// bytes received so far as serve_protocol.hh decodes them. The first byte picks the reply (the greeting,
/// a path set as QueryValidPaths and QueryClosure answer, QueryPathInfos' infos, a BuildResult, a number),
/// the second the server's minor version (2.0–2.7). Each reply either throws a ferry::Error or decodes;
/// then every shorter prefix of its bytes is "not enough yet", and its encoding decodes to the same value.
#include "ferry/remote/serve_protocol.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace {

using namespace ferry;

/// Decodes `bytes` with `decode`; checks the prefixes of what it used. The value, or nullopt.
template <typename Decode> auto decode_checked(std::string_view bytes, Decode decode) {
    decltype(decode(bytes)) d;
    try {
        d = decode(bytes);
    } catch (const Error&) {
        return decltype(d){};
    }
    if (!d) return d;
    if (d->used > bytes.size()) fuzz::violated("a reply used more bytes than it had");
    for (size_t cut : {d->used - 1, d->used / 2, size_t(7), size_t(8), size_t(9)}) {
        if (cut >= d->used) continue;
        try {
            if (decode(bytes.substr(0, cut))) fuzz::violated("a prefix of a reply decodes");
        } catch (const Error&) {
            fuzz::violated("a prefix of a good reply is an error");
        }
    }
    return d;
}

/// decode(encode(x)) == x for a decoded x.
template <typename Decode, typename T>
void round_trip(const std::string& encoded, Decode decode, const T& x) {
    auto again = decode(encoded);
    if (!again || again->used != encoded.size()) fuzz::violated("an encoded reply does not decode whole");
    if (!(again->value == x)) fuzz::violated("reply encode/decode round trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const StoreDir dir;
    if (size < 2) return 0;
    unsigned version = 0x200 | (data[1] % 8);
    std::string_view bytes = fuzz::as_text(data + 2, size - 2);
    switch (data[0] % 5) {
    case 0: {
        auto d = decode_checked(bytes, serve::decode_server_hello);
        if (!d) return 0;
        try {
            serve::check_server_version(d->value);
        } catch (const ProtocolError&) {
            return 0;
        }
        if (serve::major_version(d->value) != 0x200 || serve::minor_version(d->value) < 2)
            fuzz::violated("an unsupported server version passed");
        round_trip(serve::encode_server_hello(d->value), serve::decode_server_hello, d->value);
        return 0;
    }
    case 1: {
        auto decode = [](std::string_view b) { return serve::decode_path_set(dir, b); };
        if (auto d = decode_checked(bytes, decode))
            round_trip(serve::encode_path_set(dir, d->value), decode, d->value);
        return 0;
    }
    case 2: {
        auto decode = [version](std::string_view b) { return serve::decode_path_infos(dir, version, b); };
        if (auto d = decode_checked(bytes, decode))
            round_trip(serve::encode_path_infos(dir, version, d->value), decode, d->value);
        return 0;
    }
    case 3: {
        auto decode = [version](std::string_view b) { return serve::decode_build_result(version, b); };
        if (auto d = decode_checked(bytes, decode))
            round_trip(serve::encode_build_result(version, d->value), decode, d->value);
        return 0;
    }
    default: {
        auto decode = [](std::string_view b) { return serve::decode_u64(b, "number"); };
        if (auto d = decode_checked(bytes, decode)) round_trip(serve::encode_u64(d->value), decode, d->value);
        return 0;
    }
    }
}
