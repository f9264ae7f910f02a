/// Hash strings as they appear in narinfo files, derivations and the command line ("algo:digest" in
/// base16, nix32 or base64, SRI "algo-base64", bare digests): a parse either throws a ferry::Error or
/// gives a hash that every text form gives back.
#include "ferry/util/error.hh"
#include "ferry/util/hash.hh"
#include "fuzz_support.hh"

namespace {

void check_round_trips(const ferry::Hash& hash) {
    using ferry::Hash, ferry::HashFormat;
    for (auto format : {HashFormat::base16, HashFormat::nix32, HashFormat::base64, HashFormat::sri}) {
        if (Hash::parse(hash.to_string(format, true)) != hash) ferry::fuzz::violated("prefixed round trip");
        if (format != HashFormat::sri && Hash::parse_bare(hash.to_string(format, false), hash.algo) != hash)
            ferry::fuzz::violated("bare round trip");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::string_view text = fuzz::as_text(data, size);
    try {
        check_round_trips(Hash::parse(text));
    } catch (const Error&) {
    }
    for (auto algo : {HashAlgo::md5, HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512}) {
        try {
            Hash hash = Hash::parse_bare(text, algo);
            if (hash.algo != algo) fuzz::violated("parse_bare gave another algorithm");
            check_round_trips(hash);
        } catch (const Error&) {
        }
        try {
            check_round_trips(Hash::parse(text, algo));
        } catch (const Error&) {
        }
    }
    try {
        (void)parse_hash_algo(text);
    } catch (const Error&) {
    }
    return 0;
}
