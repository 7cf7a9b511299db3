// SPDX-License-Identifier: MIT
//
// Scratch files for tests that write to disk (POSIX): a fresh directory or file under $TMPDIR (or /tmp),
// removed at the end of the test, and slurp() to read a file whole.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

namespace resilience_test {

/// $TMPDIR, or /tmp when it is unset or empty.
inline std::string temp_base() {
    const char* base = std::getenv("TMPDIR");
    return base != nullptr && *base != '\0' ? base : "/tmp";
}

/// A fresh directory `<temp_base>/<prefix>-XXXXXX`, removed with its files (not subdirectories) at the
/// end of the test.
struct temp_dir {
    std::string path;
    explicit temp_dir(std::string_view prefix = "resilience-test") {
        std::string tmpl = temp_base() + "/" + std::string(prefix) + "-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_dir() {
        if (DIR* d = ::opendir(path.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                std::string n = e->d_name;
                if (n != "." && n != "..") ::unlink((path + "/" + n).c_str());
            }
            ::closedir(d);
        }
        ::rmdir(path.c_str());
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return path + "/" + name; }
};

/// A fresh file `<temp_base>/<prefix>-XXXXXX` holding `contents`, removed at the end of the test.
struct temp_file {
    std::string path;
    explicit temp_file(std::string_view contents, std::string_view prefix = "resilience-test") {
        path = temp_base() + "/" + std::string(prefix) + "-XXXXXX";
        int fd = ::mkstemp(path.data());
        if (fd < 0) throw std::runtime_error("mkstemp failed");
        ::close(fd);
        std::ofstream(path, std::ios::binary) << contents;
    }
    ~temp_file() { ::unlink(path.c_str()); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
};

/// The whole of a file, bytes as they are ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace resilience_test
