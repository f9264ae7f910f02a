#include "ferry/store/derivation_json.hh"

#include "ferry/util/error.hh"

namespace ferry {

using nlohmann::json;
using nlohmann::ordered_json;

ordered_json derivation_to_json(const StoreDir& dir, const Derivation& drv) {
    ordered_json j;
    auto& outputs = j["outputs"] = ordered_json::object();
    for (const auto& [name, out] : drv.outputs) {
        ordered_json o = ordered_json::object();
        if (!out.path.empty()) o["path"] = out.path;
        if (!out.hash_algo.empty()) o["hashAlgo"] = out.hash_algo;
        if (!out.hash.empty()) o["hash"] = out.hash;
        outputs[name] = std::move(o);
    }
    auto& srcs = j["inputSrcs"] = ordered_json::array();
    for (const auto& p : drv.input_srcs)
        srcs.push_back(dir.print(p));
    auto& drvs = j["inputDrvs"] = ordered_json::object();
    for (const auto& [p, outs] : drv.input_drvs)
        drvs[dir.print(p)] = outs;
    j["system"] = drv.platform;
    j["builder"] = drv.builder;
    j["args"] = drv.args;
    auto& env = j["env"] = ordered_json::object();
    for (const auto& [k, v] : drv.env)
        env[k] = v;
    return j;
}

namespace {

const json& field(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) throw FormatError("missing field '{}'", key);
    return *it;
}

std::string string_field(const json& j, const char* key) {
    const auto& v = field(j, key);
    if (!v.is_string()) throw FormatError("field '{}' is not a string", key);
    return v.get<std::string>();
}

std::string string_value(const json& v, std::string_view where) {
    if (!v.is_string()) throw FormatError("{} is not a string", where);
    return v.get<std::string>();
}

void read_outputs(const StoreDir& dir, const json& j, Derivation& drv) {
    const auto& outputs = field(j, "outputs");
    if (!outputs.is_object() || outputs.empty())
        throw FormatError("field 'outputs' must be a non-empty object");
    for (const auto& [name, o] : outputs.items()) {
        if (!o.is_object()) throw FormatError("output '{}' is not an object", name);
        DerivationOutput out;
        if (o.contains("path")) out.path = string_value(o["path"], "output path");
        if (!out.path.empty()) dir.parse(out.path);
        if (o.contains("hashAlgo")) out.hash_algo = string_value(o["hashAlgo"], "output hashAlgo");
        if (o.contains("hash")) out.hash = string_value(o["hash"], "output hash");
        if (!out.hash.empty()) out.fixed_hash();
        drv.outputs.emplace(name, std::move(out));
    }
}

} // namespace

Derivation derivation_from_json(const StoreDir& dir, const json& j, std::string name) {
    try {
        if (!j.is_object()) throw FormatError("not a JSON object");
        Derivation drv;
        read_outputs(dir, j, drv);
        const auto& srcs = field(j, "inputSrcs");
        if (!srcs.is_array()) throw FormatError("field 'inputSrcs' is not an array");
        for (const auto& s : srcs)
            drv.input_srcs.insert(dir.parse(string_value(s, "an input source")));
        const auto& drvs = field(j, "inputDrvs");
        if (!drvs.is_object()) throw FormatError("field 'inputDrvs' is not an object");
        for (const auto& [p, outs] : drvs.items()) {
            auto path = dir.parse(p);
            if (!path.is_derivation()) throw FormatError("input derivation '{}' is not a .drv", p);
            if (!outs.is_array()) throw FormatError("outputs of input derivation '{}' are not an array", p);
            auto& set = drv.input_drvs[path];
            for (const auto& o : outs)
                set.insert(string_value(o, "an input derivation output"));
        }
        drv.platform = string_field(j, "system");
        drv.builder = string_field(j, "builder");
        const auto& args = field(j, "args");
        if (!args.is_array()) throw FormatError("field 'args' is not an array");
        for (const auto& a : args)
            drv.args.push_back(string_value(a, "an argument"));
        const auto& env = field(j, "env");
        if (!env.is_object()) throw FormatError("field 'env' is not an object");
        for (const auto& [k, v] : env.items())
            drv.env[k] = string_value(v, "environment variable '" + k + "'");
        if (name.empty()) {
            if (!drv.env.count("name")) throw FormatError("no name (environment variable 'name')");
            name = drv.env["name"];
        }
        check_store_path_name(name);
        drv.name = std::move(name);
        return drv;
    } catch (FormatError& e) {
        e.add_context("malformed JSON derivation");
        throw;
    }
}

} // namespace ferry
