#include "ferry/store/derivation.hh"

#include "ferry/util/error.hh"

namespace ferry {

namespace {

/// A cursor over ATerm text; every failure names the byte offset.
class AtermReader {
public:
    explicit AtermReader(std::string_view text) : text_(text) {}

    [[noreturn]] void fail(std::string_view what) const {
        throw FormatError("malformed derivation: {} at byte {}", what, pos_);
    }
    void expect(std::string_view token) {
        if (text_.substr(pos_, token.size()) != token) fail(fmt::format("expected '{}'", token));
        pos_ += token.size();
    }
    bool accept(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    std::string string() {
        expect("\"");
        std::string out;
        for (;;) {
            if (pos_ >= text_.size()) fail("unterminated string");
            char c = text_[pos_++];
            if (c == '"') return out;
            if (c == '\\') {
                if (pos_ >= text_.size()) fail("unterminated string");
                char e = text_[pos_++];
                out += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            } else {
                out += c;
            }
        }
    }
    /// Reads "[s1,s2,…]" calling `item` for each element.
    template <typename Fn> void list(Fn&& item) {
        expect("[");
        if (accept(']')) return;
        do
            item();
        while (accept(','));
        expect("]");
    }
    bool at_end() const { return pos_ == text_.size(); }
    size_t pos() const { return pos_; }

private:
    std::string_view text_;
    size_t pos_ = 0;
};

StorePath parse_path(const StoreDir& dir, AtermReader& r, std::string_view what) {
    auto s = r.string();
    try {
        return dir.parse(s);
    } catch (const FormatError& e) {
        r.fail(fmt::format("bad {} ({})", what, e.what()));
    }
}

void parse_outputs(const StoreDir& dir, AtermReader& r, Derivation& drv) {
    r.list([&] {
        r.expect("(");
        auto name = r.string();
        r.expect(",");
        DerivationOutput out;
        out.path = r.string();
        if (!out.path.empty() && !dir.try_parse(out.path))
            r.fail(fmt::format("bad path of output '{}'", name));
        r.expect(",");
        out.hash_algo = r.string();
        r.expect(",");
        out.hash = r.string();
        r.expect(")");
        if (name.empty()) r.fail("empty output name");
        // A hash without an algorithm is meaningless; an algorithm without a hash is a floating output.
        if (!out.hash.empty() && out.hash_algo.empty())
            r.fail(fmt::format("output '{}' has a hash but no algorithm", name));
        if (!drv.outputs.emplace(name, std::move(out)).second)
            r.fail(fmt::format("duplicate output '{}'", name));
    });
    if (drv.outputs.empty()) r.fail("no outputs");
}

void parse_inputs(const StoreDir& dir, AtermReader& r, Derivation& drv) {
    r.list([&] {
        r.expect("(");
        auto path = parse_path(dir, r, "input derivation");
        if (!path.is_derivation())
            r.fail(fmt::format("input derivation '{}' is not a .drv", dir.print(path)));
        r.expect(",");
        std::set<std::string> outs;
        r.list([&] {
            if (!outs.insert(r.string()).second) r.fail("duplicate output of an input derivation");
        });
        r.expect(")");
        if (!drv.input_drvs.emplace(path, std::move(outs)).second)
            r.fail(fmt::format("duplicate input derivation '{}'", dir.print(path)));
    });
    r.expect(",");
    r.list([&] {
        if (!drv.input_srcs.insert(parse_path(dir, r, "input source")).second)
            r.fail("duplicate input source");
    });
}

void print_string_list(std::string& out, const auto& items) {
    out += '[';
    bool first = true;
    for (const auto& s : items) {
        if (!first) out += ',';
        first = false;
        print_aterm_string(out, s);
    }
    out += ']';
}

} // namespace

std::string OutputHash::method_algo() const {
    std::string prefix = text ? "text:" : method == FileIngestionMethod::recursive ? "r:" : "";
    return prefix + std::string(to_string(hash.algo));
}

std::optional<OutputHash> DerivationOutput::fixed_hash() const {
    if (hash.empty()) return std::nullopt;
    OutputHash h;
    std::string_view algo = hash_algo;
    if (algo.starts_with("r:")) {
        h.method = FileIngestionMethod::recursive;
        algo.remove_prefix(2);
    } else if (algo.starts_with("text:")) {
        h.text = true;
        algo.remove_prefix(5);
    }
    h.hash = Hash::parse_bare(hash, parse_hash_algo(algo));
    return h;
}

bool Derivation::is_fixed_output() const {
    if (outputs.size() != 1) return false;
    auto fh = outputs.begin()->second.fixed_hash();
    return fh && !fh->text;
}

StorePath Derivation::output_path(const StoreDir& dir, const std::string& output) const {
    auto it = outputs.find(output);
    if (it == outputs.end()) throw Error("derivation '{}' has no output '{}'", name, output);
    if (it->second.path.empty())
        throw FormatError("output '{}' of derivation '{}' has no path", output, name);
    return dir.parse(it->second.path);
}

StorePathSet Derivation::references() const {
    StorePathSet refs = input_srcs;
    for (const auto& [path, _] : input_drvs)
        refs.insert(path);
    return refs;
}

void print_aterm_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            out += c;
        }
    }
    out += '"';
}

Derivation parse_derivation(const StoreDir& dir, std::string_view text, std::string name) {
    AtermReader r(text);
    Derivation drv;
    r.expect("Derive(");
    parse_outputs(dir, r, drv);
    r.expect(",");
    parse_inputs(dir, r, drv);
    r.expect(",");
    drv.platform = r.string();
    r.expect(",");
    drv.builder = r.string();
    r.expect(",");
    r.list([&] { drv.args.push_back(r.string()); });
    r.expect(",");
    r.list([&] {
        r.expect("(");
        auto key = r.string();
        r.expect(",");
        auto value = r.string();
        r.expect(")");
        if (!drv.env.emplace(std::move(key), std::move(value)).second)
            r.fail("duplicate environment variable");
    });
    r.expect(")");
    if (!r.at_end()) r.fail("trailing data after the derivation");
    if (name.empty()) {
        auto it = drv.env.find("name");
        if (it == drv.env.end())
            throw FormatError("malformed derivation: no name (environment variable 'name')");
        name = it->second;
    }
    with_context("malformed derivation", [&] { check_store_path_name(name); });
    drv.name = std::move(name);
    return drv;
}

std::string unparse_derivation(const StoreDir& dir, const Derivation& drv, const UnparseOptions& options) {
    std::string out;
    out.reserve(1024);
    out += "Derive([";
    bool first = true;
    for (const auto& [name, o] : drv.outputs) {
        if (!first) out += ',';
        first = false;
        out += '(';
        print_aterm_string(out, name);
        out += ',';
        print_aterm_string(out, options.mask_outputs ? "" : o.path);
        out += ',';
        print_aterm_string(out, o.hash_algo);
        out += ',';
        print_aterm_string(out, o.hash);
        out += ')';
    }
    out += "],[";
    auto print_inputs = [&](const auto& inputs, auto key) {
        bool first_input = true;
        for (const auto& [k, outs] : inputs) {
            if (!first_input) out += ',';
            first_input = false;
            out += '(';
            print_aterm_string(out, key(k));
            out += ',';
            print_string_list(out, outs);
            out += ')';
        }
    };
    if (options.actual_inputs)
        print_inputs(*options.actual_inputs, [](const std::string& k) -> const std::string& { return k; });
    else
        print_inputs(drv.input_drvs, [&](const StorePath& p) { return dir.print(p); });
    out += "],";
    std::vector<std::string> srcs;
    for (const auto& p : drv.input_srcs)
        srcs.push_back(dir.print(p));
    print_string_list(out, srcs);
    out += ',';
    print_aterm_string(out, drv.platform);
    out += ',';
    print_aterm_string(out, drv.builder);
    out += ',';
    print_string_list(out, drv.args);
    out += ",[";
    first = true;
    for (const auto& [k, v] : drv.env) {
        if (!first) out += ',';
        first = false;
        out += '(';
        print_aterm_string(out, k);
        out += ',';
        print_aterm_string(out, options.mask_outputs && drv.outputs.count(k) ? "" : v);
        out += ')';
    }
    out += "])";
    return out;
}

StorePath derivation_store_path(const StoreDir& dir, const Derivation& drv) {
    return dir.make_text_path(drv.name + ".drv", unparse_derivation(dir, drv), drv.references());
}

} // namespace ferry
