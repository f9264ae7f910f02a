// closure-server: serves a directory over HTTP on 127.0.0.1, delaying every response by a fixed time,
// until its standard input closes. Prints "port N" once it listens.
//
//   closure-server --dir DIR/cache --delay-ms 100

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "support/http_server.hh"

int main(int argc, char** argv) {
    CLI::App app{"Serves a directory on 127.0.0.1 with a fixed delay per response"};
    std::string dir;
    unsigned delay_ms = 100;
    app.add_option("--dir", dir, "Directory to serve")->required()->check(CLI::ExistingDirectory);
    app.add_option("--delay-ms", delay_ms, "Delay before every response")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    ferry::test::HttpServer server(dir);
    ferry::test::HttpFault fault;
    fault.delay = std::chrono::milliseconds(delay_ms);
    server.set_default_fault(fault);
    std::printf("port %u\n", unsigned(server.port()));
    std::fflush(stdout);
    char buf[256];
    while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
    }
    if (const char* log = std::getenv("CLOSURE_SERVER_LOG")) {
        // One line per request: milliseconds since the first one, and the path.
        if (FILE* f = std::fopen(log, "w")) {
            auto records = server.request_log();
            for (const auto& r : records)
                std::fprintf(f, "%.1f %s\n",
                             std::chrono::duration<double, std::milli>(r.time - records.front().time).count(),
                             r.path.c_str());
            std::fclose(f);
        }
    }
    std::fprintf(stderr, "closure-server: %llu requests, peak %d in flight\n",
                 (unsigned long long)server.requests(), server.peak_in_flight());
    return 0;
}
