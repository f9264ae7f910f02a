#include "ferry/sandbox/seccomp_filter.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/util/file.hh"
#include "ferry/util/finally.hh"

#ifdef FERRY_HAVE_SECCOMP
#include <seccomp.h>
#endif

namespace ferry {

#ifdef FERRY_HAVE_SECCOMP

namespace {

void check_seccomp(int rc, const char* what) {
    // libseccomp returns -errno.
    if (rc != 0) throw SandboxError("seccomp: {}: {}", what, std::strerror(-rc));
}

void add_rules(scmp_filter_ctx ctx) {
    for (scmp_datum_t bit : {scmp_datum_t(S_ISUID), scmp_datum_t(S_ISGID)}) {
        check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(chmod), 1,
                                       SCMP_A1(SCMP_CMP_MASKED_EQ, bit, bit)),
                      "adding the chmod rule");
        check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fchmod), 1,
                                       SCMP_A1(SCMP_CMP_MASKED_EQ, bit, bit)),
                      "adding the fchmod rule");
        check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fchmodat), 1,
                                       SCMP_A2(SCMP_CMP_MASKED_EQ, bit, bit)),
                      "adding the fchmodat rule");
    }
    for (int call : {SCMP_SYS(setxattr), SCMP_SYS(lsetxattr), SCMP_SYS(fsetxattr)})
        check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTSUP), call, 0), "adding an xattr rule");
}

/// Compiles the filter and reads the BPF instructions libseccomp exports.
std::vector<sock_filter> compile_filter() {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) throw SandboxError("seccomp: cannot initialise a filter");
    Finally release([&] { seccomp_release(ctx); });
#if defined(__x86_64__)
    check_seccomp(seccomp_arch_add(ctx, SCMP_ARCH_X86), "adding the x86 architecture");
    check_seccomp(seccomp_arch_add(ctx, SCMP_ARCH_X32), "adding the x32 architecture");
#endif
    add_rules(ctx);
    // The child sets NO_NEW_PRIVS itself; the exported program must not depend on libseccomp's load.
    int fds[2];
    check_sys(::pipe2(fds, O_CLOEXEC), "creating a pipe for the seccomp program");
    UniqueFd read_side(fds[0]), write_side(fds[1]);
    check_seccomp(seccomp_export_bpf(ctx, write_side.get()), "exporting the BPF program");
    write_side.reset();
    std::string bytes;
    char buf[4096];
    for (size_t n; (n = read_full(read_side.get(), buf, "the seccomp program")) > 0;) {
        bytes.append(buf, n);
        if (n < sizeof buf) break;
    }
    if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0)
        throw SandboxError("seccomp: exported program has an odd size of {} bytes", bytes.size());
    std::vector<sock_filter> program(bytes.size() / sizeof(sock_filter));
    std::memcpy(program.data(), bytes.data(), bytes.size());
    return program;
}

struct CompiledFilter {
    std::vector<sock_filter> instructions = compile_filter();
    sock_fprog program{static_cast<unsigned short>(instructions.size()), instructions.data()};
};

} // namespace

const sock_fprog* sandbox_seccomp_program() {
    static const CompiledFilter filter;
    return &filter.program;
}

#else

const sock_fprog* sandbox_seccomp_program() {
    return nullptr;
}

#endif

} // namespace ferry
