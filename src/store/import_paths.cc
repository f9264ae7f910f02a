#include "ferry/store/import_paths.hh"

#include <memory>

#include "ferry/store/content_address.hh"
#include "ferry/store/export_stream.hh"

namespace ferry {

namespace {

constexpr size_t kReadSize = 256 * 1024;

/// Passes a NAR's tree on to the restorer and hashes the contents of a root that is a regular file
/// (the content hash of text and flat paths).
class SniffingVisitor final : public NarVisitor {
public:
    explicit SniffingVisitor(NarVisitor& inner) : inner_(inner) {}
    std::optional<Hash> file_sha256() {
        return file_hash_ ? std::optional(file_hash_->finish()) : std::nullopt;
    }

    void create_directory(std::string_view path) override { inner_.create_directory(path); }
    void close_directory() override { inner_.close_directory(); }
    void create_regular_file(std::string_view path, bool executable, uint64_t size) override {
        if (path.empty()) file_hash_.emplace(HashAlgo::sha256);
        inner_.create_regular_file(path, executable, size);
    }
    void file_contents(std::string_view chunk) override {
        if (file_hash_) file_hash_->update(chunk);
        inner_.file_contents(chunk);
    }
    void close_file() override { inner_.close_file(); }
    void create_symlink(std::string_view path, std::string_view target) override {
        inner_.create_symlink(path, target);
    }

private:
    NarVisitor& inner_;
    std::optional<HashSink> file_hash_;
};

/// Unpacks each path of the stream into staging and commits it once its record is complete.
class Importer final : public ExportVisitor {
public:
    explicit Importer(LocalStore& store) : store_(store) {}

    NarVisitor& begin_path() override {
        // Members go in reverse order of their making: the sniffer, the restorer (deleting a partial
        // tree), then the staging directory.
        sniffer_.reset();
        restorer_.reset();
        staged_.reset();
        staged_.emplace(store_.stage("import"));
        restorer_.emplace(staged_->path());
        sniffer_.emplace(*restorer_);
        return *sniffer_;
    }

    void end_path(ExportedPath record) override {
        with_context("importing '" + store_.print(record.path) + "'", [&] { commit(record); });
        imported_.push_back(record.path);
        sniffer_.reset();
        restorer_.reset();
        staged_.reset(); // deletes the unpacked copy of a path that was valid already
    }

    std::vector<StorePath> take_imported() { return std::move(imported_); }

private:
    void commit(const ExportedPath& record) {
        restorer_->commit();
        auto file_hash = sniffer_->file_sha256();
        PathLock lock = store_.lock_path(record.path);
        if (store_.is_valid_path(record.path)) return;
        StorePathSet others = record.references;
        others.erase(record.path);
        StorePathSet valid = store_.query_valid_paths(others);
        for (const auto& ref : others)
            if (!valid.contains(ref)) throw InvalidPath("its reference '{}' is not valid", store_.print(ref));
        ValidPathInfo info(record.path, record.nar.hash, record.nar.nar_size);
        info.references = record.references;
        info.deriver = record.deriver;
        info.ca = content_address_of(store_.store_dir(), record.path, record.references, record.nar.hash,
                                     file_hash);
        store_.commit_staged({{&*staged_, std::move(info), true}});
    }

    LocalStore& store_;
    std::optional<StagedPath> staged_;
    std::optional<NarRestorer> restorer_;
    std::optional<SniffingVisitor> sniffer_;
    std::vector<StorePath> imported_;
};

} // namespace

std::vector<StorePath> import_paths(LocalStore& store, const ByteSource& source) {
    Importer importer(store);
    ExportParser parser(store.store_dir(), importer);
    auto buf = std::make_unique<char[]>(kReadSize);
    while (size_t n = source({buf.get(), kReadSize}))
        parser.feed(std::string_view(buf.get(), n));
    parser.finish();
    return importer.take_imported();
}

std::optional<std::string> content_address_of(const StoreDir& dir, const StorePath& path,
                                              const StorePathSet& references, const Hash& nar_sha256,
                                              const std::optional<Hash>& file_sha256) {
    auto name = path.name();
    bool self = references.contains(path);
    StorePathSet others = references;
    others.erase(path);
    if (file_sha256 && !self) {
        if (dir.make_store_path(dir.make_type("text", others, false), *file_sha256, name) == path)
            return text_ca(*file_sha256);
        if (others.empty() &&
            dir.make_fixed_output_path(FileIngestionMethod::flat, *file_sha256, name) == path)
            return fixed_output_ca(FileIngestionMethod::flat, *file_sha256);
    }
    if (nar_sha256.algo == HashAlgo::sha256 &&
        dir.make_fixed_output_path(FileIngestionMethod::recursive, nar_sha256, name, others, self) == path)
        return fixed_output_ca(FileIngestionMethod::recursive, nar_sha256);
    return std::nullopt;
}

} // namespace ferry
