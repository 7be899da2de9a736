// A one-host Ceph cluster for the `ceph` tests (scripts/ceph-dev.sh): one per test process,
// started at first use, stopped and removed at exit; and reading an image back with `rbd export`.
#pragma once
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace stmf::test::ceph {

inline std::string script() { return std::string(STMF_SOURCE_DIR) + "/scripts/ceph-dev.sh"; }

inline int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// One cluster per test process, stopped and removed at exit.
class Cluster {
 public:
  Cluster() {
    dir_ = (std::filesystem::temp_directory_path() / ("stmf-ceph." + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir_);
    ok_ = sh(script() + " start " + dir_ + " >" + dir_ + ".start.log 2>&1") == 0;
  }
  ~Cluster() {
    sh(script() + " stop " + dir_ + " >/dev/null 2>&1");
    std::filesystem::remove_all(dir_);
    std::filesystem::remove(dir_ + ".start.log");
  }
  bool ok() const { return ok_; }
  std::string start_log() const {
    std::ifstream f(dir_ + ".start.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  std::string conf() const { return dir_ + "/ceph.conf"; }
  std::string keyring() const { return dir_ + "/keyring"; }
  int rbd(const std::string& args) const { return sh("rbd -c " + conf() + " " + args + " >/dev/null 2>&1"); }
  int control(const std::string& what) const { return sh(script() + " " + what + " " + dir_ + " >/dev/null 2>&1"); }
  // A ceph or rbd command's standard output ("ceph osd blocklist ls", "rbd lock ls rbd/x").
  std::string output(const std::string& tool, const std::string& args) const {
    std::string out;
    if (FILE* f = ::popen((tool + " -c " + conf() + " " + args + " 2>/dev/null").c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      ::pclose(f);
    }
    return out;
  }

 private:
  std::string dir_;
  bool ok_ = false;
};

inline Cluster& cluster() {
  static Cluster c;
  if (!c.ok()) FAIL("the ceph dev cluster did not start:\n" << c.start_log());
  return c;
}

// The image's bytes [offset, offset+n) as the cluster has them (rbd export, not through stmfd).
inline std::vector<uint8_t> exported(const Cluster& c, const std::string& image, uint64_t offset, size_t n) {
  auto file = std::filesystem::temp_directory_path() / ("stmf-ceph-export." + std::to_string(::getpid()));
  std::filesystem::remove(file);
  REQUIRE(c.rbd("export rbd/" + image + " " + file.string()) == 0);
  std::ifstream f(file, std::ios::binary);
  f.seekg(std::streamoff(offset));
  std::vector<uint8_t> v(n);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(n));
  std::filesystem::remove(file);
  return v;
}

}  // namespace stmf::test::ceph
